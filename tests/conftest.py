"""Shared fixtures, and Airflow's settings, fixed before anything imports airflow.

Airflow reads ``AIRFLOW_HOME`` and the rest of its settings when first imported, so
``pytest_configure`` makes a throwaway home (SQLite, the DAGs below) and sets them before any
test module is collected; ``pytest_unconfigure`` removes it. Conftests below this one are
imported before that: they reach the DAGs folder through the ``all_dags`` fixture.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.clock import FakeClock

if TYPE_CHECKING:
    from airflow_adf_trigger.emulator import EmulatorServer, Scenario
    from tests.emulator_fixtures import Emulators

pytest_plugins = ["tests.emulator_fixtures"]

REPO = Path(__file__).resolve().parent.parent
DAGS_FOLDER = REPO / "dags_examples"
SCENARIOS = REPO / "airflow_adf_trigger" / "emulator" / "scenarios"
TEST_DAGS_FOLDER = REPO / "tests" / "e2e" / "dags"

AIRFLOW_HOME: Path
"""The session's throwaway Airflow home (set by ``pytest_configure``)."""
ALL_DAGS: Path
"""Airflow's one DAGs folder: the examples users copy and the e2e test DAGs, gathered."""


def pytest_configure(config: pytest.Config) -> None:
    global AIRFLOW_HOME, ALL_DAGS
    AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="adf-trigger-tests-airflow-"))
    ALL_DAGS = AIRFLOW_HOME / "dags"
    ALL_DAGS.mkdir()
    for dag_file in [*DAGS_FOLDER.glob("*.py"), *TEST_DAGS_FOLDER.glob("*.py")]:
        if dag_file.name not in _ignored_dag_files():
            shutil.copy(dag_file, ALL_DAGS / dag_file.name)
    os.environ.update(
        AIRFLOW_HOME=str(AIRFLOW_HOME),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{AIRFLOW_HOME}/airflow.db",
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(ALL_DAGS),
        AIRFLOW__CORE__UNIT_TEST_MODE="True",
    )


LAYERS = (
    "unit",
    "adversary",
    "emulator",
    "integration",
    "contract",
    "faults",
    "e2e",
    "deployment",
    "packaging",
)
"""One folder, one marker, one kind of evidence (the README's table says which)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test carries its folder's marker: ``pytest -m unit``, ``-m "not deployment"``."""
    tests = Path(__file__).parent
    for item in items:
        layer = item.path.relative_to(tests).parts[0]
        assert layer in LAYERS, f"{item.nodeid}: tests/{layer} is not a layer of {LAYERS}"
        item.add_marker(getattr(pytest.mark, layer))


def pytest_unconfigure(config: pytest.Config) -> None:
    home = globals().get("AIRFLOW_HOME")
    if home is not None:
        shutil.rmtree(home, ignore_errors=True)


def _ignored_dag_files() -> set[str]:
    """The examples' .airflowignore, and the Databricks examples when the `databricks` extra
    is not installed (the version matrix leaves it out); looked up without importing airflow."""
    ignored = {
        line.strip().replace("\\.", ".")
        for line in (DAGS_FOLDER / ".airflowignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    try:
        importlib.metadata.distribution("apache-airflow-providers-databricks")
    except importlib.metadata.PackageNotFoundError:
        ignored.update(
            dag.name
            for dag in DAGS_FOLDER.glob("*.py")
            if "airflow.providers.databricks" in dag.read_text()
        )
    return ignored


@pytest.fixture(scope="session")
def all_dags() -> Path:
    """Airflow's DAGs folder for this session."""
    return ALL_DAGS


@pytest.fixture(scope="session", autouse=True)
def _airflow_logging_bound_outside_any_test() -> None:
    """Airflow sets up its log handlers on the ``sys.stdout`` of the moment it is first
    imported. Imported inside a test that captures its output (``capsys``), they would keep
    writing to that test's capture after it closed, and every later test that logs would print
    "--- Logging error ---". Importing it here binds them to the session's own output."""
    import airflow  # noqa: F401


@pytest.fixture(autouse=True)
def _no_monitoring_lag_seen() -> Iterator[None]:
    """Each test starts as a process that has measured no monitoring lag yet."""
    yield
    poller = sys.modules.get("airflow_adf_trigger.core.runs.poller")
    if poller is not None:
        poller._process_lags.clear()


@pytest.fixture(autouse=True)
def _fresh_token_cache() -> Iterator[None]:
    """Each test signs in anew, as a fresh worker process would."""
    from airflow_adf_trigger.core.wire.auth import SHARED_TOKEN_CACHE

    SHARED_TOKEN_CACHE.clear()
    yield
    SHARED_TOKEN_CACHE.clear()


@pytest.fixture
def clock() -> FakeClock:
    """A clock that stands still until the test (or code sleeping on it) moves it."""
    return FakeClock()


@pytest.fixture
def demo_scenario() -> Scenario:
    from airflow_adf_trigger.emulator import Scenario

    return Scenario.load(SCENARIOS / "demo.json")


@pytest.fixture
def failing_scenario() -> Scenario:
    from airflow_adf_trigger.emulator import Scenario

    return Scenario.load(SCENARIOS / "failing.json")


@pytest.fixture
def emulator(emulator_for: Emulators, demo_scenario: Scenario) -> EmulatorServer:
    """The demo scenario, on the real clock."""
    return emulator_for(demo_scenario)


@pytest.fixture
def adf_connection_env(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer
) -> dict[str, object]:
    """Point the ``adf_default`` connection at the running emulator."""
    connection = emulator.state.scenario.airflow_connection(emulator.url)
    monkeypatch.setenv("AIRFLOW_CONN_ADF_DEFAULT", json.dumps(connection))
    return connection
