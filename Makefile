# Two entry points for a new user; both create ./.venv on first use.
#   make demo   set up, then check the built-in example case with the bundled model pack
#   make test   set up, then run the test suite (what CI runs)
PYTHON ?= python3
VENV ?= .venv
# A CPU build of torch; on a CUDA machine use e.g. `make demo TORCH=torch`.
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: demo test setup setup-test

$(BIN)/segqc: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e .
	touch $@

setup: $(BIN)/segqc

setup-test: setup
	$(BIN)/python -m pip install -q -e ".[test]"

demo: setup
	$(BIN)/segqc demo -o segqc-demo

test: setup-test
	$(BIN)/python -m pytest -q Testing/Python
