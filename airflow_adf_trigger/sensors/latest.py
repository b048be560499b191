"""AdfLatestPipelineRunSensor: wait until the latest run of a pipeline has succeeded.

For DAGs that depend on pipelines ADF schedules itself: the sensor looks at the newest run
of the pipeline (optionally started after a moment such as the data interval's start, and
optionally with given parameter values) and succeeds once that run has succeeded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_adf_trigger.compat import AirflowFailException
from airflow_adf_trigger.core.config.validation import check_pipeline
from airflow_adf_trigger.core.errors import AdfConfigurationError
from airflow_adf_trigger.sensors.base import AdfSensorBase

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_adf_trigger.core.runs.models import PipelineRun

LOOKBACK = timedelta(days=45)
"""Without ``started_after``, runs are looked for this far back (ADF keeps 45 days)."""


class AdfLatestPipelineRunSensor(AdfSensorBase):
    """Succeed when the latest matching run of ``pipeline_name`` has succeeded.

    The latest run is the one with the newest ``runStart`` among the pipeline's runs started
    at or after ``started_after`` whose parameters include ``parameters``. While there is none,
    or it is queued or in progress, the sensor waits; a Failed or Cancelled latest run fails
    the task at once (or skips it with ``soft_fail=True``), naming the run and its message.
    A check that cannot reach Azure counts as "not yet".

    :param pipeline_name: the pipeline (templated).
    :param started_after: ISO-8601 time or datetime (templated), e.g.
        ``"{{ data_interval_start }}"``; runs started before it are ignored.
    :param parameters: parameter values the run must have (templated); ADF reports them as
        strings, so they are compared as strings.
    :param deferrable: wait in the triggerer: on the shared poller's feed while the latest
        run is active; while no matching run exists yet, one check per ``poke_interval``.
    :param azure_data_factory_conn_id: the official provider's name for ``adf_conn_id``
        (so ``default_args`` written for that provider apply here too).
    :param resource_group_name: the official provider's name for ``resource_group``.
    """

    template_fields: Sequence[str] = (
        "pipeline_name",
        "started_after",
        "parameters",
        "resource_group",
        "factory_name",
    )

    def __init__(
        self,
        *,
        pipeline_name: str,
        started_after: str | datetime | None = None,
        parameters: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if "{{" not in str(pipeline_name):
            check_pipeline(pipeline_name)
        if parameters is not None and not isinstance(parameters, Mapping):
            raise AdfConfigurationError(
                "parameters", f"{parameters!r} is not a mapping", "give {name: value}"
            )
        self.pipeline_name = pipeline_name
        self.started_after = started_after
        self.parameters = parameters
        self.run_id: str | None = None

    # ------------------------------------------------------------ looking

    def _since(self) -> datetime:
        value = self.started_after
        if value is None or value == "":
            return datetime.now(UTC) - LOOKBACK
        if isinstance(value, datetime):
            moment = value
        else:
            try:
                moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            except ValueError:
                raise AirflowFailException(
                    f"started_after: {value!r} is not an ISO-8601 time"
                ) from None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def latest_run(self) -> PipelineRun | None:
        """The newest matching run, or None (one query, every page)."""
        from airflow_adf_trigger.core.runs.models import RunFilter, RunQuery

        since = self._since()
        query = RunQuery(
            last_updated_after=since,
            last_updated_before=datetime.now(UTC) + timedelta(days=1),
            filters=(RunFilter("PipelineName", "Equals", (self.pipeline_name,)),),
            order_by=(("RunStart", "DESC"),),
        )
        wanted = {str(k): str(v) for k, v in (self.parameters or {}).items()}
        candidates = [
            run
            for run in self.hook.client.query_pipeline_runs(query)
            if run.pipeline_name == self.pipeline_name
            and (run.run_start is None or run.run_start >= since)
            and all(run.parameters.get(k) == v for k, v in wanted.items())
        ]
        if not candidates:
            return None
        return max(candidates, key=lambda r: r.run_start or r.last_updated or since)

    def poke(self, context: Context) -> bool:
        return self._poke_with(
            self.latest_run,
            lambda run: self._judge(run, context),
            f"the runs of pipeline {self.pipeline_name!r}",
        )

    def _judge(self, run: PipelineRun | None, context: Context) -> bool:
        if run is None:
            self.log.info("No matching run of pipeline %r yet", self.pipeline_name)
            return False
        self.run_id = run.run_id
        context["ti"].xcom_push(key="run_id", value=run.run_id)
        self.log.info(
            "Latest run of pipeline %r: %s is %s (%s)",
            self.pipeline_name,
            run.run_id,
            run.status.value,
            self.hook.monitoring_url(run.run_id),
        )
        return self._finished_successfully(run)

    # ------------------------------------------------------------ running

    def execute(self, context: Context) -> Any:
        self._interval_for_azure("poke_interval", self.poke_interval)
        self._since()  # a bad started_after fails before any request
        if not self.deferrable:
            return super().execute(context)
        self._check_or_defer(context)
        return None

    def _check_or_defer(self, context: Context) -> None:
        run = self.latest_run()
        if self._judge(run, context):
            return
        if run is None:
            from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger

            self._defer_sensor(TimeDeltaTrigger(timedelta(seconds=self.poke_interval)))
        self._defer_sensor(
            self.run_trigger(
                run.run_id, poll_interval=self.poke_interval, pipeline_name=run.pipeline_name
            )
        )

    def execute_complete(self, context: Context, event: Any = None) -> None:
        """Back from the triggerer: look again (a newer run may have started meanwhile).

        The run trigger's event is read first: an outage or an error that waiting will not
        heal fails the try. ``TimeDeltaTrigger``'s event (a moment) only means "look again".
        """
        if isinstance(event, Mapping):
            self._run_end(event)
        self._check_or_defer(context)
