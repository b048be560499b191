"""AdfPipelineRunSensor: wait for an ADF pipeline run to end."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, conf
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_adf_trigger import DEFAULT_CONN_ID
from airflow_adf_trigger.core.status import RunStatus
from airflow_adf_trigger.links.adf import AdfPipelineRunLink
from airflow_adf_trigger.links.factory_task import AdfFactoryTask

if TYPE_CHECKING:
    from airflow.sdk import Context


class AdfPipelineRunSensor(AdfFactoryTask, BaseSensorOperator):
    """Succeed when the run is ``Succeeded``; fail with ADF's message on ``Failed``/``Cancelled``.

    Works in ``poke`` and ``reschedule`` mode, or deferrable (in the triggerer). On a failed
    run the task fails with the failed activities' own errors, or is skipped with
    ``soft_fail=True``. The sensor never cancels the run: it only watches it.

    :param run_id: the run to watch (templated), e.g.
        ``"{{ ti.xcom_pull(task_ids='trigger', key='run_id') }}"``.
    :param adf_conn_id: an ``adf`` connection (or the official ``azure_data_factory`` one).
    :param resource_group: overrides the connection's resource group (templated).
    :param factory_name: overrides the connection's factory (templated).
    :param deferrable: wait in the triggerer (default: Airflow's
        ``[operators] default_deferrable``).
    """

    template_fields: Sequence[str] = ("run_id", "resource_group", "factory_name")
    operator_extra_links = (AdfPipelineRunLink(),)
    ui_color = "#cfe6fb"

    def __init__(
        self,
        *,
        run_id: str,
        adf_conn_id: str = DEFAULT_CONN_ID,
        resource_group: str | None = None,
        factory_name: str | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.run_id = run_id
        self.adf_conn_id = adf_conn_id
        self.resource_group = resource_group
        self.factory_name = factory_name
        self.deferrable = deferrable

    def poke(self, context: Context) -> bool:
        run = self.hook.client.get_run(self.run_id)
        self.log.info("Pipeline %r run %s is %s", run.pipeline_name, run.run_id, run.status.value)
        if run.status.is_successful:
            return True
        if run.status.is_terminal:
            # Poking again cannot change a finished run's outcome: fail without retries.
            raise AirflowFailException(str(self.hook.unsuccessful_run_error(run)))
        return False

    def execute(self, context: Context) -> Any:
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
        # resume_execution turns this into a skip when soft_fail is set.
        raise AirflowException(str(event.get("message") or event))
