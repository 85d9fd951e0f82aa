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

CHROMIUM := /usr/bin/chromium

.PHONY: run chat test lint bench soak chaos install dev clean help browser lock smoke platform-tools

help:
	@echo "make run    install into .venv and run the bot on SQLite with the demo lessons:"
	@echo "            local web chat on http://localhost:3000, dashboard on /dashboard"
	@echo "make chat   the same, as a chat in this terminal"
	@echo "make test   install dev tools and run ruff, mypy, lint-imports and pytest (SQLite, PostgreSQL)"
	@echo "make smoke  a new user's first minute: a clean copy, runtime-only venv, make run, one question"
	@echo "make lock   refresh the dependency locks in requirements/ from pyproject.toml"
	@echo "make bench  run the benchmarks (search quality and latency, import, Slack, Teams,"
	@echo "            1 and 2 workers on PostgreSQL, scheduler)"
	@echo "make chaos  3 scheduler replicas on PostgreSQL, killed and faulted (~2 min)"
	@echo "make soak   load the running bot on Slack and Teams, then a 10-minute soak (RSS, ~15 min)"

$(BIN)/python:
	@if [ -z "$(PYTHON)" ]; then \
		echo "Lessons Bot needs Python 3.12 or newer, and none was found on PATH."; \
		echo "Install one (e.g. 'pyenv install 3.12' or your system's python3.12 package) and retry."; \
		exit 1; fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installs come from the locks in requirements/ (made by `make lock`), with pip checking every
# hash; then the project itself, editable, with no dependencies of its own. A stamp is written
# only after every module imports: a failed install leaves none, and neither does a failed
# first run (the run targets remove it), so the next `make run` installs again.
LOCK ?= requirements/runtime.txt
DEV_LOCK := requirements/dev.txt
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check

$(STAMP): pyproject.toml $(LOCK) | $(BIN)/python
	@rm -f $@
	@$(BIN)/python requirements/lock.py --check
	$(PIP_INSTALL) --require-hashes -r $(LOCK)
	$(PIP_INSTALL) --no-deps -e .
	$(BIN)/python -m pip check
	$(BIN)/python tests/smoke.py --imports
	@touch $@

$(DEV_STAMP): pyproject.toml $(DEV_LOCK) | $(BIN)/python
	@rm -f $@ $(STAMP)
	@$(BIN)/python requirements/lock.py --check
	$(PIP_INSTALL) --require-hashes -r $(DEV_LOCK)
	$(PIP_INSTALL) --no-deps -e .
	$(BIN)/python -m pip check
	@touch $@ $(STAMP)

install: $(STAMP)
dev: $(DEV_STAMP)

# A failure here (other than Ctrl-C) forgets the install, so the next run redoes it.
FORGET_ON_FAILURE = || { rc=$$?; [ $$rc -eq 130 ] || rm -f $(STAMP) $(DEV_STAMP); exit $$rc; }

run: $(STAMP)
	$(BIN)/lessons db upgrade $(FORGET_ON_FAILURE)
	$(BIN)/lessons seed-demo --if-empty $(FORGET_ON_FAILURE)
	$(BIN)/lessons run $(FORGET_ON_FAILURE)

chat: $(STAMP)
	$(BIN)/lessons db upgrade $(FORGET_ON_FAILURE)
	$(BIN)/lessons seed-demo --if-empty $(FORGET_ON_FAILURE)
	$(BIN)/lessons chat $(if $(AS),--as $(AS)) $(FORGET_ON_FAILURE)

# Refresh the locks from pyproject.toml's ranges (uv, installed into .venv for this only).
UV_VERSION := 0.13.10
lock: | $(BIN)/python
	$(PIP_INSTALL) "uv==$(UV_VERSION)"
	$(BIN)/python requirements/lock.py --uv $(BIN)/uv

# What a new user does, in a clean copy of this tree with a runtime-only venv: `make run` on a
# free port, wait for /healthz, ask one question through the chat's WebSocket, stop. SMOKE_PYTHON
# picks the interpreter (e.g. python3.13) and SMOKE_LOCK the lock (requirements/lowest.txt for the
# lowest versions pyproject.toml allows).
SMOKE_PYTHON ?= $(PYTHON)
SMOKE_LOCK ?= requirements/runtime.txt
smoke:
	@SMOKE_PYTHON="$(SMOKE_PYTHON)" SMOKE_LOCK="$(SMOKE_LOCK)" .ci/smoke

