"""The six commands, each ``command_x(args, settings, console) -> exit code``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_adf_trigger.core.config.environment import WaitOptions
    from airflow_adf_trigger.core.config.settings import AdfSettings
    from airflow_adf_trigger.core.errors import AdfError
    from airflow_adf_trigger.core.runs.models import ActivityRun, CancelResult, PipelineRun
    from airflow_adf_trigger.core.wire.client import AdfClient

from airflow_adf_trigger.cli.common import (
    EXIT_AZURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUN_FAILED,
    PROG,
    CliError,
)
from airflow_adf_trigger.cli.output import (
    Console,
    Progress,
    activity_json,
    format_duration,
    run_json,
    show_run,
)


def _client(settings: AdfSettings, sleep: Callable[[float], None] = time.sleep) -> AdfClient:
    from airflow_adf_trigger.core.wire.client import AdfClient

    return AdfClient(settings, sleep=sleep)


def _failures(client: AdfClient, run: PipelineRun) -> list[ActivityRun]:
    from airflow_adf_trigger.core.runs.models import RunStatus

    return client.failure_details(run) if run.status is RunStatus.FAILED else []


@dataclass
class OutageReport:
    """Says on stderr that Azure cannot be read while a wait goes on through it, and when
    it answers again."""

    console: Console
    progress: Progress
    run_id: str
    budget: float
    in_outage: bool = False

    def on_outage(self, error: AdfError, lasted: float) -> None:
        self.in_outage = True
        if lasted >= self.budget:
            return  # the wait ends here, with an error that says so
        self.progress.finish()
        self.console.warn(
            f"still waiting for run {self.run_id}: Azure could not be read for {lasted:.1f} s "
            f"of the {self.budget:g} s outage budget (--outage-budget); last error: {error}"
        )

    def on_poll(self, run: PipelineRun) -> None:
        if self.in_outage:
            self.in_outage = False
            self.progress.finish()
            self.console.warn(f"Azure answers again: run {run.run_id} is {run.status.value}")
        self.progress.update(run)


def follow_run(
    client: AdfClient,
    settings: AdfSettings,
    console: Console,
    progress: Progress,
    run_id: str,
    wait: WaitOptions,
) -> int:
    """Wait for a run to end and report it: 0 if it succeeded, 1 if not (or on timeout)."""
    from airflow_adf_trigger.core.errors import AdfWaitTimeoutError

    report = OutageReport(console, progress, run_id, wait.outage_budget)
    try:
        run = client.wait_for_run(
            run_id,
            poll_interval=wait.poll_interval,
            timeout=wait.timeout,
            on_poll=report.on_poll,
            outage_budget=wait.outage_budget,
            on_outage=report.on_outage,
        )
    except AdfWaitTimeoutError as timeout:
        progress.finish()
        if console.json_mode:
            console.document({**run_json(timeout.run, settings), "timedOut": True})
        console.error(
            f"timed out: {timeout}; the run goes on in ADF (stop it with `{PROG} cancel {run_id}`)"
        )
        return EXIT_RUN_FAILED
    except KeyboardInterrupt:
        raise CliError(
            f"stopped waiting; run {run_id} goes on in ADF (stop it with `{PROG} cancel {run_id}`)",
            EXIT_INTERRUPTED,
        ) from None
    finally:
        progress.finish()
    show_run(console, run, settings, _failures(client, run))
    return EXIT_OK if run.status.is_successful else EXIT_RUN_FAILED


def start_run(client: AdfClient, pipeline: str, parameters: Mapping[str, Any]) -> str:
    """Create a run and return its id, sure that it exists; else exit 3 with where to look.

    Whatever goes wrong once the request may have reached ADF (no answer, a 5xx, an
    unreadable answer, a runId that is not one, Ctrl-C) means the run may or may not exist:
    the request is never sent again, and the message gives the time window to look in.
    """
    from airflow_adf_trigger.core.config.validation import check_run_id
    from airflow_adf_trigger.core.errors import (
        AdfConfigurationError,
        AdfError,
        AdfRequestError,
        AdfRunOutcomeUnknownError,
    )

    sent_at = datetime.now(UTC)

    def unknown(cause: str, exit_code: int = EXIT_AZURE) -> CliError:
        error = AdfRunOutcomeUnknownError(pipeline, sent_at, datetime.now(UTC), cause)
        return CliError(str(error), exit_code)

    try:
        run_id = client.create_run(pipeline, parameters)
    except AdfRequestError as error:
        if error.status is not None and 200 <= error.status < 300:
            raise unknown(f"ADF accepted it, but: {error}") from None
        raise  # an answer that says no run was started
    except AdfError:
        raise  # main reports it (exit 3), as it does a run whose outcome is unknown
    except KeyboardInterrupt:
        raise unknown("interrupted before the answer came", EXIT_INTERRUPTED) from None
    except Exception as error:
        raise unknown(f"{type(error).__name__}: {error}") from None
    try:
        return check_run_id(run_id)
    except AdfConfigurationError:
        shown = run_id if len(run_id) <= 80 else run_id[:77] + "..."
        raise unknown(f"ADF answered with a runId that is not a GUID: {shown!r}") from None


def command_run(args: argparse.Namespace, settings: AdfSettings, console: Console) -> int:
    """Start a run; with --wait, follow it to the end."""
    from airflow_adf_trigger.core.config.validation import check_pipeline
    from airflow_adf_trigger.core.errors import AdfError

    pipeline = check_pipeline(args.pipeline)
    parameters = collect_parameters(args.param or [], args.params_json)
    progress = Progress(console, sys.stdout)
    with _client(settings, sleep=progress.sleep) as client:
        run_id = start_run(client, pipeline, parameters)
        console.say(run_id)
        url = settings.factory.monitoring_url(settings.cloud, run_id)
        console.note(f"Started pipeline '{pipeline}': run {run_id}. Monitor it at {url}")
        try:
            if args.wait:
                return follow_run(client, settings, console, progress, run_id, args.wait_options)
            if console.json_mode:
                console.document(run_json(client.get_run(run_id), settings))
        except AdfError as error:
            raise CliError(
                f"pipeline '{pipeline}' run {run_id} was started, but: {error}", EXIT_AZURE
            ) from None
    return EXIT_OK


def command_status(args: argparse.Namespace, settings: AdfSettings, console: Console) -> int:
    """Report a run's status once; exits 0 whatever the status."""
    with _client(settings) as client:
        run = client.get_run(args.run_id)
        show_run(console, run, settings, _failures(client, run))
    return EXIT_OK


