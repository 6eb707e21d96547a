# Workflow automation backend. `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: help setup run test test-unit test-integration test-e2e lint format typecheck check bench bench-executor lock clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) ## Create .venv and install pinned dependencies

run: $(STAMP) ## Run the whole system on the embedded broker and database (Ctrl-C stops it)
	$(BIN)/python -m deploy.local

test: $(STAMP) ## Run unit, integration and e2e tests against the real broker and PostgreSQL
	$(BIN)/pytest tests

test-unit: $(STAMP) ## Unit tests only (seconds, no I/O)
	$(BIN)/pytest tests/unit

test-integration: $(STAMP) ## Integration tests (real broker and PostgreSQL)
	$(BIN)/pytest tests/integration

test-e2e: $(STAMP) ## End-to-end tests (services as real processes)
	$(BIN)/pytest tests/e2e

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

bench: $(STAMP) ## Benchmarks: print figures, never pass/fail
	$(BIN)/python -m bench
	$(BIN)/python -m bench.executor

bench-executor: $(STAMP) ## Executor benchmarks X1-X3 and end to end E1 (python -m bench.executor --help)
	$(BIN)/python -m bench.executor

lock: ## Re-resolve dependencies into requirements.lock
	rm -rf /tmp/lock-venv && $(PYTHON) -m venv /tmp/lock-venv
	/tmp/lock-venv/bin/pip install --quiet --upgrade pip
	/tmp/lock-venv/bin/pip install --quiet '.[dev]'
	/tmp/lock-venv/bin/pip freeze --exclude-editable | grep -v '^workflow-automation' > requirements.lock

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache
