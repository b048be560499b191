"""Every ADF operation written once, as a sans-IO flow both clients drive.

Each operation is a flow (see :mod:`~airflow_adf_trigger.core.wire.exchange`): a generator of
steps whose return value is the operation's result. Tokens, retries and sleeps come from
:func:`~airflow_adf_trigger.core.wire.exchange.exchange`; paging, follow-up requests and polling
are written here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict, Unpack

from airflow_adf_trigger.core.config.settings import AdfSettings
from airflow_adf_trigger.core.config.validation import check_seconds, poll_floor
from airflow_adf_trigger.core.errors import (
    DEFAULT_OUTAGE_BUDGET,
    TRANSIENT_ERRORS,
    AdfError,
    AdfServiceError,
    AdfWaitTimeoutError,
)
from airflow_adf_trigger.core.runs.models import (
    ActivityRun,
    CancelResult,
    Page,
    PipelineRun,
    RunChanges,
    RunQuery,
    RunStatus,
)
from airflow_adf_trigger.core.runs.reconcile import PipelineDeclaration, ServerClock
from airflow_adf_trigger.core.runs.watch import Ending, RunWatch
from airflow_adf_trigger.core.wire import protocol
from airflow_adf_trigger.core.wire.exchange import Flow, Sleep, exchange
from airflow_adf_trigger.core.wire.protocol import HttpRequest, HttpResponse, RerunOptions, Target

log = logging.getLogger(__name__)


def target(
    settings: AdfSettings, *, pipeline_name: str | None = None, run_id: str | None = None
) -> Target:
    """What a request is about, for the error messages of its answer."""
    return Target(
        factory=settings.factory,
        pipeline_name=pipeline_name,
        run_id=run_id,
        principal=settings.credential_label,
    )


def send(
    settings: AdfSettings, request: HttpRequest, subject: str | None = None
) -> Flow[HttpResponse]:
    """One request with its token and retries (see :func:`exchange.exchange`)."""
    return (yield from exchange(settings, request, subject=subject))


def get_factory(settings: AdfSettings) -> Flow[dict[str, Any]]:
    """Read the factory's ARM resource."""
    response = yield from send(settings, protocol.build_get_factory(settings))
    return protocol.parse_factory(response, target(settings))


def get_pipeline(settings: AdfSettings, pipeline_name: str) -> Flow[dict[str, Any]]:
    """The pipeline's ARM resource (its activities and declared parameters)."""
    response = yield from send(settings, protocol.build_get_pipeline(settings, pipeline_name))
    return protocol.parse_factory(response, target(settings, pipeline_name=pipeline_name))


def read_pipeline(settings: AdfSettings, pipeline_name: str) -> Flow[PipelineDeclaration]:
    """The pipeline's declared parameters and defaults, and Azure's clock on the answer.

    Read just before a create-run: the answer's ``Date`` places the create-run's window on
    Azure's clock (see :mod:`~airflow_adf_trigger.core.runs.reconcile`).
    """
    response = yield from send(settings, protocol.build_get_pipeline(settings, pipeline_name))
    body = protocol.parse_factory(response, target(settings, pipeline_name=pipeline_name))
    date = protocol.server_time(response)
    clock = None if date is None else ServerClock(date, response.sent_at, response.received_at)
    return PipelineDeclaration.from_json(pipeline_name, body, clock)


def create_run(
    settings: AdfSettings,
    pipeline_name: str,
    parameters: Mapping[str, Any] | None = None,
    **options: Unpack[RerunOptions],
) -> Flow[str]:
    """Start a run; an answer that cannot be read leaves the outcome unknown."""
    request = protocol.build_create_run(settings, pipeline_name, parameters, **options)
    if parameters and options.get("reference_pipeline_run_id"):
        log.warning(
            "Parameters are ignored by ADF when rerunning run %s: the rerun keeps that run's "
            "parameters (Pipelines_CreateRun: parameters are used only without a reference run)",
            options.get("reference_pipeline_run_id"),
        )
    response = yield from send(settings, request, subject=pipeline_name)
    return protocol.parse_create_run(response, target(settings, pipeline_name=pipeline_name))


