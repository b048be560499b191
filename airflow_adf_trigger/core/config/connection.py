"""Airflow connections as client settings: the fields of an ``adf`` connection, and its URI.

No Airflow import here: the hook reads a connection Airflow hands it; the ``adf-trigger``
command and the notebook example read the same connection written as a URI (or its JSON
form), as ``AIRFLOW_CONN_*`` variables and ``airflow connections add --conn-uri`` take it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from airflow_adf_trigger.core.config.form import CONN_TYPE
from airflow_adf_trigger.core.config.settings import AdfSettings
from airflow_adf_trigger.core.errors import AdfConfigurationError

__all__ = [
    "CONNECTION_TYPES",
    "CONN_TYPE",
    "EXTRA_KEYS",
    "OFFICIAL_CONN_TYPE",
    "ConnectionFields",
    "extra_value",
    "missing_factory_error",
    "parse_connection_uri",
    "settings_for_task",
    "settings_from_connection",
    "settings_from_uri",
]

EXTRA_KEYS = (
    "identity",
    "managed_identity_client_id",
    "workload_identity_tenant_id",
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
"""The settings read from a connection's extras (the login and password give the others)."""


OFFICIAL_CONN_TYPE = "azure_data_factory"
"""The official Azure provider's connection type; its connections work here unchanged."""

CONNECTION_TYPES = (CONN_TYPE, OFFICIAL_CONN_TYPE)
"""The connection types whose fields this package reads."""

_OFFICIAL_NAMES = {
    "tenant_id": "tenantId",
    "subscription_id": "subscriptionId",
    "resource_group": "resource_group_name",
    "factory_name": "factory_name",
    "identity": None,
}

_URI_FIX = (
    "use adf://CLIENT_ID:SECRET@/?tenant_id=..&subscription_id=..&resource_group=.."
    "&factory_name=.. (login and secret URL-quoted), or the connection's JSON form"
)


@dataclass(frozen=True, slots=True)
class ConnectionFields:
    """The parts of an Airflow connection that settings come from.

    :param login: the client (application) id.
    :param password: the client secret; never shown by ``repr``.
    :param extra: the connection's extras, under any name :func:`extra_value` reads.
    """

    login: str | None
    password: str | None = field(default=None, repr=False)
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def to_settings(self) -> AdfSettings:
        """Validate these fields into settings; errors name the connection field."""
        return settings_from_connection(self.login, self.password, self.extra)


