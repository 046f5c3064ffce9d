# One command to test, one to demo. Everything installs from this repo's own files.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck unit soak demo bench forms clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev,emulator,openlineage]"
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The generated scenarios run in a second pytest without coverage tracing: they judge timing-sensitive
# verdicts with 12 scenarios at a time, and tracing 12 threads on 2 cores would starve them.
unit: $(STAMP)
	$(BIN)/pytest --cov --cov-report=term-missing:skip-covered --cov-fail-under=90 --ignore=tests/scenarios
	$(BIN)/pytest tests/scenarios -q -p no:cacheprovider

test: lint typecheck unit

# The generated busy-source scenarios with many more seeds than `make test` runs (200): about 20 min.
SOAK_SEEDS ?= 3000
soak: $(STAMP)
	STITCH_SCENARIOS=$(SOAK_SEEDS) STITCH_SCENARIO_FIRST_SEED=$${STITCH_SCENARIO_FIRST_SEED:-100000} \
		$(BIN)/pytest tests/scenarios -q -p no:cacheprovider

# Shared vs naive trigger polling against the in-process emulator (about 2 minutes; not part of test).
bench: $(STAMP)
	$(BIN)/python benchmarks/trigger_fanout.py

# The emulator's connection forms, derived again from Stitch's docs copy (STITCH_DOCS, default
# ../shared/stitchdata-docs); tests/emulator/test_forms.py checks them wherever the copy is present.
forms: $(STAMP)
	$(BIN)/python scripts/derive_stitch_forms.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache demo/.dbt-venv demo/.work

# The demo's dbt lives in its own virtualenv, as dbt users install it; `make test` never needs it.
DBT_VENV := demo/.dbt-venv
DBT_STAMP := $(DBT_VENV)/.installed

.PHONY: dbt-venv demo-stop

$(DBT_STAMP): demo/dbt-requirements.txt
	$(PYTHON) -m venv $(DBT_VENV)
	$(DBT_VENV)/bin/pip install --quiet --upgrade "pip>=24"
	$(DBT_VENV)/bin/pip install --quiet -r demo/dbt-requirements.txt
	touch $(DBT_STAMP)

dbt-venv: $(DBT_STAMP)

# KEEP=1 leaves the demo's Airflow stack running for the UI; `make demo-stop` stops it.
demo: $(STAMP) $(DBT_STAMP)
	$(BIN)/python demo/run_demo.py $(if $(KEEP),--keep)

demo-stop: $(STAMP)
	$(BIN)/python demo/run_demo.py --stop
