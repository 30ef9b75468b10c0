# Two commands on a fresh machine: `make run` (the whole system) and `make test` (every test).
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test stop status infra bench lint typecheck clean tools

$(BIN)/.installed: pyproject.toml requirements.lock
	@command -v $(PY) >/dev/null || { echo "Python 3.11 ($(PY)) is required"; exit 1; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==0.13.8
	$(BIN)/uv pip install --python $(BIN)/python -q -r requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python -q --no-deps -e .
	@touch $@

# The official AsyncAPI CLI, pinned by tools/asyncapi/package-lock.json (tests/unit/deploy/test_asyncapi_cli.py).
ASYNCAPI_CLI := tools/asyncapi/node_modules/.installed
$(ASYNCAPI_CLI): tools/asyncapi/package.json tools/asyncapi/package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --prefix tools/asyncapi --no-audit --no-fund --loglevel=error && touch $@; \
	elif [ "$$CI" = "true" ]; then echo "npm is required for the AsyncAPI check"; exit 1; \
	else echo "npm not found: the AsyncAPI CLI test will be skipped"; fi

# openapi-python-client in a venv of its own (it pins an older typer than the project's),
# pinned by tools/openapi-client/requirements.lock (tests/integration/test_generated_clients.py).
OPENAPI_CLIENT := tools/openapi-client/.venv/.installed
$(OPENAPI_CLIENT): tools/openapi-client/requirements.lock $(BIN)/.installed
	@test -x tools/openapi-client/.venv/bin/python || $(PY) -m venv tools/openapi-client/.venv
	$(BIN)/uv pip install --python tools/openapi-client/.venv/bin/python -q --require-hashes -r $<
	@touch $@

venv: $(BIN)/.installed $(ASYNCAPI_CLI) $(OPENAPI_CLIENT)

run: $(BIN)/.installed  ## start Kafka, PostgreSQL, migrations and the four services
	$(BIN)/python deploy/local/stack.py up
	$(BIN)/clm seed --if-empty --ask  # offers demo data on a terminal; CLM_SEED_DEMO=1 loads it without asking

stop:  ## stop everything `make run` started (by pid)
	@test -x $(BIN)/python && $(BIN)/python deploy/local/stack.py down || true

status:
	$(BIN)/python deploy/local/stack.py status

infra: $(BIN)/.installed
	$(BIN)/python deploy/local/stack.py infra

tools:  ## promtool (Debian's prometheus package) checks the alert rules in the tests
	@command -v promtool >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null; \
	  else echo "promtool is missing: apt-get install prometheus (as root)"; exit 1; fi; }

test: $(BIN)/.installed tools $(ASYNCAPI_CLI) $(OPENAPI_CLIENT)  ## unit + integration tests against the real broker and database
	@# With a Docker engine the tests start their own containers (testcontainers); else the local stack.
	@if command -v docker >/dev/null && docker info >/dev/null 2>&1; then echo "Docker: testcontainers"; \
	else $(BIN)/python deploy/local/stack.py infra; fi
	$(BIN)/python -m pytest -ra --junitxml=test-artifacts/junit.xml $(PYTEST_ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy shared services

bench: $(BIN)/.installed
	$(BIN)/python deploy/local/stack.py infra
	$(BIN)/python -m bench.run_all

clean: stop
	rm -rf .state test-artifacts
