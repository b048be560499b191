"""The ``adf`` connection form, as plain data.

Airflow reads it through ``get_provider_info()`` at every provider discovery, so this module
imports nothing.
"""

from __future__ import annotations

from typing import Any

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
