"""ADF's monitoring lag: queries that show runs late, and a feed that notices and catches up.

The emulator's ``monitoring_lag_seconds`` makes ``queryPipelineRuns`` answer with the runs as
they were that long ago while get-run shows them now (no public source bounds the real lag).
Everything runs on one fake clock shared by the emulator and the poller, so a lag of ten
minutes takes no real time and "detected after" is a fact of the test's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_adf_trigger.core.client import AdfClient
from airflow_adf_trigger.core.connection import settings_from_connection
from airflow_adf_trigger.core.models import RunQuery
from airflow_adf_trigger.core.settings import AdfSettings
from airflow_adf_trigger.emulator import EmulatorServer, Scenario, ScenarioError
from tests.clock import FakeClock
from tests.emulator_fixtures import Emulators

pytestmark = pytest.mark.integration

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
