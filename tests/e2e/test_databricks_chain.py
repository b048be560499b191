"""Databricks -> ADF -> Databricks (dags_examples/databricks_adf_chain.py) through real Airflow.

The Databricks provider's own operators and hook talk to the emulator's Jobs API, our
operator to its ADF API, both on one port.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from testbed.emulator import SCENARIOS, EmulatorServer, Scenario
from tests.e2e.conftest import task_states, xcom_values

pytestmark = [
    # The Databricks provider's own deprecation notice (its user-agent header), not ours.
    pytest.mark.filterwarnings("ignore:ProvidersManager.hooks is deprecated"),
]

DAG_ID = "databricks_adf_chain"
DagGetter = Callable[[str], Any]


@pytest.fixture
def chain_scenario() -> Scenario:
    return Scenario.load(SCENARIOS / "databricks_chain.json")


def serve(scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    """Serve the scenario and point ``adf_default`` and ``databricks_default`` at it."""
    with EmulatorServer(scenario) as server:
        adf = scenario.airflow_connection(server.url)
        monkeypatch.setenv("AIRFLOW_CONN_ADF_DEFAULT", json.dumps(adf))
        databricks = scenario.databricks_connection(server.url)
        monkeypatch.setenv("AIRFLOW_CONN_DATABRICKS_DEFAULT", json.dumps(databricks))
        yield server


@pytest.fixture
def chain_emulator(
    chain_scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EmulatorServer]:
    yield from serve(chain_scenario, monkeypatch)


@pytest.fixture
def failing_chain_emulator(
    chain_scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EmulatorServer]:
    workspace = chain_scenario.databricks
    assert workspace is not None
    submit = dataclasses.replace(
        workspace.submit,
        outcome="FAILED",
        state_message="Workload failed, see run output for details",
        error="FileNotFoundError: raw/sales/ has no file for the day",
    )
    scenario = dataclasses.replace(
        chain_scenario, databricks=dataclasses.replace(workspace, submit=submit)
    )
    yield from serve(scenario, monkeypatch)


def test_notebook_output_feeds_adf_then_the_second_job_runs_after_it(
    example_dag: DagGetter,
    chain_emulator: EmulatorServer,
    capfd: pytest.CaptureFixture[str],
) -> None:
    dag_run = example_dag(DAG_ID).test()

    assert str(dag_run.state) == "success"
    assert task_states(dag_run) == {
        "prepare_sales": "success",
        "prepared_path": "success",
        "ingest_sales": "success",
        "publish_sales": "success",
    }
    day = dag_run.logical_date.strftime("%Y-%m-%d")
    expected_path = f"abfss://lake@adlsdemo.dfs.core.windows.net/prepared/sales/{day}/"

    # Exactly one ADF run, and its parameter is the first notebook's exit value.
    (adf_run,) = chain_emulator.state.runs.values()
    assert adf_run.parameters == {"input_path": expected_path}
    assert chain_emulator.run_summaries()[0]["status"] == "Succeeded"

    # Two Databricks runs: the notebook, then the job, started after ADF ended.
    prepare, publish = chain_emulator.databricks_run_summaries()
    assert (prepare["run_type"], prepare["result_state"]) == ("SUBMIT_RUN", "SUCCESS")
    assert prepare["parameters"] == {"prepare_sales": {"date": day}}
    assert (publish["run_type"], publish["job_id"]) == ("JOB_RUN", 4242)
    assert publish["result_state"] == "SUCCESS"
    assert publish["job_parameters"] == {"input_path": expected_path, "adf_run_id": adf_run.run_id}
    adf_ended_at = adf_run.transitions()[-1][0]
    assert prepare["ended_at"] <= adf_run.created_at
    assert publish["created_at"] >= adf_ended_at
    assert chain_emulator.stats()["databricks_runs_created"] == 2

    xcom = xcom_values(DAG_ID, dag_run.run_id)
    assert xcom[("prepare_sales", "run_id")] == prepare["run_id"]
    assert xcom[("prepared_path", "return_value")] == expected_path
    assert xcom[("ingest_sales", "run_id")] == adf_run.run_id
    assert xcom[("publish_sales", "run_id")] == publish["run_id"]

    requests = chain_emulator.request_counts()
    assert requests["databricks runs submit"] == 1
    assert requests["databricks run now"] == 1
    assert requests["databricks runs get output"] == 1
    assert requests["create run"] == 1

    output = capfd.readouterr()
    token = chain_emulator.state.scenario.databricks_connection(chain_emulator.url)["password"]
    assert token not in output.out + output.err


def test_a_failed_notebook_stops_the_chain_before_adf(
    example_dag: DagGetter,
    failing_chain_emulator: EmulatorServer,
    capfd: pytest.CaptureFixture[str],
) -> None:
    dag_run = example_dag(DAG_ID).test()

    assert str(dag_run.state) == "failed"
    assert task_states(dag_run) == {
        "prepare_sales": "failed",
        "prepared_path": "upstream_failed",
        "ingest_sales": "upstream_failed",
        "publish_sales": "upstream_failed",
    }
    assert failing_chain_emulator.runs_created == 0
    (prepare,) = failing_chain_emulator.databricks_run_summaries()
    assert prepare["result_state"] == "FAILED"
    output = capfd.readouterr().out
    # The provider fetches the failed task's output and puts its error in the task's failure.
    assert "FileNotFoundError: raw/sales/ has no file for the day" in output
