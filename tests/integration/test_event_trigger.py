"""AdfPipelineRunEventTrigger against the emulator: runs ADF's own triggers start, reported
once each, across restarts, through Airflow's shared stream in ack mode and through run().

Real time on purpose: the trigger's watch runs on the event loop's clock, and which runs it
reports depends on when it started; the sleeps only let a watch begin before runs are fired."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from airflow.triggers.shared_stream import SharedStreamManager

from airflow_adf_trigger.core.errors import AdfConfigurationError
from airflow_adf_trigger.core.runs.poller import SharedRunPoller
from airflow_adf_trigger.emulator import EmulatorServer
from airflow_adf_trigger.triggers.events import AdfPipelineRunEventTrigger, EventMark
from tests.emulator_fixtures import Emulators

HANG_GUARD = 60.0  # seconds; only ends a hung test, never measures anything

SCENARIO = {
    "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
    "subscription_id": "12345678-1234-1234-1234-123456789abc",
    "resource_group": "rg-analytics",
    "factory_name": "adf-demo",
    "service_principals": [
        {"client_id": "0d3c4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f", "client_secret": "events-secret"}
    ],
    "pipelines": {
        "ingest_sales": {
            "queued_seconds": 0.05,
            "duration_seconds": 0.1,
            "outcomes": ["Succeeded", "Failed", "Succeeded"],
        },
        "other": {"queued_seconds": 0.05, "duration_seconds": 0.1},
    },
    "triggers": [
        {"name": "nightly_ingest", "pipeline": "ingest_sales", "parameters": {"day": "d1"}},
        {"name": "other_schedule", "pipeline": "other"},
    ],
}


SERVERS: list[EmulatorServer] = []
"""The emulator of the running test (for helpers running inside the event loop)."""


class DictStore:
    """Stands in for the triggerer's asset state store (aget/aset of JSON values)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.writes = 0

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = json.loads(json.dumps(value))  # only JSON survives, as in the DB
        self.writes += 1


