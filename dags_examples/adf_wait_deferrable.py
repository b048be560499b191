"""Trigger an Azure Data Factory pipeline and wait for it in one task, without a worker slot.

``wait_for_termination=True`` with ``deferrable=True``: the task starts the run, then hands
the wait to Airflow's triggerer, and resumes only to report the outcome. If the task is
retried while the run is still going, it reattaches to that run instead of starting another;
``timeout`` cancels the run (child pipelines included) if it takes too long.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_adf_trigger.operators.adf import AdfRunPipelineOperator

# The run's date however the DAG run started: a scheduled run's logical date, else the time
# it was queued (in Airflow 3 a run started from the UI, CLI, REST or an asset event has no
# logical date, and `{{ ds }}` is undefined there).
RUN_DATE = "{{ (dag_run.logical_date or dag_run.run_after) | ds }}"

with DAG(
    dag_id="adf_wait_deferrable",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    tags=["adf", "example"],
):
    AdfRunPipelineOperator(
        task_id="copy_sales",
        pipeline_name="copy_sales",
        parameters={"region": "emea", "date": RUN_DATE},
        wait_for_termination=True,
        deferrable=True,
        check_interval=1,  # seconds; 30-60 s suits real pipelines (each check is an ARM read)
        timeout=timedelta(hours=2),
        retries=2,
    )