def command_wait(args: argparse.Namespace, settings: AdfSettings, console: Console) -> int:
    """Poll a run until it ends."""
    progress = Progress(console, sys.stdout)
    with _client(settings, sleep=progress.sleep) as client:
        return follow_run(client, settings, console, progress, args.run_id, args.wait_options)


def command_cancel(args: argparse.Namespace, settings: AdfSettings, console: Console) -> int:
    """Cancel a run; one that already ended is reported, not an error."""
    run_id, recursive = args.run_id, not args.no_recursive
    with _client(settings) as client:
        result: CancelResult = client.cancel_run(run_id, is_recursive=recursive)
    if console.json_mode:
        console.document(
            {
                "runId": result.run_id or run_id,
                "cancelRequested": result.cancel_requested,
                "finishedStatus": result.finished_status.value if result.finished_status else None,
            }
        )
    elif result.cancel_requested:
        children = "with its child pipelines" if recursive else "without its child pipelines"
        console.say(f"{result.describe()} ({children}); it ends as Cancelled shortly")
    else:
        console.say(result.describe())
    return EXIT_OK


def command_doctor(args: argparse.Namespace, settings: AdfSettings, console: Console) -> int:
    """Check a factory without changing it (unless --run): exit 0, or 3 if a check failed."""
    from airflow_adf_trigger.core.doctor import diagnose

    if settings.factory_ref is None and (args.pipeline or args.run):
        flag = "--pipeline" if args.pipeline else "--run"
        raise CliError(
            f"{flag} needs the data factory: give --resource-group and --factory-name (or "
            "$ADF_RESOURCE_GROUP and $ADF_FACTORY_NAME, or the connection's extras)"
        )
    report = diagnose(
        settings, pipeline=args.pipeline, run_pipeline=args.run, lag_wait=args.lag_wait
    )
    if console.json_mode:
        console.document(report.to_json())
    else:
        console.say(report.render())
    return EXIT_OK if report.ok else EXIT_AZURE


def command_activities(args: argparse.Namespace, settings: AdfSettings, console: Console) -> int:
    """List the activity runs of a run, in the order they started."""
    from airflow_adf_trigger.core.wire.operations import activity_window

    with _client(settings) as client:
        run = client.get_run(args.run_id)
        query = activity_window(run, order_by=(("ActivityRunStart", "ASC"),))
        activities = client.query_activity_runs(args.run_id, query)
    if console.json_mode:
        console.document([activity_json(activity) for activity in activities])
        return EXIT_OK
    console.say(f"Pipeline '{run.pipeline_name}' run {run.run_id}: {run.status.value}")
    if not activities:
        console.say("No activity has run yet.")
        return EXIT_OK
    rows = [
        (a.activity_name, a.activity_type, a.status, format_duration(a.duration_ms))
        for a in activities
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    for activity, row in zip(activities, rows, strict=True):
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        error = activity.error
        if error is not None:
            code = f"[{error.code}] " if error.code else ""
            line += f"  {code}{error.message}"
        console.say(line.rstrip())
    return EXIT_OK


def collect_parameters(pairs: Sequence[str], json_file: str | None) -> dict[str, Any]:
    """--params-json's object, then each --param NAME=VALUE (a string) over it."""
    parameters: dict[str, Any] = {}
    if json_file:
        try:
            if json_file == "-":
                text = sys.stdin.read()
            else:
                with open(json_file, encoding="utf-8") as handle:
                    text = handle.read()
        except OSError as error:
            raise CliError(f"--params-json: cannot read {json_file}: {error.strerror}") from None
        origin = f"--params-json {json_file}"
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise CliError(
                f"{origin}: is not valid JSON (line {error.lineno}, column {error.colno})"
            ) from None
        if not isinstance(value, dict):
            raise CliError(f"{origin}: must be a JSON object")
        parameters.update(value)
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name.strip():
            raise CliError(f"--param: {pair!r} is not NAME=VALUE, e.g. --param date=2026-11-26")
        parameters[name.strip()] = value
    return parameters
