"""What ``adf-trigger`` prints: the console (secrets hidden, JSON mode), progress lines, and
runs and activities as text and JSON."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from airflow_adf_trigger.core.config.settings import AdfSettings
    from airflow_adf_trigger.core.runs.models import ActivityRun, PipelineRun

from airflow_adf_trigger.cli.common import PROG

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
        try:
            self._live = self._enabled and stream.isatty()
        except (AttributeError, ValueError):  # not a file, or a closed one
            self._live = False
        self._console = console
        self._started = time.monotonic()
        self._run: PipelineRun | None = None
        self._width = 0

    def update(self, run: PipelineRun) -> None:
        """Called after every status check."""
        changed = self._run is None or self._run.status is not run.status
        self._run = run
        if self._live:
            self._draw(run)
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
            self._draw(self._run)

    def finish(self) -> None:
        """End the live line so what follows starts on a fresh one."""
        if self._live and self._width:
            self._stream.write("\n")
            self._stream.flush()
            self._width = 0

    def _draw(self, run: PipelineRun) -> None:
        line = self._console.redact(self._line(run))
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


def show_run(
    console: Console, run: PipelineRun, settings: AdfSettings, failures: Sequence[ActivityRun]
) -> None:
    """A run as --json prints it, else its human summary."""
    if console.json_mode:
        console.document(run_json(run, settings, failures))
    else:
        print_run(console, run, settings, failures)
