"""OpenLineage for the ADF operator and sensor: the pipeline run, under the Airflow task run.

With the ``openlineage`` extra (``apache-airflow-providers-openlineage``) installed and
configured, the provider's listener asks every finished task for lineage through
``get_openlineage_facets_on_complete`` / ``get_openlineage_facets_on_failure`` (its
``DefaultExtractor``). :class:`AdfLineageMixin` answers for the operator and the sensor, the
way the provider and its Databricks and dbt Cloud providers report work done in another
service:

- The task's own COMPLETE or FAIL event gets an ``adfPipelineRun`` run facet (run id,
  pipeline, factory resource id, status, start, end, duration, ADF Studio URL) and the
  standard ``externalQuery`` facet (the run id; source ``adf://<factory>``), as BigQuery and
  Databricks SQL tasks report their job or statement id there.
- A task that waited for the run to end (the sensor; the operator with
  ``wait_for_termination``) also emits the ADF run as a run of its own: a START at ADF's
  ``runStart`` and a COMPLETE (Succeeded), FAIL (Failed) or ABORT (Cancelled) at its
  ``runEnd``, whose ``parent`` facet is the Airflow task run and whose ``root`` is the DAG
  run, built from the provider's lineage macros as the Databricks provider builds the parent
  of its query events (``emit_openlineage_events_for_databricks_queries``). The child job is
  in the Airflow namespace, named ``<dag_id>.<task_id>.<pipeline>``; its run id is a new UUIDv7
  at the run's start (``generate_new_uuid``), as in the provider's own child events. As in
  the dbt Cloud provider, an operator that does not wait emits no child run: the task that
  sees the end (the sensor) does, so the run is reported once.
- Events go out through ``airflow.providers.openlineage.api.emit`` (the provider's public
  API since 2.16), which also masks Airflow's known secrets.

``adfPipelineRun`` is a facet of this project; like the provider's own Airflow facets it
points at the generic RunFacet schema, and ``_producer`` names this distribution and version.

The provider is imported inside the methods only: importing the operator costs nothing
without the extra, and without it the methods return None (no lineage). The run is read
with one GET, only when a listener asks, and never retried (see :func:`_reader`). No facet
holds a credential, a token or the pipeline's parameters (which may carry secrets).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_adf_trigger import __version__
from airflow_adf_trigger.tasks import AdfFactoryTask

if TYPE_CHECKING:
    from openlineage.client.event_v2 import RunEvent
    from openlineage.client.facet_v2 import RunFacet, parent_run

    from airflow_adf_trigger.core.config.settings import AdfSettings
    from airflow_adf_trigger.core.runs.models import PipelineRun
    from airflow_adf_trigger.core.wire.client import AdfClient

log = logging.getLogger(__name__)

PRODUCER = f"https://pypi.org/project/airflow-adf-trigger/{__version__}/"
"""``producer`` / ``_producer`` of what this module builds: the distribution and its version."""
FACET = "adfPipelineRun"
"""The name of the run facet that describes the ADF pipeline run."""
READ_TIMEOUT = 4.0
"""Seconds for each request of the lineage read of the run (see :func:`_reader`)."""
END_EVENTS = {"Succeeded": "COMPLETE", "Failed": "FAIL", "Cancelled": "ABORT"}
"""The OpenLineage event type that ends the child run, per final ADF status."""


@dataclass(frozen=True, slots=True)
class AdfRunFacts:
    """What the lineage says about one pipeline run: what the task knows, and ADF's answer."""

    run_id: str
    factory_name: str
    factory_resource_id: str
    monitoring_url: str
    pipeline_name: str | None = None
    run: PipelineRun | None = None
    """The run as ADF described it when the listener asked; None when it could not be read."""

    @property
    def pipeline(self) -> str | None:
        return (self.run.pipeline_name if self.run else None) or self.pipeline_name

    @property
    def status(self) -> str | None:
        return self.run.status.value if self.run else None

    @property
    def is_finished(self) -> bool:
        return self.run is not None and self.run.status.is_terminal

    def duration_ms(self) -> int | None:
        run = self.run
        if run is None:
            return None
        if run.duration_ms is not None:
            return run.duration_ms
        if run.run_start and run.run_end:
            return round((run.run_end - run.run_start).total_seconds() * 1000)
        return None

    @property
    def source(self) -> str:
        """The ``externalQuery`` source: the factory (ADF factory names are globally unique)."""
        return f"adf://{self.factory_name}"