def extra_value(extra: Mapping[str, Any], key: str) -> Any:
    """Read ``key`` from a connection's extras, under any name a form or provider gives it.

    ``tenant_id`` is found as ``tenant_id``, ``extra__adf__tenant_id``, or, in a connection
    of the official provider, ``tenantId`` / ``extra__azure_data_factory__tenantId``.

    :param extra: the connection's extras (``Connection.extra_dejson``).
    :param key: the setting's name, as
        :class:`~airflow_adf_trigger.core.config.settings.AdfSettings` calls it.
    :return: the first non-empty value found, else ``None``.
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
    login: str | None,
    password: str | None,
    extra: Mapping[str, Any],
    *,
    require_factory: bool = True,
) -> AdfSettings:
    """Validate an ``adf`` connection into settings; errors name the connection field.

    :param login: the connection's login: the client (application) id.
    :param password: the connection's password: the client secret (``None`` with an
        ``identity`` extra).
    :param extra: the connection's extras (see :func:`extra_value` for the names read).
    :param require_factory: ``False`` accepts a connection that names no factory
        (credential-only settings, see :meth:`AdfSettings.create`).
    :raises AdfConfigurationError: a field is missing or malformed; no request was sent.
    """
    values = {key: extra_value(extra, key) for key in EXTRA_KEYS}
    return AdfSettings.create(
        client_id=login, client_secret=password, require_factory=require_factory, **values
    )


def settings_for_task(
    login: str | None,
    password: str | None,
    extra: Mapping[str, Any],
    *,
    resource_group: str | None = None,
    factory_name: str | None = None,
    conn_id: str | None = None,
    require_factory: bool = True,
    given_by: str = "the task",
) -> AdfSettings:
    """A task's settings: its connection with the task's resource group and factory merged in
    (the task's win), validated together, so a connection may hold only the credentials and
    the subscription and leave the factory to each task (as the official provider allows).

    :param login: the connection's login (client id).
    :param password: the connection's password (client secret).
    :param extra: the connection's extras.
    :param resource_group: the task's resource group (``resource_group`` or the official
        ``resource_group_name``), if it gives one.
    :param factory_name: the task's factory name, if it gives one.
    :param conn_id: the connection's id, to name it in errors.
    :param require_factory: ``False`` for credential-only settings (the Test button).
    :param given_by: what gives ``resource_group`` / ``factory_name``, to name it in errors
        (``the task``, ``the hook or the call``).
    :raises AdfConfigurationError: a field is missing or malformed; a missing resource group
        or factory name is named with both places it can be set. No request was sent.
    """
    merged = dict(extra)
    for key, value in (("resource_group", resource_group), ("factory_name", factory_name)):
        if value is not None and str(value).strip():
            merged[key] = value
    if require_factory:
        missing = [
            key for key in ("resource_group", "factory_name") if extra_value(merged, key) is None
        ]
        if missing:
            raise missing_factory_error(missing, conn_id, given_by)
    return settings_from_connection(login, password, merged, require_factory=require_factory)


def missing_factory_error(
    missing: list[str], conn_id: str | None = None, given_by: str = "the task"
) -> AdfConfigurationError:
    """The error of a task whose factory is named neither by the task nor by its connection.

    :param missing: ``resource_group`` and/or ``factory_name``.
    :param conn_id: the connection's id, to name it.
    :param given_by: what could have given them (``the task``: ``default_args`` work too).
    """
    task_args = {
        "resource_group": "resource_group= (or resource_group_name=, the official name)",
        "factory_name": "factory_name=",
    }
    conn_keys = {
        "resource_group": "resource_group (or resource_group_name)",
        "factory_name": "factory_name",
    }
    connection = f"connection {conn_id!r}" if conn_id else "the connection"
    return AdfConfigurationError(
        missing[0],
        "is missing" if len(missing) == 1 else f"is missing, and so is {', '.join(missing[1:])}",
        f"set {'it' if len(missing) == 1 else 'them'} on {given_by} "
        f"({' and '.join(task_args[key] for key in missing)}"
        f"{'; default_args work too' if given_by == 'the task' else ''}) or in the "
        f"extras of {connection} ({' and '.join(conn_keys[key] for key in missing)})",
    )


def parse_connection_uri(text: str, origin: str = "connection") -> ConnectionFields:
    """Read an Airflow connection written as a URI, or in its JSON form.

    ``adf://CLIENT_ID:SECRET@/?tenant_id=..&subscription_id=..`` (login and password
    URL-quoted, the query holds the extras; ``__extra__`` a JSON object of them), or
    ``{"conn_type": "adf", "login": .., "password": .., "extra": {..}}``.

    :param text: the URI or JSON text.
    :param origin: where the text came from (a variable, a flag), to name it in errors.
    :raises AdfConfigurationError: the text is neither, or names another connection type.
        The message never quotes the text, which holds the secret.
    """
    text = text.strip()
    if text.startswith("{"):
        return _parse_json_form(text, origin)
    try:
        parts = urlsplit(text)
        query = parse_qsl(parts.query, keep_blank_values=False)
    except ValueError:
        raise AdfConfigurationError(origin, "is not a connection URI", _URI_FIX) from None
    if not parts.scheme or not text.lower().startswith(f"{parts.scheme.lower()}://"):
        raise AdfConfigurationError(origin, "is not a connection URI", _URI_FIX)
    _check_conn_type(parts.scheme, origin)
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    login, has_password, password = userinfo.partition(":")
    extra: dict[str, Any] = {}
    for key, value in query:
        if key == "__extra__":
            extra.update(_json_object(value, f"{origin} (__extra__)"))
        else:
            extra[key] = value
    return ConnectionFields(
        login=unquote(login) or None,
        password=unquote(password) if has_password and password else None,
        extra=extra,
    )


def settings_from_uri(text: str, origin: str = "connection") -> AdfSettings:
    """Validate a connection URI (or its JSON form) into settings.

    :param text: see :func:`parse_connection_uri`.
    :param origin: where the text came from, to name it in errors.
    :raises AdfConfigurationError: the text cannot be read, or a field is missing or
        malformed; no request was sent.
    """
    return parse_connection_uri(text, origin).to_settings()


def _parse_json_form(text: str, origin: str) -> ConnectionFields:
    body = _json_object(text, origin)
    if body.get("conn_type"):
        _check_conn_type(str(body["conn_type"]), origin)
    extra = body.get("extra") or {}
    if isinstance(extra, str):
        extra = _json_object(extra, f"{origin} (extra)")
    if not isinstance(extra, Mapping):
        raise AdfConfigurationError(origin, "extra must be a JSON object", _URI_FIX)
    login = body.get("login")
    password = body.get("password")
    return ConnectionFields(
        login=str(login) if login else None,
        password=str(password) if password else None,
        extra=extra,
    )


def _json_object(text: str, origin: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        # Only the position: the text may hold the secret.
        problem = f"is not valid JSON (line {error.lineno}, column {error.colno})"
        raise AdfConfigurationError(origin, problem, _URI_FIX) from None
    if not isinstance(value, dict):
        raise AdfConfigurationError(origin, "must be a JSON object", _URI_FIX)
    return value


def _check_conn_type(conn_type: str, origin: str) -> None:
    normalized = conn_type.strip().lower().replace("-", "_")
    if normalized not in CONNECTION_TYPES:
        raise AdfConfigurationError(
            origin,
            f"connection type {conn_type!r} is not one of {', '.join(CONNECTION_TYPES)}",
            _URI_FIX,
        )
