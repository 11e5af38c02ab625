# The README's commands. Everything a fresh machine needs is installed here.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
KOHDE := $(VENV)/bin/kohde
PYTEST_ARGS ?=

.PHONY: run test install bench chaos lint migrate clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

## make run: migrate, first-run admin + demo data, then web + worker + scheduler (+ embedded Redis, mail sink)
run: install
	$(KOHDE) db upgrade
	$(KOHDE) bootstrap
	$(KOHDE) dev

## make test: the whole suite (SQLite + embedded Redis unless TEST_DATABASE_URL / TEST_REDIS_URL)
test: install
	$(PY) -m pytest $(PYTEST_ARGS)

## make bench: seed speed (BENCH_CONTACTS, DATABASE_URL decide size and database)
BENCH_CONTACTS ?= 100000
bench: install
	$(PY) bench/seed.py --contacts $(BENCH_CONTACTS)

## make chaos: kill -9 / pg_terminate_backend / Redis flush during a 3,000-message send (PostgreSQL)
CHAOS_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/kohde_bench_chaos
chaos: install
	$(PY) bench/chaos.py --database-url $(CHAOS_DATABASE_URL)

lint: install
	$(VENV)/bin/ruff check .

migrate: install
	$(KOHDE) db upgrade

clean:
	rm -rf $(VENV) instance/*.db* .pytest_cache
