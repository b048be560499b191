"""tests/e2e/official/adf_official_credentials_only.py, moved to this provider by its
imports alone, on a connection that holds only the credentials and the subscription.

tests/e2e/test_migration.py checks that nothing else differs, and runs it.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Label, XComArg, task

from airflow_adf_trigger.hooks.adf import (
    AzureDataFactoryHook,
    AzureDataFactoryPipelineRunStatus,
)
from airflow_adf_trigger.operators.adf import (
    AdfRunPipelineOperator as AzureDataFactoryRunPipelineOperator,
)
from airflow_adf_trigger.sensors.adf import (
    AdfPipelineRunSensor as AzureDataFactoryPipelineRunStatusSensor,
)

PIPELINE = "copy_sales"

with DAG(
    dag_id="e2e_official_credentials_only",
    start_date=datetime(2026, 1, 1),
    schedule="@daily",
    catchup=False,
    default_args={
        "azure_data_factory_conn_id": "adf_credentials_only",
        "factory_name": "adf-demo",  # This can also be specified in the ADF connection.
        "resource_group_name": "rg-analytics",  # This can also be specified in the ADF connection.
    },
):
    begin = EmptyOperator(task_id="begin")
    end = EmptyOperator(task_id="end")

    run_pipeline1 = AzureDataFactoryRunPipelineOperator(
        task_id="run_pipeline1",
        pipeline_name=PIPELINE,
        parameters={"myParam": "value"},
        check_interval=1,
    )

    run_pipeline2 = AzureDataFactoryRunPipelineOperator(
        task_id="run_pipeline2",
        pipeline_name=PIPELINE,
        wait_for_termination=False,
    )

    pipeline_run_sensor = AzureDataFactoryPipelineRunStatusSensor(
        task_id="pipeline_run_sensor",
        run_id=cast("str", XComArg(run_pipeline2, key="run_id")),
        poke_interval=1,
    )

    # Performs polling on the Airflow Triggerer thus freeing up resources on Airflow Worker
    pipeline_run_sensor_deferred = AzureDataFactoryPipelineRunStatusSensor(
        task_id="pipeline_run_sensor_deferred",
        run_id=cast("str", XComArg(run_pipeline2, key="run_id")),
        poke_interval=1,
        deferrable=True,
    )

    pipeline_run_output_sensor = AzureDataFactoryPipelineRunStatusSensor(
        task_id="pipeline_run_output_sensor",
        run_id=run_pipeline2.output["run_id"],
        poke_interval=1,
        deferrable=True,
    )

    run_pipeline3 = AzureDataFactoryRunPipelineOperator(
        task_id="run_pipeline3",
        pipeline_name=PIPELINE,
        parameters={"myParam": "value"},
        deferrable=True,
        check_interval=1,
    )

    @task
    def run_with_the_hook() -> str:
        """A Python task calling the hook, as teams write around the operator."""
        hook = AzureDataFactoryHook(azure_data_factory_conn_id="adf_credentials_only")
        factory = {"resource_group_name": "rg-analytics", "factory_name": "adf-demo"}
        run = hook.run_pipeline(PIPELINE, **factory, parameters={"myParam": "value"})
        succeeded = hook.wait_for_pipeline_run_status(
            run.run_id, AzureDataFactoryPipelineRunStatus.SUCCEEDED, **factory, check_interval=1
        )
        if not succeeded:
            raise RuntimeError(f"pipeline run {run.run_id} did not succeed")
        return hook.get_pipeline_run_status(run.run_id, **factory)

    begin >> run_with_the_hook() >> end
    begin >> Label("No async wait") >> run_pipeline1
    begin >> Label("Do async wait with sensor") >> run_pipeline2
    begin >> Label("Do async wait with deferrable operator") >> run_pipeline3
    [
        run_pipeline1,
        pipeline_run_sensor,
        pipeline_run_sensor_deferred,
        pipeline_run_output_sensor,
        run_pipeline3,
    ] >> end
