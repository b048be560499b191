"""AdfLatestPipelineRunSensor against the emulator (poke mode, one check each)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_adf_trigger.core.errors import AdfConfigurationError
from airflow_adf_trigger.emulator import EmulatorServer
from airflow_adf_trigger.sensors.latest import AdfLatestPipelineRunSensor
from tests.clock import FakeClock
from tests.emulator_fixtures import Emulators, states
from tests.integration.test_event_trigger import SCENARIO


class StubTI:
    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


@pytest.fixture
def server(
    emulator_for: Emulators, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> EmulatorServer:
    """On a clock the test moves: runs end when the test says so."""
    emulator = emulator_for(SCENARIO, clock=clock)
    connection = emulator.state.scenario.airflow_connection(emulator.url)
    monkeypatch.setenv("AIRFLOW_CONN_ADF_DEFAULT", json.dumps(connection))
    return emulator


def poke(**kwargs: Any) -> tuple[bool, StubTI]:
    sensor = AdfLatestPipelineRunSensor(task_id="latest", pipeline_name="ingest_sales", **kwargs)
    ti = StubTI()
    return sensor.poke({"ti": ti}), ti  # type: ignore[arg-type]


def test_no_run_yet_is_not_yet(server: EmulatorServer) -> None:
    assert poke()[0] is False


def test_the_latest_run_decides_success_then_failure(
    server: EmulatorServer, clock: FakeClock
) -> None:
    first = server.fire_trigger("nightly_ingest")  # Succeeded
    assert poke()[0] is False  # still Queued
    clock.advance(1)
    done, ti = poke()
    assert done is True and ti.xcom["run_id"] == first
    second = server.fire_trigger("nightly_ingest")  # Failed: now the latest
    assert poke()[0] is False  # the latest has not ended yet
    clock.advance(1)
    with pytest.raises(AirflowFailException, match=second):
        poke()
    assert states(server) == ["Succeeded", "Failed"]


def test_parameters_and_started_after_narrow_the_runs(
    server: EmulatorServer, clock: FakeClock
) -> None:
    wanted = server.fire_trigger("nightly_ingest", {"day": "d1"})  # Succeeded
    clock.advance(1)
    server.fire_trigger("nightly_ingest", {"day": "d2"})  # Failed, but another day
    clock.advance(1)
    done, ti = poke(parameters={"day": "d1"})
    assert done is True and ti.xcom["run_id"] == wanted
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert poke(started_after=future)[0] is False


@pytest.mark.parametrize("kwargs", [{"poke_interval": float("nan")}, {"timeout": 0}])
def test_bad_intervals_are_refused_before_any_request(kwargs: dict[str, Any]) -> None:
    with pytest.raises(AdfConfigurationError):
        AdfLatestPipelineRunSensor(task_id="latest", pipeline_name="ingest_sales", **kwargs)
