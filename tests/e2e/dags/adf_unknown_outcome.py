"""A task whose create-run answer may be lost: its retries must never start a second run.

Run by tests/e2e/test_unknown_outcome.py, which arms the emulator's faults.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_adf_trigger.operators.adf import AdfRunPipelineOperator

with DAG("e2e_create_run_answer_lost", schedule=None, start_date=datetime(2026, 1, 1)):
    AdfRunPipelineOperator(
        task_id="run",
        pipeline_name="copy_sales",
        parameters={"region": "emea", "batch": 7, "full": True},
        wait_for_termination=True,
        check_interval=0.2,
        deferrable=False,
        retries=2,
        retry_delay=timedelta(seconds=0),
        reconcile_search_timeout=1,  # the emulator shows a new run at once
        reconcile_accept_margin=1,  # and stamps it as it answers
    )


with DAG("e2e_create_run_answer_lost_keyed", schedule=None, start_date=datetime(2026, 1, 1)):
    # The pipeline declares airflow_run_key: the retry knows its run by that key alone, so
    # an equal run a stranger started meanwhile is never taken for it.
    AdfRunPipelineOperator(
        task_id="run",
        pipeline_name="keyed",
        parameters={"region": "emea"},
        retries=2,
        retry_delay=timedelta(seconds=0),
        reconcile_search_timeout=1,
        reconcile_accept_margin=1,
    )


with DAG("e2e_create_run_answer_lost_mapped", schedule=None, start_date=datetime(2026, 1, 1)):
    # Two mapped instances with equal parameters: the retry of one must never take the
    # other's run for its own.
    AdfRunPipelineOperator.partial(
        task_id="run",
        pipeline_name="copy_sales",
        retries=2,
        retry_delay=timedelta(seconds=0),
        reconcile_search_timeout=1,
        reconcile_accept_margin=1,
    ).expand(parameters=[{"region": "emea"}, {"region": "emea"}])
