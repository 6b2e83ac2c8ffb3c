# Two commands on a fresh machine with only Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck unit integration e2e bench schemas clean browser promtool pdftools

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (PYTHON=$(PYTHON))")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

run: $(STAMP)
	$(BIN)/tthc up --demo

# Two workers (pytest-xdist), each with its own PostgreSQL and broker; a test file stays on one
# worker (its module fixtures start once) and files go out in collection order, the slow end-to-end
# ones first (docs/operations.md, "Test suite time").
test: $(STAMP) browser promtool pdftools lint typecheck
	$(BIN)/python -m pytest -q -ra --durations=10 -n 2 --dist loadfile --no-loadscope-reorder

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Headless Chromium for the dashboard tests (Debian package; playwright drives it, no browser download).
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

# The PDF forms use DejaVu Sans (Debian fonts-dejavu-core, the fonts with Vietnamese glyphs); their
# test renders them with poppler's pdftoppm and reads them back with pdftotext (Debian poppler-utils).
pdftools:
	@{ test -x /usr/bin/pdftoppm && test -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf; } || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils fonts-dejavu-core)

# promtool checks the Prometheus config and runs the alert-rule unit tests; taken from Debian's
# prometheus package into the venv (extracted, not installed: no server is started).
promtool: $(BIN)/promtool

$(BIN)/promtool: | $(STAMP)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && cd "$$tmp" && \
	  { apt-get download prometheus >/dev/null 2>&1 || { apt-get update -qq && apt-get download prometheus >/dev/null 2>&1; }; } && \
	  dpkg -x prometheus_*.deb x && cp x/usr/bin/promtool "$(CURDIR)/$@" && echo "promtool installed in $(BIN)"

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

# Every benchmark, each writing its section of docs/benchmarks.md (machine, date, command, figures).
bench: $(STAMP)
	$(BIN)/python -m bench.processing --dossiers 100000 --replicas 1 --write
	$(BIN)/python -m bench.processing --dossiers 100000 --replicas 2 --write
	$(BIN)/python -m bench.processing_floor --dossiers 40000 --write
	$(BIN)/python -m bench.processing_memory --dossiers 1000000 --write
	$(BIN)/python -m bench.e2e --processing-replicas 1 --write
	$(BIN)/python -m bench.ingest --write
	$(BIN)/python -m bench.replay --write
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench.replay_speed --write
	$(BIN)/python -m bench.reporting_form06
	$(BIN)/python -m bench.local_broker --write

schemas: $(STAMP)
	$(BIN)/tthc schemas

clean:
	rm -rf $(VENV) .tthc .mypy_cache .ruff_cache .pytest_cache
