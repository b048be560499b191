"""AdfPipelineRunSensor: wait for an ADF pipeline run to end."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowFailException

from airflow_adf_trigger.hooks.adf import AdfHook

if TYPE_CHECKING:
    from airflow.sdk import Context


class AdfPipelineRunSensor(BaseSensorOperator):
    """Succeed when the run is ``Succeeded``; fail with ADF's message on ``Failed``/``Cancelled``.

    :param run_id: the run to watch (templated), e.g.
        ``"{{ ti.xcom_pull(task_ids='trigger', key='run_id') }}"``.
    :param adf_conn_id: an ``adf`` connection.
    :param resource_group: overrides the connection's resource group (templated).
    :param factory_name: overrides the connection's factory (templated).
    """

    template_fields: Sequence[str] = ("run_id", "resource_group", "factory_name")
    ui_color = "#cfe6fb"

    def __init__(
        self,
        *,
        run_id: str,
        adf_conn_id: str = AdfHook.default_conn_name,
        resource_group: str | None = None,
        factory_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.run_id = run_id
        self.adf_conn_id = adf_conn_id
        self.resource_group = resource_group
        self.factory_name = factory_name

    def poke(self, context: Context) -> bool:
        hook = AdfHook(
            self.adf_conn_id, resource_group=self.resource_group, factory_name=self.factory_name
        )
        run = hook.client.get_run(self.run_id)
        self.log.info("Pipeline %r run %s is %s", run.pipeline_name, run.run_id, run.status.value)
        if run.status.is_successful:
            return True
        if run.status.is_terminal:
            # Poking again cannot change a finished run's outcome: fail without retries.
            raise AirflowFailException(str(hook.unsuccessful_run_error(run)))
        return False
