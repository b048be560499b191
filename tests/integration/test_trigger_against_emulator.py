"""AdfPipelineRunTrigger against the emulator: transient errors, deadlines, kills, one event."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import time
from typing import Any

import pytest

from airflow_adf_trigger.compat import BaseHook
from airflow_adf_trigger.core.aio import AsyncAdfClient
from airflow_adf_trigger.core.client import AdfClient
from airflow_adf_trigger.core.connection import settings_from_connection
from airflow_adf_trigger.emulator import EmulatorServer
from airflow_adf_trigger.triggers.adf import AdfPipelineRunTrigger, DirectRunStatus
from tests.clock import FakeClock
from tests.conftest import REPO
from tests.emulator_fixtures import Emulators

pytestmark = pytest.mark.integration


SCENARIO = REPO / "tests" / "e2e" / "scenario.json"


def serve(
    emulator_for: Emulators, monkeypatch: pytest.MonkeyPatch, clock: FakeClock | None = None
) -> EmulatorServer:
    emulator = emulator_for(SCENARIO, clock=clock)
    connection = emulator.state.scenario.airflow_connection(emulator.url)
    monkeypatch.setenv("AIRFLOW_CONN_ADF_DEFAULT", json.dumps(connection))
    return emulator


@pytest.fixture
def server(emulator_for: Emulators, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """On the real clock: the trigger polls in real time until a run ends."""
    return serve(emulator_for, monkeypatch)


@pytest.fixture
def frozen(
    emulator_for: Emulators, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> EmulatorServer:
    """On a clock nobody moves: a run stays Queued, or Canceling once cancelled."""
    return serve(emulator_for, monkeypatch, clock)


def async_client(server: EmulatorServer, **extra: Any) -> AsyncAdfClient:
    connection = server.state.scenario.airflow_connection(server.url)
    settings = settings_from_connection(
        connection["login"], connection["password"], {**connection["extra"], **extra}
    )

    async def no_wait(seconds: float) -> None:
        await asyncio.sleep(0)

    return AsyncAdfClient(settings, sleep=no_wait)


def start(server: EmulatorServer, pipeline: str) -> str:
    connection = server.state.scenario.airflow_connection(server.url)
    settings = settings_from_connection(
        connection["login"], connection["password"], connection["extra"]
    )
    return AdfClient(settings).create_run(pipeline)


def follow(trigger: AdfPipelineRunTrigger, client: AsyncAdfClient) -> dict[str, Any]:
    """The event the trigger would yield."""

    async def go() -> dict[str, Any]:
        async with client:
            source = DirectRunStatus(client, trigger.poll_interval)
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
    server: EmulatorServer, caplog: pytest.LogCaptureFixture
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
    event = follow(trigger, async_client(server, retry_max_attempts=1))
    assert event["status"] == "Succeeded"
    assert server.faults_applied == 4
    assert server.request_counts().get("cancel run", 0) == 0
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 4 and all("still waiting" in w for w in warnings)


def test_failed_run_event_carries_message_and_failed_activities(server: EmulatorServer) -> None:
    run_id = start(server, "broken")
    event = follow(AdfPipelineRunTrigger(run_id=run_id, poll_interval=0.05), async_client(server))
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
def test_the_deadline_cancels_only_when_asked(frozen: EmulatorServer, cancel: bool) -> None:
    run_id = start(frozen, "slow")
    trigger = AdfPipelineRunTrigger(
        run_id=run_id, poll_interval=0.05, end_time=time.time() + 0.3, cancel_on_timeout=cancel
    )
    event = follow(trigger, async_client(frozen))
    assert event["status"] == "timeout"
    (summary,) = frozen.run_summaries()
    if cancel:
        assert (summary["status"], summary["cancelled_recursive"]) == ("Canceling", True)
        assert "cancel requested" in event["message"]
    else:
        assert (summary["status"], summary["cancelled_recursive"]) == ("Queued", None)
        assert "left running" in event["message"]


def test_an_error_that_will_not_heal_ends_the_wait_without_cancelling(
    server: EmulatorServer,
) -> None:
    run_id = start(server, "slow")
    server.add_fault(operation="get run", action="status", status=403, code="AuthorizationFailed")
    trigger = AdfPipelineRunTrigger(run_id=run_id, poll_interval=0.05, cancel_on_timeout=True)
    event = follow(trigger, async_client(server))
    assert event["status"] == "error"
    assert "Data Factory Contributor" in event["message"]
    assert server.request_counts().get("cancel run", 0) == 0


def test_run_yields_exactly_one_event(server: EmulatorServer) -> None:
    run_id = start(server, "copy_sales")
    trigger = AdfPipelineRunTrigger(run_id=run_id, poll_interval=0.1)

    async def collect() -> list[Any]:
        return [event async for event in trigger.run()]

    (event,) = asyncio.run(collect())
    assert event.payload["status"] == "Succeeded"
    assert event.payload["run_id"] == run_id


@pytest.mark.parametrize("cancel_on_kill", [True, False])
def test_on_kill_cancels_the_run_when_asked(frozen: EmulatorServer, cancel_on_kill: bool) -> None:
    assert BaseHook.get_connection("adf_default").conn_type == "adf"
    run_id = start(frozen, "slow")
    trigger = AdfPipelineRunTrigger(run_id=run_id, cancel_on_kill=cancel_on_kill)
    asyncio.run(trigger.on_kill())
    (summary,) = frozen.run_summaries()
    if cancel_on_kill:
        assert (summary["status"], summary["cancelled_recursive"]) == ("Canceling", True)
    else:
        assert (summary["status"], summary["cancelled_recursive"]) == ("Queued", None)
        assert frozen.request_counts().get("cancel run", 0) == 0
