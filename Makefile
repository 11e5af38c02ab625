# The README's commands. Everything a fresh machine needs is installed here.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
KOHDE := $(VENV)/bin/kohde
PYTEST_ARGS ?=
# pytest-xdist processes; each gets its own SQLite file / PostgreSQL database / Redis db
TEST_WORKERS ?= auto

.PHONY: run test install browser bench bench-all chaos lint migrate clean translations messages

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed translations

## the translation catalogues (en, fi, sv, hu): each .po compiled to its .mo when it changed
PO_FILES := $(wildcard webadmin/translations/*/LC_MESSAGES/messages.po)
translations: $(PO_FILES:.po=.mo)

%.mo: %.po $(VENV)/.installed
	$(VENV)/bin/pybabel compile --statistics -i $< -o $@

## make messages: extract marked messages and merge them into every catalogue
messages: install
	$(VENV)/bin/pybabel extract -F babel.cfg -k lazy_gettext -k _l -o webadmin/translations/messages.pot .
	$(VENV)/bin/pybabel update -i webadmin/translations/messages.pot -d webadmin/translations --no-fuzzy-matching

## make run: migrate, first-run admin + demo data, then web + worker + scheduler (+ embedded Redis, mail sink)
PORT ?= 5000
run: install
	$(KOHDE) db upgrade
	$(KOHDE) bootstrap
	$(KOHDE) dev --port $(PORT)

## make test: the whole suite (SQLite + embedded Redis unless TEST_DATABASE_URL / TEST_REDIS_URL)
test: install browser
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

## the browser tests drive Debian's chromium: installed here when missing (as root), else
## stop at once with the one command to run
browser:
	@[ -x /usr/bin/chromium ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	  else \
	    echo "The browser tests need Debian's chromium: sudo apt-get install -y chromium"; exit 1; \
	  fi; }

## make bench: seed speed (BENCH_CONTACTS, DATABASE_URL decide size and database)
BENCH_CONTACTS ?= 100000
bench: install
	$(PY) bench/seed.py --contacts $(BENCH_CONTACTS)

## make bench-all SIZE=N: every bench at N contacts and one summary table of every
## operation's ratio to its floor (BENCH_DATABASE_URL: a kohde_bench… database, else SQLite)
SIZE ?= 100000
BENCH_DATABASE_URL ?=
bench-all: install
	flock /tmp/kohde-bench.lock $(PY) bench/all.py --size $(SIZE) \
	  $(if $(BENCH_DATABASE_URL),--database-url $(BENCH_DATABASE_URL))

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
