"""tests/e2e/official/adf_official_example.py, moved to this provider by its imports alone.

tests/e2e/test_compat_dags.py checks that nothing else differs, and runs it.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_adf_trigger.operators.adf import (
    AdfRunPipelineOperator as AzureDataFactoryRunPipelineOperator,
)
from airflow_adf_trigger.sensors.adf import (
    AdfPipelineRunSensor as AzureDataFactoryPipelineRunStatusSensor,
)

PIPELINE = "{{ dag_run.conf.get('pipeline', 'copy_sales') }}"

with DAG(
    dag_id="e2e_official_migrated",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    default_args={
        "azure_data_factory_conn_id": "adf_official_style",
        "factory_name": "adf-demo",
        "resource_group_name": "rg-analytics",
    },
):
    # Waits for the run (the official operator's default).
    run_pipeline1 = AzureDataFactoryRunPipelineOperator(
        task_id="run_pipeline1",
        pipeline_name=PIPELINE,
        parameters={"myParam": "value"},
        check_interval=1,
    )
    # Starts the run; the sensors wait for it.
    run_pipeline2 = AzureDataFactoryRunPipelineOperator(
        task_id="run_pipeline2",
        pipeline_name=PIPELINE,
        wait_for_termination=False,
    )
    run_id = "{{ ti.xcom_pull(task_ids='run_pipeline2', key='run_id') }}"
    pipeline_run_sensor = AzureDataFactoryPipelineRunStatusSensor(
        task_id="pipeline_run_sensor",
        run_id=run_id,
        poke_interval=1,
    )
    pipeline_run_sensor_deferred = AzureDataFactoryPipelineRunStatusSensor(
        task_id="pipeline_run_sensor_deferred",
        run_id=run_id,
        poke_interval=1,
        deferrable=True,
    )
    # Waits in the triggerer.
    run_pipeline3 = AzureDataFactoryRunPipelineOperator(
        task_id="run_pipeline3",
        pipeline_name=PIPELINE,
        deferrable=True,
        check_interval=1,
    )
    run_pipeline2 >> [pipeline_run_sensor, pipeline_run_sensor_deferred]