# The browser tests drive Debian's Chromium (never a downloaded browser). Installing it needs
# root and apt; without them the browser tests skip and say why (CI requires them).
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
		if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
			echo "Installing Debian's chromium for the browser tests"; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
			{ apt-get update -q >/dev/null 2>&1 && \
			  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; } || \
			echo "Could not install chromium: the browser tests will skip"; \
		else echo "No $(CHROMIUM) and no root apt-get: the browser tests will skip"; fi; \
	fi

# lint-imports: the floors bot → scheduler → handlers → knowledge import only downwards, and no
# package imports itself back (pyproject.toml, [tool.importlinter]).
lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# Two workers (the machine's two cores); a test file stays on one worker. TEST_WORKERS=0 runs
# everything in this process (for a debugger or -x).
TEST_WORKERS ?= 2
# The platforms' own tools for the tests (Slack's types with tsc, Microsoft's Adaptive Cards
# renderer, the Microsoft 365 Agents Playground), from the npm registry with the lock in
# tests/platform_tools. Without npm the tests that need them skip (CI fails them).
PLATFORM := tests/platform_tools
$(PLATFORM)/node_modules/.package-lock.json: $(PLATFORM)/package.json $(PLATFORM)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix $(PLATFORM) --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm is not installed: the tests that use the platforms' own tools will skip"; fi

platform-tools: $(PLATFORM)/node_modules/.package-lock.json

test: lint browser platform-tools
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# Quality on SciFact, then import and ask latency at ~105k lessons, on each backend; Slack and
# Teams (bench/, from this checkout), 1 and 2 workers on PostgreSQL; the scheduler (~30 min).
bench: $(STAMP)
	@mkdir -p bench-results
	$(BIN)/lessons bench all --backend sqlite --json | tee bench-results/sqlite.json
	$(BIN)/lessons bench all --backend postgres --json | tee bench-results/postgres.json
	$(BIN)/lessons bench slack --json | tee bench-results/slack.json
	$(BIN)/lessons bench teams --json | tee bench-results/teams.json
	$(BIN)/lessons bench slack --workers 2 --json | tee bench-results/slack-workers.json
	$(BIN)/lessons bench teams --workers 2 --json | tee bench-results/teams-workers.json
	$(BIN)/lessons bench scheduler --backend sqlite --json | tee bench-results/scheduler-sqlite.json
	$(BIN)/lessons bench scheduler --backend postgres --json | tee bench-results/scheduler-postgres.json

# The long half of the reliability suite (docs/reliability.md): a load on /slack/events and
# /api/messages of a real `lessons run` process, then a 10-minute soak sampling its RSS. Loopback
# only, bounded in time and count. Figures in bench-results/soak.json. Then the hostile-input
# properties with their long profile.
# Chaos on the scheduler (issue 21): 3 replicas on PostgreSQL, SIGKILLs by PID, 429 storms with
# a long Retry-After, slow posts, closed connections. Figures in bench-results/chaos.json.
chaos: $(DEV_STAMP)
	@mkdir -p bench-results
	LESSONS_CHAOS=1 LESSONS_CHAOS_REPORT=bench-results/chaos.json \
		$(BIN)/python -m pytest -q -s -m chaos -p no:cacheprovider tests/reliability/test_chaos.py

soak: $(DEV_STAMP)
	@mkdir -p bench-results
	LESSONS_SOAK=1 LESSONS_SOAK_REPORT=bench-results/soak.json \
		$(BIN)/python -m pytest -q -m soak -p no:cacheprovider tests/reliability
	@$(BIN)/python -c 'import json; r = json.load(open("bench-results/soak.json")); \
		r["soak"].pop("rss_samples"); print(json.dumps(r, indent=1))'
	# The hostile-input properties with 3,000 examples each (tests/reliability/hostile.py).
	LESSONS_SOAK=1 $(BIN)/python -m pytest -q -p no:cacheprovider -m "not soak" \
		tests/reliability/test_parsers_property.py tests/reliability/test_importers_property.py \
		tests/reliability/test_http_fuzz.py tests/reliability/test_http_property.py \
		tests/reliability/test_injection.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
