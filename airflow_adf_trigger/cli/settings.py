"""Settings from flags, a connection URI and the environment, merged (flags win)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_adf_trigger.core.config.environment import WaitOptions
    from airflow_adf_trigger.core.config.settings import AdfSettings

from airflow_adf_trigger.cli.common import (
    CONNECTION_URI_ENV,
    PROG,
    SETTING_FLAGS,
    WAIT_FLAGS,
    CliError,
)
from airflow_adf_trigger.cli.output import Console


def resolve_settings(
    args: argparse.Namespace, environ: Mapping[str, str], console: Console
) -> AdfSettings:
    """Merge the environment, the connection URI and the flags (lowest first) into settings."""
    from airflow_adf_trigger.core.config.connection import parse_connection_uri
    from airflow_adf_trigger.core.config.environment import (
        SETTING_VARIABLES,
        Sourced,
        build_settings,
        connection_layer,
        environment_layer,
        merge_layers,
        missing_settings,
    )

    layers = [environment_layer(environ)]

    uri_origin = "--connection-uri" if args.connection_uri else CONNECTION_URI_ENV
    uri_text = args.connection_uri or environ.get(CONNECTION_URI_ENV, "")
    if uri_text.strip():
        connection = parse_connection_uri(uri_text, uri_origin)
        console.hide(connection.password)
        layers.append(connection_layer(connection, f"the connection in {uri_origin}"))

    flag_layer: dict[str, Sourced] = {}
    for key, flag in SETTING_FLAGS.items():
        given = getattr(args, key, None)
        if key != "client_secret" and given:
            flag_layer[key] = Sourced(str(given).strip(), flag)
    if args.client_secret_env:
        variable = args.client_secret_env
        secret = environ.get(variable, "")
        if not secret:
            raise CliError(
                f"client_secret: environment variable {variable} (named by --client-secret-env) "
                "is not set or empty; export it with the client secret's value"
            )
        flag_layer["client_secret"] = Sourced(secret, f"${variable}")
    if args.identity:
        flag_layer["identity"] = Sourced(args.identity, "--identity")
    layers.append(flag_layer)

    merged = merge_layers(layers)
    if "client_secret" in merged:
        console.hide(merged["client_secret"].value)
    factory_optional = bool(getattr(args, "factory_optional", False))
    missing = [
        key
        for key in missing_settings(merged)
        if not (factory_optional and key in ("resource_group", "factory_name"))
    ]
    if missing:
        hints = [
            f"{key} (${SETTING_VARIABLES[key]} or --client-secret-env NAME)"
            if key == "client_secret"
            else f"{key} ({SETTING_FLAGS[key]} or ${SETTING_VARIABLES[key]})"
            for key in missing
        ]
        raise CliError(
            f"missing settings: {', '.join(hints)}; give them as flags or environment "
            f"variables, or all at once as a connection in ${CONNECTION_URI_ENV} or "
            f"--connection-uri (see {PROG} --help)"
        )
    return build_settings(merged, require_factory=not factory_optional)


def resolve_wait_options(
    args: argparse.Namespace, environ: Mapping[str, str], *, local: bool
) -> WaitOptions:
    """--poll-interval, --timeout and --outage-budget, else their environment variables.

    The poll interval has a floor of 1 s (the subscription's read budget), except against an
    emulator on this machine (``local``).
    """
    from airflow_adf_trigger.core.config.environment import (
        WAIT_VARIABLES,
        Sourced,
        WaitOptions,
        environment_layer,
    )

    given = environment_layer(environ, WAIT_VARIABLES)
    for key, flag in WAIT_FLAGS.items():
        if getattr(args, key, None) is not None:
            given[key] = Sourced(getattr(args, key), flag)
    return WaitOptions.from_sources(given, local=local)
