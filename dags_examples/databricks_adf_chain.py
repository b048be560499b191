"""Databricks -> ADF -> Databricks: a notebook prepares data, ADF ingests it, a job publishes.

1. ``prepare_sales`` (the Databricks provider's ``DatabricksSubmitRunOperator``) runs a
   notebook that writes the day's sales and ends with ``dbutils.notebook.exit(<path>)``.
2. ``prepared_path`` reads that exit value: the operator pushes only ``run_id`` and
   ``run_page_url`` to XCom, and Databricks answers runs/get-output for a *task* run only,
   so it looks the task's run id up in the run first.
3. ``ingest_sales`` starts the ADF pipeline with the path as its ``input_path`` parameter
   (XCom templating) and waits for it in the triggerer (``deferrable=True``).
4. ``publish_sales`` (``DatabricksRunNowOperator``) starts an existing job once ADF succeeded,
   passing the path and the ADF run id as job parameters.

Connections: ``databricks_default`` (type ``databricks``: host, personal access token as the
password) and ``adf_default`` (type ``adf``). Offline, from a checkout of this repository,
the emulator with its test-only Databricks extension serves both:
``python -m testbed.emulator --scenario testbed/scenarios/databricks_chain.json``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.databricks.hooks.databricks import DatabricksHook
from airflow.providers.databricks.operators.databricks import (
    DatabricksRunNowOperator,
    DatabricksSubmitRunOperator,
)
from airflow.sdk import DAG, task

from airflow_adf_trigger.operators.adf import AdfRunPipelineOperator

# The run's date however the DAG run started: a scheduled run's logical date, else the time
# it was queued (in Airflow 3 a run started from the UI, CLI, REST or an asset event has no
# logical date, and `{{ ds }}` is undefined there).
RUN_DATE = "{{ (dag_run.logical_date or dag_run.run_after) | ds }}"

DATABRICKS_CONN_ID = "databricks_default"
NOTEBOOK_TASK_KEY = "prepare_sales"
PUBLISH_JOB_ID = "4242"  # an existing job in the workspace (Jobs & Pipelines)
# Seconds between status checks. 1 s suits the emulator's sub-second runs; for real clusters
# 30-60 s is plenty (each check is one API call against the workspace's rate limits).
POLL_SECONDS = 1

with DAG(
    dag_id="databricks_adf_chain",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    tags=["adf", "databricks", "example"],
):
    prepare = DatabricksSubmitRunOperator(
        task_id="prepare_sales",
        databricks_conn_id=DATABRICKS_CONN_ID,
        run_name=f"prepare_sales_{RUN_DATE}",
        tasks=[
            {
                "task_key": NOTEBOOK_TASK_KEY,
                "notebook_task": {
                    "notebook_path": "/Workspace/etl/prepare_sales",
                    "base_parameters": {"date": RUN_DATE},
                },
                "existing_cluster_id": "0101-120000-etl00001",
            }
        ],
        polling_period_seconds=POLL_SECONDS,
    )

    @task
    def prepared_path(databricks_run_id: str) -> str:
        """The notebook's exit value: the path it wrote the prepared sales to."""
        hook = DatabricksHook(databricks_conn_id=DATABRICKS_CONN_ID)
        run = hook.get_run(int(databricks_run_id))
        (notebook,) = [t for t in run["tasks"] if t["task_key"] == NOTEBOOK_TASK_KEY]
        result: str = hook.get_run_output(notebook["run_id"])["notebook_output"]["result"]
        print(f"notebook {NOTEBOOK_TASK_KEY} returned {result}")
        return result

    path = prepared_path("{{ ti.xcom_pull(task_ids='prepare_sales', key='run_id') }}")

    ingest = AdfRunPipelineOperator(
        task_id="ingest_sales",
        pipeline_name="ingest_sales",
        parameters={"input_path": "{{ ti.xcom_pull(task_ids='prepared_path') }}"},
        wait_for_termination=True,
        deferrable=True,
        check_interval=POLL_SECONDS,
    )

    publish = DatabricksRunNowOperator(
        task_id="publish_sales",
        databricks_conn_id=DATABRICKS_CONN_ID,
        job_id=PUBLISH_JOB_ID,
        job_parameters={
            "input_path": "{{ ti.xcom_pull(task_ids='prepared_path') }}",
            "adf_run_id": "{{ ti.xcom_pull(task_ids='ingest_sales', key='run_id') }}",
        },
        polling_period_seconds=POLL_SECONDS,
    )

    prepare >> path >> ingest >> publish
