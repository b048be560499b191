"""Find the run a create-run with an unknown outcome may have started, instead of starting another.

Create-run is not idempotent: when its answer is lost, ADF may or may not have started the
run. Before sending, a caller records a :class:`CreateAttempt` (what was asked, and when);
after a lost answer, the next try searches the factory's recent runs for one that matches it
(:func:`find_matching_runs`) and adopts it rather than starting the pipeline a second time.

No Airflow import here: the record is plain JSON, and time is injected.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from airflow_adf_trigger.core.errors import TRANSIENT_ERRORS, AdfError
from airflow_adf_trigger.core.models import PipelineRun, RunFilter, RunQuery, RunStatus

log = logging.getLogger(__name__)

DEFAULT_CLOCK_SKEW = timedelta(seconds=60)
"""How far a run's start may lie outside the attempt's window: clocks differ, and a run's
start is stamped a moment after ADF accepted it."""

DEFAULT_SEARCH_TIMEOUT = 120.0
"""How long to keep looking (seconds): ADF's monitoring can show a new run with a delay."""

DEFAULT_SEARCH_INTERVAL = 5.0
"""Seconds between two looks."""

RECORD_VERSION = 1


class RunSearchClient(Protocol):
    """The part of :class:`~airflow_adf_trigger.core.client.AdfClient` a search needs."""

    def query_pipeline_runs(self, query: RunQuery) -> list[PipelineRun]:
        """Every run matching the query, all pages."""
        ...

    def get_run(self, run_id: str) -> PipelineRun:
        """The run as ADF describes it now."""
        ...


class AdfReconcileError(AdfError):
    """The search for an earlier try's run could not be completed: nothing was started."""


