"""Trigger an Azure Data Factory pipeline, wait for it with a sensor, then use its run id.

The basic shape: the operator starts the run and pushes its ``run_id`` to XCom, the sensor
waits for the run to end (failing with ADF's own message if the pipeline fails), and a
downstream task picks the run id up from XCom.

Connection ``adf_default`` (type ``adf``): login = client id, password = client secret,
extras ``tenant_id``, ``subscription_id``, ``resource_group``, ``factory_name``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

from airflow_adf_trigger.operators.adf import AdfRunPipelineOperator
from airflow_adf_trigger.sensors.adf import AdfPipelineRunSensor

# The run's date however the DAG run started: a scheduled run's logical date, else the time
# it was queued (in Airflow 3 a run started from the UI, CLI, REST or an asset event has no
# logical date, and `{{ ds }}` is undefined there).
RUN_DATE = "{{ (dag_run.logical_date or dag_run.run_after) | ds }}"

with DAG(
    dag_id="adf_trigger_then_sense",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    tags=["adf", "example"],
) as dag:
    trigger = AdfRunPipelineOperator(
        task_id="trigger_copy_sales",
        pipeline_name="copy_sales",
        parameters={"region": "emea", "date": RUN_DATE},
    )

    wait = AdfPipelineRunSensor(
        task_id="wait_for_copy_sales",
        run_id="{{ ti.xcom_pull(task_ids='trigger_copy_sales', key='run_id') }}",
        poke_interval=1,
        timeout=600,
    )

    @task
    def report(adf_run_id: str) -> str:
        """A downstream step that needs to know which ADF run produced its input."""
        print(f"copy_sales finished: ADF pipeline run {adf_run_id}")
        return adf_run_id

    trigger >> wait >> report(trigger.output)
