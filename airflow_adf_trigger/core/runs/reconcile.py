"""Find the run a create-run with an unknown outcome may have started, instead of starting another.

Create-run is not idempotent and has no idempotency key: when its answer is lost, ADF may or
may not have started the run. Before sending, a caller records a :class:`CreateAttempt`; a
later try :func:`search` es the factory's runs for it. Two ways to know a run:

* **By its run key** (exact): when the pipeline declares the string parameter
  ``run_key_parameter``, the attempt sends a key made for it alone, and only a run showing that
  key is the attempt's.
* **Without one** (fail safe): a run is a candidate only if *everything* ADF shows agrees with
  the attempt — every parameter (sent, or the pipeline's default), the rerun's group, a start
  inside the attempt's window on **Azure's** clock (the ``Date`` of an answer read just
  before sending, never the worker's clock) — and it is not the reference run, a cancelled
  run, or a run another task follows. Every candidate over the whole search is collected:
  exactly one is adopted, none means nothing was started, and several (or one that cannot be
  told from a stranger's) fail safe, naming them.

No Airflow import here: the record is plain JSON, and time is injected.
"""

from __future__ import annotations

import enum
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
from airflow_adf_trigger.core.runs.models import (
    PipelineRun,
    RunChanges,
    RunFilter,
    RunQuery,
    RunStatus,
)

log = logging.getLogger(__name__)

DEFAULT_RUN_KEY_PARAMETER = "airflow_run_key"
"""The pipeline parameter that carries an attempt's run key, when the pipeline declares it."""

DEFAULT_SEARCH_TIMEOUT = 120.0
"""How long after the attempt's window (Azure's clock) a run may still appear in ADF's run
list: its monitoring can lag. A guess no public source bounds; the search widens it to twice
the lag seen in the process when that is larger."""

DEFAULT_SEARCH_INTERVAL = 5.0
"""Seconds between two looks."""

DEFAULT_ACCEPT_MARGIN = 30.0
"""Seconds after the client gave up during which ADF may still stamp the run's start. A guess:
no public source says how long ADF may take between receiving createRun and stamping the run."""

WORKER_CLOCK_SKEW = timedelta(seconds=120)
"""When no answer carried a readable ``Date``, the window is on the worker's clock, widened by
this much; such a window can never make a run certain (see :class:`Verdict`)."""

RECORD_VERSION = 2
_NOT_ADOPTED = (RunStatus.CANCELING, RunStatus.CANCELLED)


class RunSearchClient(Protocol):
    """The part of :class:`~airflow_adf_trigger.core.wire.client.AdfClient` a search needs."""

    def query_run_changes(self, query: RunQuery) -> RunChanges:
        """Every run matching the query, all pages, with the server's time."""
        ...

    def get_run(self, run_id: str) -> PipelineRun:
        """The run as ADF describes it now."""
        ...


class AdfReconcileError(AdfError):
    """The search for an earlier try's run could not be completed: nothing was started."""


# ---------------------------------------------------------------------- values


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
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if value is None or isinstance(value, int | float):  # bool is an int
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


def _same(shown: Any, expected: str) -> bool:
    got = fingerprint(shown)
    return got == expected or (got in _NULL_FINGERPRINTS and expected in _NULL_FINGERPRINTS)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ServerClock:
    """Azure's ``Date`` on one answer, and when its request left and its answer arrived.

    ``Date`` has one-second resolution and was stamped somewhere between ``sent`` and
    ``received`` (the client's clock), so Azure's time at a local moment ``t`` lies between
    :meth:`earliest` and :meth:`latest`, whatever the worker's clock says.
    """

    date: datetime
    sent: float
    received: float

    def earliest(self, local: float) -> datetime:
        """The earliest Azure time at local moment ``local``."""
        return self.date + timedelta(seconds=local - self.received)

    def latest(self, local: float) -> datetime:
        """The latest Azure time at local moment ``local``."""
        return self.date + timedelta(seconds=1.0 + local - self.sent)


