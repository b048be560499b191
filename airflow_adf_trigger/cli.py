"""``adf-trigger``: start, follow, cancel and inspect Azure Data Factory pipeline runs from a shell.

A thin command line over the Airflow-free core (:mod:`airflow_adf_trigger.core`): it never
imports Airflow, and it imports the core (and ``requests``) only once the arguments are
parsed, so ``--help`` stays instant. Run ``adf-trigger --help`` for the commands, the settings
sources and the exit codes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from airflow_adf_trigger.core.client import AdfClient
    from airflow_adf_trigger.core.environment import Sourced, WaitOptions
    from airflow_adf_trigger.core.errors import AdfError
    from airflow_adf_trigger.core.models import ActivityRun, CancelResult, PipelineRun
    from airflow_adf_trigger.core.settings import AdfSettings

PROG = "adf-trigger"

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_USAGE = 2
EXIT_AZURE = 3
EXIT_INTERRUPTED = 130
EXIT_PIPE_CLOSED = 141
"""128 + SIGPIPE: what a shell reports for a Unix tool whose reader went away (`| head -1`)."""

# Declared here too so that --help imports nothing of the core; a test holds them equal to
# the core's (core/environment.py).
DEFAULT_POLL_INTERVAL = 15.0
"""Seconds between status checks while waiting (the operator's default too)."""
DEFAULT_OUTAGE_BUDGET = 900.0
"""Seconds a wait goes on while Azure cannot be read (the core client's default too)."""
CONNECTION_URI_ENV = "ADF_CONNECTION_URI"

# The flag of each setting; its environment variable is the core's (core/environment.py).
SETTING_FLAGS: dict[str, str] = {
    "tenant_id": "--tenant-id",
    "client_id": "--client-id",
    "client_secret": "--client-secret-env NAME",
    "subscription_id": "--subscription-id",
    "resource_group": "--resource-group",
    "factory_name": "--factory-name",
    "cloud": "--cloud",
    "authority_host": "--authority-host",
    "management_endpoint": "--management-endpoint",
    "token_api": "--token-api",
    "request_timeout": "--request-timeout",
    "retry_max_attempts": "--retry-max-attempts",
    "retry_max_seconds": "--retry-max-seconds",
}

# How `wait` and `run --wait` wait: a flag each (and the core's environment variable).
WAIT_FLAGS: dict[str, str] = {
    "poll_interval": "--poll-interval",
    "timeout": "--timeout",
    "outage_budget": "--outage-budget",
}

DESCRIPTION = """\
Start, follow, cancel and inspect Azure Data Factory pipeline runs.
Needs no Airflow: it uses the provider's Airflow-free core client."""

EPILOG = """\
examples:
  export ADF_CONNECTION_URI='adf://CLIENT_ID:SECRET@/?tenant_id=TENANT&subscription_id=SUB&resource_group=rg-analytics&factory_name=adf-prod'
  adf-trigger run copy_sales --param region=emea --param date=2026-11-26 --wait
  RUN_ID=$(adf-trigger run copy_sales) && adf-trigger wait "$RUN_ID" --timeout 3600
  adf-trigger status "$RUN_ID" --json
  adf-trigger activities "$RUN_ID"

settings, each taken from the first source that gives it:
  1. flags: --tenant-id, --client-id, --subscription-id, --resource-group, --factory-name,
     --cloud, --authority-host, --management-endpoint, --identity, --token-api,
     --request-timeout, --retry-max-attempts, --retry-max-seconds, and
     --client-secret-env NAME (the environment variable that holds the secret: the
     secret itself is never a flag)
  2. --connection-uri URI, else $ADF_CONNECTION_URI: an Airflow connection of type adf (or
     azure_data_factory) as a URI, adf://CLIENT_ID:SECRET@/?tenant_id=..&subscription_id=..
     &resource_group=..&factory_name=.. (login and password URL-quoted; query = extras),
     or in its JSON form {"conn_type": "adf", "login": .., "password": .., "extra": {..}}
  3. environment: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET,
     ADF_SUBSCRIPTION_ID, ADF_RESOURCE_GROUP, ADF_FACTORY_NAME, and optionally ADF_CLOUD,
     ADF_AUTHORITY_HOST, ADF_MANAGEMENT_ENDPOINT, ADF_TOKEN_API (v2 or v1),
     ADF_REQUEST_TIMEOUT (seconds, 30), ADF_RETRY_MAX_ATTEMPTS (5) and
     ADF_RETRY_MAX_SECONDS (120): the retry budget of one request
  The client secret is never printed, not even with --json.

waiting (wait, run --wait), each a flag, else an environment variable:
  --poll-interval / ADF_POLL_INTERVAL  seconds between status checks (15; at least 1,
                                       except against an emulator on this machine)
  --timeout / ADF_TIMEOUT              give up waiting after this many seconds (none)
  --outage-budget / ADF_OUTAGE_BUDGET  go on through network errors, throttling and Azure
                                       5xx for up to this many seconds in a row (900),
                                       with a warning on stderr at each failed check
  Every number is checked before any request: finite, and above 0 (0 allowed for
  --outage-budget and --retry-max-seconds; --retry-max-attempts is a whole number >= 1).

exit codes:
  0    done: the run succeeded (wait, run --wait), or the command did its job (run, cancel,
       activities, status). `status` of a Failed run exits 0: it reported the status
       successfully; use `wait` to turn a run's outcome into an exit code.
  1    the run ended Failed or Cancelled (wait, run --wait), or --timeout passed first (the
       run itself is left alone: cancel it with `adf-trigger cancel RUN_ID`)
  2    usage or configuration error: a bad flag, a missing or malformed setting, a bad run id
  3    Azure said no or could not be reached: wrong secret, missing role, unknown factory,
       pipeline or run, network errors; while waiting, Azure could not be read for longer
       than the outage budget (or until --timeout). Also when `run` cannot tell whether its
       run started (no answer, or an unreadable one, after the request was sent): the
       request is never sent twice, and the message gives the time window in which to look
       for the run in ADF monitoring.
  130  interrupted (Ctrl-C); a run already started goes on in ADF
  141  stdout was closed early (e.g. `| head -1`): stops quietly, as Unix tools do; a run
       already started goes on in ADF
"""


class CliError(Exception):
    """A problem to report as one ``adf-trigger: error:`` line, with its exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# --------------------------------------------------------------------------- output


class Console:
    """Where the CLI writes: human text, or one JSON document; secrets are always masked."""

    def __init__(self, *, json_mode: bool) -> None:
        self.json_mode = json_mode
        self._secrets: list[str] = []

    def hide(self, secret: str | None) -> None:
        """Never let ``secret`` through, whatever text carries it."""
        if secret:
            self._secrets.append(secret)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "********")
        return text

    def say(self, text: str = "") -> None:
        """A line of human output on stdout (nothing in --json mode)."""
        if not self.json_mode:
            print(self.redact(text), file=sys.stdout, flush=True)

    def note(self, text: str) -> None:
        """A line for the person at the terminal, on stderr, so stdout stays scriptable."""
        if not self.json_mode:
            print(self.redact(text), file=sys.stderr, flush=True)

    def document(self, value: object) -> None:
        """The one JSON document of --json mode."""
        print(self.redact(json.dumps(value, indent=2)), file=sys.stdout, flush=True)

    def warn(self, text: str) -> None:
        """A problem worked around, on stderr even in --json mode (stdout stays one document)."""
        print(f"{PROG}: warning: {self.redact(_one_line(text))}", file=sys.stderr, flush=True)

    def error(self, text: str) -> None:
        print(f"{PROG}: error: {self.redact(_one_line(text))}", file=sys.stderr, flush=True)


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


class Progress:
    """A run's status while waiting: a live line on a terminal, else a line per change."""

    TICK_SECONDS = 1.0

    def __init__(self, console: Console, stream: TextIO) -> None:
        self._stream = stream
        self._enabled = not console.json_mode
        self._live = self._enabled and _isatty(stream)
        self._console = console
        self._started = time.monotonic()
        self._run: PipelineRun | None = None
        self._width = 0

    def update(self, run: PipelineRun) -> None:
        """Called after every status check."""
        changed = self._run is None or self._run.status is not run.status
        self._run = run
        if self._live:
            self._draw()
        elif self._enabled and changed:
            self._stream.write(self._console.redact(self._line(run)) + "\n")
            self._stream.flush()

    def sleep(self, seconds: float) -> None:
        """Wait between checks, keeping the live line's clock ticking."""
        if not self._live or self._run is None:
            time.sleep(seconds)
            return
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(left, self.TICK_SECONDS))
            self._draw()

    def finish(self) -> None:
        """End the live line so what follows starts on a fresh one."""
        if self._live and self._width:
            self._stream.write("\n")
            self._stream.flush()
            self._width = 0

    def _draw(self) -> None:
        if self._run is None:
            return
        line = self._console.redact(self._line(self._run))
        self._width = max(self._width, len(line))
        self._stream.write("\r" + line.ljust(self._width))
        self._stream.flush()

    def _line(self, run: PipelineRun) -> str:
        elapsed = int(time.monotonic() - self._started)
        minutes, seconds = divmod(elapsed, 60)
        return (
            f"[{minutes:02d}:{seconds:02d}] {run.status.value:<10} "
            f"pipeline '{run.pipeline_name}', run {run.run_id}"
        )


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# --------------------------------------------------------------------------- settings


