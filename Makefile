# The front door. `make up` brings the whole stack up locally; `make test` runs the test suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REQS := requirements-dev.txt services/common/requirements.txt services/trainer/requirements.txt \
        services/inference/requirements.txt pyproject.toml

.PHONY: install test up down status clean

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
