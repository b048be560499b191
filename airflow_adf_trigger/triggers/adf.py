"""AdfPipelineRunTrigger: follow a pipeline run from Airflow's triggerer, without a worker.

The trigger asks a :class:`RunStatusSource` for the run's next state. By default the source
is the :class:`~airflow_adf_trigger.core.runs.poller.SharedRunPoller` of the triggerer process,
which watches every run of one factory and credential with one query per tick; with
``shared_poller=False`` it is one GET per poll on the trigger's own client.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Protocol

from airflow_adf_trigger.compat import BaseTrigger, TriggerEvent
from airflow_adf_trigger.core.config.settings import AdfSettings
from airflow_adf_trigger.core.config.validation import check_run_id, check_seconds, poll_floor
from airflow_adf_trigger.core.errors import (
    DEFAULT_OUTAGE_BUDGET,
    AdfError,
)
from airflow_adf_trigger.core.runs.models import ActivityRun, CancelResult, PipelineRun, RunStatus
from airflow_adf_trigger.core.runs.outcome import RunOutcome, deadline_words
from airflow_adf_trigger.core.runs.watch import Ending, RunWatch
from airflow_adf_trigger.hooks.adf import AdfHook

log = logging.getLogger(__name__)


class RunStatusSource(Protocol):
    """Where a trigger learns a run's state."""

    async def next_state(self, run_id: str, after: PipelineRun | None) -> PipelineRun:
        """The run's state after ``after`` was seen (waiting for the next look at it)."""
        ...


AsyncSleep = Callable[[float], Awaitable[None]]


@dataclass
class DirectRunStatus:
    """One GET per poll interval, on the trigger's own client.

    The interval runs from one look's start to the next's, so a slow answer does not stretch
    it; ``clock`` (monotonic seconds) and ``sleep`` are injectable for tests.
    """

    client: Any
    poll_interval: float
    _: KW_ONLY
    clock: Callable[[], float] = time.monotonic
    sleep: AsyncSleep = asyncio.sleep
    _next_at: float | None = field(default=None, init=False)

    async def next_state(self, run_id: str, after: PipelineRun | None) -> PipelineRun:
        # The first look is at once.
        await self.sleep(0.0 if self._next_at is None else max(0.0, self._next_at - self.clock()))
        self._next_at = self.clock() + self.poll_interval
        run: PipelineRun = await self.client.get_run(run_id)
        return run


class FactoryTrigger:
    """What both triggers share: a factory's hook and its settings."""

    adf_conn_id: str
    resource_group: str | None
    factory_name: str | None
    poll_interval: float

    def hook(self) -> AdfHook:
        """The hook of this trigger's connection and factory."""
        return AdfHook(
            self.adf_conn_id, resource_group=self.resource_group, factory_name=self.factory_name
        )

    async def _settings(self) -> AdfSettings:
        """The settings, read in the triggerer; ``poll_interval`` checked against the 1 s floor."""
        settings = await self.hook().async_settings()
        check_seconds(
            "poll_interval", self.poll_interval, minimum=poll_floor(settings.cloud.is_local)
        )
        return settings


