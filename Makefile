# Every target creates .venv on its own, so a fresh clone needs nothing but python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test bench clean

# A path install (setuptools' "compat" editable mode) keeps every cfy command ~20 ms faster
# than the import-hook finder of a default editable install; fall back to the default should
# a future setuptools drop the mode.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]' --config-settings editable_mode=compat || $(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# `make demo` needs only cfy-local and its runtime dependencies (not pytest and the test
# extras); a venv that `make venv` already filled is used as it is. PYTHONWARNINGS keeps
# setuptools' notice about the compat editable mode out of the demo's output.
DEMO_STAMP := $(VENV)/.demo-installed
$(DEMO_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	PYTHONWARNINGS=ignore $(BIN)/pip install -q --disable-pip-version-check -e . --config-settings editable_mode=compat || PYTHONWARNINGS=ignore $(BIN)/pip install -q --disable-pip-version-check -e .
	touch $(DEMO_STAMP)

demo: $(if $(wildcard $(STAMP)),$(STAMP),$(DEMO_STAMP))
	bash examples/demo.sh

# The import contracts of pyproject.toml ([tool.importlinter]) first: a wrong-way import fails fast.
test: $(STAMP)
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -n 2 -q

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
