# Two commands do everything (see README):  make demo   and   make test
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
MED    := $(VENV)/bin/medallion
DEMO_EVENTS ?= 20000

.PHONY: install install-test chromium demo test test-slow test-fast bench bench-silver bench-gold bench-trace bench-erase bench-serve bench-freshness gold-ci gold-ci-serve clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e .
	$(PY) -m pipelines.core.jar  # the Java classes: local file system, `medallion serve` (javac, JDK 17)
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

# The report test opens the HTML report in the system's headless Chromium (Debian's package):
# installed here when missing (as root, or through sudo), else a clear message.
chromium:
	@command -v chromium >/dev/null || { \
	  SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO="sudo"; \
	  { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; } || \
	  { echo "the tests need Chromium: install Debian's 'chromium' package (apt-get install chromium)"; exit 1; }; }

install: $(VENV)/.installed  ## create .venv and install medallion

install-test: $(VENV)/.installed-test

# Fresh machine -> sample events -> Bronze/Silver/Gold -> metrics printed. The demo's config is the
# embedded default plus `mode: dev` (generated data: a public key may hash its emails).
demo: export MEDALLION_CONFIG ?= $(CURDIR)/medallion.demo.yaml
demo: install
	$(MED) generate --events $(DEMO_EVENTS) --seed 7 --bad-rate 0.02 --files 4
	$(MED) run --once
	$(MED) show --layer gold
	$(MED) report --out lakehouse/report.html

# Tests run in a random order, its seed printed first; replay one with
#   make test PYTEST_ARGS="-p randomly --randomly-seed=N"   (or PYTEST_ARGS="-p no:randomly": file order)
test: install-test chromium  ## the default suite: unit + integration on real Spark/Delta/GX/dbt (~10 min)
	$(PY) -m pytest -q --durations=15 -m "not slow" $(PYTEST_ARGS)

# The slow modules are mostly subprocesses waiting on JVM start-up, dbt parsing and stream triggers:
# two workers, each taking whole modules (their module fixtures and in-order steps stay together).
SLOW_WORKERS ?= 2
test-slow: install-test  ## crash/restart, multi-process and end-to-end suites (~25 min; CI runs them)
	$(PY) -m pytest -q --durations=15 -m slow -n $(SLOW_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-fast: install-test  ## unit tests only (small local Spark frames, no streams)
	$(PY) -m pytest -q tests/unit $(PYTEST_ARGS)

bench: install  ## Bronze ingest vs bare Spark (1M events)
	$(PY) benchmarks/bench_bronze_ingest.py

bench-silver: install  ## Silver refine vs bare parse (1M events) and continuous latency
	$(PY) benchmarks/bench_silver_refine.py

bench-gold: install  ## Gold full refresh vs incremental, warm and cold
	$(PY) benchmarks/bench_gold_build.py

bench-trace: install  ## `medallion trace` of one row per mart, cold CLI, on 1M events
	$(PY) benchmarks/bench_trace.py

bench-erase: install  ## `medallion erase` of one person on a lakehouse of 1M events
	$(PY) benchmarks/bench_erase.py

bench-serve: install  ## `medallion serve` vs a bare Thrift Server: p50/p95 of 4 analysts on 1M events' Gold
	$(PY) benchmarks/bench_serve.py

bench-freshness: install  ## Landing->Silver freshness from outside: bare Spark baseline, medallion (1,000 events/s, 10 min), Gold
	$(PY) benchmarks/bench_freshness.py --bare --seconds 180
	$(PY) benchmarks/bench_freshness.py
	$(PY) benchmarks/bench_freshness.py --gold --seconds 300

gold-ci: install  ## the scheduled dbt CI steps, locally, against the embedded default
	bash dbt_project/ci/gold_ci.sh

# After gold-ci (same GOLD_CI_ROOT): `medallion serve` on the lakehouse gold-ci built, and dbt's
# `thrift` target through it (source freshness, build, docs) with a generated pipeline account.
gold-ci-serve: install  ## the scheduled dbt CI steps through `medallion serve` (run gold-ci first)
	GOLD_CI_MODE=serve bash dbt_project/ci/gold_ci.sh

clean:
	rm -rf lakehouse spark-warehouse metastore_db derby.log bench-out dbt_project/target dbt_project/logs
