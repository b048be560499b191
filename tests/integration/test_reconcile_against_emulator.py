"""Searching the emulator for the run of a create-run whose answer was lost."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airflow_adf_trigger.core.client import AdfClient
from airflow_adf_trigger.core.connection import settings_from_connection
from airflow_adf_trigger.core.errors import AdfRunOutcomeUnknownError
from airflow_adf_trigger.core.reconcile import CreateAttempt, find_matching_runs
from airflow_adf_trigger.emulator import EmulatorServer

pytestmark = pytest.mark.integration

PARAMETERS = {"region": "emea", "date": "2026-11-26"}


def client_for(emulator: EmulatorServer) -> AdfClient:
    connection = emulator.state.scenario.airflow_connection(emulator.url)
    settings = settings_from_connection(
        connection["login"],
        connection["password"],
        connection["extra"],  # type: ignore[arg-type]
    )
    return AdfClient(settings)


def lost_create_run(client: AdfClient, parameters: dict[str, object]) -> CreateAttempt:
    attempt = CreateAttempt.start("copy_sales", parameters, sent_at=datetime.now(UTC))
    with pytest.raises(AdfRunOutcomeUnknownError) as lost:
        client.create_run("copy_sales", parameters)
    return attempt.gave_up(lost.value.gave_up_at)


def test_the_run_of_a_lost_answer_is_found(emulator: EmulatorServer) -> None:
    emulator.add_fault(operation="create run", action="lose_response")
    with client_for(emulator) as client:
        attempt = lost_create_run(client, PARAMETERS)
        found = find_matching_runs(client, attempt, search_timeout=0)
    (created,) = emulator.run_summaries()
    assert [run.run_id for run in found] == [created["runId"]]
    assert emulator.runs_created == 1


def test_a_request_that_never_arrived_finds_nothing(emulator: EmulatorServer) -> None:
    emulator.add_fault(operation="create run", action="drop")
    with client_for(emulator) as client:
        attempt = lost_create_run(client, PARAMETERS)
        assert find_matching_runs(client, attempt, search_timeout=0) == []
    assert emulator.runs_created == 0


def test_other_runs_of_the_pipeline_are_not_taken_for_it(emulator: EmulatorServer) -> None:
    with client_for(emulator) as client:
        client.create_run("copy_sales", {"region": "apac", "date": "2026-11-26"})  # other values
        emulator.add_fault(operation="create run", action="status", status=502)
        attempt = lost_create_run(client, PARAMETERS)
        assert find_matching_runs(client, attempt, search_timeout=0) == []
        emulator.add_fault(operation="create run", action="lose_response")
        attempt = lost_create_run(client, PARAMETERS)
        (found,) = find_matching_runs(client, attempt, search_timeout=0)
    assert found.parameters == PARAMETERS
    assert emulator.runs_created == 2


def test_typed_parameters_are_recognised_in_adfs_strings(emulator: EmulatorServer) -> None:
    emulator.add_fault(operation="create run", action="lose_response")
    typed = {"region": {"name": "emea", "codes": [1, 2]}, "date": 20261126}
    with client_for(emulator) as client:
        attempt = lost_create_run(client, typed)
        found = find_matching_runs(client, attempt, search_timeout=0)
    assert len(found) == 1
