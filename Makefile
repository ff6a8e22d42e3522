# zir: two entry points for a new user, `make demo` and `make test`; both set up .venv when missing.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck pytest graphviz bench clean

$(BIN)/python:
	@command -v $(PY) >/dev/null 2>&1 || { echo "zir needs Python 3.11 ($(PY) not found)"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python tools/demo.py

test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check zir passes vm tools tests

typecheck: $(STAMP)
	$(BIN)/mypy zir passes vm

pytest: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -n 2

bench: $(STAMP)
	$(BIN)/python tools/bench.py

# Debian's graphviz provides the `dot` binary used to render DOT files to SVG (optional).
graphviz:
	@command -v dot >/dev/null 2>&1 && echo "dot is already installed" || \
	  { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq graphviz; \
	    else sudo apt-get update -qq && sudo apt-get install -y -qq graphviz; fi; }

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache out
