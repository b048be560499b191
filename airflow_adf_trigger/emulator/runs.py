"""Pipeline runs and their activity runs as functions of time: pure, so easy to test.

A run is planned once, when it is created: its scripted outcome and the start and end of
each activity (as seconds after creation). Its status at any moment follows from the plan,
the clock, and a cancel request if one came.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from airflow_adf_trigger.emulator.scenario import TERMINAL_OUTCOMES, OutcomeSpec, PipelineSpec
from airflow_adf_trigger.emulator.wire import timestamp

# Source: datafactory.json PipelineRun.status and the azure-facts list (Queued, InProgress,
# Succeeded, Failed, Canceling, Cancelled; terminal: the last three but Canceling).
TERMINAL = frozenset(TERMINAL_OUTCOMES)
CANCELLABLE = frozenset({"Queued", "InProgress"})


@dataclass(frozen=True, slots=True)
class PlannedActivity:
    """One activity of a run: when it starts and ends (seconds after creation), how it ends."""

    name: str
    type: str
    activity_run_id: str
    start: float
    end: float
    status: str
    output: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ActivityRunState:
    """An activity run as seen at one moment, with its lastUpdated time for queries."""

    last_updated: datetime
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RunPlan:
    """How a run will go if nobody cancels it."""

    outcome: str
    message: str
    error_code: str
    activities: tuple[PlannedActivity, ...]


def plan_run(
    spec: PipelineSpec,
    outcome: OutcomeSpec,
    activity_run_ids: list[str],
    start_activity: str | None = None,
) -> RunPlan:
    """Plan a run: the activities from ``start_activity`` on, up to the one that fails.

    A Failed or Cancelled run stops at ``failed_activity`` (or the last activity when that
    name is not in the list); activities after it never run.
    """
    plan = list(spec.activity_plan())
    names = [activity.name for activity, _ in plan]
    if start_activity is not None:
        first = names.index(start_activity)
        plan, names = plan[first:], names[first:]
    stop = len(plan) - 1
    if outcome.status != "Succeeded" and spec.failed_activity in names:
        stop = names.index(spec.failed_activity)
    plan = plan[: stop + 1]
    message = outcome.message
    if message is None:
        failing = plan[-1][0].name
        # Inferred: ADF's message names the failed activity this way (public issue logs
        # quote "Operation on target X failed: ..."); the rest of the text is the scenario's.
        message = f"Operation on target {failing} failed" if outcome.status == "Failed" else ""
    activities = []
    start = spec.queued_seconds
    for index, (activity, duration) in enumerate(plan):
        ends_as = outcome.status if index == stop else "Succeeded"
        activities.append(
            PlannedActivity(
                name=activity.name,
                type=activity.type,
                activity_run_id=activity_run_ids[index],
                start=start,
                end=start + duration,
                status=ends_as,
                output=activity.output,
            )
        )
        start += duration
    error_code = outcome.error_code or spec.error_code
    return RunPlan(outcome.status, message, error_code, tuple(activities))


@dataclass(slots=True)
class EmulatedRun:
    """One pipeline run. Only the cancel fields change after creation (under the state lock)."""

    run_id: str
    spec: PipelineSpec
    parameters: dict[str, str]
    created_wall: datetime
    created_at: float
    run_group_id: str
    plan: RunPlan
    invoked_by_id: str = ""
    invoked_by: Mapping[str, str] | None = None
    """``invokedBy`` name and type, when not a manual run (e.g. a ScheduleTrigger's)."""
    cancel_at: float | None = None
    cancelled_recursive: bool | None = None

    @property
    def pipeline_name(self) -> str:
        """The name of the pipeline this run belongs to."""
        return self.spec.name

    # ------------------------------------------------------------------ timeline

    def transitions(self) -> list[tuple[float, str]]:
        """Every status change as (clock time, status), in order, including future ones."""
        started = self.created_at + self.spec.queued_seconds
        ended = self.created_at + self.plan.activities[-1].end  # a plan has one at least
        natural = [
            (self.created_at, "Queued"),
            (started, "InProgress"),
            (ended, self.plan.outcome),
        ]
        if self.cancel_at is None:
            return natural
        kept = [change for change in natural if change[0] <= self.cancel_at]
        return [
            *kept,
            (self.cancel_at, "Canceling"),
            (self.cancel_at + self.spec.cancel_seconds, "Cancelled"),
        ]

    def history(self, now: float) -> list[tuple[float, str]]:
        """The status changes that have happened by ``now`` (at least the first one)."""
        changes = self.transitions()
        return [changes[0], *(change for change in changes[1:] if change[0] <= now)]

    def status_at(self, now: float) -> str:
        """The run's status at clock time ``now``."""
        return self.history(now)[-1][1]

    def last_updated_at(self, now: float) -> datetime:
        """When the status last changed, as of ``now``, in wall time."""
        return self.wall(self.history(now)[-1][0])

    def wall(self, moment: float) -> datetime:
        """A clock time as UTC wall time."""
        return self.created_wall + timedelta(seconds=moment - self.created_at)

    # ------------------------------------------------------------------ JSON

    def to_json(self, now: float, is_latest: bool = True, factory_id: str = "") -> dict[str, Any]:
        """The PipelineRun body ADF answers get-run and query-pipeline-runs with.

        Source: the field set and spellings of the REST quickstart's real output
        (MicrosoftDocs/azure-docs, data-factory/quickstart-create-data-factory-rest-api.md):
        ``id``, ``debugRunId: null``, ``runDimension`` (singular, as in
        PipelineRuns_QueryByFactory.json; the spec and the SDKs say ``runDimensions``),
        ``isLatest``. A Cancelled run has ``message: ""``, ``runEnd: null`` and
        ``durationInMs: null`` [PipelineRuns_QueryByFactory.json]; ``lastUpdated`` still moves.
        """
        history = self.history(now)
        status = history[-1][1]
        began = next((t for t, s in history if s == "InProgress"), None)
        finished = status in TERMINAL and status != "Cancelled"
        ended = history[-1][0] if finished else None
        message = self.plan.message if finished else ""
        duration = None if began is None or ended is None else _ms(ended - began)
        return {
            "id": f"{factory_id}/pipelineruns/{self.run_id}",
            "runId": self.run_id,
            "debugRunId": None,
            "runGroupId": self.run_group_id,
            "isLatest": is_latest,
            "pipelineName": self.spec.name,
            "parameters": self.parameters,
            "runDimension": {},
            "invokedBy": {
                "name": "Manual",
                "id": self.invoked_by_id,
                "invokedByType": "Manual",
                **(self.invoked_by or {}),
            },
            "lastUpdated": timestamp(self.wall(history[-1][0])),
            "runStart": timestamp(None if began is None else self.wall(began)),
            "runEnd": timestamp(None if ended is None else self.wall(ended)),
            "durationInMs": duration,
            "status": status,
            "message": message,
            "annotations": [],
        }

    def activity_runs(self, now: float) -> list[ActivityRunState]:
        """The activity runs that have started by ``now``, in the order they ran."""
        answer = []
        cancel_at = self.cancel_at
        for planned in self.plan.activities:
            start = self.created_at + planned.start
            end = self.created_at + planned.end
            # Activities run one after another: none starts after the one a cancel interrupts.
            if now < start or (cancel_at is not None and start > cancel_at):
                break
            status = planned.status
            if cancel_at is not None and start <= cancel_at < end:
                end = cancel_at + self.spec.cancel_seconds
                status = "Cancelled"
            done = now >= end
            answer.append(
                self._activity_json(planned, status if done else "InProgress", start, end)
            )
        return answer

    def _activity_json(
        self, planned: PlannedActivity, status: str, start: float, end: float
    ) -> ActivityRunState:
        """An ActivityRun body. Source: ActivityRuns_QueryByPipelineRun.json and the REST
        quickstart's real output (an empty ``error`` object with ``target`` on success);
        ``failureType`` UserError on failure is inferred. Activities run one after the
        other: a guess (the scenario has no dependency graph). An InProgress one has no end."""
        failed = status == "Failed"
        done = status != "InProgress"
        body = {
            "activityRunId": planned.activity_run_id,
            "activityName": planned.name,
            "activityType": planned.type,
            "activityRunStart": timestamp(self.wall(start)),
            "activityRunEnd": timestamp(self.wall(end)) if done else None,
            "durationInMs": _ms(end - start) if done else None,
            "retryAttempt": None,
            "input": {},
            # Scripted outputs appear once the activity succeeded; shapes of the real ones
            # (Copy: dataRead, rowsCopied, ...) are in docs/emulator-fidelity.md.
            "output": dict(planned.output or {}) if status == "Succeeded" else {},
            "error": {
                "errorCode": self.plan.error_code if failed else "",
                "message": self.plan.message if failed else "",
                "failureType": "UserError" if failed else "",
                "target": planned.name,
            },
            "pipelineName": self.spec.name,
            "pipelineRunId": self.run_id,
            "status": status,
            "linkedServiceName": "",
            "userProperties": {},
        }
        return ActivityRunState(self.wall(end if done else start), body)

    def failed_activity_name(self, now: float) -> str | None:
        """Name of the first activity that ended Failed or Cancelled by ``now``, if any."""
        for activity in self.activity_runs(now):
            if activity.body["status"] in ("Failed", "Cancelled"):
                return str(activity.body["activityName"])
        return None


def _ms(seconds: float) -> int:
    return round(seconds * 1000)
