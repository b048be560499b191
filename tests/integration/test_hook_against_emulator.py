"""AdfHook: the Test button, links and on_kill, against the emulator."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_adf_trigger.emulator import EmulatorServer, Scenario
from airflow_adf_trigger.hooks.adf import AdfHook
from airflow_adf_trigger.links.adf import FALLBACK_URL, AdfPipelineRunLink
from airflow_adf_trigger.operators.adf import AdfRunPipelineOperator
from tests.clock import FakeClock
from tests.emulator_fixtures import Emulators, states

FACTORY_ID = (
    "/subscriptions/12345678-1234-1234-1234-123456789abc/resourceGroups/rg-analytics"
    "/providers/Microsoft.DataFactory/factories/adf-demo"
)


@pytest.fixture
def emulator(emulator_for: Emulators, demo_scenario: Scenario, clock: FakeClock) -> EmulatorServer:
    """The demo scenario on a clock nobody moves: a run stays as the hook left it."""
    return emulator_for(demo_scenario, clock=clock)


def set_connection(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer, **changes: Any
) -> None:
    connection = emulator.state.scenario.airflow_connection(emulator.url)
    extra = {**connection["extra"], **changes.pop("extra", {})}
    monkeypatch.setenv(
        "AIRFLOW_CONN_ADF_DEFAULT", json.dumps({**connection, **changes, "extra": extra})
    )


def test_test_button_signs_in_and_reads_the_factory(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer
) -> None:
    set_connection(monkeypatch, emulator)
    assert AdfHook().test_connection() == (True, "Signed in and found data factory 'adf-demo'.")
    assert emulator.request_counts() == {"token": 1, "get factory": 1}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"password": "wrong-secret-value"}, "AADSTS7000215"),
        ({"extra": {"factory_name": "adf-missing"}}, "check factory_name"),
        ({"extra": {"resource_group": "rg-missing"}}, "check resource_group"),
        (
            {"extra": {"subscription_id": "not-a-guid"}},
            "subscription_id: 'not-a-guid' is not a GUID",
        ),
    ],
)
def test_test_button_gives_the_precise_reason(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer, changes: dict[str, Any], reason: str
) -> None:
    set_connection(monkeypatch, emulator, **changes)
    ok, message = AdfHook().test_connection()
    assert not ok
    assert reason in message
    assert "wrong-secret-value" not in message


def test_test_button_names_the_missing_role(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer
) -> None:
    set_connection(monkeypatch, emulator)
    emulator.add_fault(
        operation="get factory", action="status", status=403, code="AuthorizationFailed"
    )
    ok, message = AdfHook().test_connection()
    assert not ok
    assert f"grant it the 'Data Factory Contributor' role on {FACTORY_ID}" in message


def test_link_points_at_the_factory_before_a_run_and_at_the_run_after(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer
) -> None:
    set_connection(monkeypatch, emulator)
    operator = AdfRunPipelineOperator(task_id="t", pipeline_name="copy_sales")
    link = AdfPipelineRunLink()
    before = link.get_link(operator, ti_key=None)  # type: ignore[arg-type]
    assert before == f"https://adf.azure.com/en-us/monitoring/pipelineruns?factory={FACTORY_ID}"
    operator.run_id = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
    after = link.get_link(operator, ti_key=None)  # type: ignore[arg-type]
    assert after.startswith(
        f"https://adf.azure.com/en-us/monitoring/pipelineruns/{operator.run_id}?"
    )


def test_link_is_never_empty_even_without_a_readable_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_ADF_BROKEN", json.dumps({"conn_type": "adf", "extra": {}}))
    operator = AdfRunPipelineOperator(task_id="t", pipeline_name="p", adf_conn_id="adf_broken")
    assert AdfPipelineRunLink().get_link(operator, ti_key=None) == FALLBACK_URL  # type: ignore[arg-type]


def test_on_kill_before_the_run_exists_sends_nothing(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer, capfd: pytest.CaptureFixture[str]
) -> None:
    set_connection(monkeypatch, emulator)
    operator = AdfRunPipelineOperator(task_id="t", pipeline_name="copy_sales")
    operator.on_kill()  # killed before execute even started
    from datetime import UTC, datetime

    operator._create_sent_at = datetime.now(UTC)  # killed while create-run was in flight
    operator.on_kill()
    assert emulator.request_counts() == {}
    captured = capfd.readouterr()
    assert "Killed while starting pipeline 'copy_sales'" in captured.out + captured.err


def test_on_kill_cancels_the_run_and_its_children(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer
) -> None:
    set_connection(monkeypatch, emulator)
    operator = AdfRunPipelineOperator(task_id="t", pipeline_name="copy_sales")
    operator.run_id = operator.hook.client.create_run("copy_sales")
    operator.on_kill()
    (summary,) = emulator.run_summaries()
    assert (summary["status"], summary["cancelled_recursive"]) == ("Canceling", True)


def test_on_kill_leaves_the_run_when_asked(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer
) -> None:
    set_connection(monkeypatch, emulator)
    operator = AdfRunPipelineOperator(task_id="t", pipeline_name="copy_sales", cancel_on_kill=False)
    operator.run_id = operator.hook.client.create_run("copy_sales")
    operator.on_kill()
    assert emulator.request_counts().get("cancel run", 0) == 0
    assert states(emulator) == ["Queued"]


def set_credentials_only(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer, **changes: Any
) -> None:
    """The scenario's connection without resource group and factory: tasks name them."""
    connection = emulator.state.scenario.airflow_connection(emulator.url)
    kept = {
        key: value
        for key, value in connection["extra"].items()
        if key not in ("resource_group", "factory_name")
    }
    extra = {**kept, **changes.pop("extra", {})}
    monkeypatch.setenv(
        "AIRFLOW_CONN_ADF_DEFAULT", json.dumps({**connection, **changes, "extra": extra})
    )


