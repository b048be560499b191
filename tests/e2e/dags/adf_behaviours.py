"""DAGs that exercise each behaviour of the operator and sensor, run by tests/e2e.

The pipeline name comes from the DAG run's conf, so one DAG covers several scripted outcomes
of the emulator's scenario (tests/e2e/scenario.json).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_adf_trigger.operators.adf import AdfRunPipelineOperator
from airflow_adf_trigger.sensors.adf import AdfPipelineRunSensor

PIPELINE = "{{ dag_run.conf.get('pipeline', 'copy_sales') }}"
DEFAULTS = {"start_date": datetime(2026, 1, 1)}

with DAG("e2e_trigger_only", schedule=None, default_args=DEFAULTS):
    AdfRunPipelineOperator(task_id="trigger", pipeline_name=PIPELINE, parameters={"n": 1})

with DAG("e2e_official_connection", schedule=None, default_args=DEFAULTS):
    AdfRunPipelineOperator(
        task_id="trigger",
        pipeline_name="copy_sales",
        adf_conn_id="adf_official_style",
        wait_for_termination=True,
        check_interval=0.2,
        deferrable=False,
    )

with DAG("e2e_wait_in_worker", schedule=None, default_args=DEFAULTS):
    AdfRunPipelineOperator(
        task_id="run",
        pipeline_name=PIPELINE,
        wait_for_termination=True,
        check_interval=0.2,
        deferrable=False,
    )

with DAG("e2e_wait_deferred", schedule=None, default_args=DEFAULTS):
    AdfRunPipelineOperator(
        task_id="run",
        pipeline_name=PIPELINE,
        wait_for_termination=True,
        check_interval=0.2,
        deferrable=True,
    )

with DAG("e2e_timeout_in_worker", schedule=None, default_args=DEFAULTS):
    AdfRunPipelineOperator(
        task_id="run",
        pipeline_name="slow",
        wait_for_termination=True,
        check_interval=0.2,
        timeout=1,
        deferrable=False,
    )

with DAG("e2e_timeout_deferred", schedule=None, default_args=DEFAULTS):
    AdfRunPipelineOperator(
        task_id="run",
        pipeline_name="slow",
        wait_for_termination=True,
        check_interval=0.2,
        timeout=timedelta(seconds=1),
        deferrable=True,
    )

with DAG("e2e_retry_reattaches", schedule=None, default_args=DEFAULTS):
    AdfRunPipelineOperator(
        task_id="run",
        pipeline_name="medium",
        adf_conn_id="adf_impatient",
        wait_for_termination=True,
        check_interval=0.2,
        deferrable=False,
        outage_budget=0,  # give up at the first failed check, so that the retry reattaches
        retries=2,
        retry_delay=timedelta(seconds=0),
    )

with DAG("e2e_sensor_modes", schedule=None, default_args=DEFAULTS):
    trigger = AdfRunPipelineOperator(task_id="trigger", pipeline_name=PIPELINE)
    run_id = "{{ ti.xcom_pull(task_ids='trigger', key='run_id') }}"
    sensors = [
        AdfPipelineRunSensor(task_id="poke", run_id=run_id, poke_interval=0.2, mode="poke"),
        AdfPipelineRunSensor(
            task_id="reschedule", run_id=run_id, poke_interval=1, mode="reschedule"
        ),
        AdfPipelineRunSensor(task_id="soft", run_id=run_id, poke_interval=0.2, soft_fail=True),
    ]
    trigger >> sensors

with DAG("e2e_sensor_deferred", schedule=None, default_args=DEFAULTS):
    trigger = AdfRunPipelineOperator(task_id="trigger", pipeline_name=PIPELINE)
    trigger >> AdfPipelineRunSensor(
        task_id="deferred",
        run_id="{{ ti.xcom_pull(task_ids='trigger', key='run_id') }}",
        poke_interval=0.2,
        deferrable=True,
    )

with DAG("e2e_wait_through_outage", schedule=None, default_args=DEFAULTS):
    AdfRunPipelineOperator(
        task_id="run",
        pipeline_name="medium",
        adf_conn_id="adf_impatient",
        wait_for_termination=True,
        check_interval=0.2,
        deferrable=False,
    )
