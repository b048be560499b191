"""AdfPipelineRunSensor: wait for an ADF pipeline run to end."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_adf_trigger.compat import AirflowFailException
from airflow_adf_trigger.lineage import AdfLineageMixin
from airflow_adf_trigger.sensors.base import AdfSensorBase

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_adf_trigger.core.runs.models import PipelineRun


class AdfPipelineRunSensor(AdfLineageMixin, AdfSensorBase):
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
    :param azure_data_factory_conn_id: the official provider's name for ``adf_conn_id``.
    :param resource_group_name: the official provider's name for ``resource_group``.

    Airflow's sensor arguments apply; here ``poke_interval`` (seconds between checks) and
    ``timeout`` (seconds before the sensor gives up) must be positive, and the interval at
    least 1 s against Azure.
    """

    template_fields: Sequence[str] = ("run_id", "adf_conn_id", "resource_group", "factory_name")

    def __init__(self, *, run_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run_id = run_id

    def poke(self, context: Context) -> bool:
        return self._poke_with(
            lambda: self.hook.client.get_run(self.run_id), self._judge, f"run {self.run_id}"
        )

    def _judge(self, run: PipelineRun) -> bool:
        self.log.info("Pipeline %r run %s is %s", run.pipeline_name, run.run_id, run.status.value)
        return self._finished_successfully(run)

    def execute(self, context: Context) -> Any:
        self._interval_for_azure("poke_interval", self.poke_interval)
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):  # one look before handing the wait to the triggerer
            return None
        self._defer_sensor(self.run_trigger(self.run_id, poll_interval=self.poke_interval))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> None:
        """Back from the triggerer: success, or a failure (a skip with ``soft_fail``).

        As in poke, a Failed or Cancelled run fails the task without retries (a finished run
        cannot change); an outage or a bad connection fails the try, and a retry may help.
        ``resume_execution`` turns either failure into a skip when ``soft_fail`` is set.
        """
        outcome = self._run_end(event)
        if not outcome.succeeded:
            raise AirflowFailException(outcome.message)
        self.log.info("%s", outcome.message)
