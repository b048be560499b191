"""The real client against both answers the emulator can give to cancel of a finished run.

No public source shows what ADF answers: a 400 PipelineRunNotRunning appears in an Airflow
issue's log (apache/airflow PR 56350), and a plain 200 as for a running run is as
plausible. The scenario's ``cancel_finished`` picks one; the client must cope with both.
"""

from __future__ import annotations

import pytest

from airflow_adf_trigger.core.config.connection import settings_from_connection
from airflow_adf_trigger.core.runs.models import RunStatus
from airflow_adf_trigger.core.wire.client import AdfClient
from airflow_adf_trigger.emulator import EmulatorServer
from tests.clock import FakeClock
from tests.emulator.test_protocol import scenario_json
from tests.emulator_fixtures import Emulators


@pytest.fixture(params=["error", "ok"])
def cancel_finished(request: pytest.FixtureRequest) -> str:
    """The two answers the emulator can give to cancel of a finished run."""
    return str(request.param)


@pytest.fixture
def server(emulator_for: Emulators, clock: FakeClock, cancel_finished: str) -> EmulatorServer:
    return emulator_for(scenario_json(cancel_finished=cancel_finished), clock=clock)


def client_for(server: EmulatorServer) -> AdfClient:
    connection = server.state.scenario.airflow_connection(server.url)
    settings = settings_from_connection(
        connection["login"], connection["password"], connection["extra"]
    )
    return AdfClient(settings)


def test_cancel_of_a_finished_run_reports_it_finished(
    server: EmulatorServer, clock: FakeClock
) -> None:
    with client_for(server) as client:
        run_id = client.create_run("copy_sales")
        clock.advance(60)  # copy_sales: 1 s queued, 10 s running
        result = client.cancel_run(run_id)
        assert client.get_run(run_id).status is RunStatus.SUCCEEDED
    assert result.run_id == run_id
    assert not result.cancel_requested
    assert result.finished_status is RunStatus.SUCCEEDED
    assert result.describe() == f"run {run_id} already finished with status Succeeded"


def test_cancel_of_a_finished_run_never_raises(server: EmulatorServer, clock: FakeClock) -> None:
    with client_for(server) as client:
        run_id = client.create_run("copy_sales")
        clock.advance(60)
        client.cancel_run(run_id)  # neither answer is an error to the caller
        assert server.request_counts()["cancel run"] == 1


def test_cancel_of_a_running_run_is_requested_either_way(
    server: EmulatorServer, clock: FakeClock
) -> None:
    with client_for(server) as client:
        run_id = client.create_run("copy_sales")
        clock.advance(3)
        result = client.cancel_run(run_id, is_recursive=False)
        assert result.cancel_requested
        assert client.get_run(run_id).status is RunStatus.CANCELING
        clock.advance(1)
        cancelled = client.get_run(run_id)
    assert cancelled.status is RunStatus.CANCELLED
    assert (cancelled.message, cancelled.run_end, cancelled.duration_ms) == ("", None, None)
    assert server.run_summaries()[0]["cancelled_recursive"] is False
