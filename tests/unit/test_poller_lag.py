"""The shared poller's answers to ADF's monitoring lag and to runs it cannot read, against a
scripted client on a fake clock: what is read, what is widened, what is logged."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_adf_trigger.core.errors import AdfServiceError
from airflow_adf_trigger.core.runs import poller as poller_module
from airflow_adf_trigger.core.runs.models import PipelineRun, RunChanges, RunQuery, RunStatus
from airflow_adf_trigger.core.runs.poller import (
    DEFAULT_OVERLAP,
    MAX_OVERLAP,
    SharedRunPoller,
    observed_monitoring_lag,
)
from airflow_adf_trigger.core.wire import protocol
from airflow_adf_trigger.core.wire.protocol import HttpResponse, Target
from airflow_adf_trigger.triggers.events import REPORTED_WINDOW
from tests.clock import FakeClock

from .helpers import make_settings

START = 1_800_000_000.0
RUN_A = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
RUN_B = "4f2504e0-4f89-11d3-9a0c-0305e82c3302"
RUN_C = "5f2504e0-4f89-11d3-9a0c-0305e82c3303"


def at(seconds: float) -> datetime:
    """A moment ``seconds`` after the fake clock's start, as server time."""
    return datetime.fromtimestamp(START + seconds, UTC)


def run(run_id: str, status: str, updated: float, **more: Any) -> PipelineRun:
    return PipelineRun(
        run_id=run_id,
        pipeline_name=more.pop("pipeline", "nightly"),
        status=RunStatus(status),
        last_updated=at(updated),
        **more,
    )


class ScriptedAdf:
    """ADF as a test scripts it: what each query shows and what get-run answers now."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.feed: Callable[[RunQuery], RunChanges] = lambda q: RunChanges((), None)
        self.truth: dict[str, PipelineRun] = {}
        self.queries: list[RunQuery] = []
        self.got: list[str] = []

    async def query_run_changes(self, query: RunQuery) -> RunChanges:
        self.queries.append(query)
        changes = self.feed(query)
        return RunChanges(changes.runs, at(self.clock() - START), changes.unreadable)

    async def get_run(self, run_id: str) -> PipelineRun:
        self.got.append(run_id)
        if run_id not in self.truth:
            raise AdfServiceError("ADF returned a pipeline run this client cannot read")
        return self.truth[run_id]

    async def aclose(self) -> None:
        return None


@pytest.fixture(autouse=True)
def _fresh_process() -> None:
    poller_module._process_lags.clear()
    SharedRunPoller._refused_forms.clear()


def make_poller(clock: FakeClock, adf: ScriptedAdf, **options: Any) -> SharedRunPoller:
    return SharedRunPoller(make_settings(), adf, clock=clock, **options)  # type: ignore[arg-type]


def shown(*runs: PipelineRun) -> Callable[[RunQuery], RunChanges]:
    """A feed showing ``runs`` when the query's window reaches their lastUpdated."""

    def answer(query: RunQuery) -> RunChanges:
        return RunChanges(
            tuple(
                r
                for r in runs
                if r.last_updated is not None
                and query.last_updated_after <= r.last_updated <= query.last_updated_before
            ),
            None,
        )

    return answer


def test_a_page_with_an_unknown_status_or_a_malformed_run_keeps_its_readable_runs() -> None:
    body = {
        "value": [
            {"runId": RUN_A, "pipelineName": "p", "status": "Succeeded"},
            {"runId": RUN_B, "pipelineName": "p", "status": "Paused"},
            {"pipelineName": "p", "status": "Succeeded"},
        ],
        "continuationToken": "next",
    }
    response = HttpResponse.create(200, {}, json.dumps(body).encode())
    page = protocol.parse_pipeline_run_page(response, Target(make_settings().factory))
    assert [r.run_id for r in page.value] == [RUN_A]
    assert page.continuation_token == "next"
    assert [u.run_id for u in page.unreadable] == [RUN_B, None]
    assert "Paused" in page.unreadable[0].reason
    assert "runId" in page.unreadable[1].reason


