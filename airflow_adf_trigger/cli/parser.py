"""The ``adf-trigger`` argument parser, built from one table of commands and option groups."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_adf_trigger.cli import commands
from airflow_adf_trigger.cli.common import (
    CONNECTION_URI_ENV,
    DEFAULT_OUTAGE_BUDGET,
    DEFAULT_POLL_INTERVAL,
    DESCRIPTION,
    EPILOG,
    PROG,
)

Option = tuple[tuple[str, ...], dict[str, Any]]
"""An ``add_argument`` call: its names and its keyword arguments."""


def _arg(usage: str, text: str | None = None, **options: Any) -> Option:
    """An option from its usage (``--flag METAVAR``, or a bare ``--switch``) and its help."""
    name, _, metavar = usage.partition(" ")
    kind = {"metavar": metavar} if metavar else {"action": "store_true"}
    return (name,), {**kind, "help": text, **options}


RUN_ID: Option = _arg("run_id RUN_ID")
JSON: Option = _arg("--json", "print one JSON document and nothing else")

# Strings: they are checked with their environment variables, once the endpoint is known.
WAIT_OPTIONS: tuple[Option, ...] = (
    _arg(
        "--poll-interval S",
        f"seconds between status checks (default {DEFAULT_POLL_INTERVAL:g}; $ADF_POLL_INTERVAL)",
    ),
    _arg(
        "--timeout S",
        "give up waiting after S seconds (exit 1); the run is not cancelled ($ADF_TIMEOUT)",
    ),
    _arg(
        "--outage-budget S",
        "keep waiting through network errors, throttling and Azure 5xx for up to S seconds in a "
        f"row (default {DEFAULT_OUTAGE_BUDGET:g}; $ADF_OUTAGE_BUDGET); then exit 3",
    ),
)

SETTINGS_OPTIONS: tuple[Option, ...] = (
    _arg("--tenant-id ID", "Directory (tenant) ID"),
    _arg("--client-id ID", "Application (client) ID"),
    _arg(
        "--client-secret-env NAME",
        "name of the environment variable holding the client secret's value",
    ),
    _arg("--subscription-id ID"),
    _arg("--resource-group NAME"),
    _arg("--factory-name NAME"),
    _arg("--cloud CLOUD", "public (default), china or usgov"),
    _arg("--authority-host URL", "Azure AD endpoint override"),
    _arg("--management-endpoint URL", "Resource Manager endpoint override"),
    _arg(
        "--identity KIND",
        "sign in without a secret via azure-identity: default, managed_identity, "
        "workload_identity, azure_cli or environment (needs airflow-adf-trigger[identity])",
    ),
    _arg("--token-api VERSION", "Azure AD token endpoint: v2 or v1"),
    _arg("--request-timeout S", "seconds per request (30)"),
    _arg(
        "--retry-max-attempts N",
        "attempts per request on throttling, 5xx or network errors (5; 1 = no retry)",
    ),
    _arg("--retry-max-seconds S", "time one request may take, retries included (120)"),
    _arg(
        "--connection-uri URI",
        f"an Airflow connection URI or JSON; prefer ${CONNECTION_URI_ENV}, since a flag's value "
        "shows in the process list",
    ),
)


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, summary, handler, own arguments, and whether it waits."""

    name: str
    summary: str
    handler: Callable[..., int]
    arguments: tuple[Option, ...] = ()
    waits: bool = False
    factory_optional: bool = False


COMMANDS: tuple[Command, ...] = (
    Command(
        "run",
        "start a pipeline run and print its run id (with --wait: follow it)",
        commands.command_run,
        (
            _arg("pipeline PIPELINE", "the pipeline's name in ADF Studio"),
            _arg(
                "--param NAME=VALUE",
                "a pipeline parameter (a string); repeat for more; wins over --params-json",
                action="append",
            ),
            _arg("--params-json FILE", "a JSON object file of parameters ('-' reads stdin)"),
            _arg("--wait", "wait for the run to end, as `wait` does"),
        ),
        waits=True,
    ),
    Command(
        "status",
        "print a run's status, pipeline, start/end/duration and message (exits 0)",
        commands.command_status,
        (RUN_ID,),
    ),
    Command(
        "wait",
        "poll a run until it ends; on Failed, show the failed activities' errors",
        commands.command_wait,
        (RUN_ID,),
        waits=True,
    ),
    Command(
        "cancel",
        "cancel a run, with its child pipelines; a finished run is reported, not an error",
        commands.command_cancel,
        (RUN_ID, _arg("--no-recursive", "leave the child pipelines running")),
    ),
    Command(
        "activities",
        "list a run's activity runs: name, type, status, duration, error",
        commands.command_activities,
        (RUN_ID,),
    ),
    Command(
        "doctor",
        "check sign-in, access, a pipeline, query forms, clock skew, read budget and latency; "
        "starts nothing unless --run; without a factory, sign-in and the subscription",
        commands.command_doctor,
        (
            _arg("--pipeline NAME", "also check that this pipeline exists"),
            _arg(
                "--run PIPELINE",
                "also start one run of PIPELINE, read it back and measure how late queries show "
                "it and its end (ADF's monitoring lag)",
            ),
            _arg(
                "--lag-wait SECONDS",
                "with --run: follow the run this long to measure the lag (0: do not measure)",
                type=float,
                default=600.0,
            ),
        ),
        # Without a factory, the doctor checks sign-in and the subscription (a connection
        # that leaves the factory to each task).
        factory_optional=True,
    ),
)


def _add_settings_options(parser: argparse.ArgumentParser, *, top_level: bool) -> None:
    # Subcommands leave unset options out (SUPPRESS), so values given before the command
    # survive. No option shows a default: none may leak an environment value into --help.
    group = parser.add_argument_group(
        "settings", "override the connection and the environment (see the epilog of --help)"
    )
    default = None if top_level else argparse.SUPPRESS
    for names, options in SETTINGS_OPTIONS:
        group.add_argument(*names, default=default, **options)


def build_parser() -> argparse.ArgumentParser:
    """The ``adf-trigger`` argument parser with its six commands (see :data:`COMMANDS`)."""
    from airflow_adf_trigger import __version__

    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, epilog=EPILOG, formatter_class=formatter
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _add_settings_options(parser, top_level=True)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        sub = subparsers.add_parser(
            command.name,
            help=command.summary,
            description=command.summary,
            epilog=EPILOG,
            formatter_class=formatter,
        )
        sub.set_defaults(handler=command.handler, factory_optional=command.factory_optional)
        for names, options in (*command.arguments, JSON, *(WAIT_OPTIONS if command.waits else ())):
            sub.add_argument(*names, **options)
        _add_settings_options(sub, top_level=False)
    return parser
