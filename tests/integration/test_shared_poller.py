"""The shared poller: many triggers of one process, one query per tick, nobody lost.

Real time on purpose: what is shown is the poller's own tick loop on the event loop's clock
(requests per tick, pauses cut short, outages waited out), with runs that end while it runs.
The assertions are on outcomes and request counts, never on how long something took."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from airflow_adf_trigger.core.config.connection import settings_from_connection
from airflow_adf_trigger.core.config.settings import AdfSettings
from airflow_adf_trigger.core.runs.models import PipelineRun
from airflow_adf_trigger.core.runs.poller import SharedRunPoller
from airflow_adf_trigger.core.wire.aio import AsyncAdfClient
from airflow_adf_trigger.core.wire.client import AdfClient
from airflow_adf_trigger.emulator import EmulatorServer, Scenario
from airflow_adf_trigger.triggers.adf import AdfPipelineRunTrigger
from tests.emulator_fixtures import Emulators

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
PRINCIPALS = [
    {"client_id": "0d3c4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f", "client_secret": "poller-secret-a"},
    {"client_id": "1e4d5f6a-7b8c-4d9e-8f0a-2b3c4d5e6f7a", "client_secret": "poller-secret-b"},
]


def scenario(page_size: int = 100) -> Scenario:
    return Scenario.from_json(
        {
            "tenant_id": TENANT,
            "subscription_id": "12345678-1234-1234-1234-123456789abc",
            "resource_group": "rg-analytics",
            "factory_name": "adf-demo",
            "service_principals": PRINCIPALS,
            "page_size": page_size,
            "pipelines": {
                "quick": {"queued_seconds": 0.1, "duration_seconds": 0.4},
                "steady": {"queued_seconds": 0.1, "duration_seconds": 1.2},
                "slow": {"queued_seconds": 0.1, "duration_seconds": 600},
                "broken": {"queued_seconds": 0.1, "duration_seconds": 0.6, "outcome": "Failed"},
                "recover": {
                    "queued_seconds": 0.1,
                    "duration_seconds": 0.3,
                    "outcomes": ["Failed", "Succeeded"],
                },
            },
        }
    )


@pytest.fixture(autouse=True)
def _forget_refused_forms() -> Iterator[None]:
    SharedRunPoller._refused_forms.clear()
    yield
    SharedRunPoller._refused_forms.clear()


@pytest.fixture
def server(emulator_for: Emulators, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    emulator = emulator_for(scenario(page_size=10))
    for index, conn_id in enumerate(["ADF_DEFAULT", "ADF_OTHER_PRINCIPAL"]):
        connection = emulator.state.scenario.airflow_connection(emulator.url, index)
        connection["extra"]["retry_max_attempts"] = 1  # let failures reach the poller
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id}", json.dumps(connection))
    return emulator


def create(server: EmulatorServer, pipeline: str, **options: Any) -> str:
    connection = server.state.scenario.airflow_connection(server.url)
    settings = settings_from_connection(
        connection["login"], connection["password"], connection["extra"]
    )
    return AdfClient(settings).create_run(pipeline, **options)


def watch_all(triggers: list[AdfPipelineRunTrigger]) -> list[dict[str, Any]]:
    async def one(trigger: AdfPipelineRunTrigger) -> dict[str, Any]:
        events = [event async for event in trigger.run()]
        assert len(events) == 1
        return dict(events[0].payload)

    async def every() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(one(t) for t in triggers)))

    return asyncio.run(every())


def arm_reads(server: EmulatorServer) -> int:
    counts = server.request_counts()
    return counts.get("query pipeline runs", 0) + counts.get("get run", 0)


def test_fifty_runs_every_end_seen_with_bounded_requests_per_tick(server: EmulatorServer) -> None:
    pipelines = ["quick", "steady", "broken"]
    run_ids = [create(server, pipelines[i % 3]) for i in range(50)]
    before = server.request_counts()
    triggers = [AdfPipelineRunTrigger(run_id=r, poll_interval=0.2) for r in run_ids]
    events = watch_all(triggers)
    assert [e["run_id"] for e in events] == run_ids
    expected = {"quick": "Succeeded", "steady": "Succeeded", "broken": "Failed"}
    assert [e["status"] for e in events] == [expected[pipelines[i % 3]] for i in range(50)]
    counts = server.request_counts()
    queries = counts["query pipeline runs"] - before.get("query pipeline runs", 0)
    gets = counts.get("get run", 0) - before.get("get run", 0)
    assert gets == 0  # every run was found by the shared query
    # 50 runs in pages of 10: at most 5 pages a tick, for a wait of ~1.5 s at 0.2 s a tick.
    assert queries <= 5 * 12
    assert counts["token"] == 1  # one token per credential per process, creator included


def test_a_failed_page_loses_no_watcher(server: EmulatorServer) -> None:
    run_ids = [create(server, "steady") for _ in range(25)]
    server.add_faults(
        [
            {"operation": "query pipeline runs", "action": "status", "status": 503},
            {"operation": "query pipeline runs", "action": "drop"},
            {"operation": "query pipeline runs", "action": "status", "status": 500},
        ]
    )
    events = watch_all([AdfPipelineRunTrigger(run_id=r, poll_interval=0.2) for r in run_ids])
    assert {e["status"] for e in events} == {"Succeeded"}
    assert server.faults_applied == 3
    assert server.request_counts().get("cancel run", 0) == 0


def test_two_credentials_get_two_pollers_and_two_tokens(server: EmulatorServer) -> None:
    run_ids = [create(server, "quick") for _ in range(6)]
    triggers = [
        AdfPipelineRunTrigger(
            run_id=run_id,
            adf_conn_id="adf_default" if i % 2 else "adf_other_principal",
            poll_interval=0.2,
        )
        for i, run_id in enumerate(run_ids)
    ]
    events = watch_all(triggers)
    assert {e["status"] for e in events} == {"Succeeded"}
    assert server.request_counts()["token"] == 2  # principal A (shared with the creator), B
    assert SharedRunPoller._pollers == {}  # every poller stopped with its last watcher


def test_watchers_come_and_go(server: EmulatorServer) -> None:
    async def scenario_() -> list[str]:
        first = [create(server, "steady") for _ in range(3)]
        early = [
            asyncio.create_task(_one(AdfPipelineRunTrigger(run_id=r, poll_interval=0.2)))
            for r in first
        ]
        await asyncio.sleep(0.5)
        later = [create(server, "quick") for _ in range(3)]
        late = [
            asyncio.create_task(_one(AdfPipelineRunTrigger(run_id=r, poll_interval=0.2)))
            for r in later
        ]
        statuses = [e["status"] for e in await asyncio.gather(*early, *late)]
        assert SharedRunPoller._pollers == {}
        return statuses

    assert asyncio.run(scenario_()) == ["Succeeded"] * 6


def settings_of(server: EmulatorServer) -> AdfSettings:
    connection = server.state.scenario.airflow_connection(server.url)
    return settings_from_connection(
        connection["login"], connection["password"], connection["extra"]
    )


def test_a_recovery_rerun_is_found_by_the_feed_without_a_get(server: EmulatorServer) -> None:
    failed = create(server, "recover")
    AdfClient(settings_of(server)).wait_for_run(failed, poll_interval=0.1)
    # A recovery rerun joins the first run's group; the feed finds it by its own run id.
    rerun = create(server, "recover", reference_pipeline_run_id=failed, is_recovery=True)
    before_gets = server.request_counts().get("get run", 0)
    (event,) = watch_all([AdfPipelineRunTrigger(run_id=rerun, poll_interval=0.2)])
    assert event["status"] == "Succeeded"
    assert server.request_counts().get("get run", 0) == before_gets


def test_a_run_older_than_the_feeds_reach_is_read_once_with_a_get(
    server: EmulatorServer,
) -> None:
    old = create(server, "quick")
    AdfClient(settings_of(server)).wait_for_run(old, poll_interval=0.1)

    async def follow() -> tuple[PipelineRun, SharedRunPoller]:
        async with SharedRunPoller.watching(
            settings_of(server), old, 0.2, new_run_lookback=timedelta(0), overlap=timedelta(0)
        ) as poller:
            return await poller.next_state(old, None), poller

    state, poller = asyncio.run(follow())
    assert state.status.value == "Succeeded"
    assert poller.gets == 1


def test_requests_per_tick_follow_the_runs_that_changed_not_the_runs_watched(
    server: EmulatorServer,
) -> None:
    slow = [create(server, "slow") for _ in range(40)]
    quick = [create(server, "quick") for _ in range(3)]

    async def ticks() -> list[int]:
        settings = settings_of(server)
        poller = SharedRunPoller(settings, AsyncAdfClient(settings), safety_net_per_tick=0)
        for run_id in slow + quick:
            poller._add(run_id, 0.2, None, start=False)
        per_tick = []
        try:
            for _ in range(6):
                before = arm_reads(server)
                await poller.tick()
                per_tick.append(arm_reads(server) - before)
                await asyncio.sleep(0.3)
        finally:
            await poller.client.aclose()
        assert all(poller._watches[r].state.status.is_terminal for r in quick)  # type: ignore[union-attr]
        return per_tick

    per_tick = asyncio.run(ticks())
    # First tick: every new run is read from the feed, in pages of 10 (43 runs: 5 pages).
    assert per_tick[0] == 5
    # Then only what changed: the 40 slow runs never end here, so one page a tick.
    assert per_tick[1:] == [1] * 5


def test_a_refused_query_form_falls_back_logs_once_and_is_remembered(
    server: EmulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    run_ids = [create(server, "steady") for _ in range(3)]
    server.add_fault(
        operation="query pipeline runs",
        action="status",
        status=400,
        code="InvalidFilter",
        message="Filter operand 'PipelineName' does not support and array of values.",
        times=1,
    )
    caplog.set_level(logging.WARNING, logger="airflow_adf_trigger.core.runs.poller")

    async def one_tick() -> SharedRunPoller:
        settings = settings_of(server)
        poller = SharedRunPoller(settings, AsyncAdfClient(settings), safety_net_per_tick=0)
        for run_id in run_ids:
            poller._add(run_id, 0.2, "steady", start=False)
        try:
            await poller.tick()
        finally:
            await poller.client.aclose()
        return poller

    first = asyncio.run(one_tick())  # refused, then the plain feed in the same tick
    assert all(first._watches[r].state is not None for r in run_ids)
    second = asyncio.run(one_tick())  # another poller of the process: no refused try
    assert (first.refused_queries, second.refused_queries) == (1, 0)
    assert (first.feed_queries, second.feed_queries) == (2, 1)
    assert server.faults_applied == 1
    refusals = [r for r in caplog.records if "refused a query filtered by" in r.getMessage()]
    assert len(refusals) == 1
    assert SharedRunPoller._refused_forms[server.url] == {("PipelineName",)}


def test_no_query_is_refused_by_an_adf_that_enforces_its_filter_rules(
    server: EmulatorServer,
) -> None:
    run_ids = [create(server, p) for p in ("quick", "steady", "broken") * 5]
    before = server.request_counts()
    events = watch_all([AdfPipelineRunTrigger(run_id=r, poll_interval=0.2) for r in run_ids])
    assert len(events) == 15
    refused = "query pipeline runs refused"
    assert server.request_counts().get(refused, 0) == before.get(refused, 0) == 0
    assert SharedRunPoller._refused_forms.get(server.url, set()) == set()


async def _one(trigger: AdfPipelineRunTrigger) -> dict[str, Any]:
    events = [event async for event in trigger.run()]
    return dict(events[0].payload)


def test_a_feed_outage_reaches_each_trigger_and_ends_it_after_its_budget(
    server: EmulatorServer,
) -> None:
    run_ids = [create(server, "slow") for _ in range(2)]
    server.add_fault(operation="query pipeline runs", action="status", status=503, times=-1)
    server.add_fault(operation="get run", action="status", status=503, times=-1)
    triggers = [
        AdfPipelineRunTrigger(run_id=r, poll_interval=0.2, outage_budget=0.6) for r in run_ids
    ]
    events = watch_all(triggers)
    assert [e["status"] for e in events] == ["error", "error"]
    assert all("could not be read for" in e["message"] for e in events)
    assert server.request_counts().get("cancel run", 0) == 0  # an outage never cancels


def test_a_short_feed_outage_is_waited_out(server: EmulatorServer) -> None:
    run_ids = [create(server, "steady") for _ in range(2)]
    server.add_fault(operation="query pipeline runs", action="status", status=503, times=3)
    triggers = [
        AdfPipelineRunTrigger(run_id=r, poll_interval=0.2, outage_budget=30) for r in run_ids
    ]
    assert [e["status"] for e in watch_all(triggers)] == ["Succeeded", "Succeeded"]
    assert server.faults_applied == 3


def test_a_watcher_with_a_shorter_interval_cuts_a_long_pause(server: EmulatorServer) -> None:
    slow = create(server, "slow")
    quick = create(server, "quick")
    settings = settings_of(server)

    async def follow() -> PipelineRun:
        async with SharedRunPoller.watching(settings, slow, 600) as poller:
            await asyncio.sleep(0.5)  # the poller has ticked and is in its 600 s pause
            async with SharedRunPoller.watching(settings, quick, 0.2) as same:
                assert same is poller
                state: PipelineRun | None = None
                while state is None or not state.status.is_terminal:
                    # Bounded so that a poller still in its long pause fails, not hangs.
                    state = await asyncio.wait_for(poller.next_state(quick, state), 30)
                return state

    assert asyncio.run(follow()).status.value == "Succeeded"
