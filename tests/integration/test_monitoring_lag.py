"""ADF's monitoring lag: queries that show runs late, and a feed that notices and catches up.

The emulator's ``monitoring_lag_seconds`` makes ``queryPipelineRuns`` answer with the runs as
they were that long ago while get-run shows them now (no public source bounds the real lag).
Everything runs on one fake clock shared by the emulator and the poller, so a lag of ten
minutes takes no real time and "detected after" is a fact of the test's clock."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_adf_trigger.core.config.connection import settings_from_connection
from airflow_adf_trigger.core.config.settings import AdfSettings
from airflow_adf_trigger.core.runs import poller as poller_module
from airflow_adf_trigger.core.runs.models import RunQuery
from airflow_adf_trigger.core.runs.poller import SharedRunPoller, observed_monitoring_lag
from airflow_adf_trigger.core.wire.aio import AsyncAdfClient
from airflow_adf_trigger.core.wire.client import AdfClient
from airflow_adf_trigger.emulator import EmulatorServer, Scenario, ScenarioError
from airflow_adf_trigger.emulator.__main__ import main as emulator_main
from airflow_adf_trigger.hooks.adf import AdfHook
from airflow_adf_trigger.triggers.adf import AdfPipelineRunTrigger
from airflow_adf_trigger.triggers.events import AdfPipelineRunEventTrigger
from tests.clock import FakeClock
from tests.emulator_fixtures import Emulators

BASE: dict[str, Any] = {
    "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
    "subscription_id": "12345678-1234-1234-1234-123456789abc",
    "resource_group": "rg-analytics",
    "factory_name": "adf-demo",
    "service_principals": [
        {"client_id": "0d3c4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f", "client_secret": "lag-secret"}
    ],
    "pipelines": {
        "nightly": {"queued_seconds": 5, "duration_seconds": 40},
    },
    "triggers": [{"name": "nightly_trigger", "pipeline": "nightly"}],
}


def settings_of(server: EmulatorServer) -> AdfSettings:
    connection = server.state.scenario.airflow_connection(server.url)
    return settings_from_connection(
        connection["login"], connection["password"], connection["extra"]
    )


def queried(client: AdfClient, run_id: str) -> str | None:
    """The run's status as queryPipelineRuns shows it (None: not shown)."""
    now = datetime.now(UTC)
    query = RunQuery(now - timedelta(days=1), now + timedelta(days=1))
    shown = {run.run_id: run for run in client.query_pipeline_runs(query)}
    return shown[run_id].status.value if run_id in shown else None


def test_queries_show_runs_as_they_were_lag_seconds_ago_and_get_shows_now(
    emulator_for: Emulators,
) -> None:
    clock = FakeClock()
    server = emulator_for({**BASE, "monitoring_lag_seconds": 30}, clock=clock)
    client = AdfClient(settings_of(server))
    run_id = client.create_run("nightly")
    assert (client.get_run(run_id).status.value, queried(client, run_id)) == ("Queued", None)
    clock.advance(30)  # created 30 s ago: the query now shows it as it was then
    assert (client.get_run(run_id).status.value, queried(client, run_id)) == (
        "InProgress",
        "Queued",
    )
    clock.advance(20)  # ended at 45 s; the query shows 20 s
    assert (client.get_run(run_id).status.value, queried(client, run_id)) == (
        "Succeeded",
        "InProgress",
    )
    clock.advance(25)  # 75 s: the query reaches the end (45 s)
    assert queried(client, run_id) == "Succeeded"


def test_the_lag_is_a_setting_of_the_scenario_the_admin_api_and_the_server(
    emulator_for: Emulators,
) -> None:
    clock = FakeClock()
    server = emulator_for(BASE, clock=clock)
    client = AdfClient(settings_of(server))
    assert server.state.settings.to_json()["monitoring_lag_seconds"] == 0
    run_id = client.create_run("nightly")
    assert queried(client, run_id) == "Queued"
    server.update_settings(monitoring_lag_seconds=600)
    assert queried(client, run_id) is None
    with pytest.raises(ValueError, match="monitoring_lag_seconds"):
        server.update_settings(monitoring_lag_seconds=-1)
    with pytest.raises(ScenarioError, match="monitoring_lag_seconds"):
        Scenario.from_json({**BASE, "monitoring_lag_seconds": "soon"})


