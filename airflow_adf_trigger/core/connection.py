"""How the fields of an ``adf`` connection become client settings.

No Airflow import here: the hook, the CLI and the notebook example all read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_adf_trigger.core.form import CONN_TYPE, CONNECTION_FIELDS, UI_FIELD_BEHAVIOUR
from airflow_adf_trigger.core.settings import AdfSettings

__all__ = [
    "CONNECTION_FIELDS",
    "CONN_TYPE",
    "UI_FIELD_BEHAVIOUR",
    "extra_value",
    "settings_from_connection",
]

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
