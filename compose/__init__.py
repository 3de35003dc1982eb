"""The container deployment (compose.yaml) and its end-to-end suite, run from the checkout as
`.venv/bin/python -m compose.e2e` (`make test-compose`). A package only so that the suite's
modules import each other; it is not installed with the project and imports the harness
(harness/, installed by `make install`)."""
