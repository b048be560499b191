"""Searching the emulator for the run of a create-run whose answer was lost."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_adf_trigger.core.config.connection import settings_from_connection
from airflow_adf_trigger.core.errors import AdfRunOutcomeUnknownError
from airflow_adf_trigger.core.runs.reconcile import CreateAttempt, SearchResult, search
from airflow_adf_trigger.core.wire.client import AdfClient
from airflow_adf_trigger.emulator import EmulatorServer
from tests.emulator_fixtures import Emulators
from tests.integration.fast_scenario import fast_scenario

PARAMETERS = {"region": "emea", "date": "2026-11-26"}
MARGIN = 0.5
"""The emulator stamps a run as it answers: a short margin after the give-up keeps the search
(which waits until the emulator's clock is past the window) short."""


def client_for(emulator: EmulatorServer) -> AdfClient:
    connection = emulator.state.scenario.airflow_connection(emulator.url)
    settings = settings_from_connection(
        connection["login"],
        connection["password"],
        connection["extra"],  # type: ignore[arg-type]
    )
    return AdfClient(settings)


def lost_create_run(
    client: AdfClient, parameters: dict[str, Any], pipeline: str = "copy_sales", **key: Any
) -> CreateAttempt:
    """Read the pipeline, record the attempt, send the create-run and lose its answer."""
    declaration = client.read_pipeline(pipeline)
    attempt = CreateAttempt.prepare(
        pipeline,
        parameters,
        sent_at=client.now(),
        budget=150,
        pipeline=declaration,
        accept_margin=MARGIN,
        **key,
    )
    with pytest.raises(AdfRunOutcomeUnknownError) as lost:
        client.create_run(pipeline, parameters)
    return attempt.gave_up(lost.value.gave_up_at.timestamp(), MARGIN)


def look(client: AdfClient, attempt: CreateAttempt) -> SearchResult:
    return search(client, attempt, search_timeout=0, interval=0.2)


def test_the_window_is_on_the_emulators_clock(emulator: EmulatorServer) -> None:
    with client_for(emulator) as client:
        declaration = client.read_pipeline("copy_sales")
    assert declaration.clock is not None
    assert declaration.parameter_types == {
        "region": "String",
        "date": "String",
        "airflow_run_key": "String",
    }
    assert declaration.declares_string("airflow_run_key")


def test_the_run_of_a_lost_answer_is_found(emulator: EmulatorServer) -> None:
    emulator.add_fault(operation="create run", action="lose_response")
    with client_for(emulator) as client:
        attempt = lost_create_run(client, PARAMETERS)
        result = look(client, attempt)
    (created,) = emulator.run_summaries()
    assert result.adopt is not None and result.adopt.run_id == created["runId"]
    assert emulator.runs_created == 1


def test_a_request_that_never_arrived_finds_nothing(emulator: EmulatorServer) -> None:
    emulator.add_fault(operation="create run", action="drop")
    with client_for(emulator) as client:
        attempt = lost_create_run(client, PARAMETERS)
        assert look(client, attempt).nothing
    assert emulator.runs_created == 0


def test_a_strangers_equal_run_beside_the_lost_one_fails_safe(emulator: EmulatorServer) -> None:
    with client_for(emulator) as client:
        emulator.add_fault(operation="create run", action="lose_response")
        attempt = lost_create_run(client, PARAMETERS)
        stranger = client.create_run("copy_sales", PARAMETERS)  # inside the window
        result = look(client, attempt)
    assert result.adopt is None
    assert stranger in {run.run_id for run, _ in result.candidates()}
    assert len(result.candidates()) == 2


def test_other_runs_of_the_pipeline_are_not_taken_for_it(emulator: EmulatorServer) -> None:
    with client_for(emulator) as client:
        client.create_run("copy_sales", {"region": "apac", "date": "2026-11-26"})  # other values
        client.create_run("copy_sales", {"region": "emea"})  # a subset of the parameters
        emulator.add_fault(operation="create run", action="status", status=502)
        attempt = lost_create_run(client, PARAMETERS)
        assert look(client, attempt).nothing
        emulator.add_fault(operation="create run", action="lose_response")
        attempt = lost_create_run(client, PARAMETERS)
        found = look(client, attempt).adopt
    assert found is not None and found.parameters == PARAMETERS
    assert emulator.runs_created == 3


def test_typed_parameters_are_recognised_in_adfs_strings(emulator: EmulatorServer) -> None:
    emulator.add_fault(operation="create run", action="lose_response")
    typed = {"region": {"name": "emea", "codes": [1, 2]}, "date": 20261126}
    with client_for(emulator) as client:
        attempt = lost_create_run(client, typed)
        assert look(client, attempt).adopt is not None


def test_a_run_key_finds_the_one_run_among_equal_strangers(emulator_for: Emulators) -> None:
    scenario = fast_scenario("s3cret-keyed", "boom")
    scenario["pipelines"]["keyed"] = {
        "duration_seconds": 5,
        "parameters": ["region", "airflow_run_key"],
    }
    emulator = emulator_for(scenario)
    sent = {"region": "emea", "airflow_run_key": "airflow:dag/run/task#k1"}
    with client_for(emulator) as client:
        assert client.read_pipeline("keyed").declares_string("airflow_run_key")
        client.create_run("keyed", {"region": "emea", "airflow_run_key": "airflow:other#k0"})
        emulator.add_fault(operation="create run", action="lose_response")
        attempt = lost_create_run(
            client,
            sent,
            "keyed",
            run_key_parameter="airflow_run_key",
            run_key=sent["airflow_run_key"],
        )
        client.create_run("keyed", {"region": "emea", "airflow_run_key": "airflow:other#k2"})
        found = look(client, attempt).adopt
    assert found is not None and found.parameters == sent
    assert emulator.runs_created == 3
