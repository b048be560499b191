"""Azure AD's client-credentials token endpoints, v1 (``oauth2/token``) and v2."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs

from airflow_adf_trigger.emulator.state import EmulatorState
from airflow_adf_trigger.emulator.wire import Request, Response, aad_error

ARM_SCOPES = (
    "https://management.azure.com/.default",
    "https://management.chinacloudapi.cn/.default",
    "https://management.core.usgovcloudapi.net/.default",
)
ARM_RESOURCES = tuple(scope.removesuffix(".default") for scope in ARM_SCOPES)
TOKEN_ENDPOINTS = ("oauth2/token", "oauth2/v2.0/token")


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
    """The tenant's OpenID metadata, pointing at this emulator's own endpoints."""
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
    """Check tenant, grant, audience and client secret; answer a token or AAD's error."""
    tenant = request.segments[0]
    v1 = "/".join(request.segments[1:]) == "oauth2/token"
    form = {k: v[-1] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
    scenario = state.scenario
    if tenant.lower() != scenario.tenant_id.lower():
        return aad_error(
            400,
            "invalid_tenant",
            90002,
            f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant "
            "ID and are signing into the correct cloud.",
        )
    if form.get("grant_type") != "client_credentials":
        return aad_error(
            400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
        )
    audience = form.get("resource") if v1 else form.get("scope")
    if audience not in (ARM_RESOURCES if v1 else ARM_SCOPES):
        return aad_error(
            400,
            "invalid_resource" if v1 else "invalid_scope",
            500011 if v1 else 70011,
            f"The provided value for the input parameter "
            f"'{'resource' if v1 else 'scope'}' is not valid.",
        )
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
    token = "emu." + secrets.token_urlsafe(24)
    with state.lock:
        lifetime = state.settings.token_lifetime_seconds
        now = state.clock()
        state.tokens[token] = (client_id, now + lifetime)
    if v1:
        issued = int(state.wall(now).timestamp())
        return Response(
            200,
            {
                "token_type": "Bearer",
                "expires_in": str(lifetime),
                "ext_expires_in": str(lifetime),
                "expires_on": str(issued + lifetime),
                "not_before": str(issued),
                "resource": audience,
                "access_token": token,
            },
        )
    return Response(
        200,
        {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        },
    )
