"""AdfRunPipelineOperator: start an ADF pipeline run and, if asked, wait for its end."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator, ResumableJobMixin, conf
from airflow.sdk.exceptions import AirflowException

from airflow_adf_trigger import DEFAULT_CONN_ID
from airflow_adf_trigger.core.status import RunStatus
from airflow_adf_trigger.links.adf import AdfPipelineRunLink
from airflow_adf_trigger.links.factory_task import AdfFactoryTask

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_adf_trigger.core.models import PipelineRun

# DAG files import this module at every parse: the hook, the HTTP client and the trigger are
# imported where they are used, not here (see tests/unit/test_provider.py).

XCOM_RUN_ID = "run_id"
ACTIVE = (RunStatus.QUEUED, RunStatus.IN_PROGRESS)


class AdfRunPipelineOperator(AdfFactoryTask, ResumableJobMixin, BaseOperator):
    """Start a run of an Azure Data Factory pipeline; push its run id to XCom as ``run_id``.

    A retried task reattaches to the run its earlier try started while that run is still
    queued or in progress, finishes at once if it succeeded, and starts a new run only
    after a Failed or Cancelled one.

    :param pipeline_name: the pipeline to run (templated).
    :param parameters: the pipeline's parameters (templated).
    :param adf_conn_id: an ``adf`` connection (or the official ``azure_data_factory`` one).
    :param resource_group: overrides the connection's resource group (templated).
    :param factory_name: overrides the connection's factory (templated).
    :param reference_pipeline_run_id: for a rerun: the run to rerun (templated).
    :param is_recovery: run in recovery mode (the rerun joins the reference run's group).
    :param start_activity_name: rerun from this activity (templated).
    :param start_from_failure: rerun from the activities that failed.
    :param wait_for_termination: wait for the run to end (default: no; the sensor waits).
    :param check_interval: seconds between status checks while waiting.
    :param timeout: seconds (or a timedelta) to wait; then the run is cancelled, child
        pipelines included, and the task fails saying so.
    :param deferrable: wait in the triggerer instead of a worker slot (default: Airflow's
        ``[operators] default_deferrable``).
    :param cancel_on_kill: cancel the run when the task is killed (default: yes).
    """

    template_fields: Sequence[str] = (
        "pipeline_name",
        "parameters",
        "resource_group",
        "factory_name",
        "reference_pipeline_run_id",
        "start_activity_name",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"parameters": "json"}
    operator_extra_links = (AdfPipelineRunLink(),)
    external_id_key = "adf_pipeline_run_id"
    ui_color = "#cfe6fb"

    def __init__(
        self,
        *,
        pipeline_name: str,
        parameters: dict[str, Any] | None = None,
        adf_conn_id: str = DEFAULT_CONN_ID,
        resource_group: str | None = None,
        factory_name: str | None = None,
        reference_pipeline_run_id: str | None = None,
        is_recovery: bool | None = None,
        start_activity_name: str | None = None,
        start_from_failure: bool | None = None,
        wait_for_termination: bool = False,
        check_interval: float = 15.0,
        timeout: float | timedelta | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        cancel_on_kill: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pipeline_name = pipeline_name
        self.parameters = parameters
        self.adf_conn_id = adf_conn_id
        self.resource_group = resource_group
        self.factory_name = factory_name
        self.reference_pipeline_run_id = reference_pipeline_run_id
        self.is_recovery = is_recovery
        self.start_activity_name = start_activity_name
        self.start_from_failure = start_from_failure
        self.wait_for_termination = wait_for_termination
        self.check_interval = check_interval
        self.timeout = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
        self.deferrable = deferrable
        self.cancel_on_kill = cancel_on_kill
        self.run_id: str | None = None
        self._create_sent_at: datetime | None = None

    def execute(self, context: Context) -> str | None:
        self.execute_resumable(context)
        return self.run_id

    # ------------------------------------------------------------ ResumableJobMixin

    def submit_job(self, context: Context) -> str:
        client = self.hook.client  # settings are validated here, before any request
        self._create_sent_at = datetime.now(UTC)
        run_id = client.create_run(
            self.pipeline_name,
            self.parameters,
            reference_pipeline_run_id=self.reference_pipeline_run_id or None,
            is_recovery=self.is_recovery,
            start_activity_name=self.start_activity_name or None,
            start_from_failure=self.start_from_failure,
        )
        # Saved before anything else can fail, so a retry finds this run (ResumableJobMixin
        # saves it again once this returns).
        store = context.get("task_state_store")
        if store is not None:
            store.set(self.external_id_key, run_id)
        self._adopt(run_id, context)
        self.log.info(
            "Pipeline %r started: run id %s (%s)",
            self.pipeline_name,
            run_id,
            self.hook.monitoring_url(run_id),
        )
        return run_id

    def get_job_status(self, external_id: Any, context: Context) -> str:
        return self.hook.client.get_run(str(external_id)).status.value

    def is_job_active(self, status: str) -> bool:
        return RunStatus.parse(status) in ACTIVE

    def is_job_succeeded(self, status: str) -> bool:
        return RunStatus.parse(status).is_successful

    def poll_until_complete(self, external_id: Any, context: Context) -> None:
        self._adopt(str(external_id), context)
        if not self.wait_for_termination:
            return
        if self.deferrable:
            self._defer()
        self._wait_in_worker(str(external_id))

    def get_job_result(self, external_id: Any, context: Context) -> str:
        self._adopt(str(external_id), context)
        return str(external_id)

    # ------------------------------------------------------------ waiting

    def _wait_in_worker(self, run_id: str) -> None:
        from airflow_adf_trigger.core.errors import AdfWaitTimeoutError

        client = self.hook.client
        try:
            run = client.wait_for_run(
                run_id,
                poll_interval=self.check_interval,
                timeout=self.timeout,
                on_poll=self._log_status,
            )
        except AdfWaitTimeoutError as waited:
            raise AirflowException(self._cancel_after_timeout(waited.run)) from None
        if not run.status.is_successful:
            raise AirflowException(str(self.hook.unsuccessful_run_error(run)))
        self.log.info("Pipeline %r run %s succeeded", run.pipeline_name, run_id)

    def _cancel_after_timeout(self, run: PipelineRun) -> str:
        from airflow_adf_trigger.core.errors import AdfError

        message = (
            f"Pipeline {run.pipeline_name!r} run {run.run_id} was still {run.status.value} "
            f"after the {self.timeout:.0f} s timeout"
        )
        try:
            result = self.hook.client.cancel_run(run.run_id, is_recursive=True)
        except AdfError as error:
            return f"{message}; cancelling it failed: {error}"
        return f"{message}; {result.describe()} (child pipelines included)"

    def _defer(self) -> None:
        assert self.run_id is not None
        self.defer(
            trigger=self.run_trigger(
                self.run_id,
                poll_interval=self.check_interval,
                end_time=None if self.timeout is None else time.time() + self.timeout,
                cancel_on_timeout=True,
                cancel_on_kill=self.cancel_on_kill,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> str:
        """Back from the triggerer with the run's outcome."""
        self.run_id = run_id = str(event["run_id"])
        status = event.get("status")
        if status == RunStatus.SUCCEEDED.value:
            self.log.info("%s", event.get("message"))
            return run_id
        raise AirflowException(str(event.get("message") or f"Run {run_id} ended {status}"))

    # ------------------------------------------------------------ bookkeeping

    def _adopt(self, run_id: str, context: Context) -> None:
        """Remember the run the instant it is known: for on_kill, XCom and the link."""
        self.run_id = run_id
        context["ti"].xcom_push(key=XCOM_RUN_ID, value=run_id)

    def _log_status(self, run: PipelineRun) -> None:
        self.log.info("Pipeline %r run %s is %s", run.pipeline_name, run.run_id, run.status.value)

    def on_kill(self) -> None:
        from airflow_adf_trigger.core.errors import AdfError

        if not self.cancel_on_kill:
            return
        if self.run_id is None:
            if self._create_sent_at is not None:
                self.log.warning(
                    "Killed while starting pipeline %r: if a run started, it was not "
                    "cancelled. Look for runs started after %s in ADF monitoring.",
                    self.pipeline_name,
                    self._create_sent_at.isoformat(),
                )
            return
        try:
            result = self.hook.client.cancel_run(self.run_id, is_recursive=True)
            self.log.info("Task killed: %s", result.describe())
        except AdfError as error:
            self.log.error("Task killed, but cancelling run %s failed: %s", self.run_id, error)
