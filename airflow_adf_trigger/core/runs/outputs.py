"""The outputs of a finished run's activities, selected by name and bounded in size.

ADF keeps each activity run's ``output`` object (a Copy activity's ``rowsRead``,
``rowsCopied``, ``dataRead``...; a Lookup activity's ``firstRow`` or ``value``) in
``queryActivityruns``. This module reads them, keeps the named activities' outputs and
replaces any larger than a bound by a note saying so, so XCom never receives megabytes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_adf_trigger.core.config.settings import AdfSettings
from airflow_adf_trigger.core.runs.models import ActivityRun, PipelineRun, RunQuery
from airflow_adf_trigger.core.wire.exchange import Flow
from airflow_adf_trigger.core.wire.operations import query_activity_runs

DEFAULT_MAX_BYTES = 16 * 1024


def activity_outputs(
    settings: AdfSettings,
    run: PipelineRun,
    names: Sequence[str],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    now: datetime | None = None,
) -> Flow[dict[str, Any]]:
    """``{activity name: output}`` for each name; the last succeeded run of an activity
    counts (loops and retries run one several times). A name with no succeeded activity run
    maps to None; an output above ``max_bytes`` of JSON to ``{"truncated": true, ...}``."""
    now = now or datetime.now(UTC)
    start = (run.run_start or now - timedelta(days=1)) - timedelta(minutes=5)
    query = RunQuery(last_updated_after=start, last_updated_before=now + timedelta(days=1))
    activities = yield from query_activity_runs(settings, run.run_id, query)
    return select_outputs(activities, names, max_bytes)


def select_outputs(
    activities: Sequence[ActivityRun], names: Sequence[str], max_bytes: int
) -> dict[str, Any]:
    """The bounded outputs of the named activities; the last succeeded run of each counts."""
    chosen: dict[str, Any] = {name: None for name in names}
    far_past = datetime.min.replace(tzinfo=UTC)
    for activity in sorted(activities, key=lambda a: a.run_end or far_past):
        if activity.activity_name in chosen and activity.status == "Succeeded":
            chosen[activity.activity_name] = activity.output
    return {name: bounded(output, max_bytes) for name, output in chosen.items()}


def bounded(output: Any, max_bytes: int) -> Any:
    """``output`` itself, or a note when its JSON is larger than ``max_bytes``."""
    if output is None:
        return None
    size = len(json.dumps(output, separators=(",", ":")).encode())
    if size <= max_bytes:
        return output
    return {"truncated": True, "size_bytes": size, "max_bytes": max_bytes}
