"""A connection may hold only the credentials and the subscription: each task names the factory.

The task's ``resource_group`` / ``resource_group_name`` and ``factory_name`` (given directly or
through ``default_args``) merge with the connection before anything is validated, wherever a
connection is read; what is missing in both is named with both places to set it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from airflow_adf_trigger.core.config.connection import settings_for_task
from airflow_adf_trigger.core.doctor import diagnose
from airflow_adf_trigger.core.errors import AdfConfigurationError
from airflow_adf_trigger.hooks.adf import AdfHook
from airflow_adf_trigger.links.adf import monitoring_url
from airflow_adf_trigger.operators.adf import AdfRunPipelineOperator
from airflow_adf_trigger.sensors.adf import AdfPipelineRunSensor
from airflow_adf_trigger.sensors.latest import AdfLatestPipelineRunSensor
from airflow_adf_trigger.triggers.events import AdfPipelineRunEventTrigger

from .fake_azure import FakeAzure, Harness
from .helpers import CLIENT_ID, RUN_ID, SECRET, SUBSCRIPTION, TENANT, make_settings

FACTORY_ID = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-analytics"
    "/providers/Microsoft.DataFactory/factories/adf-demo"
)
OFFICIAL_CREDENTIALS_ONLY = {
    "conn_type": "azure_data_factory",
    "login": CLIENT_ID,
    "password": SECRET,
    "extra": {"tenantId": TENANT, "subscriptionId": SUBSCRIPTION},
}
CREDENTIALS_ONLY_EXTRA = {"tenant_id": TENANT, "subscription_id": SUBSCRIPTION}


@pytest.fixture
def credentials_only(monkeypatch: pytest.MonkeyPatch) -> str:
    """An official-format connection without resource group or factory, as ``creds_only``."""
    monkeypatch.setenv("AIRFLOW_CONN_CREDS_ONLY", json.dumps(OFFICIAL_CREDENTIALS_ONLY))
    return "creds_only"


# ------------------------------------------------------------------ the merge, in the core


def test_the_task_names_the_factory_of_a_credential_only_connection() -> None:
    settings = settings_for_task(
        CLIENT_ID,
        SECRET,
        CREDENTIALS_ONLY_EXTRA,
        resource_group="rg-analytics",
        factory_name="adf-demo",
    )
    assert settings.factory.resource_id == FACTORY_ID


def test_the_task_wins_over_the_connection_whichever_name_the_connection_uses() -> None:
    extra = {
        **CREDENTIALS_ONLY_EXTRA,
        "resource_group_name": "rg-from-connection",
        "extra__adf__factory_name": "adf-from-connection",
    }
    settings = settings_for_task(
        CLIENT_ID, SECRET, extra, resource_group="rg-analytics", factory_name="adf-demo"
    )
    assert settings.factory.resource_id == FACTORY_ID
    from_connection = settings_for_task(CLIENT_ID, SECRET, extra)
    assert from_connection.factory.resource_group == "rg-from-connection"
    assert from_connection.factory.factory_name == "adf-from-connection"


def test_a_missing_factory_is_named_with_both_places_to_set_it() -> None:
    with pytest.raises(AdfConfigurationError) as caught:
        settings_for_task(CLIENT_ID, SECRET, CREDENTIALS_ONLY_EXTRA, conn_id="creds_only")
    assert str(caught.value) == (
        "resource_group: is missing, and so is factory_name; set them on the task "
        "(resource_group= (or resource_group_name=, the official name) and factory_name=; "
        "default_args work too) or in the extras of connection 'creds_only' "
        "(resource_group (or resource_group_name) and factory_name)"
    )
    assert caught.value.field == "resource_group"


def test_only_the_missing_half_is_named() -> None:
    with pytest.raises(AdfConfigurationError) as caught:
        settings_for_task(CLIENT_ID, SECRET, CREDENTIALS_ONLY_EXTRA, resource_group="rg-analytics")
    message = str(caught.value)
    assert message.startswith("factory_name: is missing; set it on the task (factory_name=;")
    assert "resource_group" not in message
    assert SECRET not in message


def test_the_task_values_are_validated_like_the_connection_values() -> None:
    with pytest.raises(AdfConfigurationError, match="factory_name: '-bad' is not a valid"):
        settings_for_task(
            CLIENT_ID, SECRET, CREDENTIALS_ONLY_EXTRA, resource_group="rg", factory_name="-bad"
        )


def test_other_fields_are_still_checked_first() -> None:
    with pytest.raises(AdfConfigurationError, match=r"^subscription_id: 'nope' is not a GUID"):
        settings_for_task(
            CLIENT_ID,
            SECRET,
            {"tenant_id": TENANT, "subscription_id": "nope"},
            resource_group="rg",
            factory_name="adf-demo",
        )


def test_credential_only_settings_address_no_factory() -> None:
    settings = settings_for_task(CLIENT_ID, SECRET, CREDENTIALS_ONLY_EXTRA, require_factory=False)
    assert settings.factory_ref is None
    assert settings.subscription_id == SUBSCRIPTION
    with pytest.raises(AdfConfigurationError, match=r"^resource_group: is missing"):
        _ = settings.factory
    pointed = settings.with_factory(resource_group="rg-analytics", factory_name="adf-demo")
    assert pointed.factory.resource_id == FACTORY_ID


def test_credential_only_settings_still_check_a_name_that_is_given() -> None:
    with pytest.raises(AdfConfigurationError, match=r"resource_group: 'rg\.' is not a valid"):
        settings_for_task(
            CLIENT_ID,
            SECRET,
            {**CREDENTIALS_ONLY_EXTRA, "resource_group": "rg."},
            require_factory=False,
        )


# ------------------------------------------------------------------ every Airflow reader


def official_default_args(conn_id: str) -> dict[str, Any]:
    """What the official provider's example DAG puts in ``default_args``."""
    return {
        "azure_data_factory_conn_id": conn_id,
        "factory_name": "adf-demo",
        "resource_group_name": "rg-analytics",
    }