def get_run(settings: AdfSettings, run_id: str) -> Flow[PipelineRun]:
    """The run as ADF describes it now."""
    response = yield from send(settings, protocol.build_get_run(settings, run_id))
    return protocol.parse_run(response, target(settings, run_id=run_id))


def cancel_run(
    settings: AdfSettings, run_id: str, *, is_recursive: bool = True
) -> Flow[CancelResult]:
    """Cancel a run (recursively by default) and say what came of it."""
    request = protocol.build_cancel_run(settings, run_id, is_recursive=is_recursive)
    response = yield from send(settings, request)
    result = protocol.parse_cancel(response, target(settings, run_id=run_id))
    if not result.cancel_requested and result.finished_status is None:
        run = yield from get_run(settings, run_id)
        return replace(result, finished_status=run.status)
    if result.cancel_requested:
        # No public source shows ADF's answer to cancelling a finished run: a plain 200 is
        # possible, so look before saying a cancel was requested.
        try:
            run = yield from get_run(settings, run_id)
        except AdfError:
            return result  # the cancel was accepted; its effect is seen later
        if run.status.is_terminal and run.status is not RunStatus.CANCELLED:
            return replace(result, cancel_requested=False, finished_status=run.status)
    return result


def query_pipeline_runs(settings: AdfSettings, query: RunQuery) -> Flow[list[PipelineRun]]:
    """Every run matching ``query``, following ``continuationToken`` to the last page.

    Strict: a run this client cannot read fails the answer, because a caller searching for
    *every* candidate (the reconcile search) must not conclude from an answer missing one.
    The change feed (:func:`query_run_changes`) is the tolerant reader.
    """
    changes = yield from query_run_changes(settings, query)
    if changes.unreadable:
        first = changes.unreadable[0]
        raise AdfServiceError(
            f"ADF returned a pipeline run this client cannot read (run {first.run_id or '?'}: "
            f"{first.reason}); {len(changes.unreadable)} such run(s) in the answer"
        )
    return list(changes.runs)


def query_run_changes(settings: AdfSettings, query: RunQuery) -> Flow[RunChanges]:
    """Every run matching ``query`` (all pages), with the server's time of the first answer.

    The server's ``Date`` lets a change feed place its next window on Azure's clock, not the
    local one.
    """
    where = target(settings)
    pages = yield from _all_pages(
        settings,
        lambda token: protocol.build_query_pipeline_runs(settings, query, token),
        lambda response: protocol.parse_pipeline_run_page(response, where),
    )
    runs = tuple(run for _, page in pages for run in page.value)
    unreadable = tuple(run for _, page in pages for run in page.unreadable)
    return RunChanges(runs, protocol.server_time(pages[0][0]), unreadable)


def query_activity_runs(
    settings: AdfSettings, run_id: str, query: RunQuery
) -> Flow[list[ActivityRun]]:
    """Every activity run of ``run_id`` matching ``query``, all pages."""
    where = target(settings, run_id=run_id)
    pages = yield from _all_pages(
        settings,
        lambda token: protocol.build_query_activity_runs(settings, run_id, query, token),
        lambda response: protocol.parse_activity_run_page(response, where),
    )
    return [activity for _, page in pages for activity in page.value]


def failure_details(
    settings: AdfSettings, run: PipelineRun | str, now: datetime | None = None
) -> Flow[list[ActivityRun]]:
    """The failed activities of a run (or of the run with this id, read first), with ADF's own
    error code and message."""
    if isinstance(run, str):
        run = yield from get_run(settings, run)
    activities = yield from query_activity_runs(settings, run.run_id, activity_window(run, now))
    return [activity for activity in activities if activity.failed]


