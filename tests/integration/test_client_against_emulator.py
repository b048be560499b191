"""The core client talking HTTP to the emulator on 127.0.0.1."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import replace

import pytest

from airflow_adf_trigger.core.config.connection import settings_from_connection
from airflow_adf_trigger.core.config.settings import AdfSettings
from airflow_adf_trigger.core.errors import (
    AdfAuthenticationError,
    AdfBadRequestError,
    AdfNotFoundError,
)
from airflow_adf_trigger.core.runs.models import RunStatus
from airflow_adf_trigger.core.wire.client import AdfClient
from airflow_adf_trigger.emulator import EmulatorServer, Scenario
from tests.clock import FakeClock
from tests.emulator_fixtures import Emulators


def settings_for(emulator: EmulatorServer, **extra: object) -> AdfSettings:
    connection = emulator.state.scenario.airflow_connection(emulator.url)
    password = extra.pop("password", connection["password"])
    return settings_from_connection(
        connection["login"],
        password,
        {**connection["extra"], **extra},  # type: ignore[arg-type]
    )


def stats(emulator: EmulatorServer) -> dict[str, object]:
    with urllib.request.urlopen(f"{emulator.url}/_emulator/stats") as answer:
        return json.loads(answer.read())  # type: ignore[no-any-return]


def test_a_run_goes_from_queued_to_succeeded(
    emulator_for: Emulators, demo_scenario: Scenario, clock: FakeClock
) -> None:
    """The client sleeps on the emulator's own clock: each poll sees the run a poll later."""
    emulator = emulator_for(demo_scenario, clock=clock)  # copy_sales: 0.5 s queued, 2 s running
    with AdfClient(settings_for(emulator), clock=clock, sleep=clock.sleep) as client:
        run_id = client.create_run("copy_sales", {"region": "emea", "date": "2026-11-26"})
        first = client.get_run(run_id)
        seen: list[RunStatus] = []
        final = client.wait_for_run(
            run_id, poll_interval=0.5, on_poll=lambda run: seen.append(run.status)
        )
    assert first.status is RunStatus.QUEUED
    assert (first.run_start, first.run_end, first.duration_ms) == (None, None, None)
    assert seen == [RunStatus.QUEUED] + [RunStatus.IN_PROGRESS] * 4 + [RunStatus.SUCCEEDED]
    assert clock.sleeps == [0.5] * 5
    assert final.run_id == run_id
    assert final.parameters == {"region": "emea", "date": "2026-11-26"}
    assert final.run_end is not None and final.duration_ms == 2000
    assert stats(emulator)["runs_created"] == 1


def test_a_failed_run_carries_the_pipelines_message(
    emulator_for: Emulators, failing_scenario: Scenario, clock: FakeClock
) -> None:
    emulator = emulator_for(failing_scenario, clock=clock)
    with AdfClient(settings_for(emulator), clock=clock, sleep=clock.sleep) as client:
        run = client.wait_for_run(client.create_run("copy_sales"), poll_interval=0.5)
    assert run.status is RunStatus.FAILED
    assert "UserErrorSourceBlobNotExists" in run.message


def test_the_v1_token_endpoint_works_too(emulator: EmulatorServer) -> None:
    with AdfClient(settings_for(emulator, token_api="v1")) as client:
        assert client.get_factory()["name"] == "adf-demo"
    assert stats(emulator)["requests"] == {"token": 1, "get factory": 1}


def test_one_token_serves_many_requests(emulator: EmulatorServer) -> None:
    with AdfClient(settings_for(emulator)) as client:
        run_id = client.create_run("copy_sales")
        for _ in range(5):
            client.get_run(run_id)
    assert stats(emulator)["requests"] == {"token": 1, "create run": 1, "get run": 5}


def test_wrong_secret_names_aadsts7000215_and_the_fix(emulator: EmulatorServer) -> None:
    with pytest.raises(AdfAuthenticationError) as caught:
        AdfClient(settings_for(emulator, password="not-the-secret")).create_run("copy_sales")
    message = str(caught.value)
    assert "AADSTS7000215" in message
    assert "secret's value, not its secret ID" in message
    assert "not-the-secret" not in message
    assert stats(emulator)["runs_created"] == 0


def test_unknown_tenant_is_explained(emulator: EmulatorServer) -> None:
    settings = settings_for(emulator, tenant_id="11111111-2222-3333-4444-555555555555")
    with pytest.raises(AdfAuthenticationError, match=r"AADSTS90002.*check the tenant ID"):
        AdfClient(settings).get_factory()


def test_unknown_pipeline_is_a_clear_not_found(emulator: EmulatorServer) -> None:
    with pytest.raises(AdfNotFoundError, match="Pipeline 'copy_salez' was not found") as caught:
        AdfClient(settings_for(emulator)).create_run("copy_salez")
    assert caught.value.status == 404
    assert caught.value.code == "PipelineNotFound"
    assert caught.value.request_id


def test_unknown_factory_says_check_factory_name(emulator: EmulatorServer) -> None:
    with pytest.raises(AdfNotFoundError, match="check factory_name"):
        AdfClient(settings_for(emulator, factory_name="adf-nope")).get_factory()


def test_unknown_resource_group_says_check_resource_group(emulator: EmulatorServer) -> None:
    with pytest.raises(AdfNotFoundError, match="check resource_group"):
        AdfClient(settings_for(emulator, resource_group="rg-nope")).get_factory()


def test_undeclared_parameter_is_a_bad_request_in_adfs_words(emulator: EmulatorServer) -> None:
    with pytest.raises(AdfBadRequestError, match="parameters colour are not defined"):
        AdfClient(settings_for(emulator)).create_run("copy_sales", {"colour": "red"})
    assert stats(emulator)["runs_created"] == 0


def test_unknown_run_is_a_clear_not_found(emulator: EmulatorServer) -> None:
    with pytest.raises(AdfNotFoundError, match="Run 00000000-0000-0000-0000-000000000000"):
        AdfClient(settings_for(emulator)).get_run("00000000-0000-0000-0000-000000000000")


def test_expired_token_is_replaced_after_arms_401(
    emulator_for: Emulators, demo_scenario: Scenario, clock: FakeClock
) -> None:
    """The emulator's token lives 400 s; its clock jumps past that while the client (on the
    real clock) still trusts the token."""
    scenario = replace(demo_scenario, token_lifetime_seconds=400)
    emulator = emulator_for(scenario, clock=clock)
    client = AdfClient(settings_for(emulator))
    run_id = client.create_run("copy_sales")
    clock.advance(401)  # the emulator now refuses the token
    assert client.get_run(run_id).status is RunStatus.SUCCEEDED
    assert stats(emulator)["requests"]["token"] == 2  # type: ignore[index]
