"""Databricks job runs as functions of time: pure, like the ADF runs in ``runs.py``.

Source for the bodies: the Jobs API 2.2 reference and the fields databricks-sdk's
``jobs.Run``, ``RunTask`` and ``RunOutput`` read (the contract tests read every answer with
it). Inferred: the message texts and the run_page_url path; a guess: one id sequence shared
by runs and task runs.

A run and each of its task runs go PENDING -> RUNNING -> TERMINATED (SUCCESS or FAILED, as
scripted). Every task of a run plays the same script. A cancel makes the run TERMINATING,
then TERMINATED/CANCELED ``cancel_seconds`` later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from testbed.databricks.scenario import DatabricksRunSpec

PENDING = "PENDING"
RUNNING = "RUNNING"
TERMINATING = "TERMINATING"
TERMINATED = "TERMINATED"
CANCELED = "CANCELED"
CANCELLED_MESSAGE = "Run was cancelled by a user."
CREATOR = "emulator@example.com"
"""The ``creator_user_name`` of every run and job."""
FIRST_RUN_ID = 1001
FIRST_ONE_TIME_JOB_ID = 900001
"""Runs submitted with runs/submit get a one-time job of their own, numbered from here."""

_TERMINATION = {
    "SUCCESS": ("SUCCESS", "SUCCESS"),
    "FAILED": ("RUN_EXECUTION_ERROR", "CLIENT_ERROR"),
    CANCELED: ("USER_CANCELED", "SUCCESS"),
}


@dataclass(frozen=True, slots=True)
class DatabricksTaskRun:
    """One task of a run: its key, its own run id, its settings as submitted, its parameters."""

    task_key: str
    run_id: int
    settings: Mapping[str, Any]
    parameters: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Phase:
    """Where a run stands at one moment: since when, lifecycle state, result (or "")."""

    since: float
    life_cycle_state: str
    result_state: str = ""


@dataclass(slots=True)
class DatabricksRun:
    """One job run (run-now) or one-time run (runs/submit). Only ``cancel_at`` changes."""

    run_id: int
    job_id: int
    run_name: str
    run_type: str
    """``JOB_RUN`` (run-now) or ``SUBMIT_RUN`` (runs/submit)."""
    spec: DatabricksRunSpec
    tasks: tuple[DatabricksTaskRun, ...]
    created_at: float
    created_wall: datetime
    job_parameters: Mapping[str, str] = field(default_factory=dict)
    job_parameter_defaults: Mapping[str, str] = field(default_factory=dict)
    overriding_parameters: Mapping[str, Any] = field(default_factory=dict)
    cancel_at: float | None = None

    # ------------------------------------------------------------------ timeline

    def transitions(self) -> list[Phase]:
        """Every state change, in order, including future ones."""
        started = self.created_at + self.spec.pending_seconds
        ended = started + self.spec.duration_seconds
        natural = [
            Phase(self.created_at, PENDING),
            Phase(started, RUNNING),
            Phase(ended, TERMINATED, self.spec.outcome),
        ]
        if self.cancel_at is None:
            return natural
        kept = [phase for phase in natural if phase.since <= self.cancel_at]
        return [
            *kept,
            Phase(self.cancel_at, TERMINATING),
            Phase(self.cancel_at + self.spec.cancel_seconds, TERMINATED, CANCELED),
        ]

    def phase_at(self, now: float) -> Phase:
        """The state at clock time ``now``."""
        changes = self.transitions()
        return [changes[0], *(p for p in changes[1:] if p.since <= now)][-1]

    def started_at(self) -> float:
        """When the run left PENDING (or would have)."""
        return self.created_at + self.spec.pending_seconds

    def ended_at(self, now: float) -> float | None:
        """When the run was TERMINATED, if it is by ``now``."""
        phase = self.phase_at(now)
        return phase.since if phase.life_cycle_state == TERMINATED else None

    def is_active(self, now: float) -> bool:
        """Whether the run is not TERMINATED yet (so a cancel still does something)."""
        return self.phase_at(now).life_cycle_state != TERMINATED

    def find_task(self, run_id: int) -> DatabricksTaskRun | None:
        """The task of this run with that task run id, if any."""
        return next((task for task in self.tasks if task.run_id == run_id), None)

    # ------------------------------------------------------------------ JSON

    def to_json(self, now: float, base_url: str) -> dict[str, Any]:
        """The Run body of ``jobs/runs/get`` (Jobs API 2.2), tasks included."""
        phase = self.phase_at(now)
        body: dict[str, Any] = {
            "job_id": self.job_id,
            "run_id": self.run_id,
            "number_in_job": self.run_id,
            "original_attempt_run_id": self.run_id,
            "creator_user_name": CREATOR,
            "run_name": self.run_name,
            "run_type": self.run_type,
            "format": "MULTI_TASK",
            "trigger": "ONE_TIME",
            "state": self._state(phase, self._message(phase)),
            "status": self._status(phase, self._message(phase)),
            "start_time": self._epoch_ms(self.created_at),
            "end_time": 0 if self.ended_at(now) is None else self._epoch_ms(phase.since),
            "setup_duration": 0,
            "execution_duration": 0,
            "cleanup_duration": 0,
            "run_page_url": self.page_url(base_url, self.run_id),
            "tasks": [self.task_json(task, now, base_url) for task in self.tasks],
        }
        if phase.life_cycle_state == TERMINATED:
            body["run_duration"] = round((phase.since - self.created_at) * 1000)
        if self.job_parameters or self.job_parameter_defaults:
            body["job_parameters"] = [
                {"name": name, "default": self.job_parameter_defaults.get(name, ""), "value": value}
                for name, value in self.job_parameters.items()
            ]
        if self.overriding_parameters:
            body["overriding_parameters"] = dict(self.overriding_parameters)
        return body

    def task_json(self, task: DatabricksTaskRun, now: float, base_url: str) -> dict[str, Any]:
        """One entry of the run's ``tasks``: the task's settings and its own run's state."""
        phase = self.phase_at(now)
        ended = self.ended_at(now)
        end = now if ended is None else ended
        started = self.started_at()
        return {
            **task.settings,
            "task_key": task.task_key,
            "run_id": task.run_id,
            "attempt_number": 0,
            "state": self._state(phase, self._message(phase, task=True)),
            "status": self._status(phase, self._message(phase, task=True)),
            "start_time": self._epoch_ms(self.created_at),
            "end_time": 0 if ended is None else self._epoch_ms(ended),
            "setup_duration": round((min(end, started) - self.created_at) * 1000),
            "execution_duration": round(max(end - started, 0.0) * 1000),
            "cleanup_duration": 0,
            "run_page_url": self.page_url(base_url, task.run_id),
        }

    def task_as_run_json(
        self, task: DatabricksTaskRun, now: float, base_url: str
    ) -> dict[str, Any]:
        """A task run asked for by its own run id (runs/get, get-output's ``metadata``)."""
        body = self.task_json(task, now, base_url)
        return {
            **body,
            "job_id": self.job_id,
            "number_in_job": task.run_id,
            "original_attempt_run_id": task.run_id,
            "creator_user_name": CREATOR,
            "run_name": self.run_name,
            "run_type": self.run_type,
            "trigger": "ONE_TIME",
        }

    def output_json(self, task: DatabricksTaskRun, now: float, base_url: str) -> dict[str, Any]:
        """What ``jobs/runs/get-output`` answers for one task run."""
        phase = self.phase_at(now)
        body: dict[str, Any] = {
            "metadata": self.task_as_run_json(task, now, base_url),
            "notebook_output": {},
        }
        if phase.result_state == "SUCCESS":
            result = self.spec.result_for(task.parameters)
            if result is not None:
                body["notebook_output"] = {"result": result, "truncated": False}
        elif phase.result_state == "FAILED":
            error = self.spec.failure_error()
            body["error"] = error
            body["error_trace"] = f"---------------------------------------------------\n{error}"
        return body

    def summary(self, now: float) -> dict[str, Any]:
        """One line for ``GET /_emulator/databricks/runs``."""
        phase = self.phase_at(now)
        return {
            "run_id": self.run_id,
            "job_id": self.job_id,
            "run_name": self.run_name,
            "run_type": self.run_type,
            "life_cycle_state": phase.life_cycle_state,
            "result_state": phase.result_state or None,
            "tasks": {task.task_key: task.run_id for task in self.tasks},
            "parameters": {task.task_key: dict(task.parameters) for task in self.tasks},
            "job_parameters": dict(self.job_parameters),
            "cancelled": self.cancel_at is not None,
            "created_at": self.created_at,
            "ended_at": self.ended_at(now),
        }

    def page_url(self, base_url: str, run_id: int) -> str:
        """A run's page in the workspace UI, as Databricks links it (the emulator serves none)."""
        return f"{base_url}/#job/{self.job_id}/run/{run_id}"

    def _message(self, phase: Phase, task: bool = False) -> str:
        if phase.result_state == "FAILED":
            message = self.spec.failure_message()
            if task or len(self.tasks) != 1:
                return message
            return f"Task {self.tasks[0].task_key} failed with message: {message}."
        if phase.result_state == CANCELED:
            return CANCELLED_MESSAGE
        return ""

    def _state(self, phase: Phase, message: str) -> dict[str, Any]:
        state: dict[str, Any] = {
            "life_cycle_state": phase.life_cycle_state,
            "state_message": message,
            "user_cancelled_or_timedout": self.cancel_at is not None
            and phase.life_cycle_state in (TERMINATING, TERMINATED),
        }
        if phase.result_state:
            state["result_state"] = phase.result_state
        return state

    @staticmethod
    def _status(phase: Phase, message: str) -> dict[str, Any]:
        status: dict[str, Any] = {"state": phase.life_cycle_state}
        if phase.result_state:
            code, kind = _TERMINATION[phase.result_state]
            status["termination_details"] = {"code": code, "type": kind, "message": message}
        return status

    def _epoch_ms(self, moment: float) -> int:
        wall = self.created_wall + timedelta(seconds=moment - self.created_at)
        return round(wall.timestamp() * 1000)


