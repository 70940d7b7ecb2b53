# The two front-door commands: `make run` and `make test`. Everything they need is installed
# from the package registries on first use (virtual environment, Python packages, Neo4j jars).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
DEMO_SUBJECTS ?= 20000
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup browser run test lint typecheck neo4j stop bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

EXPLORER := credgraph/api/explorer
EXPLORER_STAMP := $(EXPLORER)/node_modules/.installed

# The explorer's JavaScript and CSS come from npm and are served by the app (no CDN).
$(EXPLORER_STAMP): $(EXPLORER)/package.json $(EXPLORER)/package-lock.json
	cd $(EXPLORER) && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $(EXPLORER_STAMP)

DESK := credgraph/api/desk
DESK_STAMP := $(DESK)/node_modules/.installed

# The desk's graph drawing (cytoscape, fcose layout): prebuilt files from npm, served by the app.
$(DESK_STAMP): $(DESK)/package.json $(DESK)/package-lock.json
	cd $(DESK) && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $(DESK_STAMP)

setup: $(STAMP) $(EXPLORER_STAMP) $(DESK_STAMP)

# The browser tests drive Debian's chromium; the desk and the printed report need CJK fonts and
# the report test reads the PDF with pdftotext. Installed when we may (root with apt-get).
BROWSER_PACKAGES := chromium fonts-noto-cjk poppler-utils
browser:
	@missing=""; command -v chromium >/dev/null 2>&1 || missing="chromium"; \
	fc-list 2>/dev/null | grep -q "Noto Sans CJK" || missing="$$missing fonts-noto-cjk"; \
	command -v pdftotext >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	[ -z "$$missing" ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PACKAGES) >/dev/null) \
	  || echo "not installed:$$missing (browser tests skip without chromium; CI=true fails them)"; }

neo4j: setup
	$(BIN)/credgraph db start

run: neo4j
	$(BIN)/credgraph demo ensure --subjects $(DEMO_SUBJECTS)
	$(BIN)/credgraph escalate
	@$(BIN)/credgraph keys revoke make-run > /dev/null 2>&1 || true
	$(BIN)/credgraph keys create --name make-run --role investigator
	$(BIN)/credgraph serve --host $(HOST) --port $(PORT)

stop: setup
	$(BIN)/credgraph db stop

lint: setup
	$(BIN)/ruff check .

typecheck: setup
	$(BIN)/mypy

test: setup browser lint typecheck
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m bench.load --subjects 100000 --update --keep-server
	$(BIN)/python -m bench.api --label 100000 --peer

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
