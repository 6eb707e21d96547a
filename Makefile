# Workflow automation backend. `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Debian's prometheus package (promtool and the server, for the deployment tests), unpacked into
# the venv: nothing is installed system-wide and no daemon is started.
TOOLS := $(VENV)/tools
PROMTOOL := $(TOOLS)/prometheus/usr/bin/promtool

.PHONY: help setup tools run test test-unit test-integration test-e2e test-deploy lint format typecheck check bench lock clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) ## Create .venv and install pinned dependencies

$(PROMTOOL): | $(STAMP)
	rm -rf $(TOOLS)/download && mkdir -p $(TOOLS)/download
	cd $(TOOLS)/download && { apt-get download prometheus || { apt-get update -qq && apt-get download prometheus; }; }
	dpkg-deb -x $(TOOLS)/download/prometheus_*.deb $(TOOLS)/prometheus
	rm -rf $(TOOLS)/download
	$(PROMTOOL) --version | head -1

tools: $(PROMTOOL) ## Unpack Debian's prometheus (promtool, server) into .venv/tools for the tests

run: $(STAMP) ## Run the whole system on the embedded broker and database (Ctrl-C stops it)
	$(BIN)/python -m deploy.local

# Test files run in TEST_WORKERS processes (pytest-xdist, a file per worker at a time, each worker
# with its own broker and database): most e2e time is waiting on processes, not CPU.
TEST_WORKERS ?= 2

test: $(STAMP) $(PROMTOOL) ## Run unit, integration and e2e tests against the real broker and PostgreSQL
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile tests
	$(BIN)/python -m tests.faults.table --check

test-unit: $(STAMP) ## Unit tests only (seconds, no I/O)
	$(BIN)/pytest tests/unit

test-integration: $(STAMP) ## Integration tests (real broker and PostgreSQL)
	$(BIN)/pytest tests/integration

test-e2e: $(STAMP) $(PROMTOOL) ## End-to-end tests (services as real processes)
	$(BIN)/pytest tests/e2e

test-deploy: $(STAMP) $(PROMTOOL) ## The deployment artefacts: compose, k8s, rules, dashboards (seconds)
	$(BIN)/pytest tests/deploy

lint: $(STAMP) ## ruff, format check and import-linter contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP) ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP) ## mypy --strict over services/ and shared/
	$(BIN)/mypy

check: lint typecheck test ## Lint, typecheck and the whole test suite

bench: $(STAMP) ## Benchmarks: print figures, never pass/fail (PARTS="scheduler matcher" for some)
	$(BIN)/python -m bench $(PARTS)

bench-%: $(STAMP) ## One benchmark part: bench-ingest, bench-scheduler, bench-executor, bench-matcher, bench-api, bench-soak
	$(BIN)/python -m bench $*

lock: ## Re-resolve dependencies into requirements.lock
	rm -rf /tmp/lock-venv && $(PYTHON) -m venv /tmp/lock-venv
	/tmp/lock-venv/bin/pip install --quiet --upgrade pip
	/tmp/lock-venv/bin/pip install --quiet '.[dev]'
	/tmp/lock-venv/bin/pip freeze --exclude-editable | grep -v '^workflow-automation' > requirements.lock

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache
