# The front door. `make up` brings the whole stack up locally; `make test` runs the test suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REQS := requirements-dev.txt requirements-broker.txt services/common/requirements.txt \
        services/trainer/requirements.txt services/inference/requirements.txt services/ingest/requirements.txt \
        services/simulator/requirements.txt pyproject.toml constraints.txt

.PHONY: install test security up down status logs clean bench-trainer test-compose
# The installer's own pins (also audited by `make security`).
BOOTSTRAP_PINS := pip==26.3 setuptools==84.2.1 wheel==0.48.0

install: $(STAMP)

$(STAMP): $(REQS) scripts/install-system-deps.sh
	scripts/install-system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check $(BOOTSTRAP_PINS)
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -r requirements-dev.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --require-hashes -r requirements-broker.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The suite runs in a random order (pytest-random-order: modules shuffled, tests shuffled within
# each module; the seed is printed, rerun one with PYTEST_ARGS="--random-order-seed=N").
test: install
	$(BIN)/python -m pytest --random-order $(PYTEST_ARGS)

# Static security checks. bandit over the code that ships or runs the stack, settings in
# pyproject.toml [tool.bandit] (tests/test_static_security.py runs the same check). pip-audit over
# every pinned package (constraints.txt and BOOTSTRAP_PINS) against PyPI's vulnerability data, or
# OSV with PIP_AUDIT_ARGS="-s osv"; --strict: a package it could not look up fails the target
# instead of counting as "No known vulnerabilities found".
security: install
	$(BIN)/bandit -c pyproject.toml -r services harness scripts loadtests compose -q
	$(BIN)/pip-audit --progress-spinner off --strict --no-deps --disable-pip \
	    -r constraints.txt -r <(printf '%s\n' $(BOOTSTRAP_PINS)) $(PIP_AUDIT_ARGS) \
	  || { echo "make security: pip-audit failed: a vulnerability listed above, or a package it" \
	            "could not look up (no access to its vulnerability service?)" >&2; exit 1; }

clean:
	rm -rf $(VENV) .run build *.egg-info

# Local stack without Docker (supervisord; everything at run time in .run/). Settings from the
# environment or the command line: PORT REPLICAS REDIS_PORT DATA_PRESET INFERENCE_BASE_PORT
# NGINX_STATUS_PORT UP_TIMEOUT (see harness/stackdef.py, the stack's one description).
# down/status/logs install nothing: without a venv no stack can be running.
LOCALSTACK = if [ -x $(BIN)/python ]; then $(BIN)/python -m harness.localstack $@; \
             else echo "$@: nothing installed ($(BIN) missing), so no stack is running"; fi

up: install
	$(BIN)/python -m harness.localstack up

down:
	@$(LOCALSTACK)

status:
	@$(LOCALSTACK)

logs:
	@$(LOCALSTACK)

# Trainer benchmark (scripts/bench_trainer.py): parse rate, training time, peak memory, published size,
# publish/fetch time per preset. BENCH_ARGS, e.g. --presets default,full --keep-data.
bench-trainer: install
	$(BIN)/python scripts/bench_trainer.py $(BENCH_ARGS)

# Load test (loadtests/locustfile.py): simulator traffic against a running stack, headless. Results
# (locust CSV + HTML, summary.json) in loadtests/results/$(NAME)/; exit code 1 when a request failed
# or p99 > 800 ms. USERS simulated users at RATE requests/s each, spawned SPAWN_RATE per second, for
# DURATION, against HOST. CATALOG: movie ids answers must come from (default: the model of `make up`).
# The simulator (services/simulator) against the stack `make up` runs (it finds it through
# .run/stack.env): users arrive, ask :8082 for recommendations, watch and rate; every event goes
# through the stack's Kafka topic to the ingester. Prints the truth report at the end. DURATION
# (60s; also 5m, 2h), SIM_RATE (10 sessions/s), SIM_SPEED (60 simulated s per s), SIM_PROTOCOL
# (f2023 | s2026); every SIM_* setting of services/simulator/config.py applies.
.PHONY: simulate
simulate: install
	SIM_DURATION=$(DURATION) $(BIN)/simulator

# The loop learns (loadtests/loop_learns.py): a stack of its own on fresh `default` data, the
# simulator for 3 simulated days (3 minutes), retraining from the ingested stream; exit 0 when the
# retrained version's followed share beats the day-0 version's. LOOP_ARGS, e.g. --minutes 5.
# Ingest benchmark (loadtests/ingest_bench.py): lag from produce to file per rate, the highest
# sustained rate. INGEST_ARGS, e.g. --rates 1000,5000,20000 --seconds 30.
# Online evaluation against the truth (loadtests/online_truth.py): popularity, random and the trained
# model serve in turn for the same number of simulated sessions; the evaluator's hit rate per version
# vs the simulator's own count, freshness at 1,000 events/s, the broker stopped for 30 s, the
# provenance of a random answer. ONLINE_ARGS, e.g. --sessions 1000.
.PHONY: online-truth
online-truth: install
	$(BIN)/python -m loadtests.online_truth $(ONLINE_ARGS)

.PHONY: loop-demo bench-ingest
loop-demo: install
	$(BIN)/python -m loadtests.loop_learns $(LOOP_ARGS)

bench-ingest: install
	$(BIN)/python -m loadtests.ingest_bench $(INGEST_ARGS)

.PHONY: loadtest bench
USERS ?= 100
SPAWN_RATE ?= 20
DURATION ?= 60s
RATE ?= 2
HOST ?= http://127.0.0.1:$(or $(PORT),8082)
KNOWN_USERS ?= 1-6000
UNKNOWN_SHARE ?= 0.05
CATALOG ?= $(wildcard .run/models/$(or $(DATA_PRESET),default))
NAME ?= loadtest-$(shell date +%Y%m%d-%H%M%S)
LOADTEST_OUT = loadtests/results/$(NAME)

loadtest: install
	mkdir -p $(LOADTEST_OUT)
	$(BIN)/locust -f loadtests/locustfile.py --headless --only-summary -u $(USERS) -r $(SPAWN_RATE) -t $(DURATION) \
	    -H $(HOST) --user-rate $(RATE) --known-users $(KNOWN_USERS) --unknown-share $(UNKNOWN_SHARE) \
	    $(if $(CATALOG),--catalog $(CATALOG)) --csv $(LOADTEST_OUT)/locust --html $(LOADTEST_OUT)/report.html \
	    --summary-json $(LOADTEST_OUT)/summary.json $(LOADTEST_ARGS)

# Benchmark (python -m loadtests.bench): ceiling ratio, latency vs offered load, replica scaling, model
# compute and memory at 1M users, hot swap under load; on its own loopback stack (no `make up`
# needed). Writes loadtests/results/bench.{json,md} and PNG plots. BENCH_ARGS=--quick: about 2 min,
# written to loadtests/results/tmp/quick/ (git-ignored).
bench: install
	$(BIN)/python -m loadtests.bench $(BENCH_ARGS)

# Overload run (loadtests/overload.py): measures the capacity of the stack at HOST, offers 3x that
# for 30 s, then C/4 for 8 s; prints ok / late / shed / errors per phase and the recovery time.
# Exit code 1 when a success was late, a request failed otherwise, a shed was slow or the recovery
# took more than 5 s. OVERLOAD_ARGS, e.g. --factor 2 --duration 60 --cpus 1.
.PHONY: overload
overload: install
	$(BIN)/python -m loadtests.overload --url $(HOST) $(OVERLOAD_ARGS)

# Monitoring (monitoring/, README "Monitoring"). `make dashboards` rebuilds the Grafana dashboards
# JSON from monitoring/grafana/build_dashboards.py (a test checks the committed files equal it).
# `make alerts-demo` (loadtests/alert_faults.py): every alert's fault against a monitored stack of
# its own under simulator load, printing when each alert fired, reached the webhook and resolved;
# ALERTS_ARGS, e.g. --only RedisDown,RecommendLatencyP99High. `make bench-scrape`
# (loadtests/scrape_bench.py): a replica's scrape time at the 1,000,000-user model and what
# Prometheus scraping every 5 s costs make bench's ceiling throughput (with and without, one run).
.PHONY: dashboards alerts-demo bench-scrape
dashboards: install
	$(BIN)/python monitoring/grafana/build_dashboards.py

alerts-demo: install
	nice -n 10 $(BIN)/python -m loadtests.alert_faults $(ALERTS_ARGS)

bench-scrape: install
	$(BIN)/python -m loadtests.scrape_bench $(SCRAPE_BENCH_ARGS)

# Container end-to-end suite (python -m compose.e2e; compose/e2e.override.yaml): builds the images, runs
# compose/compose.yaml as project recsys-e2e with 3 then 4 inference replicas through nginx, and
# tears it down. docker compose where a Docker engine answers, else podman-compose set up by
# ../shared/container-rig/setup-container-rig. E2E_PORT, E2E_PRESET, E2E_KEEP=1: see the script.
test-compose: install
	$(BIN)/python -m compose.e2e

# The Redis passwords compose/compose.yaml mounts as secrets: compose/secrets/redis_password (the
# services' user) and redis_admin_password (operators), random, made once, never overwritten.
.PHONY: compose-secrets
compose-secrets: install
	$(BIN)/python -m harness.redis_acl secrets compose/secrets
