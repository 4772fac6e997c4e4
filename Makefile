# Peel: every target here is a command the README shows.
# Bootstrap: a private copy of uv in .tools/, then .venv from the committed uv.lock.
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: install demo test test-fast lint bench eval clean docs

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.installed: uv.lock pyproject.toml | $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --python $(PYTHON) --quiet
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/peel demo

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m peel.cli.docgen --check

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: lint
	$(BIN)/pytest -m "not slow and not postgres and not browser" $(PYTEST_ARGS)

docs: install
	$(BIN)/python -m peel.cli.docgen
	$(BIN)/python -m peel.sources.catalog docs/sources.md
	$(BIN)/python -m peel.schema.docs docs/schema.md
	$(BIN)/python -m peel.governance.docs docs/policy.md

bench: install
	$(BIN)/python benchmarks/ingest.py

eval: install
	$(BIN)/python benchmarks/resolve_seeds.py --scale demo --seeds 101-105
	$(BIN)/python benchmarks/resolve_seeds.py --scale demo --profile hard --seeds 101-105

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache
