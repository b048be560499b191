"""The emulator over HTTPS: a self-signed certificate that clients trust only when told to."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest
import requests

from airflow_adf_trigger.core.config.connection import settings_from_connection
from airflow_adf_trigger.core.config.settings import AdfSettings
from airflow_adf_trigger.core.errors import AdfConnectionError, AdfRunOutcomeUnknownError
from airflow_adf_trigger.core.runs.models import RunStatus
from airflow_adf_trigger.core.wire.auth import TokenCache
from airflow_adf_trigger.core.wire.client import AdfClient
from airflow_adf_trigger.emulator import EmulatorServer, Scenario
from airflow_adf_trigger.emulator.__main__ import main as emulator_main
from tests.conftest import SCENARIOS
from tests.emulator_fixtures import Emulators


def quick_scenario() -> Scenario:
    return Scenario.from_json(
        {
            "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "subscription_id": "12345678-1234-1234-1234-123456789abc",
            "resource_group": "rg-analytics",
            "factory_name": "adf-tls",
            "service_principals": [
                {"client_id": "0d3c4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f", "client_secret": "tls-s"}
            ],
            "pipelines": {"copy_sales": {"queued_seconds": 0.05, "duration_seconds": 0.1}},
        }
    )


@pytest.fixture(scope="module")
def https_emulator(module_emulator_for: Emulators) -> EmulatorServer:
    return module_emulator_for(quick_scenario(), tls=True)


def settings_for(emulator: EmulatorServer, base_url: str | None = None) -> AdfSettings:
    connection = emulator.state.scenario.airflow_connection(base_url or emulator.url)
    extra = {**connection["extra"], "retry_max_attempts": 2, "request_timeout": 5}
    return settings_from_connection(connection["login"], connection["password"], extra)


def session(verify: str | bool) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no REQUESTS_CA_BUNDLE from the environment
    session.verify = verify
    return session


def test_plain_http_stays_the_default(emulator_for: Emulators) -> None:
    emulator = emulator_for(quick_scenario())
    assert emulator.url.startswith("http://127.0.0.1:")
    assert emulator.ca_file is None
    assert not emulator.tls


def test_a_client_that_trusts_the_certificate_runs_a_pipeline_over_https(
    https_emulator: EmulatorServer,
) -> None:
    assert https_emulator.url.startswith("https://127.0.0.1:")
    assert https_emulator.ca_file is not None and Path(https_emulator.ca_file).is_file()
    before = https_emulator.runs_created
    client = AdfClient(
        settings_for(https_emulator),
        session=session(https_emulator.ca_file),
        token_cache=TokenCache(),
    )
    with client:
        run = client.wait_for_run(client.create_run("copy_sales"), poll_interval=0.05)
    assert run.status is RunStatus.SUCCEEDED
    assert https_emulator.runs_created == before + 1


def test_the_certificate_names_localhost_too(https_emulator: EmulatorServer) -> None:
    localhost = https_emulator.url.replace("127.0.0.1", "localhost")
    answer = session(str(https_emulator.ca_file)).get(f"{localhost}/_emulator/stats", timeout=5)
    assert answer.status_code == 200
    # The standard library's client accepts it as well (it is its own CA).
    context = ssl.create_default_context(cafile=https_emulator.ca_file)
    with context.wrap_socket(
        socket.create_connection(("127.0.0.1", https_emulator.port), timeout=5),
        server_hostname="127.0.0.1",
    ) as connection:
        assert connection.version() in ("TLSv1.2", "TLSv1.3")


def test_a_client_that_does_not_trust_it_fails_on_the_certificate(
    https_emulator: EmulatorServer,
) -> None:
    client = AdfClient(
        settings_for(https_emulator), session=session(True), token_cache=TokenCache()
    )
    with client, pytest.raises(AdfConnectionError, match="certificate"):
        client.get_run("00000000-0000-0000-0000-000000000000")


def test_create_run_refused_by_tls_is_not_an_unknown_outcome(
    https_emulator: EmulatorServer,
) -> None:
    """The handshake fails before the request is sent: nothing can have started."""
    cache = TokenCache()
    with AdfClient(
        settings_for(https_emulator), session=session(https_emulator.ca_file), token_cache=cache
    ) as trusting:
        trusting.get_factory()  # a token in the shared cache: create-run is the first call
    before = https_emulator.runs_created
    untrusting = AdfClient(settings_for(https_emulator), session=session(True), token_cache=cache)
    with untrusting, pytest.raises(AdfConnectionError, match="certificate") as raised:
        untrusting.create_run("copy_sales")
    assert not isinstance(raised.value, AdfRunOutcomeUnknownError)
    assert "TLS" in str(raised.value)
    assert https_emulator.runs_created == before


def test_the_command_line_wants_tls_for_a_ca_file(tmp_path: Path) -> None:
    assert emulator_main(["--port", "0", "--ca-file", str(tmp_path / "ca.pem")]) == 2


def test_a_real_azure_identity_credential_signs_in_to_the_emulator(
    emulator_for: Emulators,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No secret in the connection: azure-identity's EnvironmentCredential gets the token."""
    scenario = Scenario.load(SCENARIOS / "demo.json")
    emulator = emulator_for(scenario, tls=True)
    principal = scenario.service_principals[0]
    monkeypatch.setenv("AZURE_TENANT_ID", scenario.tenant_id)
    monkeypatch.setenv("AZURE_CLIENT_ID", principal.client_id)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", principal.client_secret)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", emulator.ca_file)  # azure-identity's transport
    extra = {**scenario.airflow_connection(emulator.url)["extra"], "identity": "environment"}
    settings = settings_from_connection(None, None, extra)
    session = requests.Session()
    session.verify = emulator.ca_file
    with AdfClient(settings, session=session) as client:
        assert client.get_factory()["name"] == "adf-demo"
        assert client.get_factory()["name"] == "adf-demo"
    assert emulator.request_counts() == {"token": 1, "get factory": 2}
