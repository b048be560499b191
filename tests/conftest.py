"""Shared fixtures. Airflow's settings are fixed here, before anything imports airflow."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DAGS_FOLDER = REPO / "dags_examples"
SCENARIOS = REPO / "airflow_adf_trigger" / "emulator" / "scenarios"

TEST_DAGS_FOLDER = REPO / "tests" / "e2e" / "dags"

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="adf-trigger-tests-airflow-"))
# Airflow runs DAGs of its one dags folder: gather the examples and the test DAGs there.
ALL_DAGS = _AIRFLOW_HOME / "dags"
ALL_DAGS.mkdir()
_IGNORED = {
    line.strip().replace("\\.", ".")
    for line in (DAGS_FOLDER / ".airflowignore").read_text().splitlines()
    if line.strip() and not line.startswith("#")
}
# The Databricks examples need the `databricks` extra, which the version matrix leaves out
# (looked up without importing airflow, whose settings are not fixed yet).
try:
    importlib.metadata.distribution("apache-airflow-providers-databricks")
except importlib.metadata.PackageNotFoundError:
    _IGNORED.update(
        dag.name
        for dag in DAGS_FOLDER.glob("*.py")
        if "airflow.providers.databricks" in dag.read_text()
    )
for _dag_file in [*DAGS_FOLDER.glob("*.py"), *TEST_DAGS_FOLDER.glob("*.py")]:
    if _dag_file.name not in _IGNORED:
        shutil.copy(_dag_file, ALL_DAGS / _dag_file.name)
os.environ.update(
    AIRFLOW_HOME=str(_AIRFLOW_HOME),
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{_AIRFLOW_HOME}/airflow.db",
    AIRFLOW__CORE__LOAD_EXAMPLES="False",
    AIRFLOW__CORE__DAGS_FOLDER=str(ALL_DAGS),
    AIRFLOW__CORE__UNIT_TEST_MODE="True",
)

from typing import TYPE_CHECKING  # noqa: E402

from airflow_adf_trigger.core.auth import SHARED_TOKEN_CACHE  # noqa: E402

if TYPE_CHECKING:
    from airflow_adf_trigger.emulator import EmulatorServer, Scenario


@pytest.fixture(autouse=True)
def _fresh_token_cache() -> Iterator[None]:
    """Each test signs in anew, as a fresh worker process would."""
    SHARED_TOKEN_CACHE.clear()
    yield
    SHARED_TOKEN_CACHE.clear()


@pytest.fixture
def demo_scenario() -> Scenario:
    from airflow_adf_trigger.emulator import Scenario

    return Scenario.load(SCENARIOS / "demo.json")


@pytest.fixture
def failing_scenario() -> Scenario:
    from airflow_adf_trigger.emulator import Scenario

    return Scenario.load(SCENARIOS / "failing.json")


@pytest.fixture
def emulator(demo_scenario: Scenario) -> Iterator[EmulatorServer]:
    from airflow_adf_trigger.emulator import EmulatorServer

    with EmulatorServer(demo_scenario) as server:
        yield server


@pytest.fixture
def adf_connection_env(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer
) -> dict[str, object]:
    """Point the ``adf_default`` connection at the running emulator."""
    connection = emulator.state.scenario.airflow_connection(emulator.url)
    monkeypatch.setenv("AIRFLOW_CONN_ADF_DEFAULT", json.dumps(connection))
    return connection
