"""``adf-trigger``: start, follow, cancel and inspect Azure Data Factory pipeline runs from a shell.

A thin command line over the Airflow-free core (:mod:`airflow_adf_trigger.core`): it never
imports Airflow, and it imports the core (and ``requests``) only once the arguments are
parsed, so ``--help`` stays instant. Run ``adf-trigger --help`` for the commands, the settings
sources and the exit codes.

The rooms: ``common`` (names, exit codes, the shared options, help texts), ``parser`` (one
table of commands), ``settings`` (flags, connection URI and environment merged), ``commands``
(what each command does), ``output`` (the console, text and JSON).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from airflow_adf_trigger.cli.common import (
    DEFAULT_OUTAGE_BUDGET,
    DEFAULT_POLL_INTERVAL,
    EXIT_AZURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PIPE_CLOSED,
    EXIT_USAGE,
    CliError,
)
from airflow_adf_trigger.cli.output import Console
from airflow_adf_trigger.cli.parser import build_parser
from airflow_adf_trigger.cli.settings import resolve_settings, resolve_wait_options

if TYPE_CHECKING:
    from airflow_adf_trigger.core.config.settings import AdfSettings

__all__ = ["DEFAULT_OUTAGE_BUDGET", "DEFAULT_POLL_INTERVAL", "build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run ``adf-trigger`` on ``argv`` (default: the command line); return the exit code."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away (`| head -1`): stop quietly, as Unix tools do. Point stdout at
        # devnull first, so the interpreter's final flush cannot fail again.
        _detach_stdout()
        return EXIT_PIPE_CLOSED


def _detach_stdout() -> None:
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file: nothing to flush there
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, descriptor)
    os.close(devnull)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a usage error already printed
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE if stop.code else EXIT_OK
    console = Console(json_mode=bool(getattr(args, "json", False)))
    # Hide a secret even when a later problem stops the CLI before it is read as a setting.
    console.hide(os.environ.get("AZURE_CLIENT_SECRET"))
    if args.client_secret_env:
        console.hide(os.environ.get(args.client_secret_env))
    try:
        from airflow_adf_trigger.core.config.validation import check_run_id
        from airflow_adf_trigger.core.errors import AdfConfigurationError, AdfError

        try:
            settings = resolve_settings(args, os.environ, console)
            if hasattr(args, "poll_interval"):  # the commands that can wait
                args.wait_options = resolve_wait_options(
                    args, os.environ, local=settings.cloud.is_local
                )
            if hasattr(args, "run_id"):  # the commands about one run: a GUID, before any request
                args.run_id = check_run_id(args.run_id)
            handler: Callable[[argparse.Namespace, AdfSettings, Console], int] = args.handler
            return handler(args, settings, console)
        except AdfError as error:
            usage = isinstance(error, AdfConfigurationError)
            raise CliError(str(error), EXIT_USAGE if usage else EXIT_AZURE) from None
    except CliError as error:
        console.error(str(error))
        return error.exit_code
    except KeyboardInterrupt:
        console.error("interrupted; a run already started goes on in ADF")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        raise
    except Exception as error:  # no traceback, whatever fails: one line, exit 3
        console.error(f"unexpected {type(error).__name__}: {error}")
        return EXIT_AZURE
