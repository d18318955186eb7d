# legis-assets: every target sets up what it needs from a bare Python 3.11 machine.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export LEGIS_HOME ?= $(CURDIR)/.legis
export DAGSTER_HOME ?= $(LEGIS_HOME)/dagster_home
export LEGIS_DATA_DIR ?= $(CURDIR)/data
EXAMPLE := data/simulated

.PHONY: setup run test test-fast lint ui bench real-data real-scale example-data clean scale-demo bench-scale-out

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python "$(PYTHON)"
	touch $@

setup: $(VENV)/.synced  ## create the environment from the lock file

run: setup  ## materialize every session of the example legislature (both chambers), then its common scale, headless
	$(BIN)/legis-assets run --data-dir data

LINTED := legis_assets legis_assets_tests benchmarks scripts

lint: setup  ## static checks: ruff (lint + format) and mypy
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

test: lint  ## the static checks, then the whole test suite
	mkdir -p "$(DAGSTER_HOME)"
	$(BIN)/python -m pytest

test-fast: setup  ## unit tests only (no full-length sampling, browser or dagster dev)
	$(BIN)/python -m pytest -m "not slow and not browser and not integration"

ui: setup  ## the Dagster UI + daemon (sensors, schedules, alerts) on http://127.0.0.1:3000 (one process per run)
	$(BIN)/python -c "from pathlib import Path; from legis_assets.dagster_home import ensure_dagster_home; ensure_dagster_home(Path('$(DAGSTER_HOME)'))"
	LEGIS_EXECUTOR=$${LEGIS_EXECUTOR:-in_process} $(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

bench: setup  ## sampling benchmark: reference configuration vs project default, one table
	$(BIN)/python benchmarks/bench_sampling.py

scale-demo: setup  ## distributed run: Postgres + Redis + 2 Celery workers + daemon, backfill of 4 partitions (deploy/README.md)
	$(BIN)/python scripts/scale_cluster.py

bench-scale-out: setup  ## the scale-out backfill's wall time with 1 and 2 Celery workers (benchmarks/results/)
	nice -n 5 $(BIN)/python benchmarks/bench_scale_out.py

REAL := LEGIS_HOME=$(LEGIS_HOME)/real DAGSTER_HOME=$(LEGIS_HOME)/real/dagster_home
SCALE ?= california

real-data: setup  ## every real chamber in ../shared/data through to its report (results in .legis/real)
	$(REAL) $(BIN)/legis-assets run --data-dir ../shared/data --no-scale

real-scale: setup  ## one real legislature's sessions, then its common scale (SCALE=california or us_congress)
	$(REAL) $(BIN)/legis-assets run --data-dir ../shared/data $$(ls -d ../shared/data/$(SCALE)/*/ | xargs -n1 basename | sed 's/^/--session $(SCALE)./')

example-data: setup  ## regenerate the bundled example legislature (3 sessions, both chambers) from the simulator
	rm -rf $(EXAMPLE)
	$(BIN)/legis-assets simulate $(EXAMPLE) --legislature --sessions 3 --start-year 2021 --example --seed 2025

clean:  ## remove results (warehouse, traces, reports, Dagster instance); keeps the environment
	rm -rf $(LEGIS_HOME)
