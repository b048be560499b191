"""DAGs of tests/e2e/test_compat_dags.py: what survives a retry, on each Airflow version."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Variable, task

from airflow_adf_trigger.operators.adf import AdfRunPipelineOperator

DEFAULTS = {"start_date": datetime(2026, 1, 1)}

with DAG("e2e_what_survives_a_retry", schedule=None, default_args=DEFAULTS):

    @task(retries=1, retry_delay=timedelta(seconds=0))
    def probe(**context: Any) -> str:
        """Try 1 writes to every durable place a task has and fails; try 2 reports them."""
        ti = context["ti"]
        store = context.get("task_state_store")  # Airflow 3.3+
        variable = f"e2e_probe.{ti.run_id}"
        if ti.try_number == 1:
            ti.xcom_push(key="probe", value="from try 1")
            Variable.set(variable, "from try 1")
            if store is not None:
                store.set("probe", "from try 1")
            raise RuntimeError("the first try fails on purpose")
        seen = {
            "xcom": ti.xcom_pull(task_ids=ti.task_id, key="probe"),
            "variable": Variable.get(variable, default=None),
            "task_state_store": "absent" if store is None else store.get("probe"),
        }
        Variable.delete(variable)
        return json.dumps(seen)  # one XCom (a dict would be split into several)

    probe()

with DAG("e2e_run_left_after_a_failed_wait", schedule=None, default_args=DEFAULTS):
    AdfRunPipelineOperator(
        task_id="run",
        pipeline_name="medium",
        adf_conn_id="{{ 'adf_' + 'impatient' }}",  # templated
        wait_for_termination=True,
        check_interval=0.2,
        deferrable=False,
        outage_budget=0,  # the first failed check fails the task
    )
