"""The ``adf-trigger`` argument parser, built from one table of commands and option groups."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from airflow_adf_trigger.cli import commands
from airflow_adf_trigger.cli.common import (
    DESCRIPTION,
    EPILOG,
    PROG,
    SETTINGS_OPTIONS,
    WAIT_OPTIONS,
    Option,
    option,
)

RUN_ID: Option = option("run_id RUN_ID")
JSON: Option = option("--json", "print one JSON document and nothing else")


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
            option("pipeline PIPELINE", "the pipeline's name in ADF Studio"),
            option(
                "--param NAME=VALUE",
                "a pipeline parameter (a string); repeat for more; wins over --params-json",
                action="append",
            ),
            option("--params-json FILE", "a JSON object file of parameters ('-' reads stdin)"),
            option("--wait", "wait for the run to end, as `wait` does"),
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
        (RUN_ID, option("--no-recursive", "leave the child pipelines running")),
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
            option("--pipeline NAME", "also check that this pipeline exists"),
            option(
                "--run PIPELINE",
                "also start one run of PIPELINE, read it back and measure how late queries show "
                "it and its end (ADF's monitoring lag)",
            ),
            option(
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


def _add_settings_options(parser: argparse.ArgumentParser, default: str | None) -> None:
    # Subcommands leave unset options out (SUPPRESS), so values given before the command
    # survive. No option shows a default: none may leak an environment value into --help.
    group = parser.add_argument_group(
        "settings", "override the connection and the environment (see the epilog of --help)"
    )
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
    _add_settings_options(parser, None)
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
        _add_settings_options(sub, argparse.SUPPRESS)
    return parser
