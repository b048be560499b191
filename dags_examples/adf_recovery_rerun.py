"""Recover a failed pipeline by rerunning it from the failed activity, within one DAG.

The first run of ``load_warehouse`` fails in its merge step. A fix-up task runs only then
(``trigger_rule="all_failed"``), and a rerun in recovery mode (``reference_pipeline_run_id``
+ ``is_recovery`` + ``start_from_failure``) starts from the activity that failed: the files
already staged are not copied again, and ADF shows both runs in one run group.

Against the emulator's bundled scenario, the first run of ``load_warehouse`` fails and the
next succeeds, so this DAG run ends with ``first_attempt`` failed and ``rerun_from_failure``
succeeded (the DAG run itself succeeds: its last task succeeded).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

from airflow_adf_trigger.operators.adf import AdfRunPipelineOperator

# The run's date however the DAG run started: a scheduled run's logical date, else the time
# it was queued (in Airflow 3 a run started from the UI, CLI, REST or an asset event has no
# logical date, and `{{ ds }}` is undefined there).
RUN_DATE = "{{ (dag_run.logical_date or dag_run.run_after) | ds }}"

with DAG(
    dag_id="adf_recovery_rerun",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    tags=["adf", "example"],
):
    first_attempt = AdfRunPipelineOperator(
        task_id="first_attempt",
        pipeline_name="load_warehouse",
        parameters={"date": RUN_DATE},
        wait_for_termination=True,
        deferrable=False,
        check_interval=1,  # seconds; 30-60 s suits real pipelines
    )

    @task(trigger_rule="all_failed")
    def fix_duplicate_keys() -> None:
        """Whatever repairs the cause: here, removing the duplicate rows the merge hit."""
        print("Removed duplicate sales rows from staging")

    rerun = AdfRunPipelineOperator(
        task_id="rerun_from_failure",
        pipeline_name="load_warehouse",
        reference_pipeline_run_id="{{ ti.xcom_pull(task_ids='first_attempt', key='run_id') }}",
        is_recovery=True,
        start_from_failure=True,
        wait_for_termination=True,
        deferrable=False,
        check_interval=1,
    )

    first_attempt >> fix_duplicate_keys() >> rerun