@cache
def _facet_class() -> Callable[..., RunFacet]:
    """The ``adfPipelineRun`` facet class, defined on first use (the client is optional)."""
    import attrs
    from openlineage.client.facet_v2 import RunFacet

    @attrs.define
    class AdfPipelineRunFacet(RunFacet):
        """One Azure Data Factory pipeline run (``_producer``: this distribution).

        Fields in OpenLineage's camelCase.
        """

        runId: str
        pipelineName: str | None
        factoryResourceId: str
        status: str | None
        runStart: str | None
        runEnd: str | None
        durationMs: int | None
        monitoringUrl: str

        # Ids, names and links: nothing here is a secret to mask.
        _additional_skip_redact: ClassVar[list[str]] = [
            "runId",
            "pipelineName",
            "factoryResourceId",
            "status",
            "monitoringUrl",
        ]

    return AdfPipelineRunFacet


def _reader(settings: AdfSettings) -> AdfClient:
    """A client for the lineage read: the task's settings, each request (sign-in, GET) at most
    :data:`READ_TIMEOUT` seconds and never retried. The listener allows the whole extraction
    ``[openlineage] execution_timeout`` (10 s by default) and loses the task's own event when
    it runs over, so an ADF outage must not hold it. The token cache is the process's own."""
    from airflow_adf_trigger.core.config.settings import RetryPolicy
    from airflow_adf_trigger.core.wire.client import AdfClient

    return AdfClient(
        replace(
            settings,
            request_timeout=min(settings.request_timeout, READ_TIMEOUT),
            retry=RetryPolicy(max_attempts=1),
        )
    )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def pipeline_run_facets(facts: AdfRunFacts) -> dict[str, RunFacet]:
    """The run facets for both the task's own event and the ADF run's events."""
    from openlineage.client.facet_v2 import external_query_run

    run = facts.run
    facet = _facet_class()(
        runId=facts.run_id,
        pipelineName=facts.pipeline,
        factoryResourceId=facts.factory_resource_id,
        status=facts.status,
        runStart=_iso(run.run_start if run else None),
        runEnd=_iso(run.run_end if run else None),
        durationMs=facts.duration_ms(),
        monitoringUrl=facts.monitoring_url,
        producer=PRODUCER,
    )
    return {
        FACET: facet,
        "externalQuery": external_query_run.ExternalQueryRunFacet(
            externalQueryId=facts.run_id, source=facts.source, producer=PRODUCER
        ),
    }


def pipeline_run_events(
    facts: AdfRunFacts,
    *,
    parent: parent_run.ParentRunFacet,
    namespace: str,
    job_name: str,
    now: datetime | None = None,
) -> list[RunEvent]:
    """The ADF run as a child run of ``parent``: START at its start, then its end event.

    Only for a finished run (what ends it is known); an unfinished one gives no events.
    """
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import error_message_run, job_type_job
    from openlineage.client.uuid import generate_new_uuid

    run = facts.run
    if run is None or not run.status.is_terminal:
        return []
    now = now or datetime.now(UTC)
    facets: dict[str, RunFacet] = {**pipeline_run_facets(facts), "parent": parent}
    end_facets = dict(facets)
    if not run.status.is_successful and run.message:
        end_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            # The facet wants the observed system's language; ADF's errors are its own.
            message=run.message,
            programmingLanguage="ADF",
            producer=PRODUCER,
        )
    run_id = str(generate_new_uuid(instant=run.run_start or now))
    job = Job(
        namespace=namespace,
        name=job_name,
        facets={
            "jobType": job_type_job.JobTypeJobFacet(
                processingType="BATCH", integration="AIRFLOW", jobType="JOB", producer=PRODUCER
            )
        },
    )
    return [
        RunEvent(
            eventType=state,
            eventTime=moment.isoformat(),
            run=Run(runId=run_id, facets=run_facets),
            job=job,
            producer=PRODUCER,
        )
        for state, moment, run_facets in (
            (RunState.START, run.run_start or now, facets),
            (RunState(END_EVENTS[run.status.value]), run.run_end or now, end_facets),
        )
    ]


