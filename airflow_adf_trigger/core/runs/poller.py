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
  not found there (an older run, or one ADF shows late) is read once with a GET, at most a
  hundred a tick.
* ADF's monitoring lags by an unknown delay. The poller measures it (a change a GET or a later
  query proves an earlier covering query missed), widens its re-read to follow it (at most
  ``max_overlap``, logged once), narrows back slowly, and reaches back ``max_overlap`` every
  ``deep_read_every`` ticks anyway; see ``docs/monitoring-lag.md`` and
  :func:`observed_monitoring_lag`.
* A slow safety net re-reads, with a GET, the runs most overdue against their expected end
  (then the least recently read), :attr:`safety_net_per_tick` a tick and each run at most once
  every ``safety_net_intervals``; more, inside ``read_budget``, while ADF looks behind.
* A run of a page this client cannot read (an unknown status) is skipped with one warning; a
  watched one is read by GET instead.
* A failed tick is logged and its window is read again next tick: the feed has no gaps.
* Pipeline watches (:meth:`SharedRunPoller.watching_pipelines`) ride on the same query: each
  is handed every run of its pipelines that ends (in the states it asked for) once, in
  ``lastUpdated`` order, from a given moment on. Event triggers (AssetWatcher) use them.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from airflow_adf_trigger.core.config.settings import AdfSettings
from airflow_adf_trigger.core.errors import (
    TRANSIENT_ERRORS,
    AdfAuthenticationError,
    AdfAuthorizationError,
    AdfBadRequestError,
    AdfConfigurationError,
    AdfError,
    AdfNotFoundError,
)
from airflow_adf_trigger.core.runs.models import (
    PipelineRun,
    RunChanges,
    RunFilter,
    RunQuery,
    RunStatus,
    UnreadableRun,
)
from airflow_adf_trigger.core.wire.aio import AsyncAdfClient

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
PAGE_RUNS = 100
"""Runs in one page of a query answer [REST reference; azure-sdk-for-python issue 21879]."""
DEFAULT_OVERLAP = timedelta(seconds=60)
"""How much of the feed each tick re-reads while ADF shows no monitoring lag."""
MAX_OVERLAP = timedelta(minutes=30)
"""The widest re-read: lags up to this lose nothing; a longer one is not followed."""
DATE_RESOLUTION = 1.0
"""Seconds: the ``Date`` header counts whole seconds, so a smaller lag is not evidence."""
CALM_SECONDS = 600.0
"""After the last widening, the window narrows only once ADF kept up this long."""
LAG_MEMORY_SECONDS = 3600.0

_process_lags: deque[tuple[float, float]] = deque(maxlen=10_000)
"""(monotonic time, seconds): every monitoring lag measured in this process."""


def observed_monitoring_lag() -> float:
    """The largest monitoring lag measured in this process in the last hour, in seconds.

    How much later than the change itself ADF's ``queryPipelineRuns`` showed it, as the shared
    pollers measured it (a lower bound); 0.0 when none was seen. A search that relies on
    queries (the reconcile search) should look at least this far back.
    """
    cutoff = time.monotonic() - LAG_MEMORY_SECONDS
    while _process_lags and _process_lags[0][0] < cutoff:
        _process_lags.popleft()
    return max((lag for _, lag in _process_lags), default=0.0)


@dataclass(frozen=True, slots=True)
class _Read:
    """What one successful feed read could show: changes in [start, end] of this form."""

    start: datetime
    end: datetime
    ended_only: bool
    pipelines: frozenset[str] | None

    def covers(self, run: PipelineRun) -> bool:
        moment = run.last_updated
        return (
            moment is not None
            and self.start <= moment <= self.end
            and (not self.ended_only or run.status.is_terminal)
            and (self.pipelines is None or run.pipeline_name in self.pipelines)
        )


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
    tried_at: float | None = None
    """When a GET of the run was last tried, read or not."""
    in_feed: bool = False
    """The feed showed the run (or it is too old to): until then the window reaches back to
    a little before it was registered, so its first appearance measures ADF's lag."""
    unreadable: bool = False
    """The feed's last page held the run in a form this client cannot read."""
    transient: AdfError | None = None
    """A failed look not yet told to the watcher (it counts the outage against its budget)."""
    in_outage: bool = False
    """The watcher was told of a failure and not yet of a good look since."""
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    watchers: int = 1


