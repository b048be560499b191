"""The official hook's methods, called as Python tasks call them, against the emulator.

The emulator runs on a clock the hook's own sleep moves: a wait takes no real time.
"""

from __future__ import annotations

import json
import os

import pytest

from airflow_adf_trigger.core.errors import AdfConfigurationError
from airflow_adf_trigger.emulator import EmulatorServer, Scenario
from airflow_adf_trigger.hooks.adf import (
    AzureDataFactoryHook,
    AzureDataFactoryPipelineRunException,
    AzureDataFactoryPipelineRunStatus,
    CreateRunResponse,
)
from tests.clock import FakeClock
from tests.emulator_fixtures import Emulators, states

CONN_ID = "adf_credentials_only"
FACTORY = {"resource_group_name": "rg-analytics", "factory_name": "adf-demo"}


@pytest.fixture
def emulator(emulator_for: Emulators, demo_scenario: Scenario, clock: FakeClock) -> EmulatorServer:
    return emulator_for(demo_scenario, clock=clock)


@pytest.fixture
def hook(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer, clock: FakeClock
) -> AzureDataFactoryHook:
    """The official hook name on an official-format connection that names no factory."""
    ours = emulator.state.scenario.airflow_connection(emulator.url)
    extra = ours["extra"]
    connection = {
        "conn_type": "azure_data_factory",
        "login": ours["login"],
        "password": ours["password"],
        "extra": {
            "tenantId": extra["tenant_id"],
            "subscriptionId": extra["subscription_id"],
            "authority_host": emulator.url,
            "management_endpoint": emulator.url,
        },
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(connection))
    return AzureDataFactoryHook(azure_data_factory_conn_id=CONN_ID, sleep=clock.sleep, clock=clock)


def test_run_pipeline_answers_with_the_run_id(
    hook: AzureDataFactoryHook, emulator: EmulatorServer
) -> None:
    response = hook.run_pipeline("copy_sales", **FACTORY, parameters={"region": "eu"})
    assert isinstance(response, CreateRunResponse)
    (summary,) = emulator.run_summaries()
    assert response.run_id == summary["runId"]
    assert summary["parameters"] == {"region": "eu"}


def test_get_pipeline_run_and_its_status(hook: AzureDataFactoryHook) -> None:
    run_id = hook.run_pipeline("copy_sales", **FACTORY).run_id
    run = hook.get_pipeline_run(run_id, **FACTORY)
    assert (run.run_id, run.pipeline_name) == (run_id, "copy_sales")
    assert run.status == AzureDataFactoryPipelineRunStatus.QUEUED
    status = hook.get_pipeline_run_status(run_id, **FACTORY)
    assert (type(status), status) == (str, "Queued")


def test_wait_for_pipeline_run_status_waits_for_the_expected_status(
    hook: AzureDataFactoryHook, clock: FakeClock
) -> None:
    run_id = hook.run_pipeline("copy_sales", **FACTORY).run_id
    reached = hook.wait_for_pipeline_run_status(
        run_id, AzureDataFactoryPipelineRunStatus.SUCCEEDED, **FACTORY, check_interval=1
    )
    assert reached is True
    assert clock.sleeps and set(clock.sleeps) == {1}
    assert hook.get_pipeline_run_status(run_id, **FACTORY) == "Succeeded"


def test_a_status_given_as_a_string_is_not_matched_as_a_substring(
    hook: AzureDataFactoryHook,
) -> None:
    run_id = hook.run_pipeline("copy_sales", **FACTORY).run_id
    # "Progress" is part of "InProgress" but no status: the wait goes on to the end.
    assert not hook.wait_for_pipeline_run_status(run_id, "Progress", **FACTORY, check_interval=1)
    assert hook.get_pipeline_run_status(run_id, **FACTORY) == "Succeeded"


def test_an_intermediate_status_can_be_awaited(hook: AzureDataFactoryHook) -> None:
    run_id = hook.run_pipeline("copy_sales", **FACTORY).run_id
    expected = {AzureDataFactoryPipelineRunStatus.IN_PROGRESS}
    assert hook.wait_for_pipeline_run_status(run_id, expected, **FACTORY, check_interval=0.1)
    assert hook.get_pipeline_run_status(run_id, **FACTORY) == "InProgress"


