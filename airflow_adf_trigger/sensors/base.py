"""AdfSensorBase: what the two sensors share (arguments, a look, the deferral, the event)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from airflow_adf_trigger.compat import AirflowException, BaseSensorOperator, conf
from airflow_adf_trigger.links.adf import AdfPipelineRunLink
from airflow_adf_trigger.tasks import AdfFactoryTask

if TYPE_CHECKING:
    from airflow_adf_trigger.compat import BaseTrigger
    from airflow_adf_trigger.core.runs.outcome import RunOutcome

T = TypeVar("T")


def check_sensor_seconds(kwargs: Mapping[str, Any]) -> None:
    """``poke_interval`` and ``timeout``, checked before ``BaseSensorOperator`` sees them: it
    lets NaN through and crashes on infinity."""
    from airflow_adf_trigger.core.config.validation import check_seconds

    for name in ("poke_interval", "timeout"):
        value = kwargs.get(name)
        if value is not None:
            check_seconds(name, value.total_seconds() if isinstance(value, timedelta) else value)


class AdfSensorBase(AdfFactoryTask, BaseSensorOperator):
    """A sensor of one factory: the connection arguments (the official names too), the
    interval checked against Azure's floor, transient errors as "not yet", and the wait
    handed to the triggerer within the sensor's ``timeout``."""

    operator_extra_links = (AdfPipelineRunLink(),)
    ui_color = "#cfe6fb"

    def __init__(
        self,
        *,
        adf_conn_id: str | None = None,
        resource_group: str | None = None,
        factory_name: str | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        azure_data_factory_conn_id: str | None = None,
        resource_group_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        check_sensor_seconds(kwargs)
        super().__init__(**kwargs)
        self._use_factory(
            adf_conn_id,
            resource_group,
            factory_name,
            azure_data_factory_conn_id=azure_data_factory_conn_id,
            resource_group_name=resource_group_name,
        )
        self.deferrable = deferrable

    def _poke_with(self, read: Callable[[], T], judge: Callable[[T], bool], subject: str) -> bool:
        """One look: ``judge(read())``. A read that cannot reach Azure (network, throttling,
        5xx) counts as "not yet": the sensor's own ``timeout`` bounds the wait."""
        from airflow_adf_trigger.core.errors import TRANSIENT_ERRORS

        try:
            found = read()
        except TRANSIENT_ERRORS as error:
            self.log.warning(
                "Could not read %s (%s); counting it as not finished yet, next check in %g s",
                subject,
                error,
                self.poke_interval,
            )
            return False
        return judge(found)

    def _defer_sensor(self, trigger: BaseTrigger) -> NoReturn:
        """Hand the wait to the triggerer, within the sensor's ``timeout``."""
        self.defer(
            trigger=trigger,
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def _run_end(self, event: object) -> RunOutcome:
        """The outcome when the run itself ended (Succeeded, Failed or Cancelled); an error,
        an outage or a timeout fails the try (a retry may help)."""
        outcome = self._outcome(event)
        if not outcome.kind.is_run_end:
            raise AirflowException(outcome.message)
        return outcome