def test_an_unreadable_watched_run_is_read_by_get_and_warned_about_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(START)
    adf = ScriptedAdf(clock)
    unreadable = (poller_module.UnreadableRun(RUN_A, "unknown status 'Paused'"),)
    adf.feed = lambda q: RunChanges((run(RUN_B, "InProgress", 1),), None, unreadable)
    adf.truth[RUN_A] = run(RUN_A, "InProgress", 1)
    caplog.set_level(logging.WARNING, logger="airflow_adf_trigger.core.runs.poller")

    async def two_ticks() -> SharedRunPoller:
        poller = make_poller(clock, adf, safety_net_per_tick=0)
        poller._add(RUN_A, 5, None, start=False)
        poller._add(RUN_B, 5, None, start=False)
        await poller.tick()
        clock.advance(5)
        await poller.tick()
        return poller

    poller = asyncio.run(two_ticks())
    assert adf.got == [RUN_A]  # the other run came from the feed; A read by GET once
    assert poller._watches[RUN_A].state == adf.truth[RUN_A]
    warnings = [r.getMessage() for r in caplog.records if "cannot read" in r.getMessage()]
    assert len(warnings) == 1 and RUN_A in warnings[0] and "Paused" in warnings[0]


def test_a_change_shown_past_the_window_widens_it_and_is_measured() -> None:
    clock = FakeClock(START)
    adf = ScriptedAdf(clock)
    ended = run(RUN_A, "Succeeded", 100)
    adf.truth[RUN_A] = ended

    def late_feed(query: RunQuery) -> RunChanges:
        # ADF shows the end 150 s late: only queries from 250 s on see it.
        visible = clock() - START >= 250
        return shown(ended)(query) if visible else RunChanges((), None)

    adf.feed = late_feed

    async def follow() -> tuple[SharedRunPoller, list[float]]:
        poller = make_poller(clock, adf, safety_net_per_tick=0)
        poller._add(RUN_A, 10, "nightly", start=False)
        poller._watches[RUN_A].state = run(RUN_A, "InProgress", 0)
        poller._watches[RUN_A].in_feed = True
        overlaps = []
        for _ in range(30):
            await poller.tick()
            overlaps.append(poller.overlap.total_seconds())
            clock.advance(10)
        return poller, overlaps

    poller, overlaps = asyncio.run(follow())
    assert poller._watches[RUN_A].state == ended  # found by a deep read, 150 s late
    assert 120 <= poller.monitoring_lag <= 150  # a lower bound: the last read that missed it
    assert observed_monitoring_lag() == poller.monitoring_lag
    assert overlaps[0] == DEFAULT_OVERLAP.total_seconds()
    assert overlaps[-1] >= 1.5 * 120  # the next change lagging as much stays in the window


def test_the_window_narrows_back_slowly_once_adf_keeps_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(START)
    adf = ScriptedAdf(clock)
    poller = make_poller(clock, adf, safety_net_per_tick=0)
    caplog.set_level(logging.INFO, logger="airflow_adf_trigger.core.runs.poller")

    async def ticks(count: int) -> list[float]:
        seen = []
        for _ in range(count):
            await poller.tick()
            seen.append(poller.overlap.total_seconds())
            clock.advance(10)
        return seen

    async def scenario() -> tuple[list[float], list[float]]:
        poller._add(RUN_A, 10, "nightly", start=False)
        poller._watches[RUN_A].state = run(RUN_A, "InProgress", 0)
        poller._watches[RUN_A].in_feed = True
        await poller.tick()
        poller._behind(400, run(RUN_B, "Succeeded", 0), "a GET")  # ADF was 400 s behind
        wide = poller.overlap.total_seconds()
        calm = await ticks(60)  # ten minutes in which ADF keeps up
        later = await ticks(60)
        return [wide, *calm], later

    calm, later = asyncio.run(scenario())
    assert calm[0] >= 1.5 * 399
    assert all(width == calm[0] for width in calm[1:])  # held through the calm period
    assert later[-1] == DEFAULT_OVERLAP.total_seconds() < later[1] < calm[0]
    steps = list(itertools.pairwise(later))
    assert all(a >= b >= 0.9 * a - 1e-6 for a, b in steps)  # a tenth a tick at most
    messages = [r.getMessage() for r in caplog.records]
    assert sum("s late" in m for m in messages) == 1
    assert sum("keeps up again" in m for m in messages) == 1