@dataclass(eq=False)
class PipelineFeed:
    """Every run of some pipelines that ends, as the shared change feed sees it.

    Made by :meth:`SharedRunPoller.watching_pipelines`. A run is handed out once per feed
    (its id is remembered while the feed's window can still return it), runs of one tick in
    ``lastUpdated`` order, never one whose ``lastUpdated`` is before ``since``.
    """

    pipelines: frozenset[str]
    statuses: frozenset[RunStatus]
    interval: float
    since: datetime
    """Server time from which ended runs are reported (runs at ``since`` included)."""
    fresh: bool = field(default=True, init=False)
    """Not yet served by a successful read: the next window reaches back to ``since``."""
    _queue: asyncio.Queue[PipelineRun | AdfError] = field(
        default_factory=asyncio.Queue, init=False, repr=False
    )
    _seen: dict[str, datetime | None] = field(default_factory=dict, init=False, repr=False)

    async def next_run(self) -> PipelineRun:
        """The next ended run; raises the error when the feed cannot go on (bad credential,
        factory gone). Transient failures are only logged: the window is read again."""
        item = await self._queue.get()
        if isinstance(item, AdfError):
            self._queue.put_nowait(item)  # every later call fails the same way
            raise item
        return item

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

        The poller passes its window end less twice its widest overlap: no later window
        reaches back that far, so such a run was either reported already or is older than
        the monitoring lag the poller follows.
        """
        if moment <= self.since:
            return
        self.since = moment
        for run_id, updated in list(self._seen.items()):
            if updated is not None and updated < moment:
                del self._seen[run_id]


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
        overlap: timedelta = DEFAULT_OVERLAP,
        max_overlap: timedelta = MAX_OVERLAP,
        deep_read_every: int = 2,
        new_run_lookback: timedelta = timedelta(minutes=5),
        safety_net_intervals: int = 10,
        safety_net_per_tick: int = 1,
        read_budget: float = 1.0,
    ) -> None:
        self.settings = settings
        self.client = client
        self._clock = clock
        self._sleep = sleep
        self._base_overlap = overlap
        self._overlap = overlap
        """The re-read of each tick: the base one, or wider while ADF's monitoring lags."""
        self._max_overlap = max(max_overlap, overlap)
        self._deep_read_every = deep_read_every
        self._next_deep_tick = deep_read_every
        self._new_run_lookback = new_run_lookback
        self._safety_net_intervals = safety_net_intervals
        self.safety_net_per_tick = safety_net_per_tick
        self._read_budget = read_budget
        """GETs a second the safety net may spend while ADF looks behind."""
        self._reads: deque[_Read] = deque()
        self._versions: dict[str, datetime] = {}
        """Run id -> the newest ``lastUpdated`` the feed showed of it."""
        self._lags: deque[tuple[float, float]] = deque(maxlen=1000)
        """(clock time, seconds) of the lags this poller measured lately."""
        self._widened_at: float | None = None
        self._warned_lag = False
        self._warned_unreadable: set[str] = set()
        self._durations: dict[str, deque[float]] = {}
        """Pipeline -> seconds its recent runs took (for the runs' expected ends)."""
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
        self.deep_reads = 0
        self._last_read_runs = 0
        self.monitoring_lag = 0.0
        """The largest lag this poller measured, in seconds."""

    @property
    def overlap(self) -> timedelta:
        """How much of the feed each tick re-reads now."""
        return self._overlap

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
        key, poller = cls._shared(settings, client_factory, options)
        poller._add(run_id, poll_interval, pipeline_name)
        try:
            yield poller
        finally:
            poller._remove(run_id)
            await cls._release(key, poller)

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
        wanted = frozenset(statuses)
        if not wanted or any(not status.is_terminal for status in wanted):
            raise ValueError("statuses: give end states only (Succeeded, Failed, Cancelled)")
        key, poller = cls._shared(settings, client_factory, options)
        start = since if since is not None else poller._server_moment(poller._clock())
        feed = PipelineFeed(frozenset(pipelines), wanted, poll_interval, start)
        poller._feeds.append(feed)
        poller._wake_up()
        try:
            yield feed
        finally:
            poller._feeds.remove(feed)
            await cls._release(key, poller)

    @classmethod
    def _shared(
        cls,
        settings: AdfSettings,
        client_factory: Callable[[AdfSettings], AsyncAdfClient],
        options: dict[str, Any],
    ) -> tuple[tuple[int, AdfSettings], SharedRunPoller]:
        """The poller of the running loop for ``settings`` (made if there is none).

        Not a context manager of its own: leaving a nested one while the watcher's generator
        is closed left ``_stop`` half done (the HTTP client's close abandoned in another task).
        """
        key = (id(asyncio.get_running_loop()), settings)
        poller = cls._pollers.get(key)
        if poller is None:
            poller = cls._pollers[key] = cls(settings, client_factory(settings), **options)
        return key, poller

    @classmethod
    async def _release(cls, key: tuple[int, AdfSettings], poller: SharedRunPoller) -> None:
        """Stop ``poller`` once nothing is watched through it."""
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
        self._wake_up(start)

    def _wake_up(self, start: bool = True) -> None:
        """Start the task (if ``start`` and it is not running) and cut a pause short."""
        if start and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._run(), name="adf-shared-run-poller")
        self._wake.set()  # a paused poller recomputes its pause for the new interval

    def _remove(self, run_id: str) -> None:
        watch = self._watches.get(run_id)
        if watch is not None:
            watch.watchers -= 1
            if watch.watchers <= 0:
                del self._watches[run_id]

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
        self._narrow()
        holding = [w for w in watches if self._holding(w)]
        deep = self._deep_read_every > 0 and self._next_deep_tick <= self.ticks
        start = self._window_start(holding, deep)
        read = await self._read_feed(start, self._wanted_form(bool(holding)))
        if deep:
            # About one page a tick at most: a deep read of n pages waits n ticks for the next.
            pages = -(-self._last_read_runs // PAGE_RUNS)
            self._next_deep_tick = self.ticks + max(self._deep_read_every, pages)
        if read:
            missing = [
                w
                for w in watches
                if w.run_id in self._watches and (w.state is None or self._unreadable_due(w))
            ]
            # Older than the feed's reach, lagging, or unreadable there: one GET each, the
            # longest waiting first, a page's worth a tick (the rest wait for the feed or the
            # next tick: a thousand new runs lagging do not cost a thousand reads at once).
            missing.sort(key=lambda w: w.registered_at)
            await self._get_each(missing[:PAGE_RUNS])
        await self._get_each(self._safety_net(watches))

    def _holding(self, watch: _Watch) -> bool:
        """Whether the window still reaches back to the run's registration for it."""
        if watch.state is None:
            return True
        young = self._clock() - watch.registered_at < self._max_overlap.total_seconds()
        return not watch.in_feed and young

    def _unreadable_due(self, watch: _Watch) -> bool:
        period = self._safety_net_intervals * self.interval
        return watch.unreadable and (
            watch.tried_at is None or self._clock() - watch.tried_at >= period
        )

    def _window_start(self, holding: list[_Watch], deep: bool) -> datetime:
        starts = []
        if self._feed_end is not None:
            starts.append(self._feed_end - (self._max_overlap if deep else self._overlap))
            self.deep_reads += deep
        if holding or (self._feed_end is None and self._watches):
            starts.append(
                self._reach(min(w.registered_at for w in holding or self._watches.values()))
            )
        starts.extend(feed.since for feed in self._feeds if feed.fresh)
        return min(starts)  # never empty: tick returns early with nothing watched

    def _reach(self, registered_at: float) -> datetime:
        """The server time a window holding a run registered at ``registered_at`` starts at."""
        return self._server_moment(registered_at) - self._new_run_lookback

    def _pipelines(self) -> set[str | None]:
        """The pipelines of every watch (None: a run's not known yet) and every feed."""
        names: set[str | None] = {w.pipeline_name for w in self._watches.values()}
        for feed in self._feeds:
            names.update(feed.pipelines)
        return names

    def _wanted_form(self, any_unresolved: bool) -> FeedForm:
        form: list[str] = []
        names = self._pipelines()
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
            while form and form in refused:
                form = form[:-1]
            # Fixed before the await: a pipeline a watcher adds meanwhile was not read.
            pipelines = (
                frozenset(name for name in self._pipelines() if name)
                if "PipelineName" in form
                else None
            )
            try:
                changes = await self._query(start, form, pipelines)
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
                continue  # with the form less its last filter, or less still
            except FATAL_ERRORS as error:
                self._fail(list(self._watches.values()), error)
                for feed in self._feeds:
                    feed._queue.put_nowait(error)
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
        self._last_read_runs = len(changes.runs) + len(changes.unreadable)
        for run in changes.runs:
            self._measure(run, "a later query", from_feed=True)
            changed = self._watches.get(run.run_id)
            if changed is not None:
                changed.in_feed = True
                changed.unreadable = False
                self._observe(changed, run)
        self._note_unreadable(changes.unreadable)
        self._reads.append(_Read(start, self._feed_end, "Status" in form, pipelines))
        forget_before = self._feed_end - 2 * self._max_overlap
        while self._reads and self._reads[0].end < forget_before:
            self._reads.popleft()
        if self.ticks % 50 == 0:
            self._versions = {k: v for k, v in self._versions.items() if v >= forget_before}
        if self._feeds:
            ordered = sorted(changes.runs, key=_updated_order)
            for feed in list(self._feeds):
                feed._offer(ordered)
                if start <= feed.since:  # this window reached back to the feed's start
                    feed.fresh = False
                if not feed.fresh:
                    feed._raise_floor(forget_before)
        for watch in self._watches.values():
            watch.transient = None
            if watch.in_outage:
                watch.changed.set()  # the outage is over: tell the watcher
        return True

    def _measure(self, run: PipelineRun, how: str, *, from_feed: bool = False) -> None:
        """A version of ``run`` newer than the feed showed, which an earlier read covered,
        measures ADF's lag; the feed's own newest version of each run is remembered."""
        moment = run.last_updated
        known = self._versions.get(run.run_id)
        if moment is None or (known is not None and known >= moment):
            return
        if from_feed:
            self._versions[run.run_id] = moment
        for read in reversed(self._reads):
            if read.covers(run):
                self._behind((read.end - moment).total_seconds(), run, how)
                break
            if read.end < moment:
                break  # reads are in time order: no earlier one reaches it

    def _behind(self, lag: float, run: PipelineRun, how: str) -> None:
        """ADF showed a change of ``run`` at least ``lag`` seconds late: widen if needed."""
        lag -= DATE_RESOLUTION
        if lag <= 0:
            return
        now = self._clock()
        self._lags.append((now, lag))
        _process_lags.append((time.monotonic(), lag))
        self.monitoring_lag = max(self.monitoring_lag, lag)
        needed = self._needed(lag)
        if needed <= self._overlap or self._overlap >= self._max_overlap:
            return
        before = self._overlap
        self._overlap = min(self._max_overlap, max(needed, 2 * self._overlap))
        self._widened_at = now
        if self._warned_lag:
            log.debug("Shared ADF run poller: re-reading %s of the feed", self._overlap)
            return
        self._warned_lag = True
        log.warning(
            "ADF's run monitoring showed a change of run %s (pipeline %r, %s) %.0f s late, "
            "found by %s: the change feed re-reads %.0f s instead of %.0f s from now on (at "
            "most %.0f s) and narrows back once ADF keeps up",
            run.run_id,
            run.pipeline_name,
            run.status.value,
            lag,
            how,
            self._overlap.total_seconds(),
            before.total_seconds(),
            self._max_overlap.total_seconds(),
        )

    def _needed(self, lag: float) -> timedelta:
        """The re-read that keeps a change lagging ``lag`` s in the window until it shows.

        A window reaching back the lag suffices whatever the interval: the last read that
        missed the change came less than the lag after it. Half again is for a lag that
        grows, or was measured low (each measure is a lower bound; the deep reads catch
        what a low one lets slip)."""
        return timedelta(seconds=1.5 * lag + 2 * DATE_RESOLUTION)

    def _narrow(self) -> None:
        """Narrow the window by a tenth a tick once ADF kept up for a calm period."""
        if self._overlap <= self._base_overlap or self._widened_at is None:
            return
        now = self._clock()
        calm = max(CALM_SECONDS, 20 * self.interval)
        if now - self._widened_at < calm:
            return
        recent = [lag for moment, lag in self._lags if now - moment <= calm]
        floor = max(self._base_overlap, self._needed(max(recent)) if recent else timedelta(0))
        if self._overlap <= floor:
            return
        self._overlap = max(floor, self._overlap * 0.9)
        if self._overlap <= self._base_overlap:
            self._warned_lag = False
            log.info(
                "ADF's run monitoring keeps up again: the change feed re-reads %.0f s",
                self._overlap.total_seconds(),
            )

    def _note_unreadable(self, unreadable: Iterable[UnreadableRun]) -> None:
        for item in unreadable:
            watch = self._watches.get(item.run_id) if item.run_id else None
            if watch is not None:
                watch.unreadable = True  # still running as far as we know: read it by GET
            key = item.run_id or item.reason
            if key in self._warned_unreadable:
                continue
            if len(self._warned_unreadable) >= 10_000:
                self._warned_unreadable.clear()
            self._warned_unreadable.add(key)
            log.warning(
                "Shared ADF run poller: skipped run %s of a query page, which this client "
                "cannot read (%s); a watched one is read by GET instead",
                item.run_id or "(no run id)",
                item.reason,
            )

    async def _query(
        self, start: datetime, form: FeedForm, pipelines: frozenset[str] | None
    ) -> RunChanges:
        filters = []
        if pipelines is not None:
            names = tuple(sorted(pipelines))
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
        """Runs to read by GET: the most overdue against their expected end first, then the
        least recently read; each at most once a period, a few a tick (more, inside the read
        budget, while ADF's monitoring looks behind)."""
        if self.safety_net_per_tick <= 0:
            return []
        now = self._clock()
        behind = self._overlap > self._base_overlap  # ADF lags past the default re-read
        period = (2 if behind else self._safety_net_intervals) * self.interval

        def last_read(w: _Watch) -> float:
            return w.read_at if w.read_at is not None else w.registered_at

        due = [
            w
            for w in watches
            if w.state is not None
            and not w.state.status.is_terminal
            and now - last_read(w) >= period
            and w.run_id in self._watches
        ]
        server_now = self._server_moment(now)
        due.sort(key=lambda w: (-self._overdue(w, server_now), last_read(w)))
        count = self.safety_net_per_tick
        if behind:
            count = max(count, int(self._read_budget * self.interval))
        return due[:count]

    def _overdue(self, watch: _Watch, server_now: datetime) -> float:
        """Seconds past the run's expected end (its start plus the median duration of its
        pipeline's recent runs seen here); 0 when not due or unknown."""
        run = watch.state
        durations = self._durations.get(watch.pipeline_name or "")
        if run is None or run.run_start is None or not durations:
            return 0.0
        expected = run.run_start + timedelta(seconds=statistics.median(durations))
        return max((server_now - expected).total_seconds(), 0.0)

    async def _get_each(self, watches: list[_Watch]) -> None:
        if not watches:
            return
        limit = asyncio.Semaphore(8)

        async def get(watch: _Watch) -> None:
            async with limit:
                self.gets += 1
                watch.tried_at = self._clock()
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
                    watch.unreadable = False
                    reach = self._reach(watch.registered_at)
                    if run.last_updated is not None and run.last_updated < reach:
                        watch.in_feed = True  # no window of the hold reaches it
                    self._measure(run, "a GET")
                    self._observe(watch, run)

        await asyncio.gather(*(get(watch) for watch in watches))

    def _observe(self, watch: _Watch, run: PipelineRun) -> None:
        current = watch.state
        if current is not None and _older(run, current):
            return  # a lagging feed's older version: keep the newer one a GET showed
        watch.pipeline_name = run.pipeline_name or watch.pipeline_name
        if run == current:
            return
        if run.status.is_terminal and run.duration_ms is not None:
            recent = self._durations.setdefault(run.pipeline_name, deque(maxlen=20))
            recent.append(run.duration_ms / 1000)
        watch.state = run
        watch.changed.set()

    def _fail(self, watches: list[_Watch], error: AdfError) -> None:
        for watch in watches:
            watch.error = error
            watch.changed.set()

    def _server_moment(self, local: float) -> datetime:
        """A local clock reading placed on the server's clock."""
        return datetime.fromtimestamp(local, UTC) + self._skew


def _older(run: PipelineRun, than: PipelineRun) -> bool:
    """Whether ``run`` is an earlier version of ``than`` (a run never leaves an end state)."""
    if than.status.is_terminal and not run.status.is_terminal:
        return True
    return (
        run.last_updated is not None
        and than.last_updated is not None
        and run.last_updated < than.last_updated
    )


def _updated_order(run: PipelineRun) -> tuple[datetime, str]:
    moment = run.last_updated or datetime.min.replace(tzinfo=UTC)
    return (moment, run.run_id)