@pytest.fixture
def server(emulator_for: Emulators, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    emulator = emulator_for(SCENARIO)
    connection = emulator.state.scenario.airflow_connection(emulator.url)
    monkeypatch.setenv("AIRFLOW_CONN_ADF_DEFAULT", json.dumps(connection))
    SERVERS.append(emulator)
    yield emulator
    SERVERS.remove(emulator)
    assert SharedRunPoller._pollers == {}  # every poller stopped with its last watcher


def trigger(**kwargs: Any) -> AdfPipelineRunEventTrigger:
    kwargs.setdefault("pipeline_names", ["ingest_sales"])
    kwargs.setdefault("poll_interval", 0.1)
    return AdfPipelineRunEventTrigger(**kwargs)


async def take(events: AsyncIterator[Any], count: int) -> list[dict[str, Any]]:
    got = []
    async with asyncio.timeout(HANG_GUARD):
        async for event in events:
            got.append(dict(event.payload))
            if len(got) == count:
                break
    return got


def test_each_ended_run_of_the_pipeline_is_one_event_with_the_run_in_its_payload(
    server: EmulatorServer,
) -> None:
    async def scenario() -> tuple[list[dict[str, Any]], list[str]]:
        watcher = trigger(statuses=["Succeeded", "Failed"])
        events = watcher.run()
        first = asyncio.ensure_future(take(events, 3))
        await asyncio.sleep(0.3)  # let the watch begin: only runs ending after it count
        fired = [server.fire_trigger("nightly_ingest", {"day": f"d{i}"}) for i in range(3)]
        server.fire_trigger("other_schedule")  # another pipeline: never reported
        got = await first
        await events.aclose()
        return got, fired

    events, fired = asyncio.run(scenario())
    assert sorted(e["run_id"] for e in events) == sorted(fired)
    by_id = {e["run_id"]: e for e in events}
    assert [by_id[r]["status"] for r in fired] == ["Succeeded", "Failed", "Succeeded"]
    assert [by_id[r]["parameters"] for r in fired] == [{"day": f"d{i}"} for i in range(3)]
    event = by_id[fired[0]]
    assert event["pipeline_name"] == "ingest_sales"
    assert event["invoked_by"] == "nightly_ingest"
    assert event["invoked_by_type"] == "ScheduleTrigger"
    assert event["factory_name"] == "adf-demo"
    assert event["run_page_url"].endswith(
        f"/monitoring/pipelineruns/{fired[0]}?factory=/subscriptions/"
        "12345678-1234-1234-1234-123456789abc/resourceGroups/rg-analytics/providers/"
        "Microsoft.DataFactory/factories/adf-demo"
    )
    assert event["run_start"] and event["run_end"] and event["last_updated"]
    assert "events-secret" not in json.dumps(events)


def test_by_default_only_succeeded_runs_make_events(server: EmulatorServer) -> None:
    async def scenario() -> list[dict[str, Any]]:
        events = trigger().run()
        pending = asyncio.ensure_future(take(events, 2))
        await asyncio.sleep(0.3)
        for _ in range(3):  # Succeeded, Failed, Succeeded
            server.fire_trigger("nightly_ingest")
        got = await pending
        await events.aclose()
        return got

    assert [e["status"] for e in asyncio.run(scenario())] == ["Succeeded", "Succeeded"]


def test_start_after_reports_runs_that_ended_before_the_first_start(
    server: EmulatorServer,
) -> None:
    earlier = server.fire_trigger("nightly_ingest")

    async def scenario() -> list[dict[str, Any]]:
        while server.run_summaries()[0]["status"] != "Succeeded":
            await asyncio.sleep(0.05)
        events = trigger(start_after="2000-01-01T00:00:00+00:00").run()
        got = await take(events, 1)
        await events.aclose()
        return got

    assert [e["run_id"] for e in asyncio.run(scenario())] == [earlier]


def test_a_restarted_trigger_reports_new_runs_and_none_twice(server: EmulatorServer) -> None:
    store = DictStore()

    async def first_life() -> list[dict[str, Any]]:
        watcher = trigger(start_after="2000-01-01T00:00:00+00:00")
        watcher.asset_state_store = store
        events = watcher.run()
        pending = asyncio.ensure_future(take(events, 2))
        await asyncio.sleep(0.2)
        server.fire_trigger("nightly_ingest")
        server.fire_trigger("nightly_ingest")  # Failed: not reported
        server.fire_trigger("nightly_ingest")
        got = await pending
        await events.aclose()  # the triggerer goes away
        return got

    async def second_life() -> list[dict[str, Any]]:
        watcher = trigger(start_after="2000-01-01T00:00:00+00:00")
        watcher.asset_state_store = store
        events = watcher.run()
        pending = asyncio.ensure_future(take(events, 1))
        await asyncio.sleep(0.3)  # several ticks re-read the earlier runs: none is reported
        fresh = server.fire_trigger("nightly_ingest")
        got = await pending
        await events.aclose()
        assert got[0]["run_id"] == fresh
        return got

    before = asyncio.run(first_life())
    mark = EventMark.from_json(store.values["adf_pipeline_run_events"])
    assert set(mark.reported) == {e["run_id"] for e in before}
    after = asyncio.run(second_life())
    assert {e["run_id"] for e in after}.isdisjoint({e["run_id"] for e in before})


def test_shared_stream_advances_the_mark_only_once_airflow_stored_the_event(
    server: EmulatorServer,
) -> None:
    """Drives Airflow's own SharedStreamManager as the triggerer does: each event is bound to
    a persist sequence number, and only a confirmed one moves the mark."""
    store = DictStore()
    first = asyncio.run(one_life(store, trigger_id=1, confirm=False, fires=1))
    assert store.writes == 0  # never confirmed (the triggerer died first): the mark stays
    again = asyncio.run(one_life(store, trigger_id=2, confirm=True, fires=0))
    assert again["run_id"] == first["run_id"]  # reported again: at least once
    mark = EventMark.from_json(store.values["adf_pipeline_run_events"])
    assert set(mark.reported) == {first["run_id"]}
    later = asyncio.run(one_life(store, trigger_id=3, confirm=True, fires=2))  # Failed, Succeeded
    assert later["run_id"] != first["run_id"]  # stored and confirmed: never again


async def one_life(store: DictStore, *, trigger_id: int, confirm: bool, fires: int) -> Any:
    """One triggerer life: subscribe, take one event, confirm it stored (or die first)."""
    manager = SharedStreamManager(ack_timeout=HANG_GUARD)
    watcher = trigger(start_after="2000-01-01T00:00:00+00:00")
    watcher.asset_state_store = store
    key = watcher.shared_stream_key()
    stream = manager.subscribe(trigger_id=trigger_id, trigger=watcher, key=key)
    events = watcher.filter_shared_stream(stream)
    writes = store.writes
    for _ in range(fires):
        SERVERS[-1].fire_trigger("other_schedule")  # noise on the same feed
        SERVERS[-1].fire_trigger("nightly_ingest")
    async with asyncio.timeout(HANG_GUARD):
        event = await anext(events)
        seq = manager.bind_pending_event(trigger_id=trigger_id, key=key)
        assert seq is not None  # ack mode: the event gates the mark
        if confirm:
            manager.confirm_persisted([seq])
            await manager.unsubscribe(trigger_id, key)  # moving on resolves the event
            while store.writes == writes:
                await asyncio.sleep(0.01)
    await events.aclose()
    await manager.stop_all()
    return dict(event.payload)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"pipeline_names": []}, "pipeline_names"),
        ({"pipeline_names": ["bad/name"]}, "pipeline"),
        ({"statuses": ["InProgress"]}, "statuses"),
        ({"statuses": []}, "statuses"),
        ({"poll_interval": float("nan")}, "poll_interval"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"start_after": "yesterday"}, "start_after"),
        ({"start_after": "2026-01-01T00:00:00"}, "start_after"),
    ],
)
def test_bad_arguments_are_refused_before_any_request(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(AdfConfigurationError, match=field):
        trigger(**kwargs)


def test_the_trigger_survives_serialization_unchanged() -> None:
    original = trigger(pipeline_names=["b", "a"], statuses=["Failed", "Succeeded"])
    classpath, kwargs = original.serialize()
    json.dumps(kwargs)
    rebuilt = AdfPipelineRunEventTrigger(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert rebuilt.shared_stream_key() == original.shared_stream_key()
    assert kwargs["pipeline_names"] == ["a", "b"]