def test_the_safety_net_reads_the_most_overdue_run_first() -> None:
    clock = FakeClock(START)
    adf = ScriptedAdf(clock)
    for run_id in (RUN_A, RUN_B, RUN_C):
        adf.truth[run_id] = run(run_id, "InProgress", 0, run_start=at(0))

    async def one_tick() -> None:
        poller = make_poller(clock, adf, safety_net_per_tick=1, deep_read_every=0)
        for run_id, pipeline in ((RUN_A, "short"), (RUN_B, "long"), (RUN_C, "short")):
            poller._add(run_id, 10, pipeline, start=False)
            watch = poller._watches[run_id]
            watch.state = run(run_id, "InProgress", 0, pipeline=pipeline, run_start=at(0))
            watch.in_feed = True
        poller._watches[RUN_A].read_at = START + 20  # read more recently than C
        poller._durations = {
            "short": poller_module.deque([60.0]),
            "long": poller_module.deque([900.0]),
        }
        clock.advance(300)  # the "short" runs are 240 s overdue, the "long" one is not
        await poller.tick()

    asyncio.run(one_tick())
    assert adf.got == [RUN_C]  # overdue, and read least recently of the two overdue


def test_a_restarted_event_trigger_reaches_back_past_the_widest_re_read() -> None:
    assert REPORTED_WINDOW > MAX_OVERLAP


def test_deep_reads_of_several_pages_come_less_often() -> None:
    clock = FakeClock(START)
    adf = ScriptedAdf(clock)
    many = tuple(run(f"{i:08d}-0000-4000-8000-000000000000", "Succeeded", 1) for i in range(350))

    def feed(query: RunQuery) -> RunChanges:
        reaches_back = query.last_updated_after <= at(1)
        return RunChanges(many if reaches_back else (), None)

    adf.feed = feed

    async def ticks() -> list[bool]:
        poller = make_poller(clock, adf, safety_net_per_tick=0)
        poller._feeds.append(
            poller_module.PipelineFeed(
                frozenset({"nightly"}), frozenset({RunStatus.SUCCEEDED}), 10, at(0)
            )
        )
        deep = []
        for _ in range(14):
            clock.advance(100)
            before = poller.deep_reads
            await poller.tick()
            deep.append(poller.deep_reads > before)
        return deep

    deep = asyncio.run(ticks())
    # Ticks 2, 6, 10, 14: each deep read showed 350 runs (4 pages), so 4 ticks apart.
    assert [i + 1 for i, d in enumerate(deep) if d] == [2, 6, 10, 14]