@dataclass(slots=True)
class DatabricksRuns:
    """Every Databricks run, and the ids handed out. Callers hold the emulator's lock."""

    runs: dict[int, DatabricksRun] = field(default_factory=dict)
    task_owner: dict[int, int] = field(default_factory=dict)
    """task run id -> the id of the run it belongs to."""
    idempotency: dict[str, int] = field(default_factory=dict)
    """idempotency_token -> the run it created."""
    next_run_id: int = FIRST_RUN_ID
    next_one_time_job_id: int = FIRST_ONE_TIME_JOB_ID

    def new_run_id(self) -> int:
        """A fresh id, for a run or a task run (they share one sequence, as in Databricks)."""
        run_id = self.next_run_id
        self.next_run_id += 1
        return run_id

    def new_one_time_job_id(self) -> int:
        """The job id of a run submitted with runs/submit."""
        job_id = self.next_one_time_job_id
        self.next_one_time_job_id += 1
        return job_id

    def add(self, run: DatabricksRun, idempotency_token: str | None = None) -> None:
        """Remember a new run and its task runs."""
        self.runs[run.run_id] = run
        for task in run.tasks:
            self.task_owner[task.run_id] = run.run_id
        if idempotency_token:
            self.idempotency[idempotency_token] = run.run_id

    def find(self, run_id: int) -> tuple[DatabricksRun, DatabricksTaskRun | None] | None:
        """The run with that id, or the run and task owning that task run id; None if neither."""
        run = self.runs.get(run_id)
        if run is not None:
            return run, None
        owner = self.task_owner.get(run_id)
        if owner is None:
            return None
        run = self.runs[owner]
        return run, run.find_task(run_id)

    def summaries(self, now: float) -> list[dict[str, Any]]:
        """One line per run, in creation order."""
        return [run.summary(now) for run in self.runs.values()]
