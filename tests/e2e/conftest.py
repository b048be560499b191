"""Real Airflow: a throwaway AIRFLOW_HOME with SQLite (set in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import DAGS_FOLDER


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[None]:
    from airflow.utils import db

    db.resetdb()
    yield


@pytest.fixture(scope="session")
def example_dag(airflow_db: None) -> Callable[[str], Any]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert not bag.import_errors, bag.import_errors

    def get(dag_id: str) -> Any:
        return bag.get_dag(dag_id)

    return get


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