def test_an_end_a_get_finds_before_the_feed_shows_it_is_measured_as_lag(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(START)
    adf = ScriptedAdf(clock)
    adf.truth[RUN_A] = run(RUN_A, "Succeeded", 30)  # ended at 30 s; the feed never shows it
    caplog.set_level(logging.WARNING, logger="airflow_adf_trigger.core.runs.poller")

    async def follow() -> SharedRunPoller:
        poller = make_poller(clock, adf, deep_read_every=0, safety_net_intervals=10)
        poller._add(RUN_A, 10, "nightly", start=False)
        poller._watches[RUN_A].state = run(RUN_A, "InProgress", 0)
        poller._watches[RUN_A].in_feed = True
        while poller._watches[RUN_A].state != adf.truth[RUN_A]:
            await poller.tick()
            clock.advance(10)
        return poller

    poller = asyncio.run(follow())
    assert adf.got == [RUN_A]  # the safety net's one GET, after ten intervals
    # The last read before the GET covered 30 s (its window reached back 60 s) at 100 s.
    assert poller.monitoring_lag == 100 - 30 - 1
    assert poller.overlap.total_seconds() == max(1.5 * 69 + 2, 2 * 60)  # at least doubled
    (warning,) = [r.getMessage() for r in caplog.records if "late" in r.getMessage()]
    assert "found by a GET" in warning and "69 s late" in warning


def test_the_process_forgets_a_lag_after_an_hour(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(poller_module.time, "monotonic", lambda: now[0])
    poller_module._process_lags.append((now[0], 240.0))
    assert observed_monitoring_lag() == 240.0
    now[0] += 3599
    assert observed_monitoring_lag() == 240.0
    now[0] += 2
    assert observed_monitoring_lag() == 0.0


def test_new_runs_the_feed_does_not_show_yet_are_read_a_hundred_a_tick_oldest_first() -> None:
    clock = FakeClock(START)
    adf = ScriptedAdf(clock)
    run_ids = [f"{i:08d}-0000-4000-8000-000000000000" for i in range(150)]
    for run_id in run_ids:
        adf.truth[run_id] = run(run_id, "Queued", 0)

    async def two_ticks() -> list[int]:
        poller = make_poller(clock, adf, safety_net_per_tick=0, deep_read_every=0)
        for run_id in reversed(run_ids):  # the last id registered first
            poller._add(run_id, 10, "nightly", start=False)
            clock.advance(0.01)
        got = []
        for _ in range(2):
            before = len(adf.got)
            await poller.tick()
            got.append(len(adf.got) - before)
        return got

    assert asyncio.run(two_ticks()) == [100, 50]
    assert set(adf.got[:100]) == set(run_ids[50:])  # registered first, read first


def test_a_full_event_mark_resumes_after_the_ids_it_dropped() -> None:
    from airflow_adf_trigger.triggers.events import MAX_REPORTED, EventMark

    base = at(0)
    few = EventMark().with_reported([(RUN_A, base)])
    assert few.resume_from() == base - REPORTED_WINDOW  # reaches back for late runs
    many = EventMark().with_reported(
        (f"{i:08d}-0000-4000-8000-000000000000", base + timedelta(seconds=i))
        for i in range(MAX_REPORTED + 10)
    )
    kept = sorted(datetime.fromisoformat(t) for t in many.reported.values())
    assert len(kept) == MAX_REPORTED
    assert many.resume_from() == kept[0] == base + timedelta(seconds=10)  # not before it


def test_a_lagging_feed_never_takes_back_an_end_a_get_showed() -> None:
    clock = FakeClock(START)
    adf = ScriptedAdf(clock)
    ended = run(RUN_A, "Succeeded", 100)
    adf.truth[RUN_A] = ended
    adf.feed = lambda q: RunChanges((run(RUN_A, "InProgress", 5),), None)  # ADF 95 s behind

    async def follow() -> list[PipelineRun]:
        poller = make_poller(clock, adf, deep_read_every=0)
        poller._add(RUN_A, 10, "nightly", start=False)
        await poller.tick()  # the feed shows it InProgress
        await poller._get_each([poller._watches[RUN_A]])  # a GET shows the end
        seen = [poller._watches[RUN_A].state]
        clock.advance(10)
        await poller.tick()  # the feed, still behind, shows InProgress again
        seen.append(poller._watches[RUN_A].state)
        return seen  # type: ignore[return-value]

    assert asyncio.run(follow()) == [ended, ended]


def test_a_pipeline_watched_during_a_read_is_not_taken_as_read_by_it() -> None:
    clock = FakeClock(START)
    adf = ScriptedAdf(clock)
    poller = make_poller(clock, adf, safety_net_per_tick=0)

    def feed(query: RunQuery) -> RunChanges:
        if RUN_B not in poller._watches:  # a task defers on another pipeline mid-query
            poller._add(RUN_B, 10, "weekly", start=False)
        return RunChanges((), None)

    adf.feed = feed

    async def one_read() -> None:
        poller._add(RUN_A, 10, "nightly", start=False)
        poller._watches[RUN_A].state = run(RUN_A, "InProgress", 0)
        poller._watches[RUN_A].in_feed = True
        await poller.tick()

    asyncio.run(one_read())
    (names,) = {f.values for f in adf.queries[0].filters if f.operand == "PipelineName"}
    assert names == ("nightly",)
    # Otherwise a weekly run the next read shows would count as a monitoring lag.
    assert poller._reads[-1].pipelines == frozenset({"nightly"})