def test_the_emulator_command_sets_the_lag_and_refuses_a_negative_one() -> None:
    served: list[float] = []

    class ServeOnce(EmulatorServer):
        def serve_forever(self) -> None:
            served.append(self.state.settings.monitoring_lag_seconds)
            threading.Timer(0.05, self.stop).start()  # as a Ctrl-C would, a moment later
            super().serve_forever()

    assert emulator_main(["--port", "0", "--monitoring-lag", "45"], serve=ServeOnce) == 0
    assert served == [45.0]
    assert emulator_main(["--port", "0", "--monitoring-lag", "-1"], serve=ServeOnce) == 2
    assert served == [45.0]


def test_the_date_header_follows_the_emulators_clock(emulator_for: Emulators) -> None:
    clock = FakeClock()
    server = emulator_for(BASE, clock=clock)
    client = AdfClient(settings_of(server))
    now = datetime.now(UTC)
    first = client.query_run_changes(RunQuery(now - timedelta(days=1), now + timedelta(days=1)))
    clock.advance(3600)
    later = client.query_run_changes(RunQuery(now - timedelta(days=1), now + timedelta(days=1)))
    assert first.server_time is not None and later.server_time is not None
    assert timedelta(seconds=3598) <= later.server_time - first.server_time
    assert later.server_time - first.server_time <= timedelta(seconds=3602)


# ---------------------------------------------------------------------- the feed under lag

HANG_GUARD = 60.0
"""Real seconds: only ends a hung test, never measures anything."""
INTERVAL = 10.0
"""Seconds between the poller's ticks, on the fake clock."""
RUNS = 100
DURATIONS = {"p15": 15, "p40": 40, "p90": 90, "p160": 160, "p250": 250}
"""Pipeline -> seconds a run takes after 5 s queued: ends spread over four minutes."""
LAG_SCENARIO: dict[str, Any] = {
    **BASE,
    "pipelines": {
        name: {"queued_seconds": 5, "duration_seconds": seconds}
        for name, seconds in DURATIONS.items()
    },
    "triggers": [],
}


@pytest.fixture(autouse=True)
def _no_pollers_left() -> Iterator[None]:
    SharedRunPoller._pollers.clear()
    poller_module._process_lags.clear()
    yield
    SharedRunPoller._pollers.clear()
    poller_module._process_lags.clear()


def lagging_emulator(
    emulator_for: Emulators, monkeypatch: pytest.MonkeyPatch, lag: float
) -> tuple[EmulatorServer, FakeClock]:
    # The fake clock starts at the real time: the emulator's wall clock and the poller's
    # "local" clock then agree, as a real triggerer's and Azure's do (up to the skew).
    clock = FakeClock(start=time.time())
    server = emulator_for({**LAG_SCENARIO, "monitoring_lag_seconds": lag}, clock=clock)
    connection = server.state.scenario.airflow_connection(server.url)
    monkeypatch.setenv("AIRFLOW_CONN_ADF_DEFAULT", json.dumps(connection))
    return server, clock


def create_runs(server: EmulatorServer) -> list[str]:
    client = AdfClient(settings_of(server))
    names = list(DURATIONS)
    return [client.create_run(names[i % len(names)]) for i in range(RUNS)]


async def install_poller(clock: FakeClock) -> SharedRunPoller:
    """The process's shared poller for the default connection, on the fake clock: what
    every trigger of the test then shares (as in a triggerer)."""

    async def sleep(seconds: float) -> None:
        for _ in range(20):  # what the last tick woke ends on this moment's clock
            await asyncio.sleep(0)
        clock.advance(seconds)

    settings = await AdfHook().async_settings()
    poller = SharedRunPoller(settings, AsyncAdfClient(settings), clock=clock, sleep=sleep)
    SharedRunPoller._pollers[(id(asyncio.get_running_loop()), settings)] = poller
    return poller