@dataclass(frozen=True, slots=True)
class PipelineDeclaration:
    """What ``GET .../pipelines/{name}`` says of a pipeline, read just before a create-run."""

    name: str
    parameter_types: Mapping[str, str]
    """Declared parameter -> its type as ADF spells it (``String``, ``Int``, ``Object``...)."""
    defaults: Mapping[str, Any]
    """Declared parameter -> its ``defaultValue``, for those that have one."""
    clock: ServerClock | None
    """Azure's clock on that answer; ``None`` when it carried no readable ``Date``."""

    @classmethod
    def from_json(
        cls, name: str, body: Mapping[str, Any], clock: ServerClock | None
    ) -> PipelineDeclaration:
        """Read a pipeline resource tolerantly: an odd declaration is skipped, not fatal."""
        properties = body.get("properties")
        declared = properties.get("parameters") if isinstance(properties, Mapping) else None
        types: dict[str, str] = {}
        defaults: dict[str, Any] = {}
        for parameter, spec in (declared if isinstance(declared, Mapping) else {}).items():
            if not isinstance(spec, Mapping):
                continue
            types[str(parameter)] = str(spec.get("type") or "")
            if "defaultValue" in spec:
                defaults[str(parameter)] = spec["defaultValue"]
        return cls(name, types, defaults, clock)

    def declares_string(self, parameter: str | None) -> bool:
        """Whether ``parameter`` is declared with type String (case as ADF may spell it)."""
        return bool(parameter) and self.parameter_types.get(str(parameter), "").lower() == "string"


# ---------------------------------------------------------------------- the record


class Verdict(enum.Enum):
    """What a run is to an attempt."""

    MINE = "mine"
    """Everything ADF shows agrees (with a run key: the key itself)."""
    DOUBT = "cannot be told from a stranger's"
    """Nothing rules it out, but something the attempt expects cannot be checked."""
    OTHER = "not this attempt's"


