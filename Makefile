# Every target builds its own virtualenv from the pinned constraints file.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
STAMP := $(VENV)/.installed-stamp

.PHONY: venv test lint typecheck unit demo emulator lock clean

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml requirements/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	UV_COMPILE_BYTECODE=1 $(BIN)/uv pip install --quiet --python $(BIN)/python \
		-c requirements/constraints.txt -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

test: lint typecheck
	$(BIN)/pytest -q

demo: $(STAMP)
	$(BIN)/python -m airflow_adf_trigger.emulator.demo

emulator: $(STAMP)
	$(BIN)/python -m airflow_adf_trigger.emulator --port 8765 --scenario airflow_adf_trigger/emulator/scenarios/demo.json

# Re-pin every dependency after changing setup.cfg.
lock: $(STAMP)
	$(BIN)/uv pip compile --python-version 3.11 requirements/requirements.in \
		-o requirements/constraints.txt --no-header --no-emit-package airflow-adf-trigger

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
