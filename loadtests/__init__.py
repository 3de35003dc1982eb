"""Load tests and the serving benchmark (loadtests/README.md).

Imported as the package `loadtests` (installed with the project): `loadtests.traffic` (user-id mix,
catalog), the benchmark (`python -m loadtests.bench`: bench_config, bench_machine, bench_stack,
bench_steps, bench_report, bench_plots), the overload run (`python -m loadtests.overload`
with its generator loadtests.openloop) and the two locustfiles.
"""
