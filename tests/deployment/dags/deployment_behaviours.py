"""DAGs of the deployment tests: one behaviour users meet in a real deployment each.

Every run's pipeline parameters carry the DAG run id, so a test finds the ADF runs of its own
DAG run among all the emulator's runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_adf_trigger.operators.adf import AdfRunPipelineOperator

MARK = {"dag_run": "{{ run_id }}"}
FAN_OUT_WIDTH = 20  # test_fan_out.py WIDTH


def _dag(dag_id: str) -> DAG:
    return DAG(
        dag_id=dag_id,
        start_date=datetime(2026, 1, 1),
        schedule=None,
        catchup=False,
        max_active_runs=1,
        tags=["adf", "deployment-test"],
    )


# A pipeline that runs for 15 minutes: cleared, marked failed or marked successful mid-wait.
with _dag("deploy_wait_deferred"):
    AdfRunPipelineOperator(
        task_id="wait",
        pipeline_name="slow",
        parameters=MARK,
        wait_for_termination=True,
        deferrable=True,
        check_interval=1,
    )

# Checks 30 s apart: a kill must end the wait at once, not at the next check.
with _dag("deploy_wait_in_worker"):
    AdfRunPipelineOperator(
        task_id="wait",
        pipeline_name="slow",
        parameters=MARK,
        wait_for_termination=True,
        deferrable=False,
        check_interval=30,
    )

# The timeout passes long before the pipeline ends: the run is cancelled, the task fails.
with _dag("deploy_timeout"):
    AdfRunPipelineOperator(
        task_id="wait",
        pipeline_name="slow",
        parameters=MARK,
        wait_for_termination=True,
        deferrable=True,
        check_interval=1,
        timeout=timedelta(seconds=6),
    )

# The worker is killed mid-wait; the retry must follow the same run.
with _dag("deploy_worker_killed"):
    AdfRunPipelineOperator(
        task_id="wait",
        pipeline_name="steady",
        parameters=MARK,
        wait_for_termination=True,
        deferrable=False,
        check_interval=1,
        retries=1,
        retry_delay=timedelta(seconds=1),
    )

# The triggerer is restarted mid-wait; the wait goes on in the new triggerer.
with _dag("deploy_triggerer_restart"):
    AdfRunPipelineOperator(
        task_id="wait",
        pipeline_name="steady",
        parameters=MARK,
        wait_for_termination=True,
        deferrable=True,
        check_interval=1,
    )

# Many deferred waits at once: the triggerer's shared poller reads them all in one query.
with _dag("deploy_fan_out"):
    AdfRunPipelineOperator.partial(
        task_id="load",
        pipeline_name="fan",
        wait_for_termination=True,
        deferrable=True,
        check_interval=2,
    ).expand(
        parameters=[{"dag_run": "{{ run_id }}", "part": str(part)} for part in range(FAN_OUT_WIDTH)]
    )

# The create-run's answer is lost and no retry is left: a user clears the task. The clear
# must find the run the lost request started and cancel it, and start exactly one new run.
with _dag("deploy_lost_answer_cleared"):
    AdfRunPipelineOperator(
        task_id="wait",
        pipeline_name="slow",
        parameters=MARK,
        retries=0,
        reconcile_search_timeout=1,  # the emulator shows a new run at once
        reconcile_accept_margin=1,  # and stamps it as it answers
    )
