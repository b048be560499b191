"""ADF's own schedule -> Asset -> Databricks: a DAG that runs after each nightly ingest.

ADF's ScheduleTrigger starts ``ingest_sales``; ``AdfPipelineRunEventTrigger`` (in an
``AssetWatcher``, run by Airflow's triggerer) turns each Succeeded run into an event of the
``adf_sales_ingested`` asset, whose extra carries the run (``payload``: run id, parameters,
start, end, monitoring URL). This DAG is scheduled on the asset and starts a Databricks job
with the ADF run's id and ``day`` parameter. Needs a running triggerer and scheduler.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.databricks.operators.databricks import DatabricksRunNowOperator
from airflow.sdk import DAG, Asset, AssetWatcher

from airflow_adf_trigger.triggers.events import AdfPipelineRunEventTrigger

# The ADF run behind the asset event that started this DAG run.
PAYLOAD = "(triggering_asset_events.values() | first | first).extra['payload']"

sales_ingested = Asset(
    name="adf_sales_ingested",
    uri="adf://adf-demo/pipelines/ingest_sales",
    watchers=[
        AssetWatcher(
            name="ingest_sales_succeeded",
            trigger=AdfPipelineRunEventTrigger(pipeline_names=["ingest_sales"], poll_interval=60),
        )
    ],
)

with DAG(
    dag_id="adf_scheduled_ingest_to_databricks",
    start_date=datetime(2026, 1, 1),
    schedule=[sales_ingested],
    catchup=False,
    tags=["adf", "databricks", "example"],
):
    DatabricksRunNowOperator(
        task_id="refresh_mart",
        job_id="4243",
        job_parameters={
            "adf_run_id": "{{ " + PAYLOAD + "['run_id'] }}",
            "rows_copied": "",
            "watermark": "{{ " + PAYLOAD + "['parameters']['day'] }}",
        },
        polling_period_seconds=1,
    )
