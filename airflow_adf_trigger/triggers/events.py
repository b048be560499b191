"""AdfPipelineRunEventTrigger: an asset event each time a run of an ADF pipeline ends.

For ``AssetWatcher``: a DAG scheduled on the asset runs after each run of the pipeline(s),
whoever started it (ADF's schedule or event triggers, or anyone else). The runs come from the
shared change feed (:meth:`SharedRunPoller.watching_pipelines`): one ``queryPipelineRuns`` per
tick per factory and credential for every watcher and deferred run trigger of the triggerer.

What is kept across triggerer restarts, and where
--------------------------------------------------
A *mark* (the highest ``lastUpdated`` reported, and the ids of the runs reported within
:data:`REPORTED_WINDOW` before it) is kept under ``state_key`` in the watched asset's **asset
state store** (Airflow 3.3's per-asset key/value store, handed to an event trigger as
``asset_state_store``). A restarted trigger reads the feed again from the mark less that
window and skips the ids it holds, so:

* **In the triggerer** (Airflow's shared stream in *ack mode*) the mark advances only in
  ``advance()``, which Airflow calls once the run's asset event was **persisted** in the
  metadata database. A crash before that reports the run again after the restart (at least
  once); a run whose event was persisted and whose mark was written is never reported again.
  The one window left: a crash after the event was persisted and before the mark write
  returned reports that run twice. If persistence is never confirmed (Airflow's ack timeout),
  the group ends with an error and the run is reported again when the trigger starts anew.
* **Through** :meth:`run` (tests, ``dag.test()``, a triggerer without shared streams) the mark
  is written once the event was handed to Airflow, not stored: a crash between the two loses
  that run's event.
* Without an asset state store (no watched asset, or a trigger shared by several assets) the
  mark lives in memory: a restart begins again at "now" (or ``start_after``), and runs that
  ended while no triggerer ran are not reported.
* The shared poller widens its re-read to follow ADF's monitoring lag (up to 30 minutes), so
  a run that shows up late is still reported, once; :data:`REPORTED_WINDOW` is that bound
  plus five minutes, so a restart does the same. Runs updated longer than that before the mark
  and first seen afterwards are not reported; at most :data:`MAX_REPORTED` ids are kept, and a
  full mark resumes after the oldest it kept (rather than report a run twice).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from airflow.triggers.base import BaseEventTrigger, TriggerEvent
from airflow.triggers.shared_stream import AdvanceItem, SharedStreamProducer

from airflow_adf_trigger.core.config.validation import check_pipeline, check_seconds
from airflow_adf_trigger.core.errors import AdfConfigurationError
from airflow_adf_trigger.core.runs.models import PipelineRun, parse_timestamp
from airflow_adf_trigger.core.runs.status import RunStatus
from airflow_adf_trigger.hooks.adf import AdfHook
from airflow_adf_trigger.triggers.adf import FactoryTrigger

log = logging.getLogger(__name__)

STATE_KEY = "adf_pipeline_run_events"
REPORTED_WINDOW = timedelta(minutes=35)
"""How far before the mark a restarted trigger reads again, skipping the ids it reported: the
shared poller's widest re-read (``poller.MAX_OVERLAP``, 30 minutes) and five minutes more."""
END_STATES_FIX = "give Succeeded, Failed or Cancelled"
MAX_REPORTED = 2000
"""Reported run ids kept in the mark at most (the oldest go first)."""


@dataclass(frozen=True, slots=True)
class EventMark:
    """Where a trigger is in the feed: the highest ``lastUpdated`` reported, and the runs
    reported since ``high_water - REPORTED_WINDOW`` (run id -> their ``lastUpdated``)."""

    high_water: datetime | None = None
    reported: Mapping[str, str] = field(default_factory=dict)

    def resume_from(self) -> datetime | None:
        """The moment a restarted trigger reads the feed from.

        :data:`REPORTED_WINDOW` before the high-water mark; later when the mark is full (ids
        older than those it kept were dropped, and must not be reported again).
        """
        if self.high_water is None:
            return None
        start = self.high_water - REPORTED_WINDOW
        if len(self.reported) >= MAX_REPORTED:
            start = max(start, min(map(datetime.fromisoformat, self.reported.values())))
        return start

    def with_reported(self, items: Iterable[tuple[str, datetime | None]]) -> EventMark:
        """This mark with these runs reported (``(run_id, lastUpdated)`` pairs)."""
        high = self.high_water
        reported = dict(self.reported)
        for run_id, updated in items:
            moment = updated or high or datetime.now(UTC)
            reported[run_id] = moment.isoformat()
            high = moment if high is None else max(high, moment)
        assert high is not None or not reported
        if high is not None:
            floor = high - REPORTED_WINDOW
            kept = sorted(
                (pair for pair in reported.items() if datetime.fromisoformat(pair[1]) >= floor),
                key=lambda pair: datetime.fromisoformat(pair[1]),
            )
            reported = dict(kept[-MAX_REPORTED:])
        return EventMark(high, reported)

    def to_json(self) -> dict[str, Any]:
        """The mark as stored in the asset state store."""
        return {
            "high_water": None if self.high_water is None else self.high_water.isoformat(),
            "reported": dict(self.reported),
        }

    @classmethod
    def from_json(cls, body: object) -> EventMark:
        """A stored mark; an unreadable one is an error (never silently a fresh start)."""
        if body is None:
            return cls()
        if not isinstance(body, Mapping) or not isinstance(body.get("reported", {}), Mapping):
            raise ValueError(f"not an ADF event mark: {body!r}")
        high = body.get("high_water")
        return cls(
            None if high is None else datetime.fromisoformat(str(high)),
            {str(k): str(v) for k, v in dict(body.get("reported") or {}).items()},
        )


