"""The ``adf`` connection: its form, and how its fields become client settings.

No Airflow import here: the provider info, the hook and (later) the CLI all read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_adf_trigger.core.settings import AdfSettings

CONN_TYPE = "adf"

_TEXT = {"type": ["string", "null"]}

CONNECTION_FIELDS: dict[str, dict[str, Any]] = {
    "tenant_id": {
        "label": "Tenant ID",
        "description": "Directory (tenant) ID of the app registration: a GUID or a domain.",
        "schema": _TEXT,
    },
    "subscription_id": {
        "label": "Subscription ID",
        "description": "The subscription (GUID) that holds the data factory.",
        "schema": _TEXT,
    },
    "resource_group": {
        "label": "Resource group",
        "description": "The resource group of the data factory.",
        "schema": _TEXT,
    },
    "factory_name": {"label": "Factory name", "schema": _TEXT},
    "cloud": {
        "label": "Cloud",
        "description": "Azure cloud of the factory.",
        "schema": {
            "type": ["string", "null"],
            "default": "public",
            "enum": ["public", "china", "usgov"],
        },
    },
    "authority_host": {
        "label": "Authority host (optional)",
        "description": "Overrides the Azure AD endpoint, e.g. for the local emulator.",
        "schema": _TEXT,
    },
    "management_endpoint": {
        "label": "Management endpoint (optional)",
        "description": "Overrides the Azure Resource Manager endpoint (private link, emulator).",
        "schema": _TEXT,
    },
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["host", "schema", "port", "extra"],
    "relabeling": {"login": "Client ID", "password": "Client secret"},
    "placeholders": {
        "login": "Application (client) ID",
        "password": "Client secret value (not the secret ID)",
        "tenant_id": "00000000-0000-0000-0000-000000000000 or contoso.onmicrosoft.com",
        "subscription_id": "00000000-0000-0000-0000-000000000000",
    },
}

_SETTING_KEYS = (
    "identity",
    "retry_max_attempts",
    "retry_max_seconds",
    "tenant_id",
    "subscription_id",
    "resource_group",
    "factory_name",
    "cloud",
    "authority_host",
    "management_endpoint",
    "token_api",
    "request_timeout",
)


OFFICIAL_CONN_TYPE = "azure_data_factory"
"""The official Azure provider's connection type; its connections work here unchanged."""

_OFFICIAL_NAMES = {
    "tenant_id": "tenantId",
    "subscription_id": "subscriptionId",
    "resource_group": "resource_group_name",
    "factory_name": "factory_name",
    "identity": None,
}


def extra_value(extra: Mapping[str, Any], key: str) -> Any:
    """Read ``key`` from a connection's extras, under any name a form or provider gives it.

    ``tenant_id`` is found as ``tenant_id``, ``extra__adf__tenant_id``, or, in a connection
    of the official provider, ``tenantId`` / ``extra__azure_data_factory__tenantId``.
    """
    names = [key, f"extra__{CONN_TYPE}__{key}"]
    official = _OFFICIAL_NAMES.get(key, key)
    if official:
        names += [official, f"extra__{OFFICIAL_CONN_TYPE}__{official}"]
    for name in names:
        value = extra.get(name)
        if value not in (None, ""):
            return value
    return None


def settings_from_connection(
    login: str | None, password: str | None, extra: Mapping[str, Any]
) -> AdfSettings:
    """Validate an ``adf`` connection into settings; errors name the connection field."""
    values = {key: extra_value(extra, key) for key in _SETTING_KEYS}
    return AdfSettings.create(client_id=login, client_secret=password, **values)
