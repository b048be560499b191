"""One run's wait as a sans-IO state machine: every rule about waiting, written once.

A :class:`RunWatch` is fed what its driver saw — a reading of the run, or an error — with the
time on one clock, and answers what comes next: look again after a pause, or stop with the
reason (the run ended, the deadline passed, Azure stayed unreachable for the outage budget, or
an error waiting cannot heal). The client's ``wait_for_run`` (the worker wait, the CLI,
notebooks) and the deferred wait's trigger drive it; neither keeps
an outage, a deadline or a "status changed" rule of its own. No I/O here, and no clock read:
the driver passes the time in.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass

from airflow_adf_trigger.core.errors import (
    DEFAULT_OUTAGE_BUDGET,
    TRANSIENT_ERRORS,
    AdfError,
    AdfOutageError,
)
from airflow_adf_trigger.core.runs.models import PipelineRun, RunStatus

HEARTBEAT_SECONDS = 300.0
"""While a run's status stays the same, a reading is worth a line again this often."""


class Ending(enum.Enum):
    """Why a watch stopped."""

    ENDED = "the run reached Succeeded, Failed or Cancelled (or a status the wait was until)"
    DEADLINE = "the deadline passed (the run was not touched by the watch)"
    OUTAGE = "Azure could not be read for the whole outage budget"
    ERROR = "an error that waiting cannot heal (a bad id, a refused credential, ...)"


@dataclass(frozen=True, slots=True)
class Next:
    """The driver's next move: look again after ``pause`` seconds (or ``stop`` with why).

    ``changed`` says the reading showed a new status; ``report`` that it is worth a line (a
    change, or the same status for ``heartbeat`` seconds: one line per look would flood a long
    run's log, silence would look like a hang); ``outage_for`` how long Azure has been
    unreachable, when the last look failed.
    """

    pause: float = 0.0
    stop: Ending | None = None
    changed: bool = False
    report: bool = False
    outage_for: float | None = None
    error: AdfError | None = None


class RunWatch:
    """The wait for one run: fed readings, errors and the time, it answers with :class:`Next`.

    :param run_id: the run watched (for the errors it makes).
    :param interval: seconds between two looks (validated where the setting was made).
    :param started: the time the wait began, on the driver's clock.
    :param timeout: seconds after ``started`` at which the wait stops; ``None``: never.
    :param outage_budget: seconds transient errors may last before the wait stops.
    :param heartbeat: seconds after which an unchanged status is worth a line again.
    :param until: statuses that end the wait too, though the run goes on (the official
        hook's ``expected_statuses``).
    """

    def __init__(
        self,
        run_id: str,
        *,
        interval: float,
        started: float,
        timeout: float | None = None,
        outage_budget: float = DEFAULT_OUTAGE_BUDGET,
        heartbeat: float = HEARTBEAT_SECONDS,
        until: Collection[RunStatus] = (),
    ) -> None:
        self.run_id = run_id
        self.interval = interval
        self.started = started
        self.deadline = None if timeout is None else started + timeout
        self.outage_budget = outage_budget
        self.last: PipelineRun | None = None
        self.outage_since: float | None = None
        self.last_error: AdfError | None = None
        self.heartbeat = heartbeat
        self.until = frozenset(until)
        self._reported_at = started

    def remaining(self, now: float) -> float | None:
        """Seconds until the deadline (at least 0); ``None`` without one."""
        return None if self.deadline is None else max(0.0, self.deadline - now)

    def seen(self, run: PipelineRun, now: float) -> Next:
        """A reading of the run at ``now``."""
        changed = self.last is None or run.status is not self.last.status
        report = changed or now - self._reported_at >= self.heartbeat
        if report:
            self._reported_at = now
        self.last, self.outage_since, self.last_error = run, None, None
        if run.status.is_terminal or run.status in self.until:
            return Next(stop=Ending.ENDED, changed=changed, report=report)
        if self.timed_out(now):
            return Next(stop=Ending.DEADLINE, changed=changed, report=report)
        return Next(pause=self._pause(now), changed=changed, report=report)

    def failed(self, error: AdfError, now: float) -> Next:
        """A look at ``now`` ended in ``error``: transient ones are waited out, within budget."""
        if not isinstance(error, TRANSIENT_ERRORS):
            return Next(stop=Ending.ERROR, error=error)
        self.last_error = error
        if self.outage_since is None:
            self.outage_since = now
        lasted = now - self.outage_since
        if lasted >= self.outage_budget or self.timed_out(now):
            return Next(stop=Ending.OUTAGE, outage_for=lasted, error=error)
        return Next(pause=self._pause(now), outage_for=lasted, error=error)

    def timed_out(self, now: float) -> bool:
        """Whether the deadline has passed (a driver checks it while no reading comes)."""
        return self.deadline is not None and now >= self.deadline

    def outage(self, now: float) -> AdfOutageError:
        """The error that says the wait gave up on an outage (after :attr:`Ending.OUTAGE`)."""
        lasted = 0.0 if self.outage_since is None else now - self.outage_since
        assert self.last_error is not None, "outage() without a failed look"
        return AdfOutageError(self.run_id, lasted, self.last_error)

    def _pause(self, now: float) -> float:
        remaining = self.remaining(now)
        return self.interval if remaining is None else min(self.interval, remaining)


__all__ = ["HEARTBEAT_SECONDS", "Ending", "Next", "RunWatch"]