@dataclass(frozen=True, slots=True)
class CreateAttempt:
    """One create-run request, recorded before it is sent, so that a later try can find its run.

    The window ``[window_start, window_end]`` is on Azure's clock (``on_azure_clock``); its end
    is set when the record is written (the latest the request could still have been accepted:
    its whole retry budget), so that a try killed at any step leaves a closed window, and
    narrowed to the moment the client gave up when it did.
    """

    pipeline_name: str
    window_start: datetime
    window_end: datetime
    on_azure_clock: bool
    run_key_parameter: str | None = None
    run_key: str | None = None
    """The key sent in ``run_key_parameter``; with it, nothing else is compared."""
    expected: Mapping[str, str] = field(default_factory=dict)
    """Fingerprints of the parameters the run must show (a rerun's: the reference run's)."""
    defaults: Mapping[str, str] | None = None
    """Fingerprints of the pipeline's defaults for parameters not sent; ``None``: unknown."""
    rerun_options: Mapping[str, str | bool] = field(default_factory=dict)
    group: str | None = None
    """A recovery rerun joins the reference run's group: that group's id."""
    excluded: tuple[str, ...] = ()
    """Runs known not to be this attempt's: the reference run, earlier tries' runs, runs other
    task instances follow."""
    clock: ServerClock | None = None

    @classmethod
    def prepare(
        cls,
        pipeline_name: str,
        parameters: Mapping[str, Any] | None,
        *,
        sent_at: float,
        budget: float,
        pipeline: PipelineDeclaration | None,
        rerun_options: Mapping[str, Any] | None = None,
        reference: PipelineRun | None = None,
        run_key_parameter: str | None = None,
        run_key: str | None = None,
        excluded: Collection[str] = (),
        accept_margin: float = DEFAULT_ACCEPT_MARGIN,
    ) -> CreateAttempt:
        """The record of a request about to be sent at local moment ``sent_at``.

        ``budget`` is how long (seconds) the client may go on with it (every retry the rules
        allow, each within its request timeout); ``pipeline`` is the declaration read just
        before, whose answer's ``Date`` places the window on Azure's clock.
        """
        options = {
            name: value
            for name, value in (rerun_options or {}).items()
            if value is not None and value != ""
        }
        shown = dict(reference.parameters) if reference is not None else dict(parameters or {})
        clock = pipeline.clock if pipeline is not None else None
        if clock is not None:
            start = clock.earliest(sent_at)
            end = clock.latest(sent_at + budget) + timedelta(seconds=accept_margin)
        else:
            local = datetime.fromtimestamp(sent_at, UTC)
            start = local - WORKER_CLOCK_SKEW
            end = local + timedelta(seconds=budget + accept_margin) + WORKER_CLOCK_SKEW
        defaults = None
        if pipeline is not None:
            defaults = {
                name: fingerprint(value)
                for name, value in pipeline.defaults.items()
                if name not in shown
            }
        others = [*excluded, reference.run_id] if reference is not None else list(excluded)
        return cls(
            pipeline_name=pipeline_name,
            window_start=start,
            window_end=end,
            on_azure_clock=clock is not None,
            run_key_parameter=run_key_parameter if run_key else None,
            run_key=run_key,
            expected={str(name): fingerprint(value) for name, value in shown.items()},
            defaults=defaults,
            rerun_options=options,
            group=(
                reference.run_group_id
                if reference is not None and options.get("is_recovery") is True
                else None
            ),
            excluded=tuple(dict.fromkeys(others)),
            clock=clock,
        )

    def gave_up(self, at: float, accept_margin: float = DEFAULT_ACCEPT_MARGIN) -> CreateAttempt:
        """The same attempt once the client gave up on its answer at local moment ``at``."""
        if self.clock is None:
            return self
        end = self.clock.latest(at) + timedelta(seconds=accept_margin)
        return replace(self, window_end=min(self.window_end, end))

    # ------------------------------------------------------------------ JSON

    def to_json(self) -> dict[str, Any]:
        """Plain JSON for Airflow's task state store (no parameter value is in it)."""
        return {
            "version": RECORD_VERSION,
            "pipeline_name": self.pipeline_name,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "on_azure_clock": self.on_azure_clock,
            "run_key_parameter": self.run_key_parameter,
            "run_key": self.run_key,
            "expected": dict(self.expected),
            "defaults": None if self.defaults is None else dict(self.defaults),
            "rerun_options": dict(self.rerun_options),
            "group": self.group,
            "excluded": list(self.excluded),
        }

    @classmethod
    def from_json(cls, data: Any) -> CreateAttempt:
        """Read a record written by :meth:`to_json`; ``ValueError`` when it is not one."""
        if not isinstance(data, Mapping) or data.get("version") != RECORD_VERSION:
            raise ValueError(f"not a create-run attempt record (version {RECORD_VERSION})")
        try:
            expected, defaults = data["expected"], data.get("defaults")
            options = data["rerun_options"]
            if not isinstance(expected, Mapping) or not isinstance(options, Mapping):
                raise TypeError("expected parameters and options must be objects")
            if defaults is not None and not isinstance(defaults, Mapping):
                raise TypeError("defaults must be an object")
            return cls(
                pipeline_name=str(data["pipeline_name"]),
                window_start=_utc(datetime.fromisoformat(data["window_start"])),
                window_end=_utc(datetime.fromisoformat(data["window_end"])),
                on_azure_clock=bool(data["on_azure_clock"]),
                run_key_parameter=data.get("run_key_parameter") or None,
                run_key=data.get("run_key") or None,
                expected={str(k): str(v) for k, v in expected.items()},
                defaults=None
                if defaults is None
                else {str(k): str(v) for k, v in defaults.items()},
                rerun_options=dict(options),
                group=data.get("group") or None,
                excluded=tuple(str(run_id) for run_id in data.get("excluded") or ()),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"unreadable create-run attempt record: {error}") from None

    # ------------------------------------------------------------------ matching

    def judge(self, run: PipelineRun) -> tuple[Verdict, str]:
        """What ``run`` is to this attempt, and why (for the log and the error)."""
        if run.pipeline_name != self.pipeline_name:
            return Verdict.OTHER, "another pipeline"
        if run.run_id in self.excluded:
            return Verdict.OTHER, "known to be another's (reference run, earlier try, sibling)"
        if self.run_key is not None:
            shown = run.parameters.get(str(self.run_key_parameter))
            if shown == self.run_key:
                return Verdict.MINE, "carries this attempt's run key"
            return Verdict.OTHER, "another run key"
        if run.status in _NOT_ADOPTED:
            return Verdict.OTHER, f"{run.status.value}: never adopted"
        kind = (run.invoked_by_type or "").lower()
        if "trigger" in kind or kind == "pipelineactivity":
            return Verdict.OTHER, f"started by {run.invoked_by_type}, not by a create-run"
        mismatch = self._parameter_mismatch(run.parameters)
        if mismatch:
            return Verdict.OTHER, mismatch
        if self.group is not None:
            if run.run_group_id is not None and run.run_group_id != self.group:
                return Verdict.OTHER, "not in the reference run's group"
        elif run.run_group_id is not None and run.run_group_id != run.run_id:
            return Verdict.DOUBT, f"a rerun in group {run.run_group_id}"
        started = run.run_start
        if started is None and run.status is RunStatus.QUEUED:
            started = run.last_updated
        if started is None:
            return Verdict.DOUBT, "shows no start time"
        started = _utc(started)
        if not self.window_start <= started <= self.window_end:
            return Verdict.OTHER, "started outside the attempt's window"
        if not self.on_azure_clock:
            return Verdict.DOUBT, "the window is on the worker's clock (Azure sent no Date)"
        if self.defaults is None and set(run.parameters) - set(self.expected):
            return Verdict.DOUBT, "shows parameters not sent, and the defaults are unknown"
        return Verdict.MINE, "every parameter, the group and the start agree"

    def _parameter_mismatch(self, shown: Mapping[str, Any]) -> str | None:
        for name, expected in self.expected.items():
            if name in shown:
                if not _same(shown[name], expected):
                    return f"parameter {name!r} differs"
            elif expected not in _NULL_FINGERPRINTS:
                return f"parameter {name!r} missing"
        if self.defaults is None:
            return None  # the unsent parameters cannot be checked: judge() doubts them
        for name, value in shown.items():
            if name in self.expected:
                continue
            default = self.defaults.get(name)
            if default is None:
                if fingerprint(value) not in _NULL_FINGERPRINTS:
                    return f"parameter {name!r} was not sent"
            elif not _same(value, default):
                return f"parameter {name!r} was not sent and is not its default"
        return None

    def describe(self) -> str:
        """``pipeline 'x' (create-run sent between ... and ...)`` for log lines."""
        how = (
            f"run key {self.run_key}"
            if self.run_key
            else ("Azure's clock" if self.on_azure_clock else "the worker's clock")
        )
        return (
            f"pipeline {self.pipeline_name!r} (a run started between "
            f"{self.window_start.isoformat(timespec='seconds')} and "
            f"{self.window_end.isoformat(timespec='seconds')}, {how})"
        )


