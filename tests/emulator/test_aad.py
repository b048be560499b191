"""The emulator's Azure AD: audiences, tenants and client authentication as Azure AD's.

Each test names its source; docs/emulator-fidelity.md lists them all.
"""

from __future__ import annotations

import base64

import pytest
import requests

from airflow_adf_trigger.emulator import EmulatorServer
from tests.clock import FakeClock
from tests.emulator.test_protocol import (
    API,
    CLIENT_ID,
    SECRET,
    TENANT,
    Adf,
    scenario_json,
)
from tests.emulator_fixtures import Emulators


@pytest.fixture
def server(emulator_for: Emulators, clock: FakeClock) -> EmulatorServer:
    return emulator_for(scenario_json(), clock=clock)


def token(server: EmulatorServer, *, v1: bool = False, **form: str) -> requests.Response:
    fields = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET}
    path = "oauth2/token" if v1 else "oauth2/v2.0/token"
    return requests.post(
        f"{server.url}/{form.pop('tenant', TENANT)}/{path}", data={**fields, **form}, timeout=5
    )


@pytest.mark.parametrize(
    ("v1", "audience"),
    [
        (True, "https://management.azure.com/"),
        (True, "https://management.azure.com"),
        (True, "https://management.core.windows.net/"),
        (False, "https://management.azure.com/.default"),
        (False, "https://management.core.windows.net//.default"),
    ],
)
def test_every_spelling_of_the_arm_audience_gets_a_token(
    server: EmulatorServer, v1: bool, audience: str
) -> None:
    answer = token(server, v1=v1, **{"resource" if v1 else "scope": audience})
    assert answer.status_code == 200, answer.text
    bearer = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    adf = Adf(server)
    assert requests.get(adf.factory, params=API, headers=bearer, timeout=5).status_code == 200


@pytest.mark.parametrize(
    ("v1", "audience"),
    [(True, "https://graph.microsoft.com/"), (False, "https://management.azure.com/")],
)
def test_other_audiences_are_refused(server: EmulatorServer, v1: bool, audience: str) -> None:
    answer = token(server, v1=v1, **{"resource" if v1 else "scope": audience})
    assert answer.status_code == 400
    assert answer.json()["error"] == ("invalid_resource" if v1 else "invalid_scope")


@pytest.mark.parametrize("v1", [True, False])
def test_an_unknown_tenant_is_invalid_request_aadsts90002(server: EmulatorServer, v1: bool) -> None:
    """azure-tools-for-java issue 3900: the token endpoint says invalid_request."""
    audience = {"resource": "https://management.azure.com/"} if v1 else {}
    answer = token(
        server,
        v1=v1,
        tenant="contoso.onmicrosoft.com",
        scope="https://management.azure.com/.default",
        **audience,
    )
    assert answer.status_code == 400
    body = answer.json()
    assert (body["error"], body["error_codes"]) == ("invalid_request", [90002])
    assert body["error_description"].startswith(
        "AADSTS90002: Tenant 'contoso.onmicrosoft.com' not found."
    )


def test_discovery_of_an_unknown_tenant_is_invalid_tenant(server: EmulatorServer) -> None:
    answer = requests.get(
        f"{server.url}/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration", timeout=5
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_tenant"


def test_the_metadata_advertises_only_client_auth_the_endpoint_honours(
    server: EmulatorServer,
) -> None:
    metadata = requests.get(
        f"{server.url}/{TENANT}/v2.0/.well-known/openid-configuration", timeout=5
    ).json()
    methods = metadata["token_endpoint_auth_methods_supported"]
    assert set(methods) == {"client_secret_post", "client_secret_basic"}
    credential = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    basic = requests.post(
        metadata["token_endpoint"],
        data={"grant_type": "client_credentials", "scope": "https://management.azure.com/.default"},
        headers={"Authorization": f"Basic {credential}"},
        timeout=5,
    )
    assert basic.status_code == 200, basic.text
    wrong = base64.b64encode(f"{CLIENT_ID}:nope".encode()).decode()
    refused = requests.post(
        metadata["token_endpoint"],
        data={"grant_type": "client_credentials", "scope": "https://management.azure.com/.default"},
        headers={"Authorization": f"Basic {wrong}"},
        timeout=5,
    )
    assert refused.status_code == 401
    assert refused.json()["error_codes"] == [7000215]


def test_basic_credentials_are_url_decoded(emulator_for: Emulators, clock: FakeClock) -> None:
    """RFC 6749 2.3.1: id and secret are form-encoded before the Basic encoding."""
    body = scenario_json()
    body["service_principals"] = [{"client_id": CLIENT_ID, "client_secret": "a:b+c/d="}]
    server = emulator_for(body, clock=clock)
    credential = base64.b64encode(f"{CLIENT_ID}:a%3Ab%2Bc%2Fd%3D".encode()).decode()
    answer = requests.post(
        f"{server.url}/{TENANT}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "scope": "https://management.azure.com/.default",
        },
        headers={"Authorization": f"Basic {credential}"},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text
