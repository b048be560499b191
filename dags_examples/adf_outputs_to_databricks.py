"""ADF -> Databricks with the pipeline's activity outputs: rows copied and a lookup's row.

``ingest_sales`` runs the pipeline and waits for it in the triggerer; once it succeeded, the
outputs of the activities named in ``activity_outputs`` go to XCom under ``activity_outputs``
(``{activity name: output}``, each at most ``activity_output_max_bytes`` of JSON).
``refresh_mart`` starts a Databricks job with the Copy activity's ``rowsCopied`` and the
Lookup activity's ``firstRow.watermark`` as job parameters.

Offline, from a checkout of this repository: ``python -m testbed.emulator --scenario
testbed/scenarios/adf_events.json`` (its activities carry scripted outputs in ADF's shapes;
the Databricks job is the emulator's test-only Databricks extension).
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.databricks.operators.databricks import DatabricksRunNowOperator
from airflow.sdk import DAG

from airflow_adf_trigger.operators.adf import AdfRunPipelineOperator

COPY = "Copy sales to lake"
LOOKUP = "Lookup watermark"
OUTPUTS = "ti.xcom_pull(task_ids='ingest_sales', key='activity_outputs')"

with DAG(
    dag_id="adf_outputs_to_databricks",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    tags=["adf", "databricks", "example"],
):
    ingest = AdfRunPipelineOperator(
        task_id="ingest_sales",
        pipeline_name="ingest_sales",
        parameters={"day": "{{ (dag_run.logical_date or dag_run.run_after) | ds }}"},
        wait_for_termination=True,
        deferrable=True,
        check_interval=1,  # the emulator's runs take a second; 30-60 s suits real ones
        activity_outputs=[COPY, LOOKUP],
    )

    refresh = DatabricksRunNowOperator(
        task_id="refresh_mart",
        job_id="4243",
        job_parameters={
            "rows_copied": "{{ " + OUTPUTS + "['" + COPY + "']['rowsCopied'] }}",
            "watermark": "{{ " + OUTPUTS + "['" + LOOKUP + "']['firstRow']['watermark'] }}",
            "adf_run_id": "{{ ti.xcom_pull(task_ids='ingest_sales', key='run_id') }}",
        },
        polling_period_seconds=1,
    )

    ingest >> refresh
