"""The ``databricks`` section of a scenario: the workspace token, its jobs and submitted runs.

See :mod:`testbed.databricks.api` for the format and what is served.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DATABRICKS_OUTCOMES = ("SUCCESS", "FAILED")
DEFAULT_FAILURE_MESSAGE = "Workload failed, see run output for details"
DEFAULT_TASK_KEY = "main"

_RUN_FIELDS = (
    "pending_seconds",
    "duration_seconds",
    "cancel_seconds",
    "outcome",
    "state_message",
    "error",
    "notebook_output",
)
_JOB_FIELDS = ("name", "task_key", "parameters", *_RUN_FIELDS)
_SECTION_FIELDS = ("token", "jobs", "submit")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.-]*)\}")


@dataclass(frozen=True, slots=True)
class DatabricksRunSpec:
    """How a run plays out: PENDING, then RUNNING, then TERMINATED with ``outcome``."""

    pending_seconds: float = 0.2
    duration_seconds: float = 1.0
    cancel_seconds: float = 0.2
    """How long a cancelled run stays TERMINATING before it is TERMINATED/CANCELED."""
    outcome: str = "SUCCESS"
    state_message: str = ""
    """``state.state_message`` of a FAILED run (default: Databricks' generic one)."""
    error: str | None = None
    """``error`` of runs/get-output for a FAILED task run (default: from the state message)."""
    notebook_result: str | None = None
    """``notebook_output.result`` of a successful task run; ``{name}`` takes a parameter."""

    def failure_message(self) -> str:
        """The state message of a FAILED run."""
        return self.state_message or DEFAULT_FAILURE_MESSAGE

    def failure_error(self) -> str:
        """What get-output answers as ``error`` for a FAILED task run."""
        return self.error or f"Exception: {self.failure_message()}"

    def result_for(self, parameters: Mapping[str, str]) -> str | None:
        """The notebook's exit value, with ``{name}`` placeholders filled from ``parameters``."""
        if self.notebook_result is None:
            return None
        return _PLACEHOLDER.sub(
            lambda match: parameters.get(match.group(1), match.group(0)), self.notebook_result
        )


@dataclass(frozen=True, slots=True)
class DatabricksJobSpec:
    """A job that run-now can start: one task (``task_key``) that plays ``run``."""

    job_id: int
    name: str
    run: DatabricksRunSpec
    task_key: str = DEFAULT_TASK_KEY
    parameters: Mapping[str, str] = field(default_factory=dict)
    """Job parameters with their defaults; run-now's ``job_parameters`` override them."""


@dataclass(frozen=True, slots=True)
class DatabricksSpec:
    """The emulated workspace: who may call it, its jobs, and how submitted runs go."""

    token: str = field(repr=False)
    jobs: Mapping[int, DatabricksJobSpec] = field(default_factory=dict)
    submit: DatabricksRunSpec = field(default_factory=DatabricksRunSpec)

    @classmethod
    def from_json(cls, body: object) -> DatabricksSpec:
        """Parse the ``databricks`` section; raises ValueError naming the bad field."""
        if not isinstance(body, Mapping):
            raise ValueError("databricks: must be an object")
        _reject_unknown(body, _SECTION_FIELDS, "databricks.")
        token = body.get("token")
        if not isinstance(token, str) or not token:
            raise ValueError("databricks.token: give the personal access token callers must send")
        jobs_body = body.get("jobs") or {}
        if not isinstance(jobs_body, Mapping):
            raise ValueError("databricks.jobs: must be an object of job id -> job")
        jobs: dict[int, DatabricksJobSpec] = {}
        for raw_id, job in jobs_body.items():
            job_id = _job_id(raw_id)
            jobs[job_id] = _job(job_id, job)
        submit = body.get("submit") or {}
        if not isinstance(submit, Mapping):
            raise ValueError("databricks.submit: must be an object")
        _reject_unknown(submit, _RUN_FIELDS, "databricks.submit.")
        return cls(token=token, jobs=jobs, submit=_run(submit, "databricks.submit."))


def _job_id(raw: object) -> int:
    text = str(raw)
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"databricks.jobs.{text}: a job id must be a positive integer")
    return int(text)


def _job(job_id: int, body: object) -> DatabricksJobSpec:
    where = f"databricks.jobs.{job_id}."
    if not isinstance(body, Mapping):
        raise ValueError(f"databricks.jobs.{job_id}: must be an object")
    _reject_unknown(body, _JOB_FIELDS, where)
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, Mapping):
        raise ValueError(f"{where}parameters: must be an object of name -> default value")
    return DatabricksJobSpec(
        job_id=job_id,
        name=str(body.get("name") or f"job-{job_id}"),
        run=_run(body, where),
        task_key=str(body.get("task_key") or DEFAULT_TASK_KEY),
        parameters={str(k): str(v) for k, v in parameters.items()},
    )


def _run(body: Mapping[str, Any], where: str) -> DatabricksRunSpec:
    outcome = str(body.get("outcome", "SUCCESS"))
    if outcome not in DATABRICKS_OUTCOMES:
        raise ValueError(f"{where}outcome: {outcome!r} is not one of {DATABRICKS_OUTCOMES}")
    output = body.get("notebook_output")
    result: str | None = None
    if output is not None:
        if not isinstance(output, Mapping) or not isinstance(output.get("result"), str):
            raise ValueError(f'{where}notebook_output: must be {{"result": "<text>"}}')
        result = output["result"]
    error = body.get("error")
    return DatabricksRunSpec(
        pending_seconds=_seconds(body, "pending_seconds", 0.2, where),
        duration_seconds=_seconds(body, "duration_seconds", 1.0, where),
        cancel_seconds=_seconds(body, "cancel_seconds", 0.2, where),
        outcome=outcome,
        state_message=str(body.get("state_message") or ""),
        error=None if error is None else str(error),
        notebook_result=result,
    )


def _seconds(body: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{where}{key}: must be a non-negative number of seconds")
    return float(value)


def _reject_unknown(body: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(map(str, body)) - set(known))
    if unknown:
        raise ValueError(f"{where}{', '.join(unknown)}: unknown field(s); known: {known}")
