"""AdfPipelineRunSensor: wait for an ADF pipeline run to end."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_adf_trigger import DEFAULT_CONN_ID
from airflow_adf_trigger.compat import (
    AirflowException,
    AirflowFailException,
    BaseSensorOperator,
    conf,
    official_arguments,
)
from airflow_adf_trigger.core.status import RunStatus
from airflow_adf_trigger.core.validation import check_seconds
from airflow_adf_trigger.lineage import AdfLineageMixin
from airflow_adf_trigger.links.adf import AdfPipelineRunLink
from airflow_adf_trigger.links.factory_task import AdfFactoryTask

if TYPE_CHECKING:
    from airflow.sdk import Context


class AdfPipelineRunSensor(AdfLineageMixin, AdfFactoryTask, BaseSensorOperator):
    """Succeed when the run is ``Succeeded``; fail with ADF's message on ``Failed``/``Cancelled``.

    Works in ``poke`` and ``reschedule`` mode, or deferrable (in the triggerer). On a failed
    run the task fails with the failed activities' own errors, or is skipped with
    ``soft_fail=True``. The sensor never cancels the run: it only watches it. A check that
    cannot reach Azure (network, throttling, 5xx) counts as "not yet", bounded by the
    sensor's ``timeout``.

    :param run_id: the run to watch (templated), e.g.
        ``"{{ ti.xcom_pull(task_ids='trigger', key='run_id') }}"``.
    :param adf_conn_id: an ``adf`` connection (or the official ``azure_data_factory`` one).
    :param resource_group: overrides the connection's resource group (templated).
    :param factory_name: overrides the connection's factory (templated).
    :param deferrable: wait in the triggerer (default: Airflow's
        ``[operators] default_deferrable``).
    :param poke_interval: seconds between checks (positive; at least 1 s against Azure).
    :param timeout: seconds (positive) before the sensor gives up.
    :param azure_data_factory_conn_id: the official provider's name for ``adf_conn_id``.
    :param resource_group_name: the official provider's name for ``resource_group``.
    """

    template_fields: Sequence[str] = ("run_id", "adf_conn_id", "resource_group", "factory_name")
    operator_extra_links = (AdfPipelineRunLink(),)
    ui_color = "#cfe6fb"

    def __init__(
        self,
        *,
        run_id: str,
        adf_conn_id: str | None = None,
        resource_group: str | None = None,
        factory_name: str | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        azure_data_factory_conn_id: str | None = None,
        resource_group_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        # Checked before BaseSensorOperator sees them: it lets NaN through and crashes on inf.
        for name in ("poke_interval", "timeout"):
            value = kwargs.get(name)
            if value is not None:
                check_seconds(
                    name, value.total_seconds() if isinstance(value, timedelta) else value
                )
        super().__init__(**kwargs)
        self.run_id = run_id
        self.adf_conn_id, self.resource_group, _ = official_arguments(
            adf_conn_id,
            resource_group,
            azure_data_factory_conn_id=azure_data_factory_conn_id,
            resource_group_name=resource_group_name,
            default_conn_id=DEFAULT_CONN_ID,
        )
        self.factory_name = factory_name
        self.deferrable = deferrable

    def poke(self, context: Context) -> bool:
        from airflow_adf_trigger.core.errors import TRANSIENT_ERRORS

        try:
            run = self.hook.client.get_run(self.run_id)
        except TRANSIENT_ERRORS as error:
            self.log.warning(
                "Could not read run %s (%s); counting it as not finished yet, next check in %g s",
                self.run_id,
                error,
                self.poke_interval,
            )
            return False
        self.log.info("Pipeline %r run %s is %s", run.pipeline_name, run.run_id, run.status.value)
        return self._finished_successfully(run)

    def execute(self, context: Context) -> Any:
        self._interval_for_azure("poke_interval", self.poke_interval)
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):  # one look before handing the wait to the triggerer
            return None
        self.defer(
            trigger=self.run_trigger(self.run_id, poll_interval=self.poke_interval),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> None:
        """Back from the triggerer: success, or a failure (a skip with ``soft_fail``)."""
        if event.get("status") == RunStatus.SUCCEEDED.value:
            self.log.info("%s", event.get("message"))
            return
        message = str(event.get("message") or event)
        # resume_execution turns either into a skip when soft_fail is set.
        if event.get("status") in (RunStatus.FAILED.value, RunStatus.CANCELLED.value):
            # As in poke: a finished run cannot change, so retrying the sensor cannot help.
            raise AirflowFailException(message)
        raise AirflowException(message)  # an outage or a bad connection: a retry may help
