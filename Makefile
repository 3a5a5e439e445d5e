# The two commands a user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ARGS ?=
MODEL ?= vosk-model-small-cn-0.22

.PHONY: run test install install-test system lint bench model clean

$(PY):
	bash scripts/make-venv.sh $(PYTHON) $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	@touch $@

$(STAMP)-test: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[test]'
	@touch $@ $(STAMP)

install: $(STAMP)
install-test: $(STAMP)-test

system:
	bash scripts/install-system.sh

## Install and run the service on the bundled demo call (open the printed address).
run: install
	$(PY) -m assist run $(ARGS)

## Install everything the tests need and run the whole suite.
test: system install-test
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest -q $(ARGS)

bench: system install-test
	$(PY) -m bench $(ARGS)

## Download a speech model into models/<id>/ (resumable, sha256-checked); ARGS="--url URL" for a mirror.
model: install
	$(PY) -m assist models download $(MODEL) $(ARGS)

lint: install-test
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache .mypy_cache
