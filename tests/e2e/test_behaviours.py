"""Each operator and sensor behaviour, through real Airflow (dag.test()) and the emulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pytest_mock import MockerFixture, MockType

from airflow_adf_trigger.emulator import EmulatorServer
from tests.e2e.conftest import task_states, xcom_values
from tests.emulator_fixtures import states

DagGetter = Callable[[str], Any]


@pytest.fixture
def followed(mocker: MockerFixture) -> MockType:
    """A spy on every trigger's wait (run in line, as ``dag.test()`` runs triggers)."""
    from airflow_adf_trigger.triggers.adf import AdfPipelineRunTrigger

    return mocker.spy(AdfPipelineRunTrigger, "follow")


def event_statuses(followed: MockType) -> list[str]:
    """The ``status`` of the event each spied trigger yielded, in order."""
    return [outcome.to_event()["status"] for outcome in followed.spy_return_list]


FROZEN = pytest.mark.parametrize("e2e_clock", ["frozen"], indirect=True)
"""The emulator's clock stands still: a run stays as the DAG left it."""


@FROZEN
def test_trigger_only_pushes_the_run_id_and_does_not_wait(
    behaviour_dag: DagGetter, e2e_emulator: EmulatorServer
) -> None:
    dag_run = behaviour_dag("e2e_trigger_only").test(run_conf={"pipeline": "slow"})
    assert str(dag_run.state) == "success"
    (run_id,) = e2e_emulator.state.runs
    xcom = xcom_values("e2e_trigger_only", dag_run.run_id)
    assert xcom[("trigger", "run_id")] == run_id
    assert xcom[("trigger", "return_value")] == run_id
    assert states(e2e_emulator) == ["Queued"]  # the task ended before the run even started
    link = xcom[("trigger", "_link_AdfPipelineRunLink")]
    assert link == (
        f"https://adf.azure.com/en-us/monitoring/pipelineruns/{run_id}?factory=/subscriptions/"
        "12345678-1234-1234-1234-123456789abc/resourceGroups/rg-analytics/providers/"
        "Microsoft.DataFactory/factories/adf-demo"
    )


@pytest.mark.parametrize("dag_id", ["e2e_wait_in_worker", "e2e_wait_deferred"])
def test_waiting_succeeds_with_one_run(
    behaviour_dag: DagGetter,
    e2e_emulator: EmulatorServer,
    followed: MockType,
    dag_id: str,
) -> None:
    dag_run = behaviour_dag(dag_id).test(run_conf={"pipeline": "medium"})
    assert task_states(dag_run) == {"run": "success"}
    assert states(e2e_emulator) == ["Succeeded"]
    assert event_statuses(followed) == (["Succeeded"] if dag_id.endswith("deferred") else [])


@pytest.mark.parametrize("dag_id", ["e2e_wait_in_worker", "e2e_wait_deferred"])
def test_a_failed_run_fails_the_task_with_the_activitys_error(
    behaviour_dag: DagGetter,
    e2e_emulator: EmulatorServer,
    capfd: pytest.CaptureFixture[str],
    dag_id: str,
) -> None:
    dag_run = behaviour_dag(dag_id).test(run_conf={"pipeline": "broken"})
    assert task_states(dag_run) == {"run": "failed"}
    output = capfd.readouterr().out
    (run_id,) = e2e_emulator.state.runs
    assert f"Pipeline 'broken' run {run_id} ended Failed: Operation on target" in output
    assert (
        "- activity 'Copy sales to lake' (Copy) failed: [2200] Operation on target Copy sales "
        "to lake failed: ErrorCode=UserErrorSourceBlobNotExists"
    ) in output
    assert "e2e-secret-4b1d" not in output


@FROZEN
@pytest.mark.parametrize("dag_id", ["e2e_timeout_in_worker", "e2e_timeout_deferred"])
def test_timeout_cancels_the_run_recursively_and_fails_the_task(
    behaviour_dag: DagGetter,
    e2e_emulator: EmulatorServer,
    capfd: pytest.CaptureFixture[str],
    followed: MockType,
    dag_id: str,
) -> None:
    dag_run = behaviour_dag(dag_id).test()
    assert event_statuses(followed) == (["timeout"] if dag_id.endswith("deferred") else [])
    assert task_states(dag_run) == {"run": "failed"}
    (summary,) = e2e_emulator.run_summaries()
    assert (summary["status"], summary["cancelled_recursive"]) == ("Canceling", True)
    output = capfd.readouterr().out
    assert f"cancel requested for run {summary['runId']} (child pipelines included)" in output


def test_retry_after_a_crash_mid_wait_reattaches_to_the_same_run(
    behaviour_dag: DagGetter, e2e_emulator: EmulatorServer, capfd: pytest.CaptureFixture[str]
) -> None:
    # The first try loses the network mid-wait (its two attempts at a GET are dropped);
    # the retry must find the run it started and wait for it instead of starting another.
    e2e_emulator.add_fault(operation="get run", action="drop", times=2)
    dag_run = behaviour_dag("e2e_retry_reattaches").test()
    assert task_states(dag_run) == {"run": "success"}
    (ti,) = dag_run.get_task_instances()
    assert ti.try_number == 2
    assert "Reconnecting to existing job" in capfd.readouterr().out
    assert e2e_emulator.runs_created == 1
    assert e2e_emulator.request_counts()["create run"] == 1
    assert states(e2e_emulator) == ["Succeeded"]


def test_official_style_connection_works_unchanged(
    behaviour_dag: DagGetter, e2e_emulator: EmulatorServer
) -> None:
    dag_run = behaviour_dag("e2e_official_connection").test()
    assert task_states(dag_run) == {"trigger": "success"}
    assert states(e2e_emulator) == ["Succeeded"]


def test_sensors_in_every_mode_see_success(
    behaviour_dag: DagGetter, e2e_emulator: EmulatorServer
) -> None:
    dag_run = behaviour_dag("e2e_sensor_modes").test()
    assert task_states(dag_run) == {
        "trigger": "success",
        "poke": "success",
        "reschedule": "success",
        "soft": "success",
    }
    assert e2e_emulator.runs_created == 1


def test_sensors_fail_on_a_failed_run_or_skip_with_soft_fail(
    behaviour_dag: DagGetter, e2e_emulator: EmulatorServer, capfd: pytest.CaptureFixture[str]
) -> None:
    dag_run = behaviour_dag("e2e_sensor_modes").test(run_conf={"pipeline": "broken"})
    assert task_states(dag_run) == {
        "trigger": "success",
        "poke": "failed",
        "reschedule": "failed",
        "soft": "skipped",
    }
    assert "failed: [2200]" in capfd.readouterr().out


@pytest.mark.parametrize(("pipeline", "outcome"), [("medium", "success"), ("broken", "failed")])
def test_deferrable_sensor_checks_once_then_waits_in_the_triggerer(
    behaviour_dag: DagGetter,
    e2e_emulator: EmulatorServer,
    capfd: pytest.CaptureFixture[str],
    followed: MockType,
    pipeline: str,
    outcome: str,
) -> None:
    dag_run = behaviour_dag("e2e_sensor_deferred").test(run_conf={"pipeline": pipeline})
    assert task_states(dag_run) == {"trigger": "success", "deferred": outcome}
    assert event_statuses(followed) == ["Succeeded" if outcome == "success" else "Failed"]
    if outcome == "failed":
        assert "- activity 'Copy sales to lake' (Copy) failed: [2200]" in capfd.readouterr().out