class MarkStore:
    """The mark in the asset state store (when the triggerer gave one), else in memory."""

    def __init__(self, accessor: Any, key: str) -> None:
        self._accessor = accessor
        self._key = key
        self.mark = EventMark()
        self.persistent = accessor is not None

    async def load(self) -> EventMark:
        """Read the stored mark (once, at start)."""
        if self._accessor is None:
            return self.mark
        try:
            stored = await self._accessor.aget(self._key, None)
        except ValueError as error:  # several assets on one trigger: no single store
            log.warning("ADF event mark kept in memory only: %s", error)
            self._accessor, self.persistent = None, False
            return self.mark
        self.mark = EventMark.from_json(stored)
        return self.mark

    async def save(self, mark: EventMark) -> None:
        self.mark = mark
        if self._accessor is not None:
            await self._accessor.aset(self._key, mark.to_json())


class AdfPipelineRunEventTrigger(FactoryTrigger, BaseEventTrigger):
    """Fire an event each time a run of ``pipeline_names`` ends in one of ``statuses``.

    Use it in an ``AssetWatcher``. The event's payload (the asset event's
    ``extra["payload"]``) is the run: ``run_id``, ``pipeline_name``, ``status``,
    ``parameters``, ``run_start``, ``run_end``, ``last_updated``, ``duration_ms``,
    ``message``, ``invoked_by``, ``invoked_by_type``, ``run_group_id``, ``factory_name``,
    ``resource_group`` and ``run_page_url``. Never a secret.

    :param pipeline_names: the pipeline, or pipelines, to watch (up to 100 keep the feed
        narrowed by name).
    :param adf_conn_id: the ``adf`` connection.
    :param resource_group: overrides the connection's resource group.
    :param factory_name: overrides the connection's factory.
    :param statuses: end states that make an event (default ``("Succeeded",)``).
    :param poll_interval: seconds between feed reads (positive; at least 1 s against Azure).
    :param start_after: ISO-8601 time: on a first start (no stored mark), also report runs
        that ended since then; default: only runs ending from the first start on.
    :param state_key: key of the mark in the asset's state store.
    """

    _stores: ClassVar[dict[Hashable, Any]] = {}
    """Stream key -> the asset state store of a trigger with that key (for the producer)."""

    def __init__(
        self,
        *,
        pipeline_names: str | Sequence[str],
        adf_conn_id: str = AdfHook.default_conn_name,
        resource_group: str | None = None,
        factory_name: str | None = None,
        statuses: Sequence[str] = (RunStatus.SUCCEEDED.value,),
        poll_interval: float = 60.0,
        start_after: str | None = None,
        state_key: str = STATE_KEY,
    ) -> None:
        super().__init__()
        names = [pipeline_names] if isinstance(pipeline_names, str) else list(pipeline_names)
        if not names:
            raise AdfConfigurationError(
                "pipeline_names", "is empty", "give at least one pipeline name"
            )
        self.pipeline_names = sorted({check_pipeline(name) for name in names})
        self.statuses = sorted({_end_state(status) for status in statuses})
        if not self.statuses:
            raise AdfConfigurationError("statuses", "is empty", END_STATES_FIX)
        self.adf_conn_id = adf_conn_id
        self.resource_group = resource_group
        self.factory_name = factory_name
        self.poll_interval = check_seconds("poll_interval", poll_interval)
        if start_after is not None:
            try:
                moment = parse_timestamp(start_after)
            except ValueError:
                moment = None
            if moment is None or moment.tzinfo is None:
                raise AdfConfigurationError(
                    "start_after",
                    f"{start_after!r} is not a time with a time zone",
                    "give an ISO-8601 time such as 2026-01-01T00:00:00+00:00",
                )
        self.start_after = start_after
        if not state_key:
            raise AdfConfigurationError("state_key", "is empty", "give a key name")
        self.state_key = state_key

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "pipeline_names": list(self.pipeline_names),
                "adf_conn_id": self.adf_conn_id,
                "resource_group": self.resource_group,
                "factory_name": self.factory_name,
                "statuses": list(self.statuses),
                "poll_interval": self.poll_interval,
                "start_after": self.start_after,
                "state_key": self.state_key,
            },
        )

    # ------------------------------------------------------------ Airflow's shared stream

    def shared_stream_key(self) -> Hashable:
        """One stream per distinct configuration (Airflow runs one trigger per distinct
        configuration anyway); the feed below is shared by every stream of a factory and
        credential through the shared poller."""
        key = self._key(self.serialize()[1])
        if self.asset_state_store is not None:
            type(self)._stores[key] = self.asset_state_store
        return key

    @staticmethod
    def _key(kwargs: Mapping[str, Any]) -> Hashable:
        return ("airflow_adf_trigger.events", *sorted((k, repr(v)) for k, v in kwargs.items()))

    @classmethod
    def create_shared_stream_producer(cls, kwargs: dict[str, Any]) -> SharedStreamProducer:
        """Ack mode: the mark advances only for runs whose events were persisted."""
        store = cls._stores.get(cls._key(kwargs))
        return RunEndProducer(cls(**kwargs), MarkStore(store, kwargs["state_key"]))

    async def filter_shared_stream(
        self, shared_stream: AsyncIterator[Any]
    ) -> AsyncIterator[TriggerEvent]:
        async for payload in shared_stream:
            yield TriggerEvent(payload)

    # ------------------------------------------------------------ standalone

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Without a shared stream: the mark is written once the event was handed over."""
        producer = RunEndProducer(self, MarkStore(self.asset_state_store, self.state_key))
        try:
            async for payload, reported in producer.open_stream():
                try:
                    yield TriggerEvent(payload)
                finally:  # handed over, even if the consumer then closes this generator
                    await producer.commit([reported])
        finally:
            await producer.aclose()


def _end_state(status: str) -> str:
    with contextlib.suppress(ValueError):
        if (value := RunStatus.parse(status)).is_terminal:
            return value.value
    raise AdfConfigurationError("statuses", f"{status!r} is not an end state", END_STATES_FIX)


def event_payload(run: PipelineRun, settings: Any) -> dict[str, Any]:
    """What an asset event carries about a run: JSON only, never a secret."""

    def text(moment: datetime | None) -> str | None:
        return None if moment is None else moment.isoformat()

    return {
        "run_id": run.run_id,
        "pipeline_name": run.pipeline_name,
        "status": run.status.value,
        "parameters": dict(run.parameters),
        "run_start": text(run.run_start),
        "run_end": text(run.run_end),
        "last_updated": text(run.last_updated),
        "duration_ms": run.duration_ms,
        "message": run.message,
        "invoked_by": run.invoked_by,
        "invoked_by_type": run.invoked_by_type,
        "run_group_id": run.run_group_id,
        "factory_name": settings.factory.factory_name,
        "resource_group": settings.factory.resource_group,
        "run_page_url": settings.factory.monitoring_url(settings.cloud, run.run_id),
    }


class EventsNotPersisted(RuntimeError):
    """Airflow did not confirm that a run's event was stored: start again from the mark."""


