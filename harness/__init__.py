"""Running the system's programs on this machine: the one description of the local stack (what
`make up`, the test fixtures and the benchmarks start), and the tools around it — free ports,
process trees, readiness waits, a Redis server with the production ACL, a request loop and the one
definition of a valid answer. Installed with the project (`make install`); imported by tests,
benchmarks, `compose/e2e.py` and `scripts/`."""
