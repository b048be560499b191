"""AdfPipelineRunTrigger against the emulator: transient errors, deadlines, kills, one event."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from airflow_adf_trigger.compat import BaseHook
from airflow_adf_trigger.core.config.connection import settings_from_connection
from airflow_adf_trigger.core.config.settings import AdfSettings
from airflow_adf_trigger.core.wire.aio import AsyncAdfClient
from airflow_adf_trigger.core.wire.client import AdfClient
from airflow_adf_trigger.emulator import EmulatorServer
from airflow_adf_trigger.triggers.adf import AdfPipelineRunTrigger, DirectRunStatus
from tests.clock import FakeClock
from tests.conftest import REPO
from tests.emulator_fixtures import Emulators

SCENARIO = REPO / "tests" / "e2e" / "scenario.json"


def serve(
    emulator_for: Emulators, monkeypatch: pytest.MonkeyPatch, clock: FakeClock | None = None
) -> EmulatorServer:
    emulator = emulator_for(SCENARIO, clock=clock)
    connection = emulator.state.scenario.airflow_connection(emulator.url)
    monkeypatch.setenv("AIRFLOW_CONN_ADF_DEFAULT", json.dumps(connection))
    return emulator


@pytest.fixture
def server(
    emulator_for: Emulators, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> EmulatorServer:
    """On the test's clock, which only the code under test moves, by sleeping on it."""
    return serve(emulator_for, monkeypatch, clock)