def ended_at(server: EmulatorServer, run_id: str) -> float:
    """When the run ended, on the emulator's clock."""
    return server.state.runs[run_id].transitions()[-1][0]


LAGS = [0, 30, 90, 600]


@pytest.mark.parametrize("lag", LAGS)
def test_every_deferred_wait_ends_within_lag_plus_two_intervals(
    lag: float, emulator_for: Emulators, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, clock = lagging_emulator(emulator_for, monkeypatch, lag)
    run_ids = create_runs(server)

    async def wait_all() -> tuple[dict[str, float], SharedRunPoller]:
        poller = await install_poller(clock)
        seen: dict[str, float] = {}

        async def wait(run_id: str) -> None:
            trigger = AdfPipelineRunTrigger(run_id=run_id, poll_interval=INTERVAL)
            events = [event async for event in trigger.run()]
            assert [e.payload["status"] for e in events] == ["Succeeded"]
            seen[run_id] = clock()

        async with asyncio.timeout(HANG_GUARD):
            await asyncio.gather(*(wait(run_id) for run_id in run_ids))
        return seen, poller

    seen, poller = asyncio.run(wait_all())
    late = {r: seen[r] - ended_at(server, r) for r in run_ids}
    assert max(late.values()) <= lag + 2 * INTERVAL
    if lag > 60:  # past the default re-read: measured (a lower bound), and the window widened
        assert 60 < observed_monitoring_lag() <= lag
        assert poller.overlap > timedelta(seconds=60)
    else:
        assert observed_monitoring_lag() <= lag
        assert poller.overlap == timedelta(seconds=60)


@pytest.mark.parametrize("lag", LAGS)
def test_every_run_is_one_asset_event_within_lag_plus_two_intervals(
    lag: float, emulator_for: Emulators, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, clock = lagging_emulator(emulator_for, monkeypatch, lag)

    async def watch() -> tuple[list[tuple[str, float]], list[str]]:
        await install_poller(clock)
        trigger = AdfPipelineRunEventTrigger(pipeline_names=list(DURATIONS), poll_interval=INTERVAL)
        events = trigger.run()
        got: list[tuple[str, float]] = []
        run_ids: list[str] = []

        async def take() -> None:
            async for event in events:
                got.append((event.payload["run_id"], clock()))
                if len(got) == RUNS:
                    # Two more minutes of ticks: a run reported twice would show up here.
                    until = clock() + 120
                    while clock() < until:
                        await asyncio.sleep(0.01)
                    return

        async def consume() -> None:
            await take()

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.05)  # the watch begins at the fake clock's start
        run_ids.extend(await asyncio.to_thread(create_runs, server))
        async with asyncio.timeout(HANG_GUARD):
            await task
        await events.aclose()
        return got, run_ids

    got, run_ids = asyncio.run(watch())
    assert Counter(run_id for run_id, _ in got) == Counter(run_ids)  # each exactly once
    late = [at - ended_at(server, run_id) for run_id, at in got]
    assert max(late) <= lag + 2 * INTERVAL
    # The feed measured the lag itself, within two intervals (its reads' spacing).
    assert max(0, lag - 2 * INTERVAL) <= observed_monitoring_lag() <= lag


def test_the_widening_is_logged_once_with_the_measured_lag(
    emulator_for: Emulators, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server, clock = lagging_emulator(emulator_for, monkeypatch, 90)
    run_ids = create_runs(server)[:10]
    caplog.set_level(logging.WARNING, logger="airflow_adf_trigger.core.runs.poller")

    async def wait_all() -> None:
        await install_poller(clock)
        async with asyncio.timeout(HANG_GUARD):
            await asyncio.gather(
                *(
                    anext(AdfPipelineRunTrigger(run_id=r, poll_interval=INTERVAL).run())
                    for r in run_ids
                )
            )

    asyncio.run(wait_all())
    widened = [r.getMessage() for r in caplog.records if "late" in r.getMessage()]
    assert len(widened) == 1
    assert "s late" in widened[0] and "re-reads" in widened[0]