def _macros() -> Any:
    """The provider's lineage macros (``lineage_run_id``, ...): how its own providers name the
    task run that a child run belongs to."""
    from airflow.providers.openlineage.plugins import macros

    return macros


def task_parent_facet(task_instance: Any) -> parent_run.ParentRunFacet:
    """The Airflow task run (and its DAG run as root), from the provider's lineage macros."""
    from openlineage.client.facet_v2 import parent_run

    macros = _macros()
    return parent_run.ParentRunFacet(
        run=parent_run.Run(runId=macros.lineage_run_id(task_instance)),
        job=parent_run.Job(
            namespace=macros.lineage_job_namespace(),
            name=macros.lineage_job_name(task_instance),
        ),
        root=parent_run.Root(
            run=parent_run.RootRun(runId=macros.lineage_root_run_id(task_instance)),
            job=parent_run.RootJob(
                namespace=macros.lineage_root_job_namespace(task_instance),
                name=macros.lineage_root_job_name(task_instance),
            ),
        ),
        producer=PRODUCER,
    )


class AdfLineageMixin(AdfFactoryTask):
    """OpenLineage facets for a task that follows one ADF run (its ``run_id`` attribute).

    A task with ``wait_for_termination = False`` reports the run on its own event only;
    any other (the sensor has no such attribute) also emits the finished run as a child run.
    """

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Called by the OpenLineage listener when the task succeeded (or, as
        ``get_openlineage_facets_on_failure``, failed): the same facets either way."""
        try:
            from airflow.providers.openlineage.extractors import OperatorLineage
        except ImportError:  # the extra is not installed: no lineage
            return None
        facts = self.adf_run_facts()
        if facts is None:  # no run was started or given
            return OperatorLineage()
        if getattr(self, "wait_for_termination", True) and facts.is_finished:
            self._emit_pipeline_run(facts, task_instance)
        return OperatorLineage(run_facets=pipeline_run_facets(facts))

    get_openlineage_facets_on_failure = get_openlineage_facets_on_complete

    def adf_run_facts(self) -> AdfRunFacts | None:
        """The task's run and one GET of it; None when the task has no run id."""
        from airflow_adf_trigger.core.config.validation import check_run_id
        from airflow_adf_trigger.core.errors import AdfConfigurationError, AdfError

        try:
            run_id = check_run_id(getattr(self, "run_id", None))
        except AdfConfigurationError:  # none yet (failed before create-run), or not a run id
            return None
        settings = self.hook.settings
        run: PipelineRun | None
        try:
            with _reader(settings) as reader:
                run = reader.get_run(run_id)
        except AdfError as error:
            log.warning("OpenLineage: could not read run %s: %s", run_id, error)
            run = None
        pipeline_name = getattr(self, "pipeline_name", None)
        return AdfRunFacts(
            run_id=run_id,
            factory_name=settings.factory.factory_name,
            factory_resource_id=settings.factory.resource_id,
            monitoring_url=self.hook.monitoring_url(run_id),
            pipeline_name=pipeline_name if isinstance(pipeline_name, str) else None,
            run=run,
        )

    def _emit_pipeline_run(self, facts: AdfRunFacts, task_instance: Any) -> None:
        from airflow.providers.openlineage.api import emit

        parent = task_parent_facet(task_instance)  # the child job sits under the task's own
        events = pipeline_run_events(
            facts,
            parent=parent,
            namespace=parent.job.namespace,
            job_name=f"{parent.job.name}.{facts.pipeline or 'pipeline'}",
        )
        for event in events:
            emit(event)
        log.info(
            "OpenLineage: pipeline %r run %s reported as a child run of this task (%s)",
            facts.pipeline,
            facts.run_id,
            facts.status,
        )
