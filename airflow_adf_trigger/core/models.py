"""Typed values parsed from ADF's JSON: run statuses and pipeline runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class RunStatus(StrEnum):
    """The status of a pipeline run, as ADF names it."""

    QUEUED = "Queued"
    IN_PROGRESS = "InProgress"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELING = "Canceling"
    CANCELLED = "Cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_successful(self) -> bool:
        return self is RunStatus.SUCCEEDED

    @classmethod
    def parse(cls, value: str) -> RunStatus:
        """Exact (case-insensitive) match; an unknown status is an error, never a guess."""
        for status in cls:
            if status.value.lower() == str(value).lower():
                return status
        raise ValueError(f"unknown ADF pipeline run status {value!r}")


_TERMINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})


def parse_timestamp(value: str | None) -> datetime | None:
    """Parse ADF's ISO-8601 timestamps, which carry up to seven fractional digits."""
    if not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    head, sep, rest = text.partition(".")
    if sep:
        digits = ""
        for index, char in enumerate(rest):
            if not char.isdigit():
                rest = rest[index:]
                break
            digits += char
        else:
            rest = ""
        text = f"{head}.{(digits + '000000')[:6]}{rest}"
    return datetime.fromisoformat(text)


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

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> PipelineRun:
        invoked_by = body.get("invokedBy") or {}
        duration = body.get("durationInMs")
        return cls(
            run_id=str(body["runId"]),
            pipeline_name=str(body.get("pipelineName") or ""),
            status=RunStatus.parse(body["status"]),
            message=str(body.get("message") or ""),
            run_group_id=body.get("runGroupId"),
            is_latest=body.get("isLatest"),
            parameters=dict(body.get("parameters") or {}),
            run_start=parse_timestamp(body.get("runStart")),
            run_end=parse_timestamp(body.get("runEnd")),
            duration_ms=None if duration is None else int(duration),
            last_updated=parse_timestamp(body.get("lastUpdated")),
            invoked_by=invoked_by.get("name") if isinstance(invoked_by, Mapping) else None,
        )
