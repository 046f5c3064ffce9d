# One command to test, one to demo. Everything installs from this repo's own files.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck unit soak demo bench forms clean test-matrix package-check test-python

# One constraints file per supported Airflow minor (constraints/airflow-3.N.txt); the newest is the default.
NEWEST := 3.3
OLDER_MINORS := 3.1 3.2

$(STAMP): pyproject.toml constraints/airflow-$(NEWEST).txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet -c constraints/airflow-$(NEWEST).txt -e ".[dev,emulator,openlineage]"
	touch $(STAMP)

# A virtualenv per older minor, e.g. .venv-3.1 from constraints/airflow-3.1.txt.
.venv-%/.installed: pyproject.toml constraints/airflow-%.txt
	$(PYTHON) -m venv .venv-$*
	.venv-$*/bin/pip install --quiet --upgrade "pip>=24"
	.venv-$*/bin/pip install --quiet -c constraints/airflow-$*.txt -e ".[dev,emulator,openlineage]"
	touch $@

# On the older minors, the tests closest to Airflow's version-dependent APIs: the hook, every operator,
# the triggers, the version-dependent features, and the replication example DAG under dag.test().
SUBSET := tests/hooks tests/operators tests/triggers tests/test_compat.py tests/test_provider_info.py \
	tests/example_dags/test_replication_dag.py

test-%: .venv-%/.installed
	.venv-$*/bin/pytest $(SUBSET) -q -p no:cacheprovider

# The subset on another Python with the newest minor's pins, in .venv-py3.N: make test-python PY=3.12
# (a version, found as python3.12 on PATH or under pyenv's versions, or PY=/path/to/python). Fails if
# that Python is absent; IF_PRESENT=1 prints why and passes instead. See scripts/test_python.sh.
test-python:
	PY="$(PY)" NEWEST="$(NEWEST)" SUBSET="$(SUBSET)" IF_PRESENT="$(IF_PRESENT)" scripts/test_python.sh

# The whole suite on the newest minor, the subset on each older one.
test-matrix: test $(addprefix test-,$(OLDER_MINORS))

# Build the wheel and sdist, check them, install the wheel (not editable) into a fresh virtualenv and
# run the emulator and the replication example DAG from it.
package-check: $(STAMP)
	rm -rf dist .venv-package
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*
	$(PYTHON) -m venv .venv-package
	.venv-package/bin/pip install --quiet --upgrade "pip>=24"
	.venv-package/bin/pip install --quiet -c constraints/airflow-$(NEWEST).txt "$$(ls dist/*.whl)[emulator]"
	cd /tmp && $(CURDIR)/.venv-package/bin/python $(CURDIR)/scripts/package_smoke.py $(CURDIR)/example_dags

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
	rm -rf $(VENV) .venv-3.* .venv-py3.* .venv-package dist .pytest_cache .mypy_cache .ruff_cache demo/.dbt-venv demo/.work

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
