"""RunStatus: the state of a pipeline run, in a module light enough for DAG-parse time."""

from __future__ import annotations

from enum import StrEnum


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
        """Succeeded, Failed or Cancelled: the run will not change again."""
        return self in _TERMINAL

    @property
    def is_active(self) -> bool:
        """Queued or InProgress: the run goes on (a retry reattaches, a clear cancels it);
        Canceling is on its way to Cancelled."""
        return self in (RunStatus.QUEUED, RunStatus.IN_PROGRESS)

    @property
    def is_successful(self) -> bool:
        """Succeeded."""
        return self is RunStatus.SUCCEEDED

    @classmethod
    def parse(cls, value: str) -> RunStatus:
        """Exact (case-insensitive) match; an unknown status is an error, never a guess.

        :param value: a status as ADF writes it, e.g. ``InProgress``.
        :raises ValueError: the value is no status ADF documents.
        """
        for status in cls:
            if status.value.lower() == str(value).lower():
                return status
        raise ValueError(f"unknown ADF pipeline run status {value!r}")


_TERMINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})
