"""Every example DAG in dags_examples/, run for real against the emulator's bundled scenario."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_adf_trigger.core.config.connection import settings_from_connection
from airflow_adf_trigger.core.runs.models import RunQuery
from airflow_adf_trigger.core.wire.client import AdfClient
from airflow_adf_trigger.emulator import EmulatorServer
from tests.e2e.conftest import task_states, xcom_values

DagGetter = Callable[[str], Any]


def test_wait_deferrable_runs_one_pipeline_to_success(
    example_dag: DagGetter, emulator: EmulatorServer, adf_connection_env: dict[str, Any]
) -> None:
    dag_run = example_dag("adf_wait_deferrable").test()
    assert task_states(dag_run) == {"copy_sales": "success"}
    (summary,) = emulator.run_summaries()
    assert summary["status"] == "Succeeded"
    assert (
        xcom_values("adf_wait_deferrable", dag_run.run_id)[("copy_sales", "run_id")]
        == (summary["runId"])
    )


def test_fan_out_starts_one_run_per_region_and_waits_for_all(
    example_dag: DagGetter, emulator: EmulatorServer, adf_connection_env: dict[str, Any]
) -> None:
    dag_run = example_dag("adf_fan_out").test()
    assert str(dag_run.state) == "success"
    assert task_states(dag_run) == {
        "copy_sales_by_region[0]": "success",
        "copy_sales_by_region[1]": "success",
        "copy_sales_by_region[2]": "success",
        "summarise": "success",
    }
    runs = emulator.run_summaries()
    assert sorted(run["parameters"]["region"] for run in runs) == ["amer", "apac", "emea"]
    assert all(run["status"] == "Succeeded" for run in runs)
    assert xcom_values("adf_fan_out", dag_run.run_id)[("summarise", "return_value")] == 3


def test_recovery_reruns_from_the_failed_activity_in_the_same_group(
    example_dag: DagGetter, emulator: EmulatorServer, adf_connection_env: dict[str, Any]
) -> None:
    dag_run = example_dag("adf_recovery_rerun").test()
    assert task_states(dag_run) == {
        "first_attempt": "failed",
        "fix_duplicate_keys": "success",
        "rerun_from_failure": "success",
    }
    assert str(dag_run.state) == "success"
    first, rerun = emulator.run_summaries()
    assert (first["status"], rerun["status"]) == ("Failed", "Succeeded")
    assert rerun["runGroupId"] == first["runGroupId"]
    assert rerun["parameters"] == first["parameters"]
    assert (first["isLatest"], rerun["isLatest"]) == (False, True)
    settings = settings_from_connection(
        adf_connection_env["login"], adf_connection_env["password"], adf_connection_env["extra"]
    )
    with AdfClient(settings) as client:
        now = datetime.now(UTC)
        window = RunQuery(now - timedelta(hours=1), now + timedelta(hours=1))
        activities = client.query_activity_runs(rerun["runId"], window)
    # Started from the failed activity: the staging copy was not run again.
    assert [a.activity_name for a in activities] == ["Merge into warehouse", "Refresh reports"]