def test_the_operator_and_both_sensors_take_the_factory_from_official_arguments(
    credentials_only: str,
) -> None:
    args = official_default_args(credentials_only)
    tasks = [
        AdfRunPipelineOperator(task_id="run", pipeline_name="copy_sales", **args),
        AdfPipelineRunSensor(task_id="sense", run_id=RUN_ID, **args),
        AdfLatestPipelineRunSensor(task_id="latest", pipeline_name="copy_sales", **args),
    ]
    for task in tasks:
        assert task.adf_conn_id == credentials_only
        assert task.hook.settings.factory.resource_id == FACTORY_ID


def test_the_run_trigger_reads_the_merged_settings_in_the_triggerer(
    credentials_only: str,
) -> None:
    operator = AdfRunPipelineOperator(
        task_id="run",
        pipeline_name="copy_sales",
        **official_default_args(credentials_only),
    )
    trigger = operator.run_trigger(RUN_ID)
    _, kwargs = trigger.serialize()
    assert (kwargs["resource_group"], kwargs["factory_name"]) == ("rg-analytics", "adf-demo")
    settings = asyncio.run(trigger.hook().async_settings())
    assert settings.factory.resource_id == FACTORY_ID


def test_the_event_trigger_reads_the_merged_settings(credentials_only: str) -> None:
    trigger = AdfPipelineRunEventTrigger(
        pipeline_names="copy_sales",
        adf_conn_id=credentials_only,
        resource_group="rg-analytics",
        factory_name="adf-demo",
    )
    settings = asyncio.run(trigger.hook().async_settings())
    assert settings.factory.resource_id == FACTORY_ID


def test_the_link_names_the_task_factory(credentials_only: str) -> None:
    sensor = AdfPipelineRunSensor(
        task_id="sense", run_id=RUN_ID, **official_default_args(credentials_only)
    )
    assert monitoring_url(sensor, RUN_ID) == (
        f"https://adf.azure.com/en-us/monitoring/pipelineruns/{RUN_ID}?factory={FACTORY_ID}"
    )


def test_a_task_without_a_factory_on_a_credential_only_connection_fails_clearly(
    credentials_only: str,
) -> None:
    operator = AdfRunPipelineOperator(
        task_id="run", pipeline_name="copy_sales", adf_conn_id=credentials_only
    )
    with pytest.raises(AdfConfigurationError) as caught:
        _ = operator.hook.settings
    assert str(caught.value).startswith("resource_group: is missing, and so is factory_name;")
    assert "connection 'creds_only'" in str(caught.value)


# ------------------------------------------------------------------ the Test button's check


def credential_only_report(fake: FakeAzure, clock: Any) -> tuple[str, str]:
    settings = make_settings(resource_group=None, factory_name=None, require_factory=False)
    client = Harness("sync", fake, settings, clock).client()
    (sign_in, subscription) = diagnose(settings, client=client, quick=True).checks
    assert sign_in.status == "ok"
    return subscription.status, subscription.detail


def test_the_subscription_check_lists_the_factories_the_principal_can_see(
    fake: FakeAzure, clock: Any
) -> None:
    fake.on("GET", "/factories", (200, {}, {"value": [{"name": "adf-b"}, {"name": "adf-a"}]}))
    assert credential_only_report(fake, clock) == (
        "ok",
        f"subscription {SUBSCRIPTION} answered: the service principal {CLIENT_ID} can see 2 "
        "data factories: adf-a, adf-b",
    )
    (seen,) = fake.requests_to("/factories")
    assert seen.path == f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.DataFactory/factories"
    assert seen.query["api-version"] == "2018-06-01"
    assert seen.headers["authorization"] == "Bearer tok"


def test_an_unknown_subscription_fails_the_check(fake: FakeAzure, clock: Any) -> None:
    body = {"error": {"code": "SubscriptionNotFound", "message": "not found"}}
    fake.on("GET", "/factories", (404, {}, body))
    status, detail = credential_only_report(fake, clock)
    assert status == "fail"
    assert detail.endswith("check subscription_id")


def test_a_principal_scoped_to_one_factory_is_warned_not_failed(
    fake: FakeAzure, clock: Any
) -> None:
    body = {"error": {"code": "AuthorizationFailed", "message": "no"}}
    fake.on("GET", "/factories", (403, {}, body))
    status, detail = credential_only_report(fake, clock)
    assert status == "warn"
    assert "HTTP 403 AuthorizationFailed (usual when the role is granted on one factory" in detail
    assert "each task's factory is checked when it runs" in detail


def test_the_test_button_of_a_credential_only_connection_says_tasks_choose_the_factory(
    credentials_only: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports: list[Any] = []

    def fake_diagnose(settings: Any, **kwargs: Any) -> Any:
        from airflow_adf_trigger.core.doctor import Check, DoctorReport

        reports.append((settings, kwargs))
        return DoctorReport(
            (
                Check("sign-in", "ok", "got a token"),
                Check("subscription", "ok", "subscription S answered"),
            )
        )

    monkeypatch.setattr("airflow_adf_trigger.core.doctor.diagnose", fake_diagnose)
    ok, message = AdfHook(credentials_only).test_connection()
    assert ok
    assert message == (
        "Signed in; subscription S answered. This connection names no data factory: each task "
        "chooses it (factory_name and resource_group, or resource_group_name)."
    )
    ((settings, kwargs),) = reports
    assert settings.factory_ref is None and kwargs["client"] is None
