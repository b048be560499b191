"""Testbed DAGs for the production page: many deferred waits, and runs to kill things under.

``prod_waits``: ``conf={"n": 20, "pipeline": "long_wait"}`` starts n ADF runs (mapped tasks)
and waits for each in the triggerer (deferrable, check_interval 10 s).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_adf_trigger.operators.adf import AdfRunPipelineOperator

with DAG(
    dag_id="prod_waits",
    start_date=datetime(2026, 1, 1),
    schedule=None,
    catchup=False,
    max_active_tasks=200,
    params={"n": Param(20, type="integer"), "pipeline": Param("long_wait", type="string")},
):

    @task
    def run_parameters(
        params: dict[str, Any] | None = None, dag_run: Any = None
    ) -> list[dict[str, str]]:
        n = int((params or {})["n"])
        return [{"n": f"{dag_run.run_id}/{i}"} for i in range(n)]

    AdfRunPipelineOperator.partial(
        task_id="wait",
        pipeline_name="{{ params.pipeline }}",
        wait_for_termination=True,
        deferrable=True,
        check_interval=10,
        retries=2,
        retry_delay=5,
    ).expand(parameters=run_parameters())