class AdfPipelineRunTrigger(FactoryTrigger, BaseTrigger):
    """Wait for a pipeline run to end; yield one event: its
    :class:`~airflow_adf_trigger.core.runs.outcome.RunOutcome`, as ``to_event()``.

    :param run_id: the pipeline run to follow.
    :param adf_conn_id: the ``adf`` connection.
    :param resource_group: overrides the connection's resource group.
    :param factory_name: overrides the connection's factory.
    :param poll_interval: seconds between status checks (positive; at least 1 s against
        Azure, checked once the connection is read).
    :param end_time: a deadline (seconds since the epoch); when it passes the trigger stops
        waiting (and cancels the run when ``cancel_on_timeout``).
    :param outage_budget: seconds the trigger keeps waiting while Azure cannot be read
        (network, throttling, 5xx); then it ends with an error event naming the outage and
        leaves the run untouched (default 900).
    :param cancel_on_timeout: cancel the run (recursively) when ``end_time`` passes.
    :param cancel_on_kill: cancel the run (recursively) when a user stops the deferred task.
    :param shared_poller: watch the run with the process's shared poller (one query per tick
        for every run of the factory) instead of a GET per poll.
    :param pipeline_name: the run's pipeline, if known: lets the shared poller narrow its
        change feed to the watched pipelines from the first tick.
    """

    def __init__(
        self,
        *,
        run_id: str,
        adf_conn_id: str = AdfHook.default_conn_name,
        resource_group: str | None = None,
        factory_name: str | None = None,
        poll_interval: float = 15.0,
        end_time: float | None = None,
        cancel_on_timeout: bool = False,
        cancel_on_kill: bool = False,
        shared_poller: bool = True,
        outage_budget: float = DEFAULT_OUTAGE_BUDGET,
        pipeline_name: str | None = None,
    ) -> None:
        super().__init__()
        self.pipeline_name = pipeline_name
        self.run_id = run_id
        self.adf_conn_id = adf_conn_id
        self.resource_group = resource_group
        self.factory_name = factory_name
        self.poll_interval = check_seconds("poll_interval", poll_interval)
        self.end_time = None if end_time is None else check_seconds("end_time", end_time)
        self.outage_budget = check_seconds("outage_budget", outage_budget, allow_zero=True)
        self.cancel_on_timeout = cancel_on_timeout
        self.cancel_on_kill = cancel_on_kill
        self.shared_poller = shared_poller
        # Not serialized: tests replace them. clock measures outages, wall_clock is compared
        # with end_time, sleep paces the direct (non-shared) polling.
        self.clock: Callable[[], float] = time.monotonic
        self.wall_clock: Callable[[], float] = time.time
        self.sleep: AsyncSleep = asyncio.sleep

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "run_id": self.run_id,
                "adf_conn_id": self.adf_conn_id,
                "resource_group": self.resource_group,
                "factory_name": self.factory_name,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "cancel_on_timeout": self.cancel_on_timeout,
                "cancel_on_kill": self.cancel_on_kill,
                "shared_poller": self.shared_poller,
                "outage_budget": self.outage_budget,
                "pipeline_name": self.pipeline_name,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            check_run_id(self.run_id)  # before anything else: a bad id sends no request
            settings = await self._settings()
        except AdfError as error:  # a bad connection or a too-short poll_interval
            yield TriggerEvent(RunOutcome.error(self.run_id, error).to_event())
            return
        if self.shared_poller:
            from airflow_adf_trigger.core.runs.poller import SharedRunPoller

            async with SharedRunPoller.watching(
                settings, self.run_id, self.poll_interval, pipeline_name=self.pipeline_name
            ) as poller:
                outcome = await self.follow(poller.client, poller)
        else:
            from airflow_adf_trigger.core.wire.aio import AsyncAdfClient

            async with AsyncAdfClient(settings) as client:
                direct = DirectRunStatus(
                    client, self.poll_interval, clock=self.clock, sleep=self.sleep
                )
                outcome = await self.follow(client, direct)
        yield TriggerEvent(outcome.to_event())

    async def follow(self, client: Any, source: RunStatusSource) -> RunOutcome:
        """Wait on ``source`` until the run ends, the deadline passes, or an error won't heal.

        Transient errors (network, 429, 5xx) are waited out until they have lasted
        ``outage_budget`` seconds; only status changes are logged.
        """
        settings = client.settings
        url = settings.factory.monitoring_url(settings.cloud, self.run_id)
        # The deadline is absolute (it survives a move to another triggerer); the watch
        # counts it, and outages, on the monotonic clock from here on.
        watch = RunWatch(
            self.run_id,
            interval=self.poll_interval,
            started=self.clock(),
            timeout=None if self.end_time is None else self.end_time - self.wall_clock(),
            outage_budget=self.outage_budget,
        )
        while True:
            if self.end_time is not None and watch.timed_out(self.clock()):
                return await self._timed_out(client, self.end_time, watch.last, url)
            try:
                run = await asyncio.wait_for(
                    source.next_state(self.run_id, watch.last), watch.remaining(self.clock())
                )
            except TimeoutError:
                continue
            except AdfError as error:
                step = watch.failed(error, self.clock())
                if step.stop is Ending.ERROR:
                    return RunOutcome.error(self.run_id, error, run_page_url=url)
                if step.stop is Ending.OUTAGE:
                    return RunOutcome.outage(watch.outage(self.clock()), run_page_url=url)
                log.warning(
                    "Azure unreachable for %.0f s (%s); still waiting for run %s, giving up "
                    "after %.0f s",
                    step.outage_for,
                    error,
                    self.run_id,
                    self.outage_budget,
                )
                continue
            step = watch.seen(run, self.clock())
            if step.stop is Ending.ENDED:
                return await self._finished(client, run, url)
            if step.changed:
                log.info(
                    "Pipeline %r run %s is %s",
                    run.pipeline_name,
                    run.run_id,
                    run.status.value,
                )

    async def _finished(self, client: Any, run: PipelineRun, url: str) -> RunOutcome:
        failures: list[ActivityRun] = []
        if run.status is RunStatus.FAILED:
            try:
                failures = await client.failure_details(run)
            except AdfError as error:
                log.warning("Could not read the failed activities of run %s: %s", run.run_id, error)
        return RunOutcome.of_run(run, failures, run_page_url=url)

    async def _timed_out(
        self, client: Any, deadline: float, last: PipelineRun | None, url: str
    ) -> RunOutcome:
        cancel: CancelResult | AdfError | None = None
        if self.cancel_on_timeout:
            try:
                cancel = await client.cancel_run(self.run_id, is_recursive=True)
            except AdfError as error:
                cancel = error
        return RunOutcome.timed_out(
            self.run_id,
            limit=deadline_words(deadline),
            cancel=cancel,
            pipeline_name=last.pipeline_name if last is not None else self.pipeline_name,
            status=last.status if last is not None else None,
            run_page_url=url,
        )

    async def on_kill(self) -> None:
        """A user stopped the deferred task: cancel the run (and its child pipelines)."""
        if not self.cancel_on_kill:
            return
        client = await self.hook().async_client()
        try:
            result = await client.cancel_run(self.run_id, is_recursive=True)
            log.info("Task stopped by a user: %s", result.describe())
        except AdfError as error:
            log.error(
                "Task stopped by a user, but cancelling run %s failed: %s", self.run_id, error
            )
        finally:
            await client.aclose()