def resolve_settings(
    args: argparse.Namespace, environ: Mapping[str, str], console: Console
) -> AdfSettings:
    """Merge the environment, the connection URI and the flags (lowest first) into settings."""
    from airflow_adf_trigger.core.connection import parse_connection_uri
    from airflow_adf_trigger.core.environment import (
        Sourced,
        build_settings,
        connection_layer,
        environment_layer,
        merge_layers,
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
    _check_missing(merged, factory_optional=factory_optional)
    return build_settings(merged, require_factory=not factory_optional)


def resolve_wait_options(
    args: argparse.Namespace, environ: Mapping[str, str], *, local: bool
) -> WaitOptions:
    """--poll-interval, --timeout and --outage-budget, else their environment variables.

    The poll interval has a floor of 1 s (the subscription's read budget), except against an
    emulator on this machine (``local``).
    """
    from airflow_adf_trigger.core.environment import WAIT_VARIABLES, Sourced, WaitOptions

    given: dict[str, Sourced] = {}
    for key, flag in WAIT_FLAGS.items():
        value = getattr(args, key, None)
        variable = WAIT_VARIABLES[key]
        if value is not None:
            given[key] = Sourced(value, flag)
        elif environ.get(variable, "").strip():
            given[key] = Sourced(environ[variable].strip(), variable)
    return WaitOptions.from_sources(given, local=local)


def _check_missing(merged: Mapping[str, Sourced], *, factory_optional: bool = False) -> None:
    from airflow_adf_trigger.core.environment import SETTING_VARIABLES, missing_settings

    missing = missing_settings(merged)
    if factory_optional:
        missing = [key for key in missing if key not in ("resource_group", "factory_name")]
    if not missing:
        return
    hints = [
        f"{key} (${SETTING_VARIABLES[key]} or --client-secret-env NAME)"
        if key == "client_secret"
        else f"{key} ({SETTING_FLAGS[key]} or ${SETTING_VARIABLES[key]})"
        for key in missing
    ]
    raise CliError(
        f"missing settings: {', '.join(hints)}; give them as flags or environment variables, "
        f"or all at once as a connection in ${CONNECTION_URI_ENV} or --connection-uri "
        f"(see {PROG} --help)"
    )


# --------------------------------------------------------------------------- JSON and text


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _when(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_duration(milliseconds: int | None) -> str:
    """``850ms``, ``12.3s``, ``4m 05s`` or ``2h 01m``; ``-`` when unknown."""
    if milliseconds is None:
        return "-"
    if milliseconds < 1000:
        return f"{milliseconds}ms"
    seconds = milliseconds / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def failure_json(activity: ActivityRun) -> dict[str, Any]:
    return {
        "activityName": activity.activity_name,
        "activityType": activity.activity_type,
        "errorCode": activity.error.code if activity.error else None,
        "message": activity.error.message if activity.error else None,
    }


def run_json(
    run: PipelineRun, settings: AdfSettings, failures: Sequence[ActivityRun] = ()
) -> dict[str, Any]:
    """A run as --json prints it: ADF's own field names, plus failures and the Studio link."""
    return {
        "runId": run.run_id,
        "pipelineName": run.pipeline_name,
        "status": run.status.value,
        "message": run.message,
        "runStart": _iso(run.run_start),
        "runEnd": _iso(run.run_end),
        "durationInMs": run.duration_ms,
        "parameters": dict(run.parameters),
        "failures": [failure_json(activity) for activity in failures],
        "monitoringUrl": settings.factory.monitoring_url(settings.cloud, run.run_id),
    }


def activity_json(activity: ActivityRun) -> dict[str, Any]:
    error = activity.error
    return {
        "activityRunId": activity.activity_run_id,
        "activityName": activity.activity_name,
        "activityType": activity.activity_type,
        "status": activity.status,
        "activityRunStart": _iso(activity.run_start),
        "activityRunEnd": _iso(activity.run_end),
        "durationInMs": activity.duration_ms,
        "error": None
        if error is None
        else {"errorCode": error.code, "message": error.message, "failureType": error.failure_type},
    }


def print_run(
    console: Console, run: PipelineRun, settings: AdfSettings, failures: Sequence[ActivityRun]
) -> None:
    """The human summary of a run: status, timing, message, failed activities, Studio link."""
    rows = [
        ("Run", run.run_id),
        ("Pipeline", run.pipeline_name),
        ("Status", run.status.value),
        ("Started", _when(run.run_start)),
        ("Ended", _when(run.run_end)),
        ("Duration", format_duration(run.duration_ms)),
    ]
    if run.parameters:
        rows.append(("Parameters", json.dumps(dict(run.parameters))))
    if run.message:
        rows.append(("Message", run.message))
    for label, value in rows:
        console.say(f"{label + ':':<12}{value}")
    if failures:
        console.say("Failed activities:")
        for activity in failures:
            console.say(f"  - {activity.describe()}")
    console.say(f"{'Monitor:':<12}{settings.factory.monitoring_url(settings.cloud, run.run_id)}")


# --------------------------------------------------------------------------- commands


def _client(settings: AdfSettings, sleep: Callable[[float], None] = time.sleep) -> AdfClient:
    from airflow_adf_trigger.core.client import AdfClient

    return AdfClient(settings, sleep=sleep)


def _failures(client: AdfClient, run: PipelineRun) -> list[ActivityRun]:
    from airflow_adf_trigger.core.models import RunStatus

    return client.failure_details(run) if run.status is RunStatus.FAILED else []


def _check_run_id(run_id: str) -> str:
    from airflow_adf_trigger.core.validation import check_run_id

    return check_run_id(run_id)


class OutageReport:
    """Says on stderr that Azure cannot be read while a wait goes on through it, and when
    it answers again."""

    def __init__(self, console: Console, progress: Progress, run_id: str, budget: float) -> None:
        self._console = console
        self._progress = progress
        self._run_id = run_id
        self._budget = budget
        self._in_outage = False

    def on_outage(self, error: AdfError, lasted: float) -> None:
        self._in_outage = True
        if lasted >= self._budget:
            return  # the wait ends here, with an error that says so
        self._progress.finish()
        self._console.warn(
            f"still waiting for run {self._run_id}: Azure could not be read for {lasted:.1f} s "
            f"of the {self._budget:g} s outage budget (--outage-budget); last error: {error}"
        )

    def on_poll(self, run: PipelineRun) -> None:
        if self._in_outage:
            self._in_outage = False
            self._progress.finish()
            self._console.warn(f"Azure answers again: run {run.run_id} is {run.status.value}")
        self._progress.update(run)


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
        progress.finish()
        raise CliError(
            f"stopped waiting; run {run_id} goes on in ADF (stop it with `{PROG} cancel {run_id}`)",
            EXIT_INTERRUPTED,
        ) from None
    finally:
        progress.finish()
    failures = _failures(client, run)
    if console.json_mode:
        console.document(run_json(run, settings, failures))
    else:
        print_run(console, run, settings, failures)
    return EXIT_OK if run.status.is_successful else EXIT_RUN_FAILED


def start_run(client: AdfClient, pipeline: str, parameters: Mapping[str, Any]) -> str:
    """Create a run and return its id, sure that it exists; else exit 3 with where to look.

    Whatever goes wrong once the request may have reached ADF (no answer, a 5xx, an
    unreadable answer, a runId that is not one, Ctrl-C) means the run may or may not exist:
    the request is never sent again, and the message gives the time window to look in.
    """
    from airflow_adf_trigger.core.errors import (
        AdfConfigurationError,
        AdfError,
        AdfRequestError,
        AdfRunOutcomeUnknownError,
    )
    from airflow_adf_trigger.core.validation import check_run_id

    sent_at = datetime.now(UTC)

    def unknown(cause: str, exit_code: int = EXIT_AZURE) -> CliError:
        error = AdfRunOutcomeUnknownError(pipeline, sent_at, datetime.now(UTC), cause)
        return CliError(str(error), exit_code)

    try:
        run_id = client.create_run(pipeline, parameters)
    except AdfRunOutcomeUnknownError as error:
        raise CliError(str(error), EXIT_AZURE) from None
    except AdfRequestError as error:
        if error.status is not None and 200 <= error.status < 300:
            raise unknown(f"ADF accepted it, but: {error}") from None
        raise  # an answer that says no run was started
    except AdfError:
        raise
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
    from airflow_adf_trigger.core.errors import AdfError
    from airflow_adf_trigger.core.validation import check_pipeline

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
    run_id = _check_run_id(args.run_id)
    with _client(settings) as client:
        run = client.get_run(run_id)
        failures = _failures(client, run)
    if console.json_mode:
        console.document(run_json(run, settings, failures))
    else:
        print_run(console, run, settings, failures)
    return EXIT_OK


def command_wait(args: argparse.Namespace, settings: AdfSettings, console: Console) -> int:
    """Poll a run until it ends."""
    run_id = _check_run_id(args.run_id)
    progress = Progress(console, sys.stdout)
    with _client(settings, sleep=progress.sleep) as client:
        return follow_run(client, settings, console, progress, run_id, args.wait_options)


def command_cancel(args: argparse.Namespace, settings: AdfSettings, console: Console) -> int:
    """Cancel a run; one that already ended is reported, not an error."""
    run_id = _check_run_id(args.run_id)
    recursive = not args.no_recursive
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
    from airflow_adf_trigger.core.models import RunQuery

    run_id = _check_run_id(args.run_id)
    with _client(settings) as client:
        run = client.get_run(run_id)
        now = datetime.now(UTC)
        start = run.run_start or run.last_updated or now - timedelta(days=30)
        query = RunQuery(
            last_updated_after=start - timedelta(hours=1),
            last_updated_before=max(now, run.run_end or now) + timedelta(days=1),
            order_by=(("ActivityRunStart", "ASC"),),
        )
        activities = client.query_activity_runs(run_id, query)
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


def _json_object(text: str, origin: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise CliError(
            f"{origin}: is not valid JSON (line {error.lineno}, column {error.colno})"
        ) from None
    if not isinstance(value, dict):
        raise CliError(f"{origin}: must be a JSON object")
    return value


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
        parameters.update(_json_object(text, f"--params-json {json_file}"))
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name.strip():
            raise CliError(f"--param: {pair!r} is not NAME=VALUE, e.g. --param date=2026-11-26")
        parameters[name.strip()] = value
    return parameters


# --------------------------------------------------------------------------- argument parsing


def _add_settings_options(parser: argparse.ArgumentParser, *, top_level: bool) -> None:
    # Subcommands leave unset options out (SUPPRESS), so values given before the command
    # survive. No option shows a default: none may leak an environment value into --help.
    default = None if top_level else argparse.SUPPRESS
    group = parser.add_argument_group(
        "settings", "override the connection and the environment (see the epilog of --help)"
    )
    group.add_argument("--tenant-id", metavar="ID", default=default, help="Directory (tenant) ID")
    group.add_argument("--client-id", metavar="ID", default=default, help="Application (client) ID")
    group.add_argument(
        "--client-secret-env",
        metavar="NAME",
        default=default,
        help="name of the environment variable holding the client secret's value",
    )
    group.add_argument("--subscription-id", metavar="ID", default=default)
    group.add_argument("--resource-group", metavar="NAME", default=default)
    group.add_argument("--factory-name", metavar="NAME", default=default)
    group.add_argument(
        "--cloud", metavar="CLOUD", default=default, help="public (default), china or usgov"
    )
    group.add_argument(
        "--authority-host", metavar="URL", default=default, help="Azure AD endpoint override"
    )
    group.add_argument(
        "--management-endpoint",
        metavar="URL",
        default=default,
        help="Resource Manager endpoint override",
    )
    group.add_argument(
        "--identity",
        metavar="KIND",
        default=default,
        help="sign in without a secret via azure-identity: default, managed_identity, "
        "workload_identity, azure_cli or environment (needs airflow-adf-trigger[identity])",
    )
    group.add_argument(
        "--token-api", metavar="VERSION", default=default, help="Azure AD token endpoint: v2 or v1"
    )
    group.add_argument(
        "--request-timeout", metavar="S", default=default, help="seconds per request (30)"
    )
    group.add_argument(
        "--retry-max-attempts",
        metavar="N",
        default=default,
        help="attempts per request on throttling, 5xx or network errors (5; 1 = no retry)",
    )
    group.add_argument(
        "--retry-max-seconds",
        metavar="S",
        default=default,
        help="time one request may take, retries included (120)",
    )
    group.add_argument(
        "--connection-uri",
        metavar="URI",
        default=default,
        help=f"an Airflow connection URI or JSON; prefer ${CONNECTION_URI_ENV}, since a "
        "flag's value shows in the process list",
    )


def _add_wait_options(parser: argparse.ArgumentParser) -> None:
    # Strings: they are checked with their environment variables, once the endpoint is known.
    parser.add_argument(
        "--poll-interval",
        metavar="S",
        help=f"seconds between status checks (default {DEFAULT_POLL_INTERVAL:g}; "
        "$ADF_POLL_INTERVAL)",
    )
    parser.add_argument(
        "--timeout",
        metavar="S",
        help="give up waiting after S seconds (exit 1); the run is not cancelled ($ADF_TIMEOUT)",
    )
    parser.add_argument(
        "--outage-budget",
        metavar="S",
        help="keep waiting through network errors, throttling and Azure 5xx for up to S "
        f"seconds in a row (default {DEFAULT_OUTAGE_BUDGET:g}; $ADF_OUTAGE_BUDGET); then exit 3",
    )


def _add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document and nothing else"
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``adf-trigger`` argument parser with its six commands."""
    from airflow_adf_trigger import __version__

    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, epilog=EPILOG, formatter_class=formatter
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _add_settings_options(parser, top_level=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, summary: str, handler: Callable[..., int]) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name, help=summary, description=summary, epilog=EPILOG, formatter_class=formatter
        )
        sub.set_defaults(handler=handler)
        return sub

    run = command(
        "run", "start a pipeline run and print its run id (with --wait: follow it)", command_run
    )
    run.add_argument("pipeline", metavar="PIPELINE", help="the pipeline's name in ADF Studio")
    run.add_argument(
        "--param",
        metavar="NAME=VALUE",
        action="append",
        help="a pipeline parameter (a string); repeat for more; wins over --params-json",
    )
    run.add_argument(
        "--params-json",
        metavar="FILE",
        help="a JSON object file of parameters ('-' reads stdin)",
    )
    run.add_argument("--wait", action="store_true", help="wait for the run to end, as `wait` does")
    _add_json_option(run)
    _add_wait_options(run)
    _add_settings_options(run, top_level=False)

    status = command(
        "status",
        "print a run's status, pipeline, start/end/duration and message (exits 0)",
        command_status,
    )
    status.add_argument("run_id", metavar="RUN_ID")
    _add_json_option(status)
    _add_settings_options(status, top_level=False)

    wait = command(
        "wait",
        "poll a run until it ends; on Failed, show the failed activities' errors",
        command_wait,
    )
    wait.add_argument("run_id", metavar="RUN_ID")
    _add_json_option(wait)
    _add_wait_options(wait)
    _add_settings_options(wait, top_level=False)

    cancel = command(
        "cancel",
        "cancel a run, with its child pipelines; a finished run is reported, not an error",
        command_cancel,
    )
    cancel.add_argument("run_id", metavar="RUN_ID")
    cancel.add_argument(
        "--no-recursive", action="store_true", help="leave the child pipelines running"
    )
    _add_json_option(cancel)
    _add_settings_options(cancel, top_level=False)

    activities = command(
        "activities",
        "list a run's activity runs: name, type, status, duration, error",
        command_activities,
    )
    activities.add_argument("run_id", metavar="RUN_ID")
    _add_json_option(activities)
    _add_settings_options(activities, top_level=False)

    doctor = command(
        "doctor",
        "check sign-in, access, a pipeline, query forms, clock skew, read budget and latency; "
        "starts nothing unless --run; without a factory, sign-in and the subscription",
        command_doctor,
    )
    doctor.add_argument("--pipeline", metavar="NAME", help="also check that this pipeline exists")
    doctor.add_argument(
        "--run",
        metavar="PIPELINE",
        help="also start one run of PIPELINE, read it back and measure how late queries show "
        "it and its end (ADF's monitoring lag)",
    )
    doctor.add_argument(
        "--lag-wait",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="with --run: follow the run this long to measure the lag (0: do not measure)",
    )
    _add_json_option(doctor)
    _add_settings_options(doctor, top_level=False)
    # Without a factory, the doctor checks sign-in and the subscription (a connection that
    # leaves the factory to each task).
    doctor.set_defaults(factory_optional=True)
    return parser


# --------------------------------------------------------------------------- entry point


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
        from airflow_adf_trigger.core.errors import AdfConfigurationError, AdfError

        try:
            settings = resolve_settings(args, os.environ, console)
            if hasattr(args, "poll_interval"):  # the commands that can wait
                args.wait_options = resolve_wait_options(
                    args, os.environ, local=settings.cloud.is_local
                )
            handler: Callable[[argparse.Namespace, AdfSettings, Console], int] = args.handler
            return handler(args, settings, console)
        except AdfConfigurationError as error:
            raise CliError(str(error), EXIT_USAGE) from None
        except AdfError as error:
            raise CliError(str(error), EXIT_AZURE) from None
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


if __name__ == "__main__":
    sys.exit(main())
