# Two entry points for a new user; both create ./.venv on first use.
#   make demo   set up, then check the built-in example case with the bundled model pack
#   make test   set up, then run the test suite (what CI runs)
PYTHON ?= python3
VENV ?= .venv
# A CPU build of torch; on a CUDA machine use e.g. `make demo TORCH=torch`.
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
# Quiets setuptools' notice, shown on every editable install, that folders named like a package may shadow it.
EDITABLE := PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install -q -e

# The oldest releases pyproject.toml admits, on Slicer 5.8's Python 3.9 (PyPI's torch 2.0.1 is a
# CUDA build, about 2.5 GB): `make test-oldest PY39=/path/to/python3.9`.
PY39 ?= python3.9
OLDEST := torch==2.0.1 numpy==1.22.4 SimpleITK==2.2.1 scipy==1.8.1 nibabel==4.0.2 matplotlib==3.5.3

.PHONY: demo test setup setup-test test-oldest

$(BIN)/segqc: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(EDITABLE) .
	touch $@

setup: $(BIN)/segqc

setup-test: setup
	$(EDITABLE) ".[test]"

demo: setup
	$(BIN)/segqc demo -o segqc-demo

test: setup-test
	$(BIN)/python -m pytest -q Testing/Python

test-oldest:
	$(PY39) -m venv .venv-oldest
	.venv-oldest/bin/python -m pip install -q --upgrade pip
	.venv-oldest/bin/python -m pip install -q $(OLDEST) pytest "dask[distributed]"
	.venv-oldest/bin/python -m pip install -q --no-deps -e .
	.venv-oldest/bin/python -m pytest -q Testing/Python