def activity_window(
    run: PipelineRun, now: datetime | None = None, order_by: tuple[tuple[str, str], ...] = ()
) -> RunQuery:
    """The query of a run's activities: from an hour before its start (or 30 days back when
    it shows none) to a day past its end or now."""
    now = now or datetime.now(UTC)
    start = run.run_start or run.last_updated or now - timedelta(days=30)
    return RunQuery(
        last_updated_after=start - timedelta(hours=1),
        last_updated_before=max(now, run.run_end or now) + timedelta(days=1),
        order_by=order_by,
    )


class WaitKeywords(TypedDict, total=False):
    """How :func:`wait_for_run` waits (the clients' ``wait_for_run`` keyword arguments)."""

    poll_interval: float
    """Seconds between two reads of the run (default 15)."""
    timeout: float | None
    """Give up after this many seconds (:class:`AdfWaitTimeoutError`); ``None``: never."""
    on_poll: Callable[[PipelineRun], None] | None
    """Told of every reading of the run."""
    on_report: Callable[[PipelineRun, bool], None] | None
    """Told of a reading worth a line, and whether its status changed (see ``RunWatch``)."""
    until: Collection[RunStatus]
    """Statuses that end the wait too, though the run goes on."""
    outage_budget: float
    """How long transient errors may last before :class:`AdfOutageError` (default 900 s)."""
    on_outage: Callable[[AdfError, float], None] | None
    """Told of each failed check, with the outage's length so far."""


def wait_for_run(
    settings: AdfSettings,
    run_id: str,
    *,
    clock: Callable[[], float],
    poll_interval: float = 15.0,
    timeout: float | None = None,
    on_poll: Callable[[PipelineRun], None] | None = None,
    on_report: Callable[[PipelineRun, bool], None] | None = None,
    outage_budget: float = DEFAULT_OUTAGE_BUDGET,
    on_outage: Callable[[AdfError, float], None] | None = None,
    until: Collection[RunStatus] = (),
) -> Flow[PipelineRun]:
    """Poll until the run is Succeeded, Failed or Cancelled; the run is never touched.

    A transient error (no connection, 429, 5xx) does not end the wait: it goes on polling
    until the outage has lasted ``outage_budget`` seconds (then :class:`AdfOutageError`) or
    ``timeout`` passes. ``on_outage(error, seconds_so_far)`` is told of each failed check.
    """
    poll_interval = check_seconds(
        "poll_interval", poll_interval, minimum=poll_floor(settings.cloud.is_local)
    )
    if timeout is not None:
        timeout = check_seconds("timeout", timeout)
    outage_budget = check_seconds("outage_budget", outage_budget, allow_zero=True)
    watch = RunWatch(
        run_id,
        interval=poll_interval,
        started=clock(),
        timeout=timeout,
        outage_budget=outage_budget,
        until=until,
    )
    while True:
        try:
            run = yield from get_run(settings, run_id)
        except TRANSIENT_ERRORS as error:
            step = watch.failed(error, clock())
            if on_outage is not None and step.outage_for is not None:
                on_outage(error, step.outage_for)
            if step.stop is not None:
                raise watch.outage(clock()) from None
            yield Sleep(step.pause)
            continue
        if on_poll is not None:
            on_poll(run)
        step = watch.seen(run, clock())
        if on_report is not None and step.report:
            on_report(run, step.changed)
        if step.stop is Ending.ENDED:
            return run
        if step.stop is Ending.DEADLINE:
            raise AdfWaitTimeoutError(run, clock() - watch.started)
        yield Sleep(step.pause)


def _all_pages(
    settings: AdfSettings,
    build: Callable[[str | None], HttpRequest],
    parse: Callable[[HttpResponse], Page],
) -> Flow[list[tuple[HttpResponse, Page]]]:
    """Every page (with the answer it came in), following ``continuationToken``."""
    pages: list[tuple[HttpResponse, Page]] = []
    token: str | None = None
    seen: set[str] = set()
    while True:
        response = yield from send(settings, build(token))
        pages.append((response, parse(response)))
        token = pages[-1][1].continuation_token
        if not token:
            return pages
        if token in seen:
            raise AdfServiceError("ADF repeated a continuation token; stopped paging")
        seen.add(token)
