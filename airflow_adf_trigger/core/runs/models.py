"""Typed values parsed from ADF's JSON: run statuses and pipeline runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import takewhile
from typing import Any

from airflow_adf_trigger.core.runs.status import RunStatus

__all__ = [
    "ActivityError",
    "ActivityRun",
    "CancelResult",
    "Page",
    "PipelineRun",
    "RunFilter",
    "RunQuery",
    "RunStatus",
    "parse_timestamp",
]


def parse_timestamp(value: str | None) -> datetime | None:
    """Parse ADF's ISO-8601 timestamps, which carry up to seven fractional digits."""
    if not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    head, sep, rest = text.partition(".")
    if sep:  # Python reads six fractional digits: pad or cut the fraction to six
        digits = "".join(takewhile(str.isdigit, rest))
        text = f"{head}.{(digits + '000000')[:6]}{rest[len(digits) :]}"
    return datetime.fromisoformat(text)


def _int(body: Mapping[str, Any], key: str) -> int | None:
    value = body.get(key)
    return None if value is None else int(value)


def _text(body: Mapping[str, Any], key: str) -> str:
    return str(body.get(key) or "")


@dataclass(frozen=True, slots=True)
class PipelineRun:
    """One pipeline run as ``GET .../pipelineruns/{runId}`` describes it."""

    run_id: str
    pipeline_name: str
    status: RunStatus
    message: str = ""
    run_group_id: str | None = None
    is_latest: bool | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    run_start: datetime | None = None
    run_end: datetime | None = None
    duration_ms: int | None = None
    last_updated: datetime | None = None
    invoked_by: str | None = None
    invoked_by_type: str | None = None
    """What started the run: ``Manual``, ``ScheduleTrigger``, ``PipelineActivity``..."""
    run_dimensions: Mapping[str, str] = field(default_factory=dict)
    """``runDimensions`` (spec, SDKs) or ``runDimension`` (service examples): both are read."""

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> PipelineRun:
        """Read a PipelineRun body as ADF sends it (missing optional fields allowed).

        :param body: the parsed JSON of ``GET .../pipelineruns/{runId}``, or one ``value``
            entry of ``queryPipelineRuns``.
        """
        invoked_by = body.get("invokedBy")
        if not isinstance(invoked_by, Mapping):
            invoked_by = {}
        dimensions = body.get("runDimensions") or body.get("runDimension") or {}
        return cls(
            run_id=str(body["runId"]),
            pipeline_name=_text(body, "pipelineName"),
            status=RunStatus.parse(body["status"]),
            message=_text(body, "message"),
            run_group_id=body.get("runGroupId"),
            is_latest=body.get("isLatest"),
            parameters=dict(body.get("parameters") or {}),
            run_start=parse_timestamp(body.get("runStart")),
            run_end=parse_timestamp(body.get("runEnd")),
            duration_ms=_int(body, "durationInMs"),
            last_updated=parse_timestamp(body.get("lastUpdated")),
            invoked_by=invoked_by.get("name"),
            invoked_by_type=invoked_by.get("invokedByType"),
            run_dimensions=dict(dimensions) if isinstance(dimensions, Mapping) else {},
        )


@dataclass(frozen=True, slots=True)
class ActivityError:
    """The error of one activity run, in ADF's own words."""

    code: str
    message: str
    failure_type: str = ""
    target: str = ""


@dataclass(frozen=True, slots=True)
class ActivityRun:
    """One activity run of a pipeline run (``queryActivityruns``)."""

    activity_run_id: str
    activity_name: str
    activity_type: str
    status: str
    pipeline_run_id: str
    pipeline_name: str = ""
    run_start: datetime | None = None
    run_end: datetime | None = None
    duration_ms: int | None = None
    retry_attempt: int | None = None
    error: ActivityError | None = None
    output: Any = field(default=None, compare=False, repr=False)
    """The activity's ``output`` object as ADF reports it (a Copy's ``rowsCopied``...)."""

    @property
    def failed(self) -> bool:
        """Whether this activity run ended Failed."""
        return self.status.lower() == "failed"

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ActivityRun:
        """Read an ActivityRun body as ADF sends it.

        :param body: one ``value`` entry of ``queryActivityruns``, parsed.
        """
        raw = body.get("error")
        error = None
        if isinstance(raw, Mapping) and (raw.get("message") or raw.get("errorCode")):
            keys = ("errorCode", "message", "failureType", "target")  # ActivityError's order
            error = ActivityError(*(_text(raw, key) for key in keys))
        return cls(
            activity_run_id=str(body["activityRunId"]),
            activity_name=_text(body, "activityName"),
            activity_type=_text(body, "activityType"),
            status=_text(body, "status"),
            pipeline_run_id=_text(body, "pipelineRunId"),
            pipeline_name=_text(body, "pipelineName"),
            run_start=parse_timestamp(body.get("activityRunStart")),
            run_end=parse_timestamp(body.get("activityRunEnd")),
            duration_ms=_int(body, "durationInMs"),
            retry_attempt=_int(body, "retryAttempt"),
            error=error,
            output=body.get("output"),
        )

    def describe(self) -> str:
        """``activity 'Copy' (Copy) failed: [2200] message`` for task logs."""
        line = f"activity {self.activity_name!r} ({self.activity_type}) {self.status.lower()}"
        if self.error is not None:
            code = f"[{self.error.code}] " if self.error.code else ""
            line += f": {code}{self.error.message}"
        return line


@dataclass(frozen=True, slots=True)
class CancelResult:
    """What a cancel request achieved."""

    run_id: str
    cancel_requested: bool
    """True when ADF accepted the cancel (the run was queued or in progress)."""
    finished_status: RunStatus | None = None
    """When the run had already ended: its final status."""

    def describe(self) -> str:
        """One sentence for a log or a task's error: requested, or already finished."""
        if self.cancel_requested:
            return f"cancel requested for run {self.run_id}"
        status = self.finished_status.value if self.finished_status else "unknown"
        return f"run {self.run_id} already finished with status {status}"


@dataclass(frozen=True, slots=True)
class RunFilter:
    """One ``filters`` entry of a run query, e.g. ``RunFilter("Status", "In", ("Failed",))``."""

    operand: str
    operator: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RunQuery:
    """A ``queryPipelineRuns`` / ``queryActivityruns`` body, without the paging token."""

    last_updated_after: datetime
    last_updated_before: datetime
    filters: tuple[RunFilter, ...] = ()
    order_by: tuple[tuple[str, str], ...] = ()
    """(field, "ASC" | "DESC") pairs."""


@dataclass(frozen=True, slots=True)
class UnreadableRun:
    """A run of a query page this client could not read (an unknown status, a field of the
    wrong type): left out of the page, named here so the caller can say so."""

    run_id: str | None
    """The run's id when the entry has a readable one."""
    reason: str


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a query answer."""

    value: tuple[Any, ...]
    continuation_token: str | None
    unreadable: tuple[UnreadableRun, ...] = ()


@dataclass(frozen=True, slots=True)
class RunChanges:
    """The runs a query returned (every page), and the server's time when it answered."""

    runs: tuple[PipelineRun, ...]
    server_time: datetime | None
    unreadable: tuple[UnreadableRun, ...] = ()
    """Entries left out because this client could not read them."""