# ---------------------------------------------------------------------- the search


@dataclass(frozen=True, slots=True)
class SearchResult:
    """Every candidate a search saw: the run to adopt, none, or the doubt to report."""

    mine: tuple[PipelineRun, ...]
    doubtful: tuple[tuple[PipelineRun, str], ...]

    @property
    def adopt(self) -> PipelineRun | None:
        """The one run that is surely the attempt's, if exactly one is and none is in doubt."""
        return self.mine[0] if len(self.mine) == 1 and not self.doubtful else None

    @property
    def nothing(self) -> bool:
        """No run could be the attempt's: the request never started one."""
        return not self.mine and not self.doubtful

    def candidates(self) -> list[tuple[PipelineRun, str]]:
        """Every run that kept the search from deciding, with why."""
        return [(run, "matches") for run in self.mine] + list(self.doubtful)


def search(
    client: RunSearchClient,
    attempt: CreateAttempt,
    *,
    search_timeout: float = DEFAULT_SEARCH_TIMEOUT,
    interval: float = DEFAULT_SEARCH_INTERVAL,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> SearchResult:
    """Every run that may be ``attempt``'s, looked for until ADF's list is past its window.

    Asks ``queryPipelineRuns`` for the pipeline's runs updated since the window opened, until
    an answer's ``Date`` is ``search_timeout`` seconds past the window's end (monitoring can
    lag: one answer suffices when the retry comes later than that). A run with this attempt's
    run key ends the search at once. Each candidate is read again by GET before the verdict
    (the list may lag; a cancelled run is never adopted). A transient error is logged and the
    search goes on; :class:`AdfReconcileError` if the list could not be read up to the
    horizon (concluding "no run" from no answer could start the pipeline twice).
    """
    horizon = attempt.window_end + timedelta(seconds=search_timeout)
    give_up_at = clock() + search_timeout  # the local deadline, moved on by every answer
    seen: dict[str, PipelineRun] = {}
    last_error: AdfError | None = None
    while True:
        local_now = datetime.fromtimestamp(clock(), UTC)
        query = RunQuery(
            last_updated_after=attempt.window_start - timedelta(seconds=1),
            last_updated_before=max(local_now, horizon) + timedelta(days=1),
            filters=(RunFilter("PipelineName", "Equals", (attempt.pipeline_name,)),),
        )
        try:
            changes = client.query_run_changes(query)
        except TRANSIENT_ERRORS as error:
            last_error = error
            log.warning(
                "Could not list runs of %r (%s); trying again", attempt.pipeline_name, error
            )
        else:
            for run in changes.runs:
                if attempt.judge(run)[0] is not Verdict.OTHER:
                    seen[run.run_id] = run
            if attempt.run_key and seen:
                break
            # Without a Date, the list's time is unknown: wait out the whole allowance.
            behind = (
                search_timeout
                if changes.server_time is None
                else (horizon - changes.server_time).total_seconds()
            )
            if behind <= 0:
                break
            give_up_at = max(give_up_at, clock() + behind)
        left = give_up_at - clock()
        if left <= 0:
            if last_error is not None:
                raise AdfReconcileError(
                    f"Could not look for the run of {attempt.describe()}: ADF's run list could "
                    f"not be read up to {horizon.isoformat(timespec='seconds')} (last error: "
                    f"{last_error}). Nothing was started."
                )
            break
        sleep(min(interval, left))
    return _verdicts(client, attempt, seen.values())


def _verdicts(
    client: RunSearchClient, attempt: CreateAttempt, runs: Collection[PipelineRun]
) -> SearchResult:
    mine: list[PipelineRun] = []
    doubtful: list[tuple[PipelineRun, str]] = []
    for listed in runs:
        try:
            run = client.get_run(listed.run_id)  # the list may lag behind the run
        except TRANSIENT_ERRORS as error:
            run = listed
            log.warning("Could not read run %s again (%s)", listed.run_id, error)
        verdict, why = attempt.judge(run)
        if verdict is Verdict.MINE:
            mine.append(run)
        elif verdict is Verdict.DOUBT:
            doubtful.append((run, why))
        else:
            log.info("Run %s is not this attempt's: %s", run.run_id, why)
    return SearchResult(tuple(mine), tuple(doubtful))


__all__ = [
    "DEFAULT_ACCEPT_MARGIN",
    "DEFAULT_RUN_KEY_PARAMETER",
    "DEFAULT_SEARCH_INTERVAL",
    "DEFAULT_SEARCH_TIMEOUT",
    "AdfReconcileError",
    "CreateAttempt",
    "PipelineDeclaration",
    "RunSearchClient",
    "SearchResult",
    "ServerClock",
    "Verdict",
    "canonical",
    "fingerprint",
    "search",
]
