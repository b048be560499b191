"""Real Airflow: a throwaway AIRFLOW_HOME with SQLite (set in tests/conftest.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clock import FakeClock
from tests.emulator_fixtures import Emulators

E2E = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[None]:
    from airflow.utils import db

    db.resetdb()
    yield


@pytest.fixture(scope="session")
def dag_by_id(airflow_db: None, all_dags: Path) -> Callable[[str], Any]:
    """DAGs of dags_examples/ (what users copy) and tests/e2e/dags/ (one behaviour each)."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.0, 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    bag = DagBag(dag_folder=str(all_dags))
    assert not bag.import_errors, bag.import_errors

    def get(dag_id: str) -> Any:
        dag = bag.get_dag(dag_id)
        assert dag is not None, f"no DAG {dag_id!r} in {all_dags}"
        return dag

    return get


@pytest.fixture(scope="session")
def example_dag(dag_by_id: Callable[[str], Any]) -> Callable[[str], Any]:
    return dag_by_id


@pytest.fixture(scope="session")
def behaviour_dag(dag_by_id: Callable[[str], Any]) -> Callable[[str], Any]:
    return dag_by_id


@pytest.fixture
def e2e_clock(request: pytest.FixtureRequest) -> Callable[[], float]:
    """The e2e emulator's clock: the real one, or, for a test parametrized indirectly with
    "frozen", a FakeClock that moves only when the test moves it."""
    return FakeClock() if getattr(request, "param", None) == "frozen" else time.monotonic


@pytest.fixture
def e2e_emulator(
    emulator_for: Emulators, e2e_clock: Callable[[], float], monkeypatch: pytest.MonkeyPatch
) -> Any:
    """The e2e scenario, with four connections: default, official-style, impatient and
    official-style holding only the credentials."""
    server = emulator_for(E2E / "scenario.json", clock=e2e_clock)
    ours = server.state.scenario.airflow_connection(server.url)
    monkeypatch.setenv("AIRFLOW_CONN_ADF_DEFAULT", json.dumps(ours))
    impatient = {**ours, "extra": {**ours["extra"], "retry_max_attempts": 2}}
    monkeypatch.setenv("AIRFLOW_CONN_ADF_IMPATIENT", json.dumps(impatient))
    extra = ours["extra"]
    official = {
        "conn_type": "azure_data_factory",
        "login": ours["login"],
        "password": ours["password"],
        "extra": {
            "tenantId": extra["tenant_id"],
            "subscriptionId": extra["subscription_id"],
            "resource_group_name": extra["resource_group"],
            "factory_name": extra["factory_name"],
            "authority_host": server.url,
            "management_endpoint": server.url,
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_ADF_OFFICIAL_STYLE", json.dumps(official))
    # The official format holding only the credentials and the subscription: tasks name the
    # factory (tests/e2e/test_migration.py).
    named_by_tasks = ("resource_group_name", "factory_name")
    credentials_only = {
        **official,
        "extra": {k: v for k, v in official["extra"].items() if k not in named_by_tasks},
    }
    monkeypatch.setenv("AIRFLOW_CONN_ADF_CREDENTIALS_ONLY", json.dumps(credentials_only))
    return server


def task_states(dag_run: Any) -> dict[str, str]:
    """Each task instance's state by task id (``task[i]`` for mapped ones)."""
    return {
        f"{ti.task_id}[{ti.map_index}]" if ti.map_index >= 0 else ti.task_id: str(ti.state)
        for ti in dag_run.get_task_instances()
    }


def xcom_values(dag_id: str, run_id: str) -> dict[tuple[str, str], Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(XComModel)
            .filter(XComModel.dag_id == dag_id, XComModel.run_id == run_id)
            .all()
        )
        return {(row.task_id, row.key): row.value for row in rows}
