# Two commands do everything (see README):  make demo   and   make test
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
MED    := $(VENV)/bin/medallion
DEMO_EVENTS ?= 20000

.PHONY: install install-test demo test test-fast bench clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

install: $(VENV)/.installed  ## create .venv and install medallion

install-test: $(VENV)/.installed-test

# Fresh machine -> sample events -> Bronze/Silver/Gold -> metrics printed.
demo: install
	$(MED) generate --events $(DEMO_EVENTS) --seed 7 --bad-rate 0.02 --files 4
	$(MED) run --once
	$(MED) show

test: install-test  ## the full default suite (what CI runs)
	$(PY) -m pytest -q

test-fast: install-test  ## unit tests only (no Spark)
	$(PY) -m pytest -q tests/unit

bench: install
	$(PY) benchmarks/bench_bronze_ingest.py

clean:
	rm -rf lakehouse spark-warehouse metastore_db derby.log
