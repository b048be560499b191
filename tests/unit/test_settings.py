"""Settings are validated before any request, with errors that name the field and the fix."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_adf_trigger.core.config.clouds import resolve_cloud
from airflow_adf_trigger.core.config.connection import settings_from_connection
from airflow_adf_trigger.core.errors import AdfConfigurationError

from .helpers import CLIENT_ID, SECRET, SUBSCRIPTION, TENANT, make_settings


@pytest.mark.parametrize(
    ("field", "value", "fix"),
    [
        ("tenant_id", "not a tenant", "Directory (tenant) ID"),
        ("tenant_id", "", "Directory (tenant) ID"),
        ("subscription_id", "1234", "subscription ID (a GUID)"),
        ("resource_group", "rg.", "resource group"),
        ("resource_group", "rg/evil", "resource group"),
        ("factory_name", "-bad", "factory's name"),
        ("factory_name", "ab", "factory's name"),
        ("client_id", "", "Application (client) ID"),
        ("identity", "kerberos", "managed_identity"),
        ("retry_max_attempts", "0", "use 1 (no retry) or more"),
        ("retry_max_attempts", "many", "is not a number"),
        ("request_timeout", "-1", "use seconds > 0"),
        ("request_timeout", "nan", "not a finite number"),
        ("request_timeout", "inf", "not a finite number"),
        ("retry_max_attempts", "inf", "not a finite number"),
        ("retry_max_attempts", "nan", "not a finite number"),
        ("retry_max_attempts", "2.5", "not a whole number"),
        ("retry_max_seconds", "nan", "not a finite number"),
        ("retry_max_seconds", "-inf", "not a finite number"),
        ("retry_max_seconds", "soon", "is not a number"),
    ],
)
def test_bad_field_is_named_with_its_fix(field: str, value: str, fix: str) -> None:
    overrides: dict[str, object] = {field: value}
    if field == "identity":
        overrides["client_secret"] = None
    with pytest.raises(AdfConfigurationError) as caught:
        make_settings(**overrides)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert fix in str(caught.value)


def test_tenant_may_be_a_domain_name() -> None:
    assert make_settings(tenant_id="contoso.onmicrosoft.com").tenant_id == "contoso.onmicrosoft.com"


def test_guids_are_normalised_to_lower_case() -> None:
    assert (
        make_settings(subscription_id=SUBSCRIPTION.upper()).factory.subscription_id == SUBSCRIPTION
    )


def test_plain_http_is_refused_except_on_loopback() -> None:
    with pytest.raises(AdfConfigurationError, match=r"management_endpoint: .*clear text"):
        make_settings(management_endpoint="http://adf.example.com")
    settings = make_settings(management_endpoint="http://127.0.0.1:8765/")
    assert settings.cloud.management_endpoint == "http://127.0.0.1:8765"


@pytest.mark.parametrize(
    ("name", "authority", "arm", "scope", "studio"),
    [
        (
            "public",
            "https://login.microsoftonline.com",
            "https://management.azure.com",
            "https://management.azure.com/.default",
            "adf.azure.com",
        ),
        (
            "china",
            "https://login.chinacloudapi.cn",
            "https://management.chinacloudapi.cn",
            "https://management.chinacloudapi.cn/.default",
            "adf.azure.cn",
        ),
        (
            "usgov",
            "https://login.microsoftonline.us",
            "https://management.usgovcloudapi.net",
            "https://management.core.usgovcloudapi.net/.default",
            "adf.azure.us",
        ),
    ],
)
def test_each_cloud_has_its_endpoints(
    name: str, authority: str, arm: str, scope: str, studio: str
) -> None:
    cloud = resolve_cloud(name)
    assert (cloud.authority_host, cloud.management_endpoint, cloud.scope, cloud.studio_host) == (
        authority,
        arm,
        scope,
        studio,
    )


def test_unknown_cloud_lists_the_choices() -> None:
    with pytest.raises(AdfConfigurationError, match=r"cloud: unknown cloud 'mars'.*public, china"):
        resolve_cloud("mars")


def test_secret_is_hidden_in_settings_repr() -> None:
    settings = make_settings()
    assert SECRET not in repr(settings)
    assert settings.client_secret.reveal() == SECRET


def test_task_overrides_point_the_same_credentials_at_another_factory() -> None:
    settings = make_settings().with_factory(factory_name="adf-other")
    assert settings.factory.factory_name == "adf-other"
    assert settings.factory.resource_group == "rg-analytics"
    with pytest.raises(AdfConfigurationError, match="factory_name"):
        make_settings().with_factory(factory_name="x")


def test_connection_extras_plain_or_form_prefixed() -> None:
    extra = {
        "extra__adf__tenant_id": TENANT,
        "subscription_id": SUBSCRIPTION,
        "extra__adf__resource_group": "rg-analytics",
        "factory_name": "adf-demo",
        "cloud": "usgov",
        "request_timeout": "12",
    }
    settings = settings_from_connection("client", SECRET, extra)
    assert settings.tenant_id == TENANT
    assert settings.factory.resource_group == "rg-analytics"
    assert settings.cloud.name == "usgov"
    assert settings.request_timeout == 12.0


def test_connection_without_factory_names_the_missing_extra() -> None:
    with pytest.raises(AdfConfigurationError, match="factory_name: is missing"):
        settings_from_connection(
            "client",
            SECRET,
            {"tenant_id": TENANT, "subscription_id": SUBSCRIPTION, "resource_group": "rg"},
        )


def test_without_a_secret_an_azure_identity_credential_signs_in() -> None:
    settings = make_settings(client_secret="", identity="managed_identity")
    assert settings.client_secret is None
    assert settings.identity == "managed_identity"
    assert settings.credential_label == "azure-identity managed_identity credential"
    assert make_settings(client_secret=None).identity == "default"


def test_identity_together_with_a_secret_is_refused() -> None:
    with pytest.raises(AdfConfigurationError, match="identity: 'azure_cli' was given together"):
        make_settings(identity="azure_cli")


def test_retry_budget_comes_from_the_connection() -> None:
    extra = {
        "tenant_id": TENANT,
        "subscription_id": SUBSCRIPTION,
        "resource_group": "rg",
        "factory_name": "adf-demo",
        "retry_max_attempts": "3",
        "retry_max_seconds": 40,
    }
    retry = settings_from_connection("client", SECRET, extra).retry
    assert (retry.max_attempts, retry.max_total_seconds) == (3, 40.0)


@pytest.mark.parametrize(
    ("cloud", "host"),
    [("public", "adf.azure.com"), ("china", "adf.azure.cn"), ("usgov", "adf.azure.us")],
)
def test_monitoring_links_point_at_the_clouds_studio(cloud: str, host: str) -> None:
    settings = make_settings(cloud=cloud)
    factory = (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-analytics"
        "/providers/Microsoft.DataFactory/factories/adf-demo"
    )
    run_id = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
    assert settings.factory.monitoring_url(settings.cloud, run_id) == (
        f"https://{host}/en-us/monitoring/pipelineruns/{run_id}?factory={factory}"
    )
    assert settings.factory.monitoring_url(settings.cloud) == (
        f"https://{host}/en-us/monitoring/pipelineruns?factory={factory}"
    )


@pytest.mark.parametrize("prefix", ["", "extra__azure_data_factory__"])
def test_official_provider_connections_work_unchanged(prefix: str) -> None:
    extra = {
        f"{prefix}tenantId": TENANT,
        f"{prefix}subscriptionId": SUBSCRIPTION,
        f"{prefix}resource_group_name": "rg-analytics",
        f"{prefix}factory_name": "adf-demo",
    }
    settings = settings_from_connection("client", SECRET, extra)
    assert settings.tenant_id == TENANT
    assert settings.factory.subscription_id == SUBSCRIPTION
    assert settings.factory.resource_group == "rg-analytics"
    assert settings.factory.factory_name == "adf-demo"


@pytest.mark.parametrize(
    ("kind", "class_name"),
    [
        ("default", "DefaultAzureCredential"),
        ("managed_identity", "ManagedIdentityCredential"),
        ("azure_cli", "AzureCliCredential"),
        ("environment", "EnvironmentCredential"),
    ],
)
def test_each_identity_kind_builds_its_azure_identity_credential(
    kind: str, class_name: str
) -> None:
    from airflow_adf_trigger.core.wire.auth import identity_credential

    settings = make_settings(client_secret=None, identity=kind)
    credential = identity_credential(settings)
    assert type(credential).__name__ == class_name
    assert identity_credential(settings) is credential  # one per process and settings


def test_workload_identity_is_built_from_its_token_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from airflow_adf_trigger.core.wire.auth import identity_credential

    token_file = tmp_path / "token"
    token_file.write_text("federated-token")
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))
    credential = identity_credential(
        make_settings(client_secret=None, identity="workload_identity")
    )
    assert type(credential).__name__ == "WorkloadIdentityCredential"


def test_an_official_connection_without_secret_or_tenant_signs_in_with_azure_identity() -> None:
    extra = {
        "subscriptionId": SUBSCRIPTION,
        "resource_group_name": "rg-analytics",
        "factory_name": "adf-demo",
        "extra__azure_data_factory__managed_identity_client_id": CLIENT_ID.upper(),
        "workload_identity_tenant_id": "contoso.onmicrosoft.com",
    }
    settings = settings_from_connection(None, None, extra)
    assert (settings.identity, settings.tenant_id) == ("default", None)
    assert settings.managed_identity_client_id == CLIENT_ID  # a GUID, lower-cased
    assert settings.workload_identity_tenant_id == "contoso.onmicrosoft.com"


def test_a_client_secret_still_needs_the_tenant() -> None:
    with pytest.raises(AdfConfigurationError, match=r"^tenant_id: is missing"):
        settings_from_connection("client", SECRET, {"subscription_id": SUBSCRIPTION})


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("managed_identity_client_id", "mi", "managed_identity_client_id: 'mi' is not a GUID"),
        (
            "workload_identity_tenant_id",
            "not a tenant",
            "workload_identity_tenant_id: 'not a tenant' is neither a GUID nor a domain",
        ),
    ],
)
def test_the_official_identity_extras_are_checked(key: str, value: str, expected: str) -> None:
    extra = {"subscription_id": SUBSCRIPTION, key: value}
    with pytest.raises(AdfConfigurationError) as caught:
        settings_from_connection(None, None, extra, require_factory=False)
    assert str(caught.value).startswith(expected)


def test_the_official_identity_extras_reach_default_azure_credential(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import azure.identity

    from airflow_adf_trigger.core.wire.auth import identity_credential

    built: list[dict[str, Any]] = []

    class Recorder:
        def __init__(self, **kwargs: Any) -> None:
            built.append(kwargs)

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", Recorder)
    managed = "aaaaaaaa-1111-2222-3333-444444444444"
    settings = make_settings(
        client_secret=None,
        tenant_id=None,
        managed_identity_client_id=managed,
        workload_identity_tenant_id=TENANT,
    )
    identity_credential(settings)
    (kwargs,) = built
    assert kwargs["managed_identity_client_id"] == managed
    assert kwargs["workload_identity_tenant_id"] == TENANT


def test_without_azure_identity_the_error_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    from airflow_adf_trigger.core.wire.auth import identity_credential

    monkeypatch.setitem(sys.modules, "azure.identity", None)  # import fails
    settings = make_settings(
        client_secret=None, managed_identity_client_id="bbbbbbbb-1111-2222-3333-444444444444"
    )
    with pytest.raises(AdfConfigurationError) as caught:
        identity_credential(settings)
    assert "pip install 'airflow-adf-trigger[identity]'" in str(caught.value)
    assert caught.value.field == "client_secret"
