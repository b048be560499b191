"""A DAG whose OpenLineage events tests/e2e/test_openlineage.py reads: an operator that
waits in the worker, one that waits deferred, a trigger watched by the sensor, and an
operator whose run fails."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_adf_trigger.operators.adf import AdfRunPipelineOperator
from airflow_adf_trigger.sensors.adf import AdfPipelineRunSensor

with DAG("e2e_lineage", schedule=None, start_date=datetime(2026, 1, 1)):
    AdfRunPipelineOperator(
        task_id="run",
        pipeline_name="copy_sales",
        wait_for_termination=True,
        check_interval=0.2,
        deferrable=False,
    )
    AdfRunPipelineOperator(
        task_id="deferred",
        pipeline_name="copy_sales",
        wait_for_termination=True,
        check_interval=0.2,
        deferrable=True,
    )
    trigger = AdfRunPipelineOperator(task_id="trigger", pipeline_name="copy_sales")
    sense = AdfPipelineRunSensor(
        task_id="sense",
        run_id="{{ ti.xcom_pull(task_ids='trigger', key='run_id') }}",
        poke_interval=0.2,
    )
    trigger >> sense
    AdfRunPipelineOperator(
        task_id="broken",
        pipeline_name="broken",
        wait_for_termination=True,
        check_interval=0.2,
        deferrable=False,
    )
