"""AdfRunPipelineOperator: start an ADF pipeline run and, if asked, wait for its end."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_adf_trigger.hooks.adf import AdfHook

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_adf_trigger.core.models import PipelineRun


class AdfRunPipelineOperator(BaseOperator):
    """Start a run of an Azure Data Factory pipeline; push its run id to XCom as ``run_id``.

    :param pipeline_name: the pipeline to run (templated).
    :param parameters: the pipeline's parameters (templated).
    :param adf_conn_id: an ``adf`` connection.
    :param resource_group: overrides the connection's resource group (templated).
    :param factory_name: overrides the connection's factory (templated).
    :param wait_for_termination: wait in this task for the run to end (default: no; use
        :class:`~airflow_adf_trigger.sensors.adf.AdfPipelineRunSensor` to wait).
    :param check_interval: seconds between status checks while waiting.
    """

    template_fields: Sequence[str] = (
        "pipeline_name",
        "parameters",
        "resource_group",
        "factory_name",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"parameters": "json"}
    ui_color = "#cfe6fb"

    def __init__(
        self,
        *,
        pipeline_name: str,
        parameters: dict[str, Any] | None = None,
        adf_conn_id: str = AdfHook.default_conn_name,
        resource_group: str | None = None,
        factory_name: str | None = None,
        wait_for_termination: bool = False,
        check_interval: float = 15.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pipeline_name = pipeline_name
        self.parameters = parameters
        self.adf_conn_id = adf_conn_id
        self.resource_group = resource_group
        self.factory_name = factory_name
        self.wait_for_termination = wait_for_termination
        self.check_interval = check_interval
        self.run_id: str | None = None

    def execute(self, context: Context) -> str:
        hook = AdfHook(
            self.adf_conn_id, resource_group=self.resource_group, factory_name=self.factory_name
        )
        client = hook.client
        self.run_id = run_id = client.create_run(self.pipeline_name, self.parameters)
        context["ti"].xcom_push(key="run_id", value=run_id)
        self.log.info("Pipeline %r started: run id %s", self.pipeline_name, run_id)
        if self.wait_for_termination:
            run = client.wait_for_run(
                run_id, poll_interval=self.check_interval, on_poll=self._log_status
            )
            if not run.status.is_successful:
                raise hook.unsuccessful_run_error(run)
            self.log.info("Pipeline %r run %s succeeded", self.pipeline_name, run_id)
        return run_id

    def _log_status(self, run: PipelineRun) -> None:
        self.log.info("Pipeline %r run %s is %s", run.pipeline_name, run.run_id, run.status.value)
