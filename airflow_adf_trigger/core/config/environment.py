"""Settings from environment variables and connection URIs, for shells and notebooks.

The ``adf-trigger`` command and the notebook example read the same variables through this
module, so the two cannot drift apart: ``AZURE_TENANT_ID``, ``AZURE_CLIENT_ID``,
``AZURE_CLIENT_SECRET``, ``ADF_SUBSCRIPTION_ID`` ... (:data:`ENVIRONMENT`), or every setting
at once as an Airflow connection in ``ADF_CONNECTION_URI``.

Each value travels with where it came from (:class:`Sourced`), so an error names the variable,
flag or widget to fix. Sources are layered, lowest first (:func:`merge_layers`); the
credential (a secret, or an azure-identity kind) comes whole from the highest layer that gives
one, so a secret from one source never joins an identity from another.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from airflow_adf_trigger.core.config.connection import (
    EXTRA_KEYS,
    ConnectionFields,
    extra_value,
    parse_connection_uri,
    settings_from_connection,
)
from airflow_adf_trigger.core.config.settings import AdfSettings
from airflow_adf_trigger.core.config.validation import check_number, check_seconds, poll_floor
from airflow_adf_trigger.core.errors import DEFAULT_OUTAGE_BUDGET, AdfConfigurationError

__all__ = [
    "CONNECTION_URI_VARIABLE",
    "DEFAULT_POLL_INTERVAL",
    "ENVIRONMENT",
    "REQUIRED_SETTINGS",
    "SETTING_VARIABLES",
    "WAIT_VARIABLES",
    "Sourced",
    "WaitOptions",
    "build_settings",
    "check_attempts",
    "check_request_numbers",
    "connection_layer",
    "environment_layer",
    "merge_layers",
    "missing_settings",
    "settings_from_environment",
    "wait_options_from_environment",
]

SETTING_VARIABLES: Mapping[str, str] = {
    "tenant_id": "AZURE_TENANT_ID",
    "client_id": "AZURE_CLIENT_ID",
    "client_secret": "AZURE_CLIENT_SECRET",
    "subscription_id": "ADF_SUBSCRIPTION_ID",
    "resource_group": "ADF_RESOURCE_GROUP",
    "factory_name": "ADF_FACTORY_NAME",
    "cloud": "ADF_CLOUD",
    "authority_host": "ADF_AUTHORITY_HOST",
    "management_endpoint": "ADF_MANAGEMENT_ENDPOINT",
    "token_api": "ADF_TOKEN_API",
    "request_timeout": "ADF_REQUEST_TIMEOUT",
    "retry_max_attempts": "ADF_RETRY_MAX_ATTEMPTS",
    "retry_max_seconds": "ADF_RETRY_MAX_SECONDS",
}
"""The environment variable of each client setting (the ``AZURE_*`` ones are azure-identity's
names for the same values)."""

WAIT_VARIABLES: Mapping[str, str] = {
    "poll_interval": "ADF_POLL_INTERVAL",
    "timeout": "ADF_TIMEOUT",
    "outage_budget": "ADF_OUTAGE_BUDGET",
}
"""The environment variable of each :class:`WaitOptions` field."""

ENVIRONMENT: Mapping[str, str] = {**SETTING_VARIABLES, **WAIT_VARIABLES}
"""Every variable read here, by the setting it gives."""

CONNECTION_URI_VARIABLE = "ADF_CONNECTION_URI"
"""Every setting at once, as an Airflow connection URI or its JSON form."""

REQUIRED_SETTINGS = ("tenant_id", "subscription_id", "resource_group", "factory_name")
"""Needed always, except ``tenant_id`` with an ``identity``; ``client_id`` and
``client_secret`` too unless an ``identity`` is given."""

_CREDENTIAL_KEYS = ("client_secret", "identity")

_D = TypeVar("_D")

DEFAULT_POLL_INTERVAL = 15.0
"""Seconds between status checks while waiting (the operator's default too)."""


@dataclass(frozen=True, slots=True)
class Sourced:
    """A setting's value as given (text) and where it came from, to name it in errors.

    :param value: the value; not shown by ``repr`` (it may be the secret).
    :param source: a variable, flag or widget, as the person who set it would call it.
    """

    value: str = field(repr=False)
    source: str


def environment_layer(
    environ: Mapping[str, str], variables: Mapping[str, str] = SETTING_VARIABLES
) -> dict[str, Sourced]:
    """The settings the ``variables`` give (blank ones are unset).

    :param environ: the environment (``os.environ``) or any mapping standing in for it.
    :param variables: setting -> variable: :data:`SETTING_VARIABLES` or :data:`WAIT_VARIABLES`.
    """
    return {
        key: Sourced(environ[variable].strip(), variable)
        for key, variable in variables.items()
        if environ.get(variable, "").strip()
    }


def connection_layer(connection: ConnectionFields, source: str) -> dict[str, Sourced]:
    """The settings a connection gives: login, password and the extras this package reads.

    :param connection: e.g. from
        :func:`~airflow_adf_trigger.core.config.connection.parse_connection_uri`.
    :param source: how errors name the connection, e.g. ``the connection in ADF_CONNECTION_URI``.
    """
    layer: dict[str, Sourced] = {}
    if connection.login:
        layer["client_id"] = Sourced(connection.login, f"{source} (login)")
    if connection.password:
        layer["client_secret"] = Sourced(connection.password, f"{source} (password)")
    for key in EXTRA_KEYS:
        value = extra_value(connection.extra, key)
        if value not in (None, ""):
            layer[key] = Sourced(str(value), source)
    return layer


def merge_layers(layers: Sequence[Mapping[str, Sourced]]) -> dict[str, Sourced]:
    """Merge setting layers, lowest precedence first; later ones win setting by setting.

    The credential is the exception: ``client_secret`` and ``identity`` come together from
    the highest layer that gives either, so a secret never joins an identity from elsewhere.
    """
    merged: dict[str, Sourced] = {}
    for layer in layers:
        merged.update({k: v for k, v in layer.items() if k not in _CREDENTIAL_KEYS})
    for layer in reversed(layers):
        if any(key in layer for key in _CREDENTIAL_KEYS):
            merged.update({k: layer[k] for k in _CREDENTIAL_KEYS if k in layer})
            break
    return merged


def missing_settings(merged: Mapping[str, Sourced]) -> list[str]:
    """The required settings ``merged`` lacks, in the order a person would give them."""
    required = list(REQUIRED_SETTINGS)
    if "identity" not in merged:
        required[1:1] = ["client_id", "client_secret"]
    else:  # azure-identity finds the tenant itself
        required.remove("tenant_id")
    return [key for key in required if key not in merged]


def build_settings(merged: Mapping[str, Sourced], *, require_factory: bool = True) -> AdfSettings:
    """Validate merged settings into :class:`AdfSettings`; an error names the bad value's source.

    :param merged: setting -> value, e.g. from :func:`merge_layers`; setting names are those
        of :data:`SETTING_VARIABLES`, plus ``identity``.
    :raises AdfConfigurationError: a value is missing or malformed, e.g.
        ``request_timeout: '0' is not above 0; ... (given by ADF_REQUEST_TIMEOUT)``.
    :param require_factory: ``False`` accepts settings without resource group and factory name
        (sign-in and subscription checks only).
    """
    try:
        values = {key: sourced.value for key, sourced in merged.items()}
        values.update(check_request_numbers(values))
        login = values.pop("client_id", None)
        password = values.pop("client_secret", None)
        return settings_from_connection(login, password, values, require_factory=require_factory)
    except AdfConfigurationError as error:
        raise _given_by(error, merged.get(error.field)) from None


def settings_from_environment(environ: Mapping[str, str] | None = None) -> AdfSettings:
    """Client settings from the environment, as ``adf-trigger`` reads them without flags.

    The variables of :data:`SETTING_VARIABLES`, overridden by a connection in
    ``ADF_CONNECTION_URI`` (see
    :func:`~airflow_adf_trigger.core.config.connection.parse_connection_uri`) where it gives a
    setting.

    :param environ: the variables to read; default ``os.environ``.
    :raises AdfConfigurationError: a setting is missing or malformed, naming the variable
        to set or fix; no request was sent.
    """
    environ = os.environ if environ is None else environ
    layers = [environment_layer(environ)]
    uri = environ.get(CONNECTION_URI_VARIABLE, "")
    if uri.strip():
        connection = parse_connection_uri(uri, CONNECTION_URI_VARIABLE)
        layers.append(connection_layer(connection, f"the connection in {CONNECTION_URI_VARIABLE}"))
    merged = merge_layers(layers)
    missing = missing_settings(merged)
    if missing:
        variables = ", ".join(SETTING_VARIABLES[key] for key in missing)
        raise AdfConfigurationError(
            missing[0],
            "is not set" if len(missing) == 1 else f"is not set, nor {', '.join(missing[1:])}",
            f"export {variables}, or every setting at once as a connection in "
            f"{CONNECTION_URI_VARIABLE}",
        )
    return build_settings(merged)


def check_request_numbers(values: Mapping[str, str]) -> dict[str, str]:
    """The request timeout and retry budget among ``values``, checked: finite, in range,
    whole attempts; :meth:`AdfSettings.create` takes them as they are returned.

    :raises AdfConfigurationError: naming the bad field.
    """
    checks: dict[str, Callable[[str], str]] = {
        "request_timeout": lambda value: repr(check_seconds("request_timeout", value)),
        "retry_max_seconds": lambda value: repr(
            check_seconds("retry_max_seconds", value, allow_zero=True)
        ),
        "retry_max_attempts": lambda value: str(check_attempts(value)),
    }
    return {key: check(values[key]) for key, check in checks.items() if key in values}


def check_attempts(value: object, field: str = "retry_max_attempts") -> int:
    """A number of attempts: a whole number, 1 (no retry) or more.

    :raises AdfConfigurationError: naming ``field``.
    """
    fix = "give a whole number of attempts, 1 (no retry) or more"
    number = check_number(field, value, fix, whole=True, unbounded="is not a whole number")
    if number < 1:
        raise AdfConfigurationError(field, f"{value!r} is below 1", fix)
    return int(number)


@dataclass(frozen=True, slots=True)
class WaitOptions:
    """How to wait for a run's end (the arguments of ``AdfClient.wait_for_run``).

    :param poll_interval: seconds between status checks.
    :param timeout: seconds to wait at most; ``None`` waits for the end.
    :param outage_budget: seconds the wait goes on while Azure cannot be read.
    """

    poll_interval: float = DEFAULT_POLL_INTERVAL
    timeout: float | None = None
    outage_budget: float = DEFAULT_OUTAGE_BUDGET

    @classmethod
    def from_sources(cls, given: Mapping[str, Sourced], *, local: bool) -> WaitOptions:
        """Check the values given for :data:`WAIT_VARIABLES`' fields; the rest keep defaults.

        :param given: field -> value; other keys are ignored.
        :param local: whether the endpoint is an emulator on this machine: the poll interval
            then has no 1 s floor (the subscription's read budget does not apply).
        :raises AdfConfigurationError: naming the field and where its value came from.
        """

        def checked(name: str, default: _D, **bounds: Any) -> float | _D:
            if name not in given:
                return default
            try:
                return check_seconds(name, given[name].value, **bounds)
            except AdfConfigurationError as error:
                raise _given_by(error, given[name]) from None

        defaults = cls()
        return cls(
            poll_interval=checked(
                "poll_interval", defaults.poll_interval, minimum=poll_floor(local)
            ),
            timeout=checked("timeout", None),
            outage_budget=checked("outage_budget", defaults.outage_budget, allow_zero=True),
        )


def wait_options_from_environment(
    environ: Mapping[str, str] | None = None, *, local: bool
) -> WaitOptions:
    """:class:`WaitOptions` from ``ADF_POLL_INTERVAL``, ``ADF_TIMEOUT``, ``ADF_OUTAGE_BUDGET``.

    :param environ: the variables to read; default ``os.environ``.
    :param local: see :meth:`WaitOptions.from_sources`.
    """
    environ = os.environ if environ is None else environ
    return WaitOptions.from_sources(environment_layer(environ, WAIT_VARIABLES), local=local)


def _given_by(error: AdfConfigurationError, sourced: Sourced | None) -> AdfConfigurationError:
    """The same error, its fix followed by where the value came from."""
    if sourced is None:
        return error
    return AdfConfigurationError(
        error.field, error.problem, f"{error.fix} (given by {sourced.source})"
    )
