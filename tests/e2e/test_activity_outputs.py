"""dags_examples/adf_outputs_to_databricks.py through real Airflow: a Copy activity's
rowsCopied and a Lookup's firstRow reach the Databricks job through XCom."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from testbed.emulator import SCENARIOS, EmulatorServer, Scenario
from tests.e2e.conftest import xcom_values

pytestmark = [
    pytest.mark.filterwarnings("ignore:ProvidersManager.hooks is deprecated"),
]

DAG_ID = "adf_outputs_to_databricks"


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    scenario = Scenario.load(SCENARIOS / "adf_events.json")
    with EmulatorServer(scenario) as server:
        adf = scenario.airflow_connection(server.url)
        monkeypatch.setenv("AIRFLOW_CONN_ADF_DEFAULT", json.dumps(adf))
        databricks = scenario.databricks_connection(server.url)
        monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", json.dumps(databricks))
        yield server


def test_copy_and_lookup_outputs_reach_the_databricks_job(
    example_dag: Callable[[str], Any], emulator: EmulatorServer
) -> None:
    dag_run = example_dag(DAG_ID).test()

    assert str(dag_run.state) == "success"
    (adf_run,) = emulator.state.runs.values()
    xcom = xcom_values(DAG_ID, dag_run.run_id)
    outputs = xcom[("ingest_sales", "activity_outputs")]
    assert outputs["Copy sales to lake"]["rowsCopied"] == 39614
    assert outputs["Lookup watermark"]["firstRow"]["watermark"] == "2026-01-01T00:00:00Z"
    (job,) = emulator.databricks_run_summaries()
    assert job["job_parameters"] == {
        "rows_copied": "39614",
        "watermark": "2026-01-01T00:00:00Z",
        "adf_run_id": adf_run.run_id,
    }
    assert job["result_state"] == "SUCCESS"
