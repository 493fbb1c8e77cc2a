# The two commands of the README:
#   make demo   set up .venv (base install) and run mindbank's demonstration
#   make test   set up .venv (with the dev tools) and run lint, format check, types and tests
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-fast test-py lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.base: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev: $(VENV)/.base
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)/.base
	$(BIN)/mindbank demo

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

test-fast: lint
	$(BIN)/pytest -m "not slow"

# The tests alone, on another Python: make test-py PYTHON=python3.13 VENV=.venv-3.13
test-py: $(VENV)/.dev
	$(BIN)/pytest

bench: $(VENV)/.base
	$(BIN)/python bench/bench_store.py

clean:
	rm -rf $(VENV) .venv-3.13 .mypy_cache .ruff_cache .pytest_cache