@pytest.fixture
def live_server(emulator_for: Emulators, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """On the real clock, for a trigger that builds its own client and poller."""
    return serve(emulator_for, monkeypatch)


def sleeper(clock: FakeClock) -> Callable[[float], Awaitable[None]]:
    async def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        await asyncio.sleep(0)

    return sleep


def settings_of(server: EmulatorServer, **extra: Any) -> AdfSettings:
    connection = server.state.scenario.airflow_connection(server.url)
    return settings_from_connection(
        connection["login"], connection["password"], {**connection["extra"], **extra}
    )


def async_client(server: EmulatorServer, clock: FakeClock, **extra: Any) -> AsyncAdfClient:
    return AsyncAdfClient(settings_of(server, **extra), clock=clock, sleep=sleeper(clock))


def start(server: EmulatorServer, pipeline: str) -> str:
    with AdfClient(settings_of(server)) as client:
        return client.create_run(pipeline)


def follow(
    trigger: AdfPipelineRunTrigger, client: AsyncAdfClient, clock: FakeClock
) -> dict[str, Any]:
    """The event the trigger would yield, its polls, outages and deadline all on ``clock``."""
    sleep = sleeper(clock)
    trigger.clock = trigger.wall_clock = clock
    trigger.sleep = sleep

    async def go() -> dict[str, Any]:
        async with client:
            source = DirectRunStatus(client, trigger.poll_interval, clock=clock, sleep=sleep)
            return (await trigger.follow(client, source)).to_event()

    return asyncio.run(go())


def test_serialize_round_trip_rebuilds_the_same_trigger() -> None:
    trigger = AdfPipelineRunTrigger(
        run_id="3f2504e0-4f89-11d3-9a0c-0305e82c3301",
        adf_conn_id="adf_prod",
        factory_name="adf-other",
        poll_interval=30,
        end_time=1_900_000_000.0,
        cancel_on_timeout=True,
        cancel_on_kill=True,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_adf_trigger.triggers.adf.AdfPipelineRunTrigger"
    json.dumps(kwargs)  # survives the trip through the database
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_transient_errors_are_waited_out_never_cancelling(
    server: EmulatorServer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="airflow_adf_trigger.triggers.adf")
    run_id = start(server, "copy_sales")
    server.add_faults(
        [
            {"operation": "get run", "action": "status", "status": 503},
            {"operation": "get run", "action": "status", "status": 429, "retry_after": 1},
            {"operation": "get run", "action": "drop"},
            {"operation": "get run", "action": "status", "status": 500},
        ]
    )
    trigger = AdfPipelineRunTrigger(run_id=run_id, poll_interval=0.05, cancel_on_timeout=True)
    event = follow(trigger, async_client(server, clock, retry_max_attempts=1), clock)
    assert event["status"] == "Succeeded"
    assert server.faults_applied == 4
    assert server.request_counts().get("cancel run", 0) == 0
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 4 and all("still waiting" in w for w in warnings)


def test_failed_run_event_carries_message_and_failed_activities(
    server: EmulatorServer, clock: FakeClock
) -> None:
    run_id = start(server, "broken")
    trigger = AdfPipelineRunTrigger(run_id=run_id, poll_interval=0.05)
    event = follow(trigger, async_client(server, clock), clock)
    assert event["status"] == "Failed"
    assert event["failures"] == [
        "activity 'Copy sales to lake' (Copy) failed: [2200] Operation on target Copy sales to "
        "lake failed: ErrorCode=UserErrorSourceBlobNotExists,'The required blob is missing: "
        "sales/2026-11-26.csv'"
    ]
    assert event["message"].startswith(f"Pipeline 'broken' run {run_id} ended Failed")
    assert event["run_page_url"].startswith(
        f"https://adf.azure.com/en-us/monitoring/pipelineruns/{run_id}?factory=/subscriptions/"
    )


@pytest.mark.parametrize("cancel", [True, False])
def test_the_deadline_cancels_only_when_asked(
    server: EmulatorServer, clock: FakeClock, cancel: bool
) -> None:
    run_id = start(server, "slow")  # 0.2 s queued, then 600 s running
    trigger = AdfPipelineRunTrigger(
        run_id=run_id, poll_interval=0.05, end_time=clock.now + 0.3, cancel_on_timeout=cancel
    )
    event = follow(trigger, async_client(server, clock), clock)
    assert event["status"] == "timeout"
    (summary,) = server.run_summaries()
    if cancel:
        assert (summary["status"], summary["cancelled_recursive"]) == ("Canceling", True)
        assert "cancel requested" in event["message"]
    else:
        assert (summary["status"], summary["cancelled_recursive"]) == ("InProgress", None)
        assert "left running" in event["message"]


def test_an_error_that_will_not_heal_ends_the_wait_without_cancelling(
    server: EmulatorServer, clock: FakeClock
) -> None:
    run_id = start(server, "slow")
    server.add_fault(operation="get run", action="status", status=403, code="AuthorizationFailed")
    trigger = AdfPipelineRunTrigger(run_id=run_id, poll_interval=0.05, cancel_on_timeout=True)
    event = follow(trigger, async_client(server, clock), clock)
    assert event["status"] == "error"
    assert "Data Factory Contributor" in event["message"]
    assert server.request_counts().get("cancel run", 0) == 0


def test_run_yields_exactly_one_event(live_server: EmulatorServer) -> None:
    run_id = start(live_server, "copy_sales")
    trigger = AdfPipelineRunTrigger(run_id=run_id, poll_interval=0.1)

    async def collect() -> list[Any]:
        return [event async for event in trigger.run()]

    (event,) = asyncio.run(collect())
    assert event.payload["status"] == "Succeeded"
    assert event.payload["run_id"] == run_id


@pytest.mark.parametrize("cancel_on_kill", [True, False])
def test_on_kill_cancels_the_run_when_asked(server: EmulatorServer, cancel_on_kill: bool) -> None:
    assert BaseHook.get_connection("adf_default").conn_type == "adf"
    run_id = start(server, "slow")
    trigger = AdfPipelineRunTrigger(run_id=run_id, cancel_on_kill=cancel_on_kill)
    asyncio.run(trigger.on_kill())
    (summary,) = server.run_summaries()
    if cancel_on_kill:
        assert (summary["status"], summary["cancelled_recursive"]) == ("Canceling", True)
    else:
        assert (summary["status"], summary["cancelled_recursive"]) == ("Queued", None)
        assert server.request_counts().get("cancel run", 0) == 0
