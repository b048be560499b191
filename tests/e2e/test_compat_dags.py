"""On every supported Airflow: what survives a retry, the durable store of the operator, and a
DAG moved from the official provider by its imports alone. Run by ``make test`` (Airflow 3.3)
and by each cell of the version matrix (.ci/matrix.py)."""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow_adf_trigger.compat import HAS_TASK_STATE_STORE, VARIABLE_PREFIX
from airflow_adf_trigger.emulator import EmulatorServer
from tests.e2e.conftest import task_states, xcom_values

DagGetter = Callable[[str], Any]
E2E = Path(__file__).resolve().parent


def store_variables(dag_id: str) -> dict[str, Any]:
    """The operator's stand-in task state stores (Airflow < 3.3) of a DAG, by Variable name."""
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(Variable).filter(Variable.key.like(f"{VARIABLE_PREFIX}%")).all()
        stores = {row.key: json.loads(row.val) for row in rows}
    return {name: store for name, store in stores.items() if store["dag_id"] == dag_id}


def test_xcom_is_cleared_between_tries_and_variables_survive(
    behaviour_dag: DagGetter,
) -> None:
    dag_run = behaviour_dag("e2e_what_survives_a_retry").test()
    assert task_states(dag_run) == {"probe": "success"}
    seen = xcom_values("e2e_what_survives_a_retry", dag_run.run_id)[("probe", "return_value")]
    assert json.loads(seen) == {
        "xcom": None,  # Airflow clears a task instance's XCom when a new try starts
        "variable": "from try 1",
        "task_state_store": "from try 1" if HAS_TASK_STATE_STORE else "absent",
    }


def test_a_task_that_gave_up_waiting_leaves_its_run_id_for_the_next_try(
    behaviour_dag: DagGetter, e2e_emulator: EmulatorServer
) -> None:
    e2e_emulator.add_fault(operation="get run", action="drop", times=-1)
    dag_run = behaviour_dag("e2e_run_left_after_a_failed_wait").test()
    assert task_states(dag_run) == {"run": "failed"}
    (run_id,) = e2e_emulator.state.runs
    stores = list(store_variables(dag_run.dag_id).values())
    if HAS_TASK_STATE_STORE:
        assert stores == []  # kept in Airflow's own task state store
    else:
        (store,) = stores
        assert store["run_id"] == dag_run.run_id and store["task_id"] == "run"
        assert store["values"]["adf_pipeline_run_id"] == run_id


def test_the_official_example_differs_from_its_migrated_copy_only_in_imports() -> None:
    official = (E2E / "official" / "adf_official_example.py").read_text().splitlines()
    migrated = (E2E / "dags" / "adf_official_migrated.py").read_text().splitlines()

    def body(lines: list[str]) -> list[str]:
        return lines[next(i for i, line in enumerate(lines) if line.startswith("PIPELINE =")) :]

    changed = [
        line
        for line in difflib.unified_diff(body(official), body(migrated), lineterm="", n=0)
        if not line.startswith(("---", "+++", "@@"))
    ]
    assert changed == []
    assert len(body(migrated)) > 40
    assert "from airflow_adf_trigger.operators.adf import (" in migrated


def test_a_dag_moved_from_the_official_provider_runs_unchanged(
    behaviour_dag: DagGetter, e2e_emulator: EmulatorServer
) -> None:
    dag_run = behaviour_dag("e2e_official_migrated").test()
    assert set(task_states(dag_run).values()) == {"success"}, task_states(dag_run)
    assert [s["status"] for s in e2e_emulator.run_summaries()] == ["Succeeded"] * 3
    assert store_variables(dag_run.dag_id) == {}  # each succeeded task removed its store


def test_a_moved_dag_still_waits_so_a_failed_pipeline_still_fails_its_task(
    behaviour_dag: DagGetter, e2e_emulator: EmulatorServer
) -> None:
    # The official operator waits by default: a DAG moved by its imports alone must not start
    # reporting success for pipelines that fail.
    dag_run = behaviour_dag("e2e_official_migrated").test(run_conf={"pipeline": "broken"})
    assert task_states(dag_run) == {
        "run_pipeline1": "failed",
        "run_pipeline2": "success",  # wait_for_termination=False, as written
        "pipeline_run_sensor": "failed",
        "pipeline_run_sensor_deferred": "failed",
        "run_pipeline3": "failed",
    }


def test_a_retry_after_a_lost_create_run_answer_adopts_the_run_through_the_store(
    behaviour_dag: DagGetter, e2e_emulator: EmulatorServer
) -> None:
    # ADF creates the run, but its answer is lost: the retry finds it through what the first
    # try left in the store (a Variable before Airflow 3.3) instead of starting another.
    e2e_emulator.add_fault(operation="create run", action="lose_response")
    dag_run = behaviour_dag("e2e_create_run_answer_lost").test()
    (ti,) = dag_run.get_task_instances()
    assert (str(ti.state), ti.try_number) == ("success", 2)
    assert e2e_emulator.runs_created == 1
    (summary,) = e2e_emulator.run_summaries()
    assert xcom_values(dag_run.dag_id, dag_run.run_id)[("run", "run_id")] == summary["runId"]
    assert store_variables(dag_run.dag_id) == {}


def test_a_retry_after_a_crash_mid_wait_starts_no_second_run(
    behaviour_dag: DagGetter, e2e_emulator: EmulatorServer
) -> None:
    # The first try loses the network mid-wait; the retry reads the run id back from the store
    # (a Variable before Airflow 3.3) and follows that run: reattached to it while it runs, or
    # finished with it if it already succeeded, never starting another.
    e2e_emulator.add_fault(operation="get run", action="drop", times=2)
    dag_run = behaviour_dag("e2e_retry_reattaches").test()
    (ti,) = dag_run.get_task_instances()
    assert (str(ti.state), ti.try_number) == ("success", 2)
    assert e2e_emulator.runs_created == 1
    assert e2e_emulator.request_counts()["create run"] == 1
    assert store_variables(dag_run.dag_id) == {}
