"""RunOutcome: how the wait for one pipeline run ended, as a value.

The trigger builds one and yields :meth:`RunOutcome.to_event`; the operator and the sensors
read it back with :meth:`RunOutcome.from_event`. The worker waits build the same values, so
each message (a finished run's, a timeout's, an outage's) is written in one place.

The event is the dict the trigger has always yielded (``status``, ``run_id``, ``message``,
and when known ``pipeline_name``, ``failures``, ``run_page_url``), so events written by an
earlier version, and triggers serialized by one, are still read. The only addition is
``reason: "outage"`` next to ``status: "error"``, which an earlier reader ignores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from airflow_adf_trigger.core.errors import AdfError, AdfPipelineRunError

if TYPE_CHECKING:
    from airflow_adf_trigger.core.errors import AdfOutageError
    from airflow_adf_trigger.core.runs.models import ActivityRun, CancelResult, PipelineRun
    from airflow_adf_trigger.core.runs.status import RunStatus


class OutcomeKind(StrEnum):
    """How a wait ended. The first three are the run's own end; the others end only the wait."""

    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    TIMEOUT = "timeout"
    """The deadline passed while the run went on (it may have been cancelled then)."""
    ERROR = "error"
    """An error that waiting will not heal: a bad connection, a refused read."""
    OUTAGE = "outage"
    """Azure could not be read for longer than the outage budget; the run was not touched."""

    @property
    def is_run_end(self) -> bool:
        """Succeeded, Failed or Cancelled: the run itself ended, and cannot change again."""
        return self in (OutcomeKind.SUCCEEDED, OutcomeKind.FAILED, OutcomeKind.CANCELLED)

    @property
    def event_status(self) -> str:
        """The event's ``status``: an outage is an ``error`` there, as it always was."""
        return OutcomeKind.ERROR.value if self is OutcomeKind.OUTAGE else self.value


_BY_EVENT_STATUS: dict[str, OutcomeKind] = {
    kind.event_status: kind for kind in OutcomeKind if kind is not OutcomeKind.OUTAGE
}
_OUTAGE_REASON = "outage"


