"""AdfLatestPipelineRunSensor in deferrable mode through real Airflow (dag.test() runs each
deferral's trigger in line) against the emulator: both of its deferrals, a success and a
failure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from airflow_adf_trigger.emulator import EmulatorServer
from airflow_adf_trigger.sensors.latest import AdfLatestPipelineRunSensor
from tests.e2e.conftest import xcom_values

DAG_ID = "e2e_latest_deferred"


def start_run(pipeline: str) -> str:
    from airflow_adf_trigger.hooks.adf import AdfHook

    return AdfHook().client.create_run(pipeline)


@pytest.fixture
def triggers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The class name of every trigger the sensor deferred to (dag.test() runs them in line)."""
    import airflow.sdk.definitions.dag as dag_module

    ran: list[str] = []
    original = dag_module._run_inline_trigger

    def spy(trigger: Any, task_sdk_ti: Any) -> Any:
        ran.append(type(trigger).__name__)
        return original(trigger, task_sdk_ti)

    monkeypatch.setattr(dag_module, "_run_inline_trigger", spy)
    return ran


def state(dag_run: Any) -> str:
    (ti,) = dag_run.get_task_instances()
    return str(ti.state)


@pytest.fixture
def runs_started(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, bool], list[str]]:
    """Start a run of the pipeline when the sensor first looks (as ADF's own schedule would):
    just before that look, or just after it found nothing."""

    def arrange(pipeline: str, after_first_look: bool) -> list[str]:
        started: list[str] = []
        original = AdfLatestPipelineRunSensor.latest_run

        def latest_run(self: AdfLatestPipelineRunSensor) -> Any:
            if not started and not after_first_look:
                started.append(start_run(pipeline))
            run = original(self)
            if not started:
                started.append(start_run(pipeline))
            return run

        monkeypatch.setattr(AdfLatestPipelineRunSensor, "latest_run", latest_run)
        return started

    return arrange


def test_waits_in_the_triggerer_until_the_latest_run_succeeded(
    dag_by_id: Callable[[str], Any],
    e2e_emulator: EmulatorServer,
    triggers: list[str],
    runs_started: Callable[[str, bool], list[str]],
) -> None:
    started = runs_started("copy_sales", False)  # queued at the first look

    dag_run = dag_by_id(DAG_ID).test(run_conf={"pipeline": "copy_sales"})

    assert state(dag_run) == "success"
    assert triggers == ["AdfPipelineRunTrigger"]
    assert [s["status"] for s in e2e_emulator.run_summaries()] == ["Succeeded"]
    assert xcom_values(DAG_ID, dag_run.run_id)[("latest", "run_id")] == started[0]


def test_fails_naming_the_latest_run_when_it_failed(
    dag_by_id: Callable[[str], Any],
    e2e_emulator: EmulatorServer,
    triggers: list[str],
    runs_started: Callable[[str, bool], list[str]],
    capfd: pytest.CaptureFixture[str],
) -> None:
    started = runs_started("broken", False)  # queued at the first look, Failed 3 s later

    dag_run = dag_by_id(DAG_ID).test(run_conf={"pipeline": "broken"})

    assert state(dag_run) == "failed"
    assert triggers == ["AdfPipelineRunTrigger"]
    out = capfd.readouterr().out
    assert f"run {started[0]}" in out
    assert "- activity 'Copy sales to lake' (Copy) failed: [2200]" in out


def test_waits_for_a_run_that_starts_after_its_first_look(
    dag_by_id: Callable[[str], Any],
    e2e_emulator: EmulatorServer,
    triggers: list[str],
    runs_started: Callable[[str, bool], list[str]],
) -> None:
    started = runs_started("medium", True)  # nothing at the first look; then a 4 s run

    dag_run = dag_by_id(DAG_ID).test(run_conf={"pipeline": "medium"})

    assert state(dag_run) == "success"
    # No run at the first look: a timed deferral (TimeDeltaTrigger, serialized as its base
    # class), then the run's own trigger.
    assert triggers == ["DateTimeTrigger", "AdfPipelineRunTrigger"]
    assert xcom_values(DAG_ID, dag_run.run_id)[("latest", "run_id")] == started[0]
