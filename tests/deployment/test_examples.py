"""Each example DAG, triggered over REST with no logical date, runs to the end."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.deployment.airflow_deployment import AirflowDeployment
from tests.deployment.conftest import EXAMPLE_DAG_FILES

EXPECTED = {
    # dag id: the state of each task when the DAG run ends
    "adf_trigger_then_sense": {
        "trigger_copy_sales": "success",
        "wait_for_copy_sales": "success",
        "report": "success",
    },
    "adf_wait_deferrable": {"copy_sales": "success"},
    "adf_fan_out": {"copy_sales_by_region": "success", "summarise": "success"},
    "adf_recovery_rerun": {
        "first_attempt": "failed",
        "fix_duplicate_keys": "success",
        "rerun_from_failure": "success",
    },
    "databricks_adf_chain": {
        "prepare_sales": "success",
        "prepared_path": "success",
        "ingest_sales": "success",
        "publish_sales": "success",
    },
    "adf_outputs_to_databricks": {"ingest_sales": "success", "refresh_mart": "success"},
}
ASSET_SCHEDULED = {"adf_scheduled_ingest_to_databricks"}
"""Started by an asset event, not by hand: see test_events.py."""
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def test_every_example_dag_is_covered() -> None:
    ids = {re.search(r'dag_id="([^"]+)"', p.read_text()).group(1) for p in EXAMPLE_DAG_FILES}  # type: ignore[union-attr]
    assert ids == set(EXPECTED) | ASSET_SCHEDULED


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_example_runs_when_triggered_without_a_logical_date(
    airflow_deployment: AirflowDeployment, deployment_emulator: Any, dag_id: str
) -> None:
    before = set(deployment_emulator.state.runs)
    run_id = airflow_deployment.trigger(dag_id)
    assert airflow_deployment.dag_run(dag_id, run_id)["logical_date"] is None

    state = airflow_deployment.wait_for_dag_run(dag_id, run_id, timeout=240)

    tasks = airflow_deployment.task_instances(dag_id, run_id)
    states = {ti["task_id"]: ti["state"] for ti in tasks}
    assert states == EXPECTED[dag_id], (state, states)
    assert state == "success"
    with deployment_emulator.state.lock:
        new_runs = [run for key, run in deployment_emulator.state.runs.items() if key not in before]
    assert new_runs
    for run in new_runs:  # a date parameter, where there is one, is a real date
        date = run.parameters.get("date")
        assert date is None or DATE.match(str(date)), run.parameters
