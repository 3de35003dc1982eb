# The front door. `make up` brings the whole stack up locally; `make test` runs the test suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REQS := requirements-dev.txt services/common/requirements.txt services/trainer/requirements.txt \
        services/inference/requirements.txt pyproject.toml

.PHONY: install test up down status logs clean

install: $(STAMP)

$(STAMP): $(REQS) scripts/install-system-deps.sh
	scripts/install-system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check pip==26.3 setuptools==84.2.1 wheel==0.48.0
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .run build *.egg-info

# Local stack without Docker (supervisord; everything at run time in .run/). Settings from the
# environment or the command line: PORT REPLICAS REDIS_PORT DATA_PRESET INFERENCE_BASE_PORT
# NGINX_STATUS_PORT UP_TIMEOUT (see scripts/localstack.py). down/status/logs need no install.
STACK_PY = $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON))

up: install
	$(BIN)/python scripts/localstack.py up

down:
	$(STACK_PY) scripts/localstack.py down

status:
	$(STACK_PY) scripts/localstack.py status

logs:
	$(STACK_PY) scripts/localstack.py logs