def test_test_button_of_a_credential_only_connection_signs_in_and_checks_the_subscription(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer
) -> None:
    set_credentials_only(monkeypatch, emulator)
    ok, message = AdfHook().test_connection()
    assert ok, message
    assert message.startswith("Signed in; subscription 12345678-1234-1234-1234-123456789abc ")
    assert message.endswith(
        "This connection names no data factory: each task chooses it (factory_name and "
        "resource_group, or resource_group_name)."
    )
    assert emulator.request_counts()["token"] == 1
    # The emulator does not serve Factories_List: the subscription is answered but unconfirmed.
    assert "was not confirmed: listing its data factories answered HTTP 404" in message


def test_test_button_of_a_credential_only_connection_fails_on_a_wrong_secret_or_subscription(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer
) -> None:
    other = "00000000-0000-0000-0000-000000000000"
    set_credentials_only(monkeypatch, emulator, extra={"subscription_id": other})
    ok, message = AdfHook().test_connection()
    assert (ok, message) == (
        False,
        "Subscription 00000000-0000-0000-0000-000000000000 was not found, or the service "
        "principal 0d3c4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f has no access to it: check "
        "subscription_id",
    )
    set_credentials_only(monkeypatch, emulator, password="wrong-secret-value")
    ok, message = AdfHook().test_connection()
    assert not ok and "AADSTS7000215" in message
    assert "wrong-secret-value" not in message


def test_a_task_names_the_factory_of_a_credential_only_connection(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer
) -> None:
    set_credentials_only(monkeypatch, emulator)
    operator = AdfRunPipelineOperator(
        task_id="t",
        pipeline_name="copy_sales",
        resource_group_name="rg-analytics",
        factory_name="adf-demo",
    )
    run_id = operator.hook.client.create_run("copy_sales")
    assert states(emulator) == ["Queued"]
    assert AdfPipelineRunLink().get_link(operator, ti_key=None) == (  # type: ignore[arg-type]
        f"https://adf.azure.com/en-us/monitoring/pipelineruns?factory={FACTORY_ID}"
    )
    assert run_id in emulator.state.runs
