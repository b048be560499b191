"""Azure AD's client-credentials token endpoints, v1 (``oauth2/token``) and v2.

Each behaviour names its public source in a "Source:" note, or says it is a guess.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from urllib.parse import parse_qs, unquote_plus

from airflow_adf_trigger.emulator.state import EmulatorState
from airflow_adf_trigger.emulator.wire import Request, Response, aad_error

# The ARM audience in every spelling Azure AD accepts. Source: Microsoft identity platform
# docs (v1 ``resource``, v2 ``scope`` = resource + "/.default", so the classic
# "https://management.core.windows.net/" becomes ".../windows.net//.default", as the Azure CLI
# asks); azure-powershell issue 27882 and azure-tools-for-java issue 3900 logs. The China
# and US Gov spellings are the scopes the azure-facts list gives.
ARM_SCOPES = (
    "https://management.azure.com/.default",
    "https://management.core.windows.net//.default",
    "https://management.chinacloudapi.cn/.default",
    "https://management.core.usgovcloudapi.net/.default",
)
ARM_RESOURCES = (
    "https://management.azure.com/",
    "https://management.azure.com",
    "https://management.core.windows.net/",
    "https://management.chinacloudapi.cn/",
    "https://management.core.usgovcloudapi.net/",
)
TOKEN_ENDPOINTS = ("oauth2/token", "oauth2/v2.0/token")
_AUDIENCES = {  # v1 or not -> the form field naming the audience, its values, the refusal
    True: ("resource", ARM_RESOURCES, "invalid_resource", 500011),
    False: ("scope", ARM_SCOPES, "invalid_scope", 70011),
}


def is_token_request(request: Request) -> bool:
    """Whether the request is ``POST /{tenant}/oauth2[/v2.0]/token``."""
    return (
        request.method == "POST"
        and len(request.segments) >= 3
        and "/".join(request.segments[1:]) in TOKEN_ENDPOINTS
    )


def is_metadata_request(request: Request) -> bool:
    """``GET /{tenant}/v2.0/.well-known/openid-configuration`` (MSAL asks it of an authority)."""
    return request.method == "GET" and request.segments[1:] in (
        ("v2.0", ".well-known", "openid-configuration"),
        (".well-known", "openid-configuration"),
    )


def openid_configuration(state: EmulatorState, request: Request) -> Response:
    """The tenant's OpenID metadata, pointing at this emulator's own endpoints.

    It lists the client authentication methods the token endpoint honours here: form fields
    and HTTP Basic (Source: login.microsoftonline.com's own metadata lists
    client_secret_post and client_secret_basic, with private_key_jwt, which the emulator
    does not serve). An unknown tenant: 400 ``invalid_tenant`` AADSTS90002 (Source: the OIDC
    discovery answer quoted in james-gould/azure-keyvault-emulator issue 324).
    """
    tenant = request.segments[0]
    if tenant.lower() != state.scenario.tenant_id.lower():
        return aad_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
    base = f"{state.scheme}://{request.headers.get('host', '127.0.0.1')}/{tenant}"
    return Response(
        200,
        {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "issuer": f"{base}/v2.0",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "response_types_supported": ["code", "id_token", "token"],
            "tenant_region_scope": "EU",
        },
    )


def issue_token(state: EmulatorState, request: Request) -> Response:
    """Check tenant, grant, audience and client secret; answer a token or AAD's error.

    The client authenticates with form fields (client_secret_post) or HTTP Basic
    (client_secret_basic: the URL-encoded id and secret, RFC 6749 section 2.3.1). Source for
    the error codes: the azure-facts list (AADSTS7000215 invalid_client 401, 7000222 expired
    secret, 700016 unknown application; its 400 status is inferred).
    """
    tenant = request.segments[0]
    v1 = "/".join(request.segments[1:]) == "oauth2/token"
    form = {k: v[-1] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
    basic = _basic_credentials(request)
    if basic is not None:
        form["client_id"], form["client_secret"] = basic
    scenario = state.scenario
    if tenant.lower() != scenario.tenant_id.lower():
        # Source: azure-tools-for-java issue 3900 log (HTTP 400, invalid_request, AADSTS90002
        # and this wording); also microsoftarchive/BatchAI PR 31. invalid_tenant is what
        # OIDC discovery answers, not the token endpoint.
        return aad_error(
            400,
            "invalid_request",
            90002,
            f"Tenant '{tenant}' not found. This may happen if there are no active "
            "subscriptions for the tenant. Check to make sure you have the correct tenant ID. "
            "Check with your subscription administrator.",
        )
    if form.get("grant_type") != "client_credentials":
        return aad_error(
            400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
        )
    # The codes (AADSTS500011 v1, 70011 v2) are inferred from Microsoft's error-code list;
    # the wording is a guess.
    name, accepted, error, code = _AUDIENCES[v1]
    audience = form.get(name)
    if audience not in accepted:
        text = f"The provided value for the input parameter '{name}' is not valid."
        return aad_error(400, error, code, text)
    client_id = form.get("client_id", "")
    principal = next((p for p in scenario.service_principals if p.client_id == client_id), None)
    if principal is None:
        return aad_error(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory '{tenant}'.",
        )
    if not secrets.compare_digest(form.get("client_secret", ""), principal.client_secret):
        return aad_error(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request "
            "is the client secret value, not the client secret ID, for a secret added to "
            f"app '{client_id}'.",
        )
    if principal.secret_expired:
        return aad_error(
            401,
            "invalid_client",
            7000222,
            f"The provided client secret keys for app '{client_id}' are expired. Visit the "
            "Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or "
            "consider using certificate credentials for added security: "
            "https://aka.ms/certCreds.",
        )
    # Source for both token bodies: the azure-facts list (v2 numbers are integers, v1's are
    # strings with expires_on, not_before and resource). The token is opaque, not a JWT.
    token = "emu." + secrets.token_urlsafe(24)
    with state.lock:
        lifetime = state.settings.token_lifetime_seconds
        now = state.clock()
        state.tokens[token] = (client_id, now + lifetime)
    expires = str(lifetime) if v1 else lifetime
    body: dict[str, object] = {
        "token_type": "Bearer",
        "expires_in": expires,
        "ext_expires_in": expires,
    }
    if v1:
        issued = int(state.wall(now).timestamp())
        body.update(expires_on=str(issued + lifetime), not_before=str(issued), resource=audience)
    return Response(200, {**body, "access_token": token})


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    """(client id, secret) from ``Authorization: Basic``, if sent and well formed."""
    scheme, _, credential = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credential.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        return None
    return unquote_plus(client_id), unquote_plus(secret)
