# Two commands on a fresh machine with Python 3.11: `make run` and `make test`.
# Both set everything up on first use (local .venv, pinned requirements) and are
# idempotent: pip only runs again when a requirements file is newer than its stamp.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8501
CHROMIUM ?= /usr/bin/chromium
# Where Debian puts each PostgreSQL major's initdb/pg_ctl/postgres (the tests start their
# own throw-away server from there unless DOKU_TEST_DATABASE_URL names one).
POSTGRES_ROOT ?= /usr/lib/postgresql
APT_GET ?= apt-get
# Four pytest workers on two cores: most tests wait on sockets, sleeps and a browser,
# so two cores stay busy (about 90 s instead of 180 s). PYTEST_WORKERS=0 runs serially.
PYTEST_WORKERS ?= 4
PYTEST := $(PY) -m pytest -n $(PYTEST_WORKERS) --dist worksteal
PIP_INSTALL := $(PY) -m pip install --disable-pip-version-check --quiet

RUN_STAMP := $(VENV)/.installed-requirements
DEV_STAMP := $(VENV)/.installed-requirements-dev

.DEFAULT_GOAL := help
.PHONY: help run test setup setup-dev chromium postgres lint typecheck unit e2e bench clean

help:  ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

run: setup  ## Set up and serve the dashboard at http://127.0.0.1:8501
	@echo "Dashboard: http://$(HOST):$(PORT)  (Ctrl+C to stop)"
	$(PY) -m streamlit run dashboard.py --server.address=$(HOST) --server.port=$(PORT)

test: setup-dev chromium postgres  ## Set up and run everything: lint, mypy, import contracts, unit, AppTest, browser
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports --no-cache
	$(PYTEST)

lint: setup-dev  ## ruff check . and the import contracts (lint-imports)
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports --no-cache

typecheck: setup-dev  ## mypy (strict: doku, ui, pages, dashboard.py)
	$(PY) -m mypy

unit: setup-dev postgres  ## pytest without the browser tests
	$(PYTEST) -m "not e2e"

e2e: setup-dev chromium  ## pytest: browser end-to-end tests only
	$(PYTEST) -m e2e

bench: setup-dev  ## Run every bench/bench_*.py (python -m bench.NAME $(BENCH_ARGS))
	@set -e; found=; for f in bench/bench_*.py; do \
		[ -f "$$f" ] || continue; found=1; m="bench.$$(basename "$$f" .py)"; \
		echo "$(PY) -m $$m $(BENCH_ARGS)"; $(PY) -m "$$m" $(BENCH_ARGS); \
	done; [ -n "$$found" ] || echo "no benchmarks yet (bench/bench_*.py)"

setup: $(RUN_STAMP)  ## Create .venv and install requirements.txt

setup-dev: $(DEV_STAMP)  ## Create .venv and install requirements-dev.txt

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "error: Python 3.11 or newer needed; $(PYTHON) is " + sys.version.split()[0] + " (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)

# The checkout itself is installed editable (no deps: requirements pin them), which
# gives the venv the `doku` command.
$(RUN_STAMP): requirements.txt pyproject.toml | $(PY)
	$(PIP_INSTALL) -r requirements.txt
	$(PIP_INSTALL) --no-deps -e .
	@touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt pyproject.toml | $(PY)
	$(PIP_INSTALL) -r requirements-dev.txt
	$(PIP_INSTALL) --no-deps -e .
	@touch $@ $(RUN_STAMP)

chromium:  ## Install Debian's chromium for the browser tests when missing
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "installing chromium (apt-get)"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	else \
		echo "error: $(CHROMIUM) is missing; run: sudo apt-get install -y chromium" >&2; exit 1; \
	fi

postgres:  ## Install Debian's postgresql for the database tests when missing
	@found=; for f in $(POSTGRES_ROOT)/*/bin/initdb; do if [ -x "$$f" ]; then found=1; fi; done; \
	if [ -n "$$found" ] || [ -n "$$DOKU_TEST_DATABASE_URL" ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "installing postgresql (apt-get)"; \
		$(APT_GET) update -q && DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -q postgresql; \
	else \
		echo "error: PostgreSQL is missing ($(POSTGRES_ROOT)/*/bin/initdb); run: sudo apt-get install -y postgresql" >&2; exit 1; \
	fi

clean:  ## Remove caches and test artifacts (keeps .venv and data/)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis artifacts
