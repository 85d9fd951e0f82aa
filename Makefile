# Lessons Bot: `make run` installs and runs the bot; `make test` installs and runs every check.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
export LESSONS_DATABASE_URL ?= sqlite:///lessons.db
export LESSONS_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

# The first Python 3.12+ on PATH (pyenv reads .python-version, which asks for 3.12).
PYTHON := $(shell for p in python3.13 python3.12 python3 python; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' \
	>/dev/null 2>&1 && { echo $$p; break; }; done)

.PHONY: run test lint bench install dev clean help

help:
	@echo "make run    install into .venv and run the bot on SQLite with the demo lessons"
	@echo "make test   install dev tools and run ruff, mypy and pytest (SQLite and PostgreSQL)"
	@echo "make bench  run the search benchmarks (SciFact quality, latency at 105k lessons, import)"

$(BIN)/python:
	@if [ -z "$(PYTHON)" ]; then \
		echo "Lessons Bot needs Python 3.12 or newer, and none was found on PATH."; \
		echo "Install one (e.g. 'pyenv install 3.12' or your system's python3.12 package) and retry."; \
		exit 1; fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@ $(STAMP)

install: $(STAMP)
dev: $(DEV_STAMP)

run: $(STAMP)
	$(BIN)/lessons db upgrade
	$(BIN)/lessons seed-demo --if-empty
	$(BIN)/lessons chat

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

# Quality on SciFact, then import and ask latency at ~105k lessons, on each backend (~10 min).
bench: $(STAMP)
	@mkdir -p bench-results
	$(BIN)/lessons bench all --backend sqlite --json | tee bench-results/sqlite.json
	$(BIN)/lessons bench all --backend postgres --json | tee bench-results/postgres.json

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
