"""One poller for every run watched in a process, reading ADF's change feed.

With one GET per run per poll, 1,000 runs polled every 30 s is 33 reads/s, above Azure
Resource Manager's 25 reads/s refill for one subscription and principal. A
:class:`SharedRunPoller` serves every watcher of one factory and credential in one event
loop, and never names runs in its query (real ADF refuses a ``RunGroupId`` filter with more
than one value). Each tick it asks ``queryPipelineRuns`` *what changed*: the runs whose
``lastUpdated`` falls after the previous window's end (less an overlap for ADF's monitoring
lag), on the server's clock (its ``Date`` header). A watched run absent from that answer has
not changed. Requests per tick therefore grow with the runs that changed, not with the runs
watched.

* The query is narrowed only by filters that are known to take several values
  (``PipelineName In`` the watched pipelines, ``Status In`` the end states). If ADF refuses a
  form with a 400, the poller falls back to a simpler one (fewer filters, then none), logs it
  once and remembers it for the process.
* A newly watched run is looked for in the feed from a little before it was registered; one
  not found there (an older run) is read once with a GET.
* A slow safety net re-reads, with a GET, the run least recently read that way, at most
  :attr:`safety_net_per_tick` a tick and each run at most once every ``safety_net_intervals``.
* A failed tick is logged and its window is read again next tick: the feed has no gaps.
* Pipeline watches (:meth:`SharedRunPoller.watching_pipelines`) ride on the same query: each
  is handed every run of its pipelines that ends (in the states it asked for) once, in
  ``lastUpdated`` order, from a given moment on. Event triggers (AssetWatcher) use them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from airflow_adf_trigger.core.aio import AsyncAdfClient
from airflow_adf_trigger.core.errors import (
    TRANSIENT_ERRORS,
    AdfAuthenticationError,
    AdfAuthorizationError,
    AdfBadRequestError,
    AdfConfigurationError,
    AdfError,
    AdfNotFoundError,
)
from airflow_adf_trigger.core.models import PipelineRun, RunFilter, RunQuery, RunStatus
from airflow_adf_trigger.core.settings import AdfSettings

log = logging.getLogger(__name__)

FATAL_ERRORS = (
    AdfAuthenticationError,
    AdfAuthorizationError,
    AdfConfigurationError,
    AdfNotFoundError,
)
"""Errors no later tick will cure: they are handed to every watcher concerned."""

END_STATES = tuple(status.value for status in RunStatus if status.is_terminal)
MAX_PIPELINE_VALUES = 100
"""Above this many watched pipelines, the feed is not narrowed by pipeline name."""


@dataclass(eq=False, slots=True)
class _Watch:
    run_id: str
    interval: float
    registered_at: float
    pipeline_name: str | None = None
    state: PipelineRun | None = None
    error: AdfError | None = None
    read_at: float | None = None
    """When the run was last read by a GET (for the safety net)."""
    transient: AdfError | None = None
    """A failed look not yet told to the watcher (it counts the outage against its budget)."""
    in_outage: bool = False
    """The watcher was told of a failure and not yet of a good look since."""
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    watchers: int = 1


class PipelineFeed:
    """Every run of some pipelines that ends, as the shared change feed sees it.

    Made by :meth:`SharedRunPoller.watching_pipelines`. A run is handed out once per feed
    (its id is remembered while the feed's window can still return it), runs of one tick in
    ``lastUpdated`` order, never one whose ``lastUpdated`` is before ``since``.
    """

    def __init__(
        self,
        pipelines: frozenset[str],
        statuses: frozenset[RunStatus],
        interval: float,
        since: datetime,
    ) -> None:
        self.pipelines = pipelines
        self.statuses = statuses
        self.interval = interval
        self.since = since
        """Server time from which ended runs are reported (runs at ``since`` included)."""
        self.fresh = True
        """Not yet served by a successful read: the next window reaches back to ``since``."""
        self._queue: asyncio.Queue[PipelineRun | AdfError] = asyncio.Queue()
        self._seen: dict[str, datetime | None] = {}

    async def next_run(self) -> PipelineRun:
        """The next ended run; raises the error when the feed cannot go on (bad credential,
        factory gone). Transient failures are only logged: the window is read again."""
        item = await self._queue.get()
        if isinstance(item, AdfError):
            self._queue.put_nowait(item)  # every later call fails the same way
            raise item
        return item

    def pending(self) -> int:
        """Runs handed to the feed and not yet taken by :meth:`next_run`."""
        return self._queue.qsize()

    def _offer(self, runs: list[PipelineRun]) -> None:
        for run in runs:
            if run.pipeline_name not in self.pipelines or run.status not in self.statuses:
                continue
            if run.last_updated is not None and run.last_updated < self.since:
                continue
            if run.run_id in self._seen:
                continue
            self._seen[run.run_id] = run.last_updated
            self._queue.put_nowait(run)

    def _raise_floor(self, moment: datetime) -> None:
        """Report nothing updated before ``moment`` from now on, and forget those runs.

        The poller passes its window end less twice the overlap: a run updated that long ago
        was in an earlier window, so it was either reported already or is older than the
        monitoring lag the overlap allows for.
        """
        if moment <= self.since:
            return
        self.since = moment
        for run_id, updated in list(self._seen.items()):
            if updated is not None and updated < moment:
                del self._seen[run_id]

    def _fail(self, error: AdfError) -> None:
        self._queue.put_nowait(error)


FeedForm = tuple[str, ...]
"""The filter operands of a feed query, e.g. ``("PipelineName", "Status")``."""


class SharedRunPoller:
    """All watched runs of one factory and credential, followed through one change feed.

    Use :meth:`watching` (an async context manager); it finds or starts the poller of the
    running event loop for these settings and stops it when its last watcher leaves.
    ``clock`` (seconds since the epoch) and ``sleep`` are injectable.
    """

    _pollers: ClassVar[dict[tuple[int, AdfSettings], SharedRunPoller]] = {}
    _refused_forms: ClassVar[dict[str, set[FeedForm]]] = {}
    """Per ARM endpoint: query forms ADF answered with a 400 in this process."""

    def __init__(
        self,
        settings: AdfSettings,
        client: AsyncAdfClient,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        overlap: timedelta = timedelta(seconds=60),
        new_run_lookback: timedelta = timedelta(minutes=5),
        safety_net_intervals: int = 10,
        safety_net_per_tick: int = 1,
    ) -> None:
        self.settings = settings
        self.client = client
        self._clock = clock
        self._sleep = sleep
        self._overlap = overlap
        self._new_run_lookback = new_run_lookback
        self._safety_net_intervals = safety_net_intervals
        self.safety_net_per_tick = safety_net_per_tick
        self._watches: dict[str, _Watch] = {}
        self._feeds: list[PipelineFeed] = []
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        """Set when a watcher comes, so a long pause is cut to the new interval."""
        self._feed_end: datetime | None = None
        """Server time up to which every change has been read."""
        self._skew = timedelta(0)
        """Server clock minus local clock, from the last answer's ``Date``."""
        self.ticks = 0
        self.run_checks = 0
        """Runs looked at, summed over ticks (for benchmarks: cost per run-check)."""
        self.feed_queries = 0
        self.refused_queries = 0
        self.gets = 0

    # ------------------------------------------------------------------ watching

    @classmethod
    @asynccontextmanager
    async def watching(
        cls,
        settings: AdfSettings,
        run_id: str,
        poll_interval: float,
        *,
        pipeline_name: str | None = None,
        client_factory: Callable[[AdfSettings], AsyncAdfClient] = AsyncAdfClient,
        **options: Any,
    ) -> AsyncIterator[SharedRunPoller]:
        """Watch ``run_id`` for as long as the block lasts; yields the shared poller.

        Pollers are keyed by the whole settings (credential, endpoints, retry policy,
        timeouts): two connections differing in any of them never share one.
        """
        loop = asyncio.get_running_loop()
        key = (id(loop), settings)
        poller = cls._pollers.get(key)
        if poller is None:
            poller = cls(settings, client_factory(settings), **options)
            cls._pollers[key] = poller
        poller._add(run_id, poll_interval, pipeline_name)
        try:
            yield poller
        finally:
            if poller._remove(run_id) and cls._pollers.get(key) is poller:
                del cls._pollers[key]
                await poller._stop()

    @classmethod
    @asynccontextmanager
    async def watching_pipelines(
        cls,
        settings: AdfSettings,
        pipelines: Iterable[str],
        poll_interval: float,
        *,
        statuses: Iterable[RunStatus] = (RunStatus.SUCCEEDED,),
        since: datetime | None = None,
        client_factory: Callable[[AdfSettings], AsyncAdfClient] = AsyncAdfClient,
        **options: Any,
    ) -> AsyncIterator[PipelineFeed]:
        """Be handed every run of ``pipelines`` that ends in one of ``statuses``.

        Runs whose ``lastUpdated`` is at or after ``since`` (server time; default: now on
        the server's clock as last seen) are reported, through the same one query per tick
        that serves the run watchers of these settings.
        """
        loop = asyncio.get_running_loop()
        key = (id(loop), settings)
        poller = cls._pollers.get(key)
        if poller is None:
            poller = cls(settings, client_factory(settings), **options)
            cls._pollers[key] = poller
        wanted = frozenset(statuses)
        if not wanted or any(not status.is_terminal for status in wanted):
            raise ValueError("statuses: give end states only (Succeeded, Failed, Cancelled)")
        start = since if since is not None else poller._server_moment(poller._clock())
        feed = PipelineFeed(frozenset(pipelines), wanted, poll_interval, start)
        poller._feeds.append(feed)
        if poller._task is None or poller._task.done():
            poller._task = asyncio.create_task(poller._run(), name="adf-shared-run-poller")
        poller._wake.set()
        try:
            yield feed
        finally:
            poller._feeds.remove(feed)
            if not poller._watches and not poller._feeds and cls._pollers.get(key) is poller:
                del cls._pollers[key]
                await poller._stop()

    def _add(
        self, run_id: str, interval: float, pipeline_name: str | None, *, start: bool = True
    ) -> None:
        watch = self._watches.get(run_id)
        if watch is not None:
            watch.watchers += 1
            watch.interval = min(watch.interval, interval)
            watch.pipeline_name = watch.pipeline_name or pipeline_name
        else:
            self._watches[run_id] = _Watch(run_id, interval, self._clock(), pipeline_name)
        if start and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._run(), name="adf-shared-run-poller")
        self._wake.set()  # a paused poller recomputes its pause for the new interval

    def _remove(self, run_id: str) -> bool:
        """Forget a watcher; True when it was the last one of this poller."""
        watch = self._watches.get(run_id)
        if watch is not None:
            watch.watchers -= 1
            if watch.watchers <= 0:
                del self._watches[run_id]
        return not self._watches and not self._feeds

    async def _stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        await self.client.aclose()

    async def next_state(self, run_id: str, after: PipelineRun | None) -> PipelineRun:
        """The run's state once it differs from ``after`` (at once if it already does).

        A tick that could not read the feed raises its (transient) error to each watcher, so
        a wait counts the outage against its own budget; the first good tick after it returns
        the state even if unchanged.
        """
        watch = self._watches[run_id]
        while True:
            if watch.error is not None:
                raise watch.error
            if watch.transient is not None:
                error, watch.transient = watch.transient, None
                watch.in_outage = True
                raise error
            if watch.state is not None and (watch.state != after or watch.in_outage):
                # After an outage, a good look is reported even if nothing changed, so the
                # watcher knows the outage is over.
                watch.in_outage = False
                return watch.state
            watch.changed.clear()
            await watch.changed.wait()

    # ------------------------------------------------------------------ ticking

    @property
    def interval(self) -> float:
        """The shortest poll interval any watcher asked for."""
        intervals = [w.interval for w in self._watches.values()]
        intervals.extend(feed.interval for feed in self._feeds)
        return min(intervals, default=15.0)

    async def _run(self) -> None:
        while self._watches or self._feeds:
            started = self._clock()
            try:
                await self.tick()
            except Exception:  # a tick must never end the poller: its watchers would hang
                log.exception("Shared ADF run poller: tick failed; trying again next tick")
            # New watchers wait for the next tick: one tick per interval, however many come;
            # one with a shorter interval than the current pause wakes it to recompute it.
            while (remaining := self.interval - (self._clock() - started)) > 0:
                if not await self._pause(remaining):
                    break

    async def _pause(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless a new watcher comes first; True if one came."""
        self._wake.clear()
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            done, _ = await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in (sleeper, waker):
                waiting.cancel()
        return waker in done and sleeper not in done

    async def tick(self) -> None:
        """Read what changed since the last tick; GET only new runs the feed cannot place."""
        self.ticks += 1
        watches = list(self._watches.values())
        if not watches and not self._feeds:
            return
        self.run_checks += len(watches)
        unresolved = [w for w in watches if w.state is None]
        start = self._window_start(unresolved)
        read = await self._read_feed(start, self._wanted_form(watches, bool(unresolved)))
        if read:
            missing = [w for w in unresolved if w.state is None and w.run_id in self._watches]
            await self._get_each(missing)  # older than the feed's reach: one GET each
        await self._get_each(self._safety_net(watches))

    def _window_start(self, unresolved: list[_Watch]) -> datetime:
        starts = []
        if self._feed_end is not None:
            starts.append(self._feed_end - self._overlap)
        if unresolved or (self._feed_end is None and self._watches):
            registered = min(w.registered_at for w in unresolved or self._watches.values())
            starts.append(self._server_moment(registered) - self._new_run_lookback)
        starts.extend(feed.since for feed in self._feeds if feed.fresh)
        if not starts:  # only feeds, all served: cannot happen without a feed end
            starts.append(self._server_moment(self._clock()) - self._overlap)
        return min(starts)

    def _wanted_form(self, watches: list[_Watch], any_unresolved: bool) -> FeedForm:
        form: list[str] = []
        names: set[str | None] = {w.pipeline_name for w in watches}
        for feed in self._feeds:
            names.update(feed.pipelines)
        if None not in names and len(names) <= MAX_PIPELINE_VALUES:
            form.append("PipelineName")
        if not any_unresolved:  # new runs must be seen in any state, not only at their end
            form.append("Status")
        return tuple(form)

    async def _read_feed(self, start: datetime, wanted: FeedForm) -> bool:
        """One change-feed read (every page); True when it succeeded and was applied."""
        refused = self._refused_forms.setdefault(self.settings.cloud.management_endpoint, set())
        form = wanted
        while True:
            if form in refused and form:
                form = form[:-1]
                continue
            try:
                changes = await self._query(start, form)
            except AdfBadRequestError as error:
                self.refused_queries += 1
                if not form:
                    log.warning("Shared ADF run poller: ADF refused the change feed (%s)", error)
                    return False
                refused.add(form)
                log.warning(
                    "Shared ADF run poller: ADF refused a query filtered by %s (%s); using "
                    "fewer filters from now on in this process",
                    " and ".join(form),
                    error,
                )
                form = form[:-1]
                continue
            except FATAL_ERRORS as error:
                self._fail(list(self._watches.values()), error)
                for feed in self._feeds:
                    feed._fail(error)
                return False
            except AdfError as error:
                log.warning(
                    "Shared ADF run poller: reading what changed failed (%s); the same window "
                    "is read again next tick",
                    error,
                )
                if isinstance(error, TRANSIENT_ERRORS):
                    for watch in self._watches.values():
                        watch.transient = error
                        watch.changed.set()
                return False
            break
        local_now = self._clock()
        if changes.server_time is not None:
            self._skew = changes.server_time - datetime.fromtimestamp(local_now, UTC)
        self._feed_end = changes.server_time or self._server_moment(local_now)
        for run in changes.runs:
            changed = self._watches.get(run.run_id)
            if changed is not None:
                self._observe(changed, run)
        if self._feeds:
            ordered = sorted(changes.runs, key=_updated_order)
            floor = self._feed_end - 2 * self._overlap
            for feed in list(self._feeds):
                feed._offer(ordered)
                if start <= feed.since:  # this window reached back to the feed's start
                    feed.fresh = False
                if not feed.fresh:
                    feed._raise_floor(floor)
        for watch in self._watches.values():
            watch.transient = None
            if watch.in_outage:
                watch.changed.set()  # the outage is over: tell the watcher
        return True

    async def _query(self, start: datetime, form: FeedForm) -> Any:
        watches = self._watches.values()
        filters = []
        if "PipelineName" in form:
            wanted = {w.pipeline_name for w in watches if w.pipeline_name}
            for feed in self._feeds:
                wanted.update(feed.pipelines)
            names = tuple(sorted(wanted))
            filters.append(RunFilter("PipelineName", "Equals" if len(names) == 1 else "In", names))
        if "Status" in form:
            filters.append(RunFilter("Status", "In", END_STATES))
        query = RunQuery(
            last_updated_after=start,
            last_updated_before=self._server_moment(self._clock()) + timedelta(days=1),
            filters=tuple(filters),
        )
        self.feed_queries += 1
        return await self.client.query_run_changes(query)

    def _safety_net(self, watches: list[_Watch]) -> list[_Watch]:
        """The runs least recently read by GET, if read longer than the safety net's period."""
        if self.safety_net_per_tick <= 0:
            return []
        now = self._clock()
        period = self._safety_net_intervals * self.interval
        due = [
            w
            for w in watches
            if w.state is not None
            and not w.state.status.is_terminal
            and now - (w.read_at if w.read_at is not None else w.registered_at) >= period
            and w.run_id in self._watches
        ]
        due.sort(key=lambda w: w.read_at if w.read_at is not None else w.registered_at)
        return due[: self.safety_net_per_tick]

    async def _get_each(self, watches: list[_Watch]) -> None:
        if not watches:
            return
        limit = asyncio.Semaphore(8)

        async def get(watch: _Watch) -> None:
            async with limit:
                self.gets += 1
                try:
                    run = await self.client.get_run(watch.run_id)
                except FATAL_ERRORS as error:
                    self._fail([watch], error)
                except AdfError as error:
                    log.warning(
                        "Shared ADF run poller: could not read run %s (%s)", watch.run_id, error
                    )
                else:
                    watch.read_at = self._clock()
                    self._observe(watch, run)

        await asyncio.gather(*(get(watch) for watch in watches))

    def _observe(self, watch: _Watch, run: PipelineRun) -> None:
        watch.pipeline_name = run.pipeline_name or watch.pipeline_name
        if run != watch.state:
            watch.state = run
            watch.changed.set()

    def _fail(self, watches: list[_Watch], error: AdfError) -> None:
        for watch in watches:
            watch.error = error
            watch.changed.set()

    def _server_moment(self, local: float) -> datetime:
        """A local clock reading placed on the server's clock."""
        return datetime.fromtimestamp(local, UTC) + self._skew


def _updated_order(run: PipelineRun) -> tuple[datetime, str]:
    moment = run.last_updated or datetime.min.replace(tzinfo=UTC)
    return (moment, run.run_id)
