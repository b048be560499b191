"""What users do to a waiting task in a real deployment, and what it does to the ADF run."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from tests.deployment.airflow_deployment import AirflowDeployment, wait_until
from tests.deployment.conftest import runs_of

DEFERRED = "deploy_wait_deferred"
IN_WORKER = "deploy_wait_in_worker"
WAITING = {DEFERRED: "deferred", IN_WORKER: "running"}
ENDED = ("Cancelled", "Cancelling")


def start_waiting(
    airflow: AirflowDeployment, emulator: Any, dag_id: str
) -> tuple[str, dict[str, Any]]:
    """Trigger the DAG; return its run id and the ADF run, once the task waits on it.

    A deferred task waits once the triggerer runs its trigger, which is a moment after the
    task instance is marked deferred: until then Airflow has no trigger to tell of a user's
    action (and calls no ``on_kill``). The triggerer's first query of the run marks it.
    """
    run_id = airflow.trigger(dag_id)
    airflow.wait_for_task_state(dag_id, run_id, "wait", (WAITING[dag_id],), timeout=120)
    (adf_run,) = wait_until("the ADF run", lambda: runs_of(emulator, run_id) or None, timeout=30)
    if dag_id == DEFERRED:
        seen = queries(emulator)
        wait_until("the triggerer to read the run", lambda: queries(emulator) > seen, timeout=30)
    return run_id, adf_run


def queries(emulator: Any) -> int:
    with emulator.state.lock:
        return int(emulator.state.requests.get("query pipeline runs", 0))


def adf_run(emulator: Any, run_id: str, adf_run_id: str) -> dict[str, Any]:
    (run,) = [run for run in runs_of(emulator, run_id) if run["runId"] == adf_run_id]
    return run


def wait_for_adf_status(
    emulator: Any, run_id: str, adf_run_id: str, statuses: tuple[str, ...], timeout: float = 45
) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        run = adf_run(emulator, run_id, adf_run_id)
        return run if run["status"] in statuses else None

    return wait_until(f"ADF run {adf_run_id} to be {statuses}", reached, timeout=timeout)


def finish(airflow: AirflowDeployment, dag_id: str, run_id: str) -> None:
    """Leave nothing running for the next test: mark the waiting task failed."""
    ti = airflow.task_instance(dag_id, run_id, "wait")
    if ti["state"] not in ("success", "failed"):
        airflow.set_task_state(dag_id, run_id, "wait", "failed")
    airflow.wait_for_dag_run(dag_id, run_id, timeout=60)


@pytest.mark.parametrize("dag_id", [DEFERRED, IN_WORKER])
def test_clear_cancels_the_run_and_the_new_try_starts_a_fresh_one(
    airflow_deployment: AirflowDeployment, deployment_emulator: Any, dag_id: str
) -> None:
    airflow = airflow_deployment
    run_id, first = start_waiting(airflow, deployment_emulator, dag_id)
    try:
        clear_and_check(airflow, deployment_emulator, dag_id, run_id, first)
    finally:
        finish(airflow, dag_id, run_id)


def clear_and_check(
    airflow: AirflowDeployment, deployment_emulator: Any, dag_id: str, run_id: str, first: Any
) -> None:
    link = wait_until(
        "the link while the task waits",
        lambda: airflow.links(dag_id, run_id, "wait")["Monitor in ADF Studio"],
        timeout=15,
    )
    assert link.startswith("https://adf.azure.com/en-us/monitoring/pipelineruns/" + first["runId"])

    airflow.clear(dag_id, run_id, "wait")

    airflow.wait_for_task_state(
        dag_id, run_id, "wait", (WAITING[dag_id],), try_number=2, timeout=120
    )
    cancelled = wait_for_adf_status(deployment_emulator, run_id, first["runId"], ("Cancelled",))
    assert cancelled["cancelled_recursive"] is True
    second = wait_until(
        "the new try's ADF run",
        lambda: [r for r in runs_of(deployment_emulator, run_id) if r["runId"] != first["runId"]],
        timeout=30,
    )
    assert len(second) == 1, second
    time.sleep(4)  # the old try's cleanup has long run: the new try must still be waiting
    assert adf_run(deployment_emulator, run_id, second[0]["runId"])["status"] == "InProgress"
    ti = airflow.task_instance(dag_id, run_id, "wait")
    assert (ti["state"], ti["try_number"]) == (WAITING[dag_id], 2)
    assert airflow.xcom(dag_id, run_id, "wait", "run_id") == second[0]["runId"]


@pytest.mark.parametrize("dag_id", [DEFERRED, IN_WORKER])
def test_mark_failed_cancels_the_run_at_once(
    airflow_deployment: AirflowDeployment, deployment_emulator: Any, dag_id: str
) -> None:
    airflow = airflow_deployment
    run_id, run = start_waiting(airflow, deployment_emulator, dag_id)
    try:
        mark_failed_and_check(airflow, deployment_emulator, dag_id, run_id, run)
    finally:
        finish(airflow, dag_id, run_id)


def mark_failed_and_check(
    airflow: AirflowDeployment, deployment_emulator: Any, dag_id: str, run_id: str, run: Any
) -> None:
    time.sleep(2)
    marked = time.monotonic()
    airflow.set_task_state(dag_id, run_id, "wait", "failed")
    cancelled = wait_for_adf_status(deployment_emulator, run_id, run["runId"], ENDED, timeout=20)
    took = time.monotonic() - marked

    assert cancelled["cancelled_recursive"] is True
    assert took < 15, f"the run was cancelled {took:.1f} s after mark failed"
    assert airflow.wait_for_dag_run(dag_id, run_id, timeout=60) == "failed"
    assert len(runs_of(deployment_emulator, run_id)) == 1
    if dag_id == IN_WORKER:  # the worker stopped waiting at once, without being escalated
        log = wait_until(
            "the task log's end",
            lambda: (
                (text := airflow.task_log(dag_id, run_id, "wait", 1))
                and "Task killed while waiting" in text
                and text
            ),
            timeout=30,
        )
        assert "escalating" not in log


def test_mark_success_while_deferred_cancels_the_run(
    airflow_deployment: AirflowDeployment, deployment_emulator: Any
) -> None:
    """As the Databricks and Google providers do: any user action on the task stops the job."""
    airflow = airflow_deployment
    run_id, run = start_waiting(airflow, deployment_emulator, DEFERRED)

    airflow.set_task_state(DEFERRED, run_id, "wait", "success")

    cancelled = wait_for_adf_status(deployment_emulator, run_id, run["runId"], ENDED)
    assert cancelled["cancelled_recursive"] is True
    assert airflow.wait_for_dag_run(DEFERRED, run_id, timeout=60) == "success"


def test_timeout_cancels_the_run_and_fails_the_task(
    airflow_deployment: AirflowDeployment, deployment_emulator: Any
) -> None:
    airflow = airflow_deployment
    run_id = airflow.trigger("deploy_timeout")

    assert airflow.wait_for_dag_run("deploy_timeout", run_id, timeout=120) == "failed"

    (run,) = runs_of(deployment_emulator, run_id)
    assert run["status"] in ENDED and run["cancelled_recursive"] is True
    log = airflow.task_log("deploy_timeout", run_id, "wait", 1)
    assert "at its deadline" in log and "cancel requested" in log, log


def test_killed_worker_retry_reattaches_to_the_same_run(
    airflow_deployment: AirflowDeployment, deployment_emulator: Any
) -> None:
    airflow = airflow_deployment
    dag_id = "deploy_worker_killed"
    run_id = airflow.trigger(dag_id)
    ti = airflow.wait_for_task_state(dag_id, run_id, "wait", ("running",), timeout=120)
    (run,) = wait_until("the ADF run", lambda: runs_of(deployment_emulator, run_id), timeout=30)
    time.sleep(3)
    pid = airflow.task_instance(dag_id, run_id, "wait")["pid"] or ti["pid"]
    assert pid, "the running task reports its process id"

    os.kill(int(pid), signal.SIGKILL)

    assert airflow.wait_for_dag_run(dag_id, run_id, timeout=180) == "success"
    ti = airflow.task_instance(dag_id, run_id, "wait")
    assert ti["try_number"] == 2
    (only,) = runs_of(deployment_emulator, run_id)
    assert only["runId"] == run["runId"] and only["status"] == "Succeeded"
    assert "Reconnecting to existing job" in airflow.task_log(dag_id, run_id, "wait", 2)


def test_triggerer_restart_mid_wait_keeps_the_run(
    airflow_deployment: AirflowDeployment, deployment_emulator: Any
) -> None:
    airflow = airflow_deployment
    dag_id = "deploy_triggerer_restart"
    run_id = airflow.trigger(dag_id)
    airflow.wait_for_task_state(dag_id, run_id, "wait", ("deferred",), timeout=120)
    (run,) = wait_until("the ADF run", lambda: runs_of(deployment_emulator, run_id), timeout=30)
    time.sleep(3)

    airflow.restart("triggerer")

    assert airflow.wait_for_dag_run(dag_id, run_id, timeout=180) == "success"
    (only,) = runs_of(deployment_emulator, run_id)
    assert only["runId"] == run["runId"] and only["status"] == "Succeeded"
    assert not only["cancelled_recursive"]
    assert airflow.task_instance(dag_id, run_id, "wait")["try_number"] == 1


def test_a_clear_after_a_lost_create_run_answer_cancels_that_run_and_starts_one(
    airflow_deployment: AirflowDeployment, deployment_emulator: Any
) -> None:
    airflow, dag_id = airflow_deployment, "deploy_lost_answer_cleared"
    deployment_emulator.add_fault(
        operation="create run", action="lose_response", pipeline="slow", times=1
    )
    run_id = airflow.trigger(dag_id)
    airflow.wait_for_task_state(dag_id, run_id, "wait", ("failed",), timeout=120)
    (lost,) = runs_of(deployment_emulator, run_id)  # ADF started it; the task never heard
    assert lost["status"] in ("Queued", "InProgress")

    airflow.clear(dag_id, run_id, "wait")
    airflow.wait_for_task_state(dag_id, run_id, "wait", ("success",), try_number=2, timeout=120)
    cancelled = wait_for_adf_status(deployment_emulator, run_id, lost["runId"], ENDED)
    assert cancelled["cancelled_recursive"] is True
    runs = runs_of(deployment_emulator, run_id)
    assert len(runs) == 2, runs
    (new,) = [run for run in runs if run["runId"] != lost["runId"]]
    assert new["status"] in ("Queued", "InProgress")
    assert airflow.xcom(dag_id, run_id, "wait", "run_id") == new["runId"]
