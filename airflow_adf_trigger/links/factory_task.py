"""What the operator and the sensor share: one factory to talk to, its hook, its trigger."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_adf_trigger.core.models import PipelineRun
    from airflow_adf_trigger.hooks.adf import AdfHook
    from airflow_adf_trigger.triggers.adf import AdfPipelineRunTrigger


class AdfFactoryTask:
    """A task with ``adf_conn_id`` and optional ``resource_group``/``factory_name`` overrides.

    The hook and the trigger are imported on first use: DAG files import the task classes at
    every parse.
    """

    adf_conn_id: str
    resource_group: str | None
    factory_name: str | None

    @cached_property
    def hook(self) -> AdfHook:
        from airflow_adf_trigger.hooks.adf import AdfHook

        return AdfHook(
            self.adf_conn_id,
            resource_group=self.resource_group,
            factory_name=self.factory_name,
            **self._hook_options(),
        )

    def _hook_options(self) -> dict[str, Any]:
        """More keyword arguments for the hook (the operator's interruptible sleep)."""
        return {}

    def run_trigger(self, run_id: str, **options: Any) -> AdfPipelineRunTrigger:
        """A trigger that follows ``run_id`` in this task's factory."""
        from airflow_adf_trigger.triggers.adf import AdfPipelineRunTrigger

        return AdfPipelineRunTrigger(
            run_id=run_id,
            adf_conn_id=self.adf_conn_id,
            resource_group=self.resource_group,
            factory_name=self.factory_name,
            **options,
        )

    def _interval_for_azure(self, field: str, seconds: float) -> float:
        """``seconds`` with the 1 s poll floor, known only once the connection tells Azure from
        a local emulator (at execute time, not when the DAG is parsed); fails the task, without
        retries, naming ``field``."""
        from airflow_adf_trigger.compat import AirflowFailException
        from airflow_adf_trigger.core.errors import AdfConfigurationError
        from airflow_adf_trigger.core.validation import check_seconds, poll_floor

        floor = poll_floor(self.hook.settings.cloud.is_local)
        try:
            return check_seconds(field, seconds, minimum=floor)
        except AdfConfigurationError as error:
            raise AirflowFailException(str(error)) from None

    def _finished_successfully(self, run: PipelineRun) -> bool:
        """True when the run Succeeded, False while it goes on; a Failed or Cancelled run fails
        the task without retries (looking again cannot change a finished run), with the failed
        activities' own errors."""
        from airflow_adf_trigger.compat import AirflowFailException

        if run.status.is_successful:
            return True
        if run.status.is_terminal:
            raise AirflowFailException(str(self.hook.unsuccessful_run_error(run)))
        return False
