"""AdfFactoryTask: what the operator and the sensors share.

One factory to talk to (a connection, with resource group and factory overrides), its hook
and its trigger; the poll floor checked at execute time; the verdict on a finished run; and
the reading of the trigger's event as a :class:`~airflow_adf_trigger.core.runs.outcome.RunOutcome`.

DAG files import the task classes at every parse: the hook, the trigger and the core modules
are imported on first use, not here.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_adf_trigger import DEFAULT_CONN_ID
from airflow_adf_trigger.compat import official_arguments

if TYPE_CHECKING:
    from airflow_adf_trigger.core.runs.models import PipelineRun
    from airflow_adf_trigger.core.runs.outcome import RunOutcome
    from airflow_adf_trigger.hooks.adf import AdfHook
    from airflow_adf_trigger.triggers.adf import AdfPipelineRunTrigger


class AdfFactoryTask:
    """A task with ``adf_conn_id`` and optional ``resource_group``/``factory_name`` overrides."""

    adf_conn_id: str
    resource_group: str | None
    factory_name: str | None

    def _use_factory(
        self,
        adf_conn_id: str | None,
        resource_group: str | None,
        factory_name: str | None,
        *,
        azure_data_factory_conn_id: str | None = None,
        resource_group_name: str | None = None,
    ) -> bool:
        """Set the connection and the overrides, taking the official provider's argument
        names as aliases; True when the task used those names (written for that provider)."""
        self.adf_conn_id, self.resource_group, official_style = official_arguments(
            adf_conn_id,
            resource_group,
            azure_data_factory_conn_id=azure_data_factory_conn_id,
            resource_group_name=resource_group_name,
            default_conn_id=DEFAULT_CONN_ID,
        )
        self.factory_name = factory_name
        return official_style

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
        from airflow_adf_trigger.core.config.validation import check_seconds, poll_floor
        from airflow_adf_trigger.core.errors import AdfConfigurationError

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
            raise AirflowFailException(self.hook.run_outcome(run).message)
        return False

    # ------------------------------------------------------------ back from the triggerer

    def _outcome(self, event: object) -> RunOutcome:
        """The trigger's event as a value; an event that is not one fails the try, saying
        what is wrong with it (a retry looks at the run afresh)."""
        from airflow_adf_trigger.compat import AirflowException
        from airflow_adf_trigger.core.runs.outcome import AdfEventError, RunOutcome

        try:
            return RunOutcome.from_event(event)
        except AdfEventError as error:
            raise AirflowException(str(error)) from None