def test_wait_for_pipeline_run_status_rides_out_an_outage(
    hook: AzureDataFactoryHook, emulator: EmulatorServer
) -> None:
    run_id = hook.run_pipeline("copy_sales", **FACTORY).run_id
    # More 502s than one request's retries: the official hook would fail on the first.
    emulator.add_fault(operation="get run", action="status", status=502, times=30)
    assert hook.wait_for_pipeline_run_status(run_id, "Succeeded", **FACTORY, check_interval=1)
    assert [fault["remaining"] for fault in emulator.faults()] == [0]


def test_wait_for_pipeline_run_status_gives_up_after_its_timeout(
    hook: AzureDataFactoryHook, emulator: EmulatorServer
) -> None:
    run_id = hook.run_pipeline("copy_sales", **FACTORY).run_id
    with pytest.raises(
        AzureDataFactoryPipelineRunException,
        match=f"Pipeline run {run_id} has not reached a terminal status after 0.3 seconds",
    ):
        hook.wait_for_pipeline_run_status(
            run_id, "Succeeded", **FACTORY, check_interval=0.1, timeout=0.3
        )
    assert states(emulator) == ["Queued"]


def test_cancel_pipeline_run_cancels_the_children_too(
    hook: AzureDataFactoryHook, emulator: EmulatorServer
) -> None:
    run_id = hook.run_pipeline("copy_sales", **FACTORY).run_id
    assert hook.cancel_pipeline_run(run_id, **FACTORY) is None
    (summary,) = emulator.run_summaries()
    assert (summary["status"], summary["cancelled_recursive"]) == ("Canceling", True)


def test_the_factory_can_come_from_the_hook_instead_of_each_call(
    hook: AzureDataFactoryHook, emulator: EmulatorServer, clock: FakeClock
) -> None:
    named = AzureDataFactoryHook(
        azure_data_factory_conn_id=CONN_ID,
        resource_group="rg-analytics",
        factory_name="adf-demo",
        sleep=clock.sleep,
    )
    run_id = named.run_pipeline("copy_sales").run_id
    assert named.get_factory()["name"] == "adf-demo"
    assert named.get_pipeline("copy_sales")["name"] == "copy_sales"
    assert named.get_pipeline_run_status(run_id) == "Queued"


def test_a_call_without_a_factory_on_a_credential_only_connection_names_both_places(
    hook: AzureDataFactoryHook, emulator: EmulatorServer
) -> None:
    with pytest.raises(AdfConfigurationError) as caught:
        hook.run_pipeline("copy_sales")
    assert str(caught.value) == (
        "resource_group: is missing, and so is factory_name; set them on the hook or the call "
        "(resource_group= (or resource_group_name=, the official name) and factory_name=) or "
        f"in the extras of connection '{CONN_ID}' (resource_group (or resource_group_name) "
        "and factory_name)"
    )
    assert emulator.request_counts() == {}


def test_an_unknown_run_option_is_refused_before_any_request(
    hook: AzureDataFactoryHook, emulator: EmulatorServer
) -> None:
    with pytest.raises(AdfConfigurationError, match=r"^paramters: is not an option"):
        hook.run_pipeline("copy_sales", **FACTORY, paramters={"region": "eu"})
    assert emulator.request_counts() == {}


def test_the_official_name_keeps_the_official_default_connection() -> None:
    assert AzureDataFactoryHook().conn_id == "azure_data_factory_default"
    assert "secret" not in repr(AzureDataFactoryHook(CONN_ID)).lower()


def test_refresh_conn_reads_the_connection_again(
    hook: AzureDataFactoryHook, monkeypatch: pytest.MonkeyPatch
) -> None:
    named = AzureDataFactoryHook(CONN_ID, resource_group="rg-analytics", factory_name="adf-demo")
    first = named.get_conn()
    assert named.get_conn() is first
    variable = f"AIRFLOW_CONN_{CONN_ID.upper()}"
    changed = json.loads(os.environ[variable])
    changed["password"] = "rotated-secret"
    monkeypatch.setenv(variable, json.dumps(changed))
    fresh = named.refresh_conn()
    assert fresh is not first
    assert fresh.settings.client_secret is not None
    assert fresh.settings.client_secret.reveal() == "rotated-secret"
