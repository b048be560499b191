# Every target builds its own virtualenv from the pinned constraints file.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
STAMP := $(VENV)/.installed-stamp

.PHONY: venv test lint typecheck docs unit demo emulator lock clean faults deployment browser-deps matrix dist

venv: $(STAMP)

# The two distributions of this repository (see pyproject.toml), both editable.
PROJECTS := pyproject.toml hatch_build.py distributions/core/pyproject.toml distributions/core/hatch_build.py

$(STAMP): $(PROJECTS) requirements/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	UV_COMPILE_BYTECODE=1 $(BIN)/uv pip install --quiet --python $(BIN)/python \
		--reinstall-package airflow-adf-trigger --reinstall-package airflow-adf-trigger-core \
		-c requirements/constraints.txt -e ./distributions/core -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The documentation site (docs/, mkdocs.yml): strict, so a broken link or an API docstring
# that disagrees with its signature fails the build.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict --quiet

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

# The whole suite as two pytest sessions side by side: the deployment layer, which mostly
# waits on a real Airflow, and every other layer. The deployment's output is kept in
# $(DEPLOYMENT_LOG) and shown after the other layers'; either session failing fails the
# target. An interrupt stops both (the deployment's teardown stops its Airflow).
DEPLOYMENT_LOG := .artifacts/deployment-tests.log
test: lint typecheck docs
	@mkdir -p .artifacts
	@echo "==> pytest: tests/deployment runs beside the other layers; its output follows theirs"
	@started=$$(date +%s); \
	$(BIN)/pytest -q --durations=10 -o cache_dir=.pytest_cache/deployment tests/deployment \
		>$(DEPLOYMENT_LOG) 2>&1 & deployment=$$!; \
	trap 'kill -TERM $$deployment 2>/dev/null; wait $$deployment; exit 130' INT TERM; \
	$(BIN)/pytest -q --durations=10 --ignore=tests/deployment; others=$$?; \
	wait $$deployment; deployed=$$?; \
	echo "==> pytest tests/deployment (output kept in $(DEPLOYMENT_LOG))"; \
	cat $(DEPLOYMENT_LOG); \
	echo "==> pytest: other layers exit $$others, tests/deployment exit $$deployed," \
		"both done in $$(( $$(date +%s) - started )) s"; \
	[ $$others -eq 0 ] && [ $$deployed -eq 0 ]

# Real Airflow (scheduler, dag-processor, triggerer, api-server) driven over REST, and the
# browser tests (also part of `make test`).
deployment: $(STAMP)
	$(BIN)/pytest tests/deployment -q

# What the browser tests need: Debian's chromium (apt, no browser download) and Playwright.
browser-deps: $(STAMP)
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	@# Playwright itself comes with the dev extra (pinned); it drives this chromium.

# Airflow 3.0 to 3.3 x Python 3.11 and 3.12: both wheels in a fresh venv per cell, from its
# pinned constraints, and the tests that prove the compatibility table (see .ci/matrix.py).
MATRIX_JOBS ?= 2
matrix: $(STAMP)
	$(BIN)/python .ci/matrix.py run --jobs $(MATRIX_JOBS)

# The wheels and sdists of both distributions, in dist/.
dist: $(STAMP)
	$(BIN)/python -m build --outdir dist distributions/core
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*

demo: $(STAMP)
	$(BIN)/python -m testbed.demo

# The fault matrix: every stage x every fault, 60 s outages included (about 2 minutes).
faults: $(STAMP)
	$(BIN)/python -m tests.faults

emulator: $(STAMP)
	$(BIN)/python -m airflow_adf_trigger.emulator --port 8765 --scenario airflow_adf_trigger/emulator/scenarios/demo.json

# Re-pin every dependency after changing pyproject.toml or distributions/core/pyproject.toml:
# the main environment, then each cell of the version matrix.
lock: $(STAMP)
	$(BIN)/uv pip compile --python-version 3.11 requirements/requirements.in \
		-o requirements/constraints.txt --no-header \
		--no-emit-package airflow-adf-trigger --no-emit-package airflow-adf-trigger-core
	$(BIN)/python .ci/matrix.py lock

clean:
	rm -rf $(VENV) .venv-bench .matrix build dist site .mypy_cache .ruff_cache .pytest_cache .demo

# Benchmarks (see README.md, "Performance"): ours beside the official
# provider, in their own virtualenv with the project installed as a wheel (not editable), so
# import timings pay no editable-finder cost. BENCH_QUICK=1 or BENCH_RUNS=N scale it down.
BENCH_VENV := .venv-bench
BENCH_BIN := $(BENCH_VENV)/bin
BENCH_STAMP := $(BENCH_VENV)/.installed-stamp

.PHONY: bench

$(BENCH_STAMP): $(PROJECTS) requirements/constraints.txt
	test -x $(BENCH_BIN)/python || $(PYTHON) -m venv $(BENCH_VENV)
	printf '*\n' > $(BENCH_VENV)/.gitignore
	$(BENCH_BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	UV_COMPILE_BYTECODE=1 $(BENCH_BIN)/uv pip install --quiet --python $(BENCH_BIN)/python \
		-c requirements/constraints.txt ./distributions/core '.[bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	@# The project itself is reinstalled every time: a wheel install does not follow edits.
	UV_COMPILE_BYTECODE=1 $(BENCH_BIN)/uv pip install --quiet --python $(BENCH_BIN)/python \
		-c requirements/constraints.txt --reinstall-package airflow-adf-trigger \
		--reinstall-package airflow-adf-trigger-core ./distributions/core '.[bench]'
	cd benchmarks && ../$(BENCH_BIN)/python run_all.py