class AdfEventError(AdfError, ValueError):
    """A trigger event that does not describe a run outcome (a bug, or a foreign event)."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"The trigger's event cannot be read: {problem}")


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """The end of one wait for a pipeline run: what happened, and the sentence saying so."""

    kind: OutcomeKind
    run_id: str
    message: str
    pipeline_name: str | None = None
    failures: tuple[str, ...] = ()
    """Each failed activity, described with ADF's own error (a Failed run only)."""
    run_page_url: str | None = None
    """The run's page in ADF Studio."""

    def __post_init__(self) -> None:
        if not isinstance(self.kind, OutcomeKind):
            raise AdfEventError(f"kind {self.kind!r} is not an OutcomeKind")
        if not isinstance(self.run_id, str) or not self.run_id.strip():
            raise AdfEventError(f"run id {self.run_id!r} is not a run id")
        if not isinstance(self.message, str):
            raise AdfEventError(f"message {self.message!r} of run {self.run_id} is not text")
        if not isinstance(self.failures, tuple) or not all(
            isinstance(failure, str) for failure in self.failures
        ):
            raise AdfEventError(f"failures of run {self.run_id} are not a list of text")

    @property
    def succeeded(self) -> bool:
        """Whether the run Succeeded."""
        return self.kind is OutcomeKind.SUCCEEDED

    # ------------------------------------------------------------ building

    @classmethod
    def of_run(
        cls,
        run: PipelineRun,
        failures: Sequence[ActivityRun] = (),
        *,
        run_page_url: str | None = None,
    ) -> RunOutcome:
        """A finished run (Succeeded, Failed or Cancelled), with its failed activities: it
        succeeded, or ADF's message and each failed activity's own error (the message of
        :class:`AdfPipelineRunError`)."""
        if not run.status.is_terminal:
            raise ValueError(f"run {run.run_id} is {run.status.value}, not finished")
        return cls(
            kind=OutcomeKind(run.status.value),
            run_id=run.run_id,
            message=(
                f"Pipeline {run.pipeline_name!r} run {run.run_id} succeeded"
                if run.status.is_successful
                else str(AdfPipelineRunError(run, failures))
            ),
            pipeline_name=run.pipeline_name,
            failures=tuple(failure.describe() for failure in failures),
            run_page_url=run_page_url,
        )

    @classmethod
    def timed_out(
        cls,
        run_id: str,
        *,
        limit: str,
        cancel: CancelResult | AdfError | None,
        pipeline_name: str | None = None,
        status: RunStatus | None = None,
        run_page_url: str | None = None,
    ) -> RunOutcome:
        """The wait's time ran out; ``cancel`` is what cancelling the run gave (None: not
        asked to). ``limit`` says which time, e.g. ``"after the 600 s timeout"``."""
        return cls(
            kind=OutcomeKind.TIMEOUT,
            run_id=run_id,
            message=timeout_message(
                run_id, limit=limit, cancel=cancel, pipeline_name=pipeline_name, status=status
            ),
            pipeline_name=pipeline_name,
            run_page_url=run_page_url,
        )

    @classmethod
    def outage(cls, error: AdfOutageError, *, run_page_url: str) -> RunOutcome:
        """Azure could not be read for longer than the budget; the run goes on untouched."""
        return cls(
            kind=OutcomeKind.OUTAGE,
            run_id=error.run_id,
            message=f"{error} Follow it in ADF Studio: {run_page_url}",
            run_page_url=run_page_url,
        )

    @classmethod
    def error(
        cls, run_id: str, error: AdfError | str, *, run_page_url: str | None = None
    ) -> RunOutcome:
        """An error that waiting will not heal (bad connection, refused read, bad argument)."""
        return cls(OutcomeKind.ERROR, run_id, str(error), run_page_url=run_page_url)

    # ------------------------------------------------------------ the trigger event

    def to_event(self) -> dict[str, Any]:
        """The JSON-safe dict a trigger yields (the shape earlier versions yielded too)."""
        event: dict[str, Any] = {
            "status": self.kind.event_status,
            "run_id": self.run_id,
            "message": self.message,
        }
        if self.kind is OutcomeKind.OUTAGE:
            event["reason"] = _OUTAGE_REASON
        if self.pipeline_name is not None:
            event["pipeline_name"] = self.pipeline_name
        if self.kind.is_run_end:
            event["failures"] = list(self.failures)
        if self.run_page_url is not None:
            event["run_page_url"] = self.run_page_url
        return event

    @classmethod
    def from_event(cls, event: object) -> RunOutcome:
        """Read a trigger's event back; :class:`AdfEventError` names what is wrong with it.

        Keys it does not know are ignored, so an event of a later version reads too.
        """
        if not isinstance(event, Mapping):
            raise AdfEventError(f"expected a dict, got {type(event).__name__} {event!r:.200}")
        if "status" not in event:
            raise AdfEventError(f"no status in an event with keys {sorted(map(str, event))}")
        status = event["status"]
        kind = _BY_EVENT_STATUS.get(status) if isinstance(status, str) else None
        if kind is None:
            known = ", ".join(sorted(_BY_EVENT_STATUS))
            raise AdfEventError(f"status {status!r} is not one of {known}")
        if kind is OutcomeKind.ERROR and event.get("reason") == _OUTAGE_REASON:
            kind = OutcomeKind.OUTAGE
        run_id = event.get("run_id")
        if not isinstance(run_id, str) or not run_id.strip():
            raise AdfEventError(f"a {status!r} event without a run id (run_id={run_id!r})")
        message = event.get("message")
        if message is None or message == "":
            message = f"Run {run_id} ended {status}"
        failures = event.get("failures", [])
        if not isinstance(failures, list | tuple):
            raise AdfEventError(f"failures of run {run_id} are not a list: {failures!r:.200}")
        return cls(
            kind=kind,
            run_id=run_id,
            message=message,
            pipeline_name=_text_or_none(event, "pipeline_name", run_id),
            failures=tuple(failures),
            run_page_url=_text_or_none(event, "run_page_url", run_id),
        )


def timeout_message(
    run_id: str,
    *,
    limit: str,
    cancel: CancelResult | AdfError | None,
    pipeline_name: str | None = None,
    status: RunStatus | None = None,
) -> str:
    """``Pipeline 'p' run X was still InProgress <limit>; cancel requested for run X (child
    pipelines included)``, or what else became of the run."""
    subject = f"Pipeline {pipeline_name!r} run {run_id}" if pipeline_name else f"Run {run_id}"
    state = f"was still {status.value}" if status is not None else "had not finished"
    if cancel is None:
        then = "the run was left running"
    elif isinstance(cancel, AdfError):
        then = f"cancelling it failed: {cancel}"
    else:
        then = f"{cancel.describe()} (child pipelines included)"
    return f"{subject} {state} {limit}; {then}"


def deadline_words(end_time: float) -> str:
    """``at its deadline, 2026-11-26T10:00:00Z`` for a deadline in seconds since the epoch."""
    moment = datetime.fromtimestamp(end_time, UTC).replace(microsecond=0)
    return f"at its deadline, {moment.isoformat().replace('+00:00', 'Z')}"


def _text_or_none(event: Mapping[str, Any], key: str, run_id: str) -> str | None:
    value = event.get(key)
    if value is None or isinstance(value, str):
        return value
    raise AdfEventError(f"{key} of run {run_id} is not text: {value!r:.200}")
