"""The latest-run sensor, deferrable: tests/e2e/test_latest_run_sensor_deferred.py runs it."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_adf_trigger.sensors.latest import AdfLatestPipelineRunSensor

with DAG("e2e_latest_deferred", schedule=None, start_date=datetime(2026, 1, 1)):
    AdfLatestPipelineRunSensor(
        task_id="latest",
        pipeline_name="{{ dag_run.conf['pipeline'] }}",
        poke_interval=0.2,
        timeout=120,
        deferrable=True,
    )