def canonical(value: Any) -> Any:
    """A parameter value as ADF would show it back, reduced to one comparable form.

    ADF shows run parameters as strings: a sent ``5`` comes back as ``"5"``, ``True`` as
    ``"True"``, a dict as its JSON text. Strings that hold JSON (or .NET's ``True``/``False``)
    are therefore read as their value; whole floats become ints; dicts and lists are reduced
    element by element.
    """
    if isinstance(value, str):
        text = value.strip()
        if text in ("True", "False"):
            return text == "True"
        try:
            parsed = json.loads(text)
        except ValueError:
            return value
        return parsed if isinstance(parsed, str) else canonical(parsed)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return int(value)
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, Mapping):
        return {str(key): canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    return str(value)


def fingerprint(value: Any) -> str:
    """A short digest of the canonical value: comparable, and no parameter value is stored."""
    text = json.dumps(canonical(value), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


_NULL_FINGERPRINTS = frozenset({fingerprint(None), fingerprint("")})
"""A parameter sent as None (or "") may come back empty, null, or not at all."""


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class CreateAttempt:
    """One create-run request, recorded before it is sent, so that a later try can find its run.

    ``gave_up_at`` is when the client gave up waiting for the answer; ``None`` when the try
    ended mid-request (killed): the window then reaches up to the time of the search.
    """

    pipeline_name: str
    parameter_fingerprints: Mapping[str, str]
    rerun_options: Mapping[str, str | bool]
    sent_at: datetime
    gave_up_at: datetime | None = None
    # Runs known not to be this attempt's, e.g. the earlier try's own finished run.
    other_run_ids: tuple[str, ...] = field(default=())

    @classmethod
    def start(
        cls,
        pipeline_name: str,
        parameters: Mapping[str, Any] | None,
        rerun_options: Mapping[str, Any] | None = None,
        *,
        sent_at: datetime,
        other_run_ids: Collection[str] = (),
    ) -> CreateAttempt:
        """The record of a request about to be sent at ``sent_at``."""
        options = {
            name: value
            for name, value in (rerun_options or {}).items()
            if value is not None and value != ""
        }
        return cls(
            pipeline_name=pipeline_name,
            parameter_fingerprints={
                str(name): fingerprint(value) for name, value in (parameters or {}).items()
            },
            rerun_options=options,
            sent_at=_utc(sent_at),
            other_run_ids=tuple(other_run_ids),
        )

    def gave_up(self, at: datetime) -> CreateAttempt:
        """The same attempt, after the client gave up on its answer at ``at``."""
        return replace(self, gave_up_at=_utc(at))

    # ------------------------------------------------------------------ JSON

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (strings, bools, lists, dicts) for Airflow's task state store."""
        return {
            "version": RECORD_VERSION,
            "pipeline_name": self.pipeline_name,
            "parameter_fingerprints": dict(self.parameter_fingerprints),
            "rerun_options": dict(self.rerun_options),
            "sent_at": self.sent_at.isoformat(),
            "gave_up_at": None if self.gave_up_at is None else self.gave_up_at.isoformat(),
            "other_run_ids": list(self.other_run_ids),
        }

    @classmethod
    def from_json(cls, data: Any) -> CreateAttempt:
        """Read a record written by :meth:`to_json`; ``ValueError`` when it is not one."""
        if not isinstance(data, Mapping) or data.get("version") != RECORD_VERSION:
            raise ValueError(f"not a create-run attempt record (version {RECORD_VERSION})")
        try:
            fingerprints = data["parameter_fingerprints"]
            options = data["rerun_options"]
            others = data.get("other_run_ids") or []
            if not isinstance(fingerprints, Mapping) or not isinstance(options, Mapping):
                raise TypeError("fingerprints and options must be objects")
            gave_up = data.get("gave_up_at")
            return cls(
                pipeline_name=str(data["pipeline_name"]),
                parameter_fingerprints={str(k): str(v) for k, v in fingerprints.items()},
                rerun_options=dict(options),
                sent_at=_utc(datetime.fromisoformat(data["sent_at"])),
                gave_up_at=None if gave_up is None else _utc(datetime.fromisoformat(gave_up)),
                other_run_ids=tuple(str(run_id) for run_id in others),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"unreadable create-run attempt record: {error}") from None

    # ------------------------------------------------------------------ matching

    def window(
        self, now: datetime, skew: timedelta = DEFAULT_CLOCK_SKEW
    ) -> tuple[datetime, datetime]:
        """The times between which this attempt's run must have started."""
        return self.sent_at - skew, (self.gave_up_at or _utc(now)) + skew

    def matches(
        self,
        run: PipelineRun,
        *,
        now: datetime | None = None,
        skew: timedelta = DEFAULT_CLOCK_SKEW,
    ) -> bool:
        """Could ``run`` be the one this attempt started?

        Same pipeline; every sent parameter shown with the same value (ADF may add the
        pipeline's defaults, which were not sent); started inside :meth:`window`. A run still
        Queued may carry no ``runStart`` yet: its ``lastUpdated`` (when it was queued) is
        used instead.
        """
        if run.pipeline_name != self.pipeline_name or run.run_id in self.other_run_ids:
            return False
        for name, expected in self.parameter_fingerprints.items():
            if name in run.parameters:
                if fingerprint(run.parameters[name]) != expected and not (
                    expected in _NULL_FINGERPRINTS
                    and fingerprint(run.parameters[name]) in _NULL_FINGERPRINTS
                ):
                    return False
            elif expected not in _NULL_FINGERPRINTS:
                return False
        started = run.run_start
        if started is None and run.status is RunStatus.QUEUED:
            started = run.last_updated
        if started is None:
            return False
        earliest, latest = self.window(now or datetime.now(UTC), skew)
        return earliest <= _utc(started) <= latest

    def describe(self) -> str:
        """``pipeline 'x' (create-run sent at ..., gave up at ...)`` for log lines."""
        gave_up = (
            f"gave up at {self.gave_up_at.isoformat()}"
            if self.gave_up_at is not None
            else "the try ended before an answer"
        )
        return (
            f"pipeline {self.pipeline_name!r} (create-run sent at {self.sent_at.isoformat()}, "
            f"{gave_up})"
        )


def find_matching_runs(
    client: RunSearchClient,
    attempt: CreateAttempt,
    *,
    search_timeout: float = DEFAULT_SEARCH_TIMEOUT,
    interval: float = DEFAULT_SEARCH_INTERVAL,
    skew: timedelta = DEFAULT_CLOCK_SKEW,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> list[PipelineRun]:
    """The runs that may be ``attempt``'s, oldest first; empty when none showed up in time.

    Asks ``queryPipelineRuns`` for the pipeline's runs updated since the request was sent
    (filtered by pipeline name only; the start window is checked here), again every
    ``interval`` seconds until a match shows up or ``search_timeout`` passes: ADF's
    monitoring can lag behind a new run. A transient error is logged and the search goes on;
    if no query was answered at all, :class:`AdfReconcileError` says so (concluding "no run"
    from no answer could start the pipeline twice).
    """
    deadline = clock() + search_timeout
    group = _recovery_group(client, attempt)
    answered = False
    last_error: AdfError | None = None
    while True:
        now = datetime.fromtimestamp(clock(), UTC)
        query = RunQuery(
            last_updated_after=attempt.sent_at - skew,
            last_updated_before=now + skew,
            filters=(RunFilter("PipelineName", "Equals", (attempt.pipeline_name,)),),
        )
        try:
            runs = client.query_pipeline_runs(query)
        except TRANSIENT_ERRORS as error:
            last_error = error
            log.warning(
                "Could not list runs of %r (%s); trying again", attempt.pipeline_name, error
            )
        else:
            answered = True
            found = [
                run
                for run in runs
                if attempt.matches(run, now=now, skew=skew)
                and (group is None or run.run_group_id == group)
            ]
            if found:
                unique = {run.run_id: run for run in found}
                far_future = datetime.max.replace(tzinfo=UTC)
                return sorted(
                    unique.values(),
                    key=lambda run: _utc(run.run_start or run.last_updated or far_future),
                )
        remaining = deadline - clock()
        if remaining <= 0:
            break
        sleep(min(interval, remaining))
    if not answered:
        raise AdfReconcileError(
            f"Could not look for the run of {attempt.describe()}: ADF's run list could not be "
            f"read for {search_timeout:g} s (last error: {last_error}). Nothing was started."
        )
    return []


def _recovery_group(client: RunSearchClient, attempt: CreateAttempt) -> str | None:
    """A recovery rerun joins its reference run's group: the group a match must be in."""
    reference = attempt.rerun_options.get("reference_pipeline_run_id")
    if not reference or attempt.rerun_options.get("is_recovery") is not True:
        return None
    try:
        return client.get_run(str(reference)).run_group_id
    except TRANSIENT_ERRORS as error:
        log.warning(
            "Could not read reference run %s (%s); not filtering by group", reference, error
        )
        return None


__all__ = [
    "DEFAULT_CLOCK_SKEW",
    "DEFAULT_SEARCH_INTERVAL",
    "DEFAULT_SEARCH_TIMEOUT",
    "AdfReconcileError",
    "CreateAttempt",
    "RunSearchClient",
    "canonical",
    "find_matching_runs",
    "fingerprint",
]
