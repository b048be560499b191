"""ADF's own trigger starts a run; the real triggerer turns its end into an asset event."""

from __future__ import annotations

import time
from typing import Any

from tests.deployment.airflow_deployment import AirflowDeployment, wait_until
from tests.deployment.conftest import WATCHER_POLL_INTERVAL

DAG_ID = "adf_scheduled_ingest_to_databricks"


def test_an_adf_scheduled_run_starts_the_asset_scheduled_dag_once(
    airflow_deployment: AirflowDeployment, deployment_emulator: Any
) -> None:
    airflow = airflow_deployment
    airflow.wait_for_dag(DAG_ID)
    airflow.api("PATCH", f"dags/{DAG_ID}", json={"is_paused": False})

    def watching() -> bool:
        airflow.check_alive()
        logs = (airflow.home / "component-logs").glob("triggerer*.log")
        return any(
            "Watching runs of ingest_sales" in log.read_text(errors="replace") for log in logs
        )

    # The watcher reports runs that end after it starts: fire ADF's trigger only then.
    wait_until("the triggerer to start the asset's watcher", watching, timeout=120)
    adf_run = deployment_emulator.fire_trigger("nightly_ingest", {"day": "2026-11-27"})

    def jobs_for_this_run() -> list[dict[str, Any]]:
        return [
            run
            for run in deployment_emulator.databricks_run_summaries()
            if str(run["job_id"]) == "4243" and run["job_parameters"].get("adf_run_id") == adf_run
        ]

    def job_done() -> dict[str, Any] | None:
        airflow.check_alive()
        done = [run for run in jobs_for_this_run() if run["result_state"]]
        return done[0] if done else None

    # The deployment's copy of the example reads the change feed every 2 s (the example
    # itself: every 60 s); the bound leaves room for the asset event, the scheduler and the
    # Databricks job on a loaded machine.
    job = wait_until("the asset-scheduled DAG's Databricks job", job_done, timeout=240)
    assert job["result_state"] == "SUCCESS"
    assert job["job_parameters"]["watermark"] == "2026-11-27"  # the ADF run's parameter
    time.sleep(3 * WATCHER_POLL_INTERVAL)  # more reads of the feed, the run's end among them
    events = airflow.api(
        "GET", "assets/events", params={"name_pattern": "adf_sales_ingested", "limit": 100}
    )["asset_events"]
    for_this_run = [
        e for e in events if (e["extra"] or {}).get("payload", {}).get("run_id") == adf_run
    ]
    assert len(for_this_run) == 1, events  # one event for one ended run
    assert len(jobs_for_this_run()) == 1
