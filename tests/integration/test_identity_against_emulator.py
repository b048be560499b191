"""No secret in an official-format connection: DefaultAzureCredential signs in, as there.

azure-identity is pointed at the emulator (over TLS, which it requires) through the
variables its EnvironmentCredential reads, the first credential DefaultAzureCredential
tries. Managed identity (the instance metadata endpoint) and workload identity (a federated
token exchange) cannot be shown offline: the emulator serves neither.
"""

from __future__ import annotations

import json

import pytest

from airflow_adf_trigger.emulator import EmulatorServer, Scenario
from airflow_adf_trigger.hooks.adf import AdfHook
from tests.conftest import SCENARIOS
from tests.emulator_fixtures import Emulators


@pytest.fixture
def emulator(emulator_for: Emulators, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """The demo scenario over TLS; azure-identity's environment names its service principal."""
    scenario = Scenario.load(SCENARIOS / "demo.json")
    server = emulator_for(scenario, tls=True)
    principal = scenario.service_principals[0]
    monkeypatch.setenv("AZURE_TENANT_ID", scenario.tenant_id)
    monkeypatch.setenv("AZURE_CLIENT_ID", principal.client_id)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", principal.client_secret)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_file)  # azure-identity and requests
    return server


def official_connection(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer, **extra: str
) -> None:
    """An ``azure_data_factory`` connection with neither secret nor tenant, as ``adf_default``."""
    connection = {
        "conn_type": "azure_data_factory",
        "extra": {
            "subscriptionId": emulator.state.scenario.subscription_id,
            "authority_host": emulator.url,
            "management_endpoint": emulator.url,
            **extra,
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_ADF_DEFAULT", json.dumps(connection))


def test_without_a_secret_or_tenant_default_azure_credential_reads_the_factory(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    official_connection(
        monkeypatch, emulator, resource_group_name="rg-analytics", factory_name="adf-demo"
    )
    hook = AdfHook()
    assert (hook.settings.identity, hook.settings.tenant_id) == ("default", None)
    assert hook.test_connection() == (True, "Signed in and found data factory 'adf-demo'.")
    assert emulator.request_counts() == {"token": 1, "get factory": 1}


def test_the_factory_named_by_the_task_on_an_identity_connection(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    official_connection(monkeypatch, emulator)
    hook = AdfHook(resource_group="rg-analytics", factory_name="adf-demo")
    run_id = hook.client.create_run("copy_sales")
    assert hook.client.get_run(run_id).run_id == run_id
    ok, message = AdfHook().test_connection()
    assert ok, message
    assert "This connection names no data factory" in message
