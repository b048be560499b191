"""Fan out: one pipeline run per region, started and waited for in parallel.

Dynamic task mapping (``.partial(...).expand(...)``) creates one task per parameter set;
each starts its own run and waits for it in the triggerer. The run ids come back as a list
(``XComArg``) for the step that needs them.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

from airflow_adf_trigger.operators.adf import AdfRunPipelineOperator

# The run's date however the DAG run started: a scheduled run's logical date, else the time
# it was queued (in Airflow 3 a run started from the UI, CLI, REST or an asset event has no
# logical date, and `{{ ds }}` is undefined there).
RUN_DATE = "{{ (dag_run.logical_date or dag_run.run_after) | ds }}"

REGIONS = ["emea", "amer", "apac"]

with DAG(
    dag_id="adf_fan_out",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    tags=["adf", "example"],
):
    loads = AdfRunPipelineOperator.partial(
        task_id="copy_sales_by_region",
        pipeline_name="copy_sales",
        wait_for_termination=True,
        deferrable=True,
        check_interval=1,  # seconds; 30-60 s suits real pipelines
        # A retry follows the same run (or finishes at once if it succeeded), never a second
        # one; it also rides out an Airflow 3.3 race in which a run that ends within seconds
        # of the deferral gets its task failed by the scheduler.
        retries=1,
    ).expand(parameters=[{"region": region, "date": RUN_DATE} for region in REGIONS])

    @task
    def summarise(run_ids: list[str]) -> int:
        """Every region's run succeeded; record which runs produced today's data."""
        for run_id in run_ids:
            print(f"ADF run {run_id} succeeded")
        return len(run_ids)

    summarise(loads.output)
