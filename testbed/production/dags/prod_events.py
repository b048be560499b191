"""Testbed DAGs for the production page: an asset fed by AdfPipelineRunEventTrigger.

Each ended run of ``ingest_events`` becomes one asset event; ``prod_events_consumer`` runs
once per event batch. Count the events with the REST API (``GET /api/v2/assets/events``).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_adf_trigger.triggers.events import AdfPipelineRunEventTrigger

ingest = Asset(
    "adf://adf-prod-testbed/ingest_events",
    watchers=[
        AssetWatcher(
            name="ingest_events_ended",
            trigger=AdfPipelineRunEventTrigger(pipeline_names=["ingest_events"], poll_interval=10),
        )
    ],
)

with DAG(
    dag_id="prod_events_consumer",
    start_date=datetime(2026, 1, 1),
    schedule=[ingest],
    catchup=False,
):

    @task
    def consume() -> None:
        print("ingest_events ended")

    consume()