class RunEndProducer(SharedStreamProducer):
    """Ended runs of the trigger's pipelines from the shared poller's feed, minus those the
    mark says were reported; :meth:`advance` moves the mark once Airflow stored the events."""

    def __init__(self, trigger: AdfPipelineRunEventTrigger, store: MarkStore) -> None:
        self.trigger = trigger
        self.store = store

    async def open_stream(self) -> AsyncIterator[tuple[Any, Any]]:
        from airflow_adf_trigger.core.runs.poller import SharedRunPoller

        trigger = self.trigger
        settings = await trigger._settings()
        mark = await self.store.load()
        since = mark.resume_from()
        if since is None and trigger.start_after is not None:
            since = parse_timestamp(trigger.start_after)
        if not self.store.persistent:
            log.warning(
                "No asset state store for the ADF event trigger of %s: what was reported is "
                "kept in memory only, so a restart begins again at %s",
                ", ".join(trigger.pipeline_names),
                trigger.start_after or "its start",
            )
        log.info(
            "Watching runs of %s in factory %r ending %s, from %s",
            ", ".join(trigger.pipeline_names),
            settings.factory.factory_name,
            "/".join(trigger.statuses),
            since.isoformat() if since else "now",
        )
        async with SharedRunPoller.watching_pipelines(
            settings,
            trigger.pipeline_names,
            trigger.poll_interval,
            statuses=[RunStatus.parse(s) for s in trigger.statuses],
            since=since,
        ) as feed:
            while True:
                run = await feed.next_run()
                if run.run_id in self.store.mark.reported:
                    continue
                log.info(
                    "Pipeline %r run %s ended %s", run.pipeline_name, run.run_id, run.status.value
                )
                yield event_payload(run, settings), (run.run_id, run.last_updated)

    async def advance(self, batch: Sequence[AdvanceItem]) -> None:
        for item in batch:
            outcome = item.outcome
            if outcome.failed or (outcome.acked == 0 and outcome.rejected == 0):
                # Commit what came before, then end the group: a new start reports it again.
                done = batch[: batch.index(item)]
                await self.commit([i.broker_payload for i in done])
                raise EventsNotPersisted(
                    f"Airflow did not confirm the event of run {item.broker_payload[0]}; it is "
                    "reported again when the trigger starts anew"
                )
        await self.commit([item.broker_payload for item in batch])

    async def commit(self, reported: Sequence[tuple[str, datetime | None]]) -> None:
        """Move the mark past these runs and store it."""
        if reported:
            await self.store.save(self.store.mark.with_reported(reported))
