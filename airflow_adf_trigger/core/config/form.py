"""The ``adf`` connection form, as plain data.

Airflow reads it through ``get_provider_info()`` at every provider discovery, so this module
imports nothing.

Airflow 3's UI renders each extra field from its JSON schema: ``title``-less fields take the
``label``, and a text field with ``schema.examples`` offers those values as suggestions (with
"Start typing to see options" as its placeholder). ``ui-field-behaviour.placeholders`` only
reaches the standard fields (login, password); for extra fields the examples are the
placeholder. Every setting the client reads from the extras is here, so nothing needs the raw
JSON editor (which is hidden).
"""

from __future__ import annotations

from typing import Any

CONN_TYPE = "adf"

ENTRA_ID = "Microsoft Entra ID (formerly Azure AD)"


def _text(*examples: str) -> dict[str, Any]:
    return {"type": ["string", "null"], "examples": list(examples)}


def _number(kind: str, *examples: float) -> dict[str, Any]:
    return {"type": [kind, "null"], "minimum": 0, "examples": list(examples)}


def _choice(default: str | None, display: dict[str, str]) -> dict[str, Any]:
    """A choice among ``display``'s keys, each shown as its value."""
    values = list(display)
    schema: dict[str, Any] = {
        "type": ["string", "null"],
        "enum": [*values, None] if default is None else values,
        "examples": values,
        "values_display": display,
    }
    if default is not None:
        schema["default"] = default
    return schema


CONNECTION_FIELDS: dict[str, dict[str, Any]] = {
    "tenant_id": {
        "label": "Tenant ID",
        "description": (
            f"Directory (tenant) ID in {ENTRA_ID}: a GUID or a domain. Optional without a "
            "client secret."
        ),
        "schema": _text("00000000-0000-0000-0000-000000000000", "contoso.onmicrosoft.com"),
    },
    "subscription_id": {
        "label": "Subscription ID",
        "description": "The subscription (GUID) that holds the data factory.",
        "schema": _text("00000000-0000-0000-0000-000000000000"),
    },
    "resource_group": {
        "label": "Resource group",
        "description": (
            "The resource group of the data factory. Optional: leave it to each task "
            "(resource_group or resource_group_name) to use one connection for many factories."
        ),
        "schema": _text("rg-analytics"),
    },
    "factory_name": {
        "label": "Factory name",
        "description": (
            "The data factory's name, as in the Azure portal. Optional: each task may name it "
            "(factory_name)."
        ),
        "schema": _text("adf-prod"),
    },
    "identity": {
        "label": "Sign-in without a secret (optional)",
        "description": (
            "Leave the client secret empty and sign in with this azure-identity credential "
            "(needs airflow-adf-trigger[identity]). Ignored when a client secret is set."
        ),
        "schema": _choice(
            None,
            {
                "default": "DefaultAzureCredential",
                "managed_identity": "Managed identity",
                "workload_identity": "Workload identity (Kubernetes)",
                "azure_cli": "Azure CLI sign-in",
                "environment": "AZURE_* environment variables",
            },
        ),
    },
    "cloud": {
        "label": "Cloud",
        "description": "Azure cloud of the factory.",
        "schema": _choice(
            "public",
            {
                "public": "Azure (global)",
                "china": "Azure operated by 21Vianet (China)",
                "usgov": "Azure Government (US)",
            },
        ),
    },
    "token_api": {
        "label": f"{ENTRA_ID} token endpoint (optional)",
        "description": "v2 (scope=.../.default, the default) or the older v1 (resource=...).",
        "schema": _choice("v2", {"v2": "v2 (/oauth2/v2.0/token)", "v1": "v1 (/oauth2/token)"}),
    },
    "request_timeout": {
        "label": "Request timeout in seconds (optional)",
        "description": "How long one HTTP request to Azure may take (default 30).",
        "schema": _number("number", 30),
    },
    "retry_max_attempts": {
        "label": "Attempts per request (optional)",
        "description": "Tries of one read on throttling or a transient error (default 5).",
        "schema": _number("integer", 5),
    },
    "retry_max_seconds": {
        "label": "Retry time per request in seconds (optional)",
        "description": "Time budget for the retries of one request (default 120).",
        "schema": _number("number", 120),
    },
    "authority_host": {
        "label": f"{ENTRA_ID} endpoint (optional)",
        "description": "Overrides the sign-in endpoint: private link, or the local emulator.",
        "schema": _text("https://login.microsoftonline.com", "http://127.0.0.1:8765"),
    },
    "management_endpoint": {
        "label": "Resource Manager endpoint (optional)",
        "description": "Overrides the Azure Resource Manager endpoint (private link, emulator).",
        "schema": _text("https://management.azure.com", "http://127.0.0.1:8765"),
    },
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["host", "schema", "port", "extra"],
    "relabeling": {"login": "Client ID", "password": "Client secret"},
    "placeholders": {
        "login": "Application (client) ID",
        "password": "Client secret value (not the secret ID)",
    },
}
