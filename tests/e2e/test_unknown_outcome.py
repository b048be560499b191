"""Retries after a create-run with an unknown outcome, through real Airflow and the emulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from airflow_adf_trigger.emulator import EmulatorServer
from tests.e2e.conftest import xcom_values

DAG_ID = "e2e_create_run_answer_lost"


def the_task(dag_run: Any) -> Any:
    (ti,) = dag_run.get_task_instances()
    return ti


def test_a_lost_answer_is_followed_by_a_retry_that_adopts_the_one_run(
    behaviour_dag: Callable[[str], Any],
    e2e_emulator: EmulatorServer,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # ADF creates the run, then the connection closes before the answer comes back.
    e2e_emulator.add_fault(operation="create run", action="lose_response")
    dag_run = behaviour_dag(DAG_ID).test()
    ti = the_task(dag_run)
    assert str(ti.state) == "success"
    assert ti.try_number == 2
    assert e2e_emulator.runs_created == 1
    assert e2e_emulator.request_counts()["create run"] == 1
    (summary,) = e2e_emulator.run_summaries()
    assert summary["status"] == "Succeeded"
    assert xcom_values(DAG_ID, dag_run.run_id)[("run", "run_id")] == summary["runId"]
    output = capfd.readouterr().out
    assert "the retry will first look for pipeline 'copy_sales' (a run started between" in output
    assert (
        f"Found the run the earlier try started: pipeline 'copy_sales' run {summary['runId']}"
        in (output)
    )
    assert "e2e-secret-4b1d" not in output


@pytest.mark.parametrize(
    "fault",
    [{"action": "drop"}, {"action": "status", "status": 502}],
    ids=["dropped", "502"],
)
def test_a_create_run_that_never_arrived_is_sent_again_once(
    behaviour_dag: Callable[[str], Any],
    e2e_emulator: EmulatorServer,
    capfd: pytest.CaptureFixture[str],
    fault: dict[str, Any],
) -> None:
    e2e_emulator.add_fault(operation="create run", **fault)
    dag_run = behaviour_dag(DAG_ID).test()
    ti = the_task(dag_run)
    assert str(ti.state) == "success"
    assert ti.try_number == 2
    assert e2e_emulator.runs_created == 1
    assert e2e_emulator.request_counts()["create run"] == 2
    output = capfd.readouterr().out
    assert "No run of pipeline 'copy_sales'" in output
    assert "Starting a new run" in output


def test_the_worker_wait_goes_on_through_an_outage(
    behaviour_dag: Callable[[str], Any],
    e2e_emulator: EmulatorServer,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # Two checks fail outright (each request dropped twice): well inside the 15-minute budget.
    e2e_emulator.add_fault(operation="get run", action="drop", times=4)
    dag_run = behaviour_dag("e2e_wait_through_outage").test()
    ti = the_task(dag_run)
    assert str(ti.state) == "success"
    assert ti.try_number == 1
    assert e2e_emulator.runs_created == 1
    output = capfd.readouterr().out
    assert "Azure unreachable for 0 s (" in output
    assert "still waiting, giving up after 900 s" in output


def test_a_pipeline_declaring_the_run_key_is_found_by_it(
    behaviour_dag: Callable[[str], Any],
    e2e_emulator: EmulatorServer,
    capfd: pytest.CaptureFixture[str],
) -> None:
    dag_id = "e2e_create_run_answer_lost_keyed"
    e2e_emulator.add_fault(operation="create run", action="lose_response")
    dag_run = behaviour_dag(dag_id).test()
    ti = the_task(dag_run)
    assert str(ti.state) == "success" and ti.try_number == 2
    (summary,) = e2e_emulator.run_summaries()
    key = summary["parameters"]["airflow_run_key"]
    # Readable in ADF Studio: which DAG, DAG run and task sent it, and this request's nonce.
    assert key.startswith(f"airflow:{dag_id}/{dag_run.run_id}/run#")
    assert xcom_values(dag_id, dag_run.run_id)[("run", "run_id")] == summary["runId"]
    output = capfd.readouterr().out
    assert f"this run carries the run key {key}" in output
    assert "(a run started between" in output and f"run key {key})" in output
    assert "Found the run the earlier try started" in output


def test_a_mapped_sibling_never_takes_the_others_run(
    behaviour_dag: Callable[[str], Any],
    e2e_emulator: EmulatorServer,
    capfd: pytest.CaptureFixture[str],
) -> None:
    dag_id = "e2e_create_run_answer_lost_mapped"
    # The first create-run goes through; the second is dropped (its outcome unknown).
    e2e_emulator.add_fault(operation="create run", action="delay", delay_seconds=0, times=1)
    e2e_emulator.add_fault(operation="create run", action="drop", times=1)
    dag_run = behaviour_dag(dag_id).test()
    tis = sorted(dag_run.get_task_instances(), key=lambda ti: ti.map_index)
    assert [str(ti.state) for ti in tis] == ["success", "success"]
    assert e2e_emulator.runs_created == 2
    first, second = (summary["runId"] for summary in e2e_emulator.run_summaries())
    output = capfd.readouterr().out
    # The retry read the sibling's run from XCom and ruled it out by id.
    assert "runs other tasks of this DAG run follow): " in output
    assert first in output.split("runs other tasks of this DAG run follow): ", 1)[1]
    assert f"Pipeline 'copy_sales' started: run id {second}" in output
