# Nodus — `make run` serves the demo, `make test` runs every check. See README.md.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test install frontend lint types contracts compose pytest clean-data starter-models bench

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: a bare or ranged torch would pull a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

frontend: $(STAMP)
	@if [ -f frontend/package.json ]; then $(MAKE) -C frontend build; fi

run: install frontend
	$(PY) -m scripts.run

lint: install
	$(VENV)/bin/ruff check .

types: install
	$(VENV)/bin/mypy

contracts: install
	$(VENV)/bin/lint-imports

compose:
	SECRET_KEY=compose-check POSTGRES_PASSWORD=compose-check docker-compose -f docker-compose.yml config -q

pytest: install frontend
	$(PY) -m scripts.services -- $(PY) -m pytest $(PYTEST_ARGS)

test: lint types contracts compose pytest
	@if [ -f frontend/package.json ]; then $(MAKE) -C frontend check; fi

clean-data:
	rm -rf .data
