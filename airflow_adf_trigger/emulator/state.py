"""Everything the emulator remembers, in memory, behind one lock."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_adf_trigger.emulator.faults import FaultBook
from airflow_adf_trigger.emulator.runs import EmulatedRun, plan_run
from airflow_adf_trigger.emulator.scenario import PipelineSpec, Scenario
from airflow_adf_trigger.emulator.wire import Request, Response

Handler = Callable[["EmulatorState", Request], Response]
"""Answers one request: given the emulator's state (lock not held) and the request."""


@dataclass(frozen=True, slots=True)
class Extension:
    """Routes, admin endpoints and stats that the caller adds to an emulator.

    :param name: names the extension in logs and in its admin paths,
        ``/_emulator/{name}/...``; unique among an emulator's extensions.
    :param claims: whether a request is this extension's to answer (e.g. every path under
        ``/api/``); asked after Azure AD's and the admin routes, before ADF's, in the order
        the extensions were given.
    :param handle: answers a claimed request, called without the lock (see :data:`Handler`).
    :param operation: the operation name a claimed request is counted under in the stats
        (and matched by faults when ``faultable``); ``None`` leaves it uncounted.
    :param admin: path after ``/_emulator/{name}/`` -> what a ``GET`` there answers, as JSON,
        computed from the state (the lock held).
    :param stats: entries added to ``GET /_emulator/stats`` (the lock held).
    :param describe: given the emulator's base URL, one line that
        ``python -m airflow_adf_trigger.emulator`` prints at start.
    :param faultable: whether armed faults may hit its requests (they answer in Azure's
        error shapes).
    """

    name: str
    claims: Callable[[Request], bool]
    handle: Handler
    operation: Callable[[Request], str | None] = lambda _request: None
    admin: Mapping[str, Callable[[EmulatorState], Any]] = field(default_factory=dict)
    stats: Callable[[EmulatorState], Mapping[str, Any]] | None = None
    describe: Callable[[str], str] | None = None
    faultable: bool = False


@dataclass(slots=True)
class EmulatorSettings:
    """What ``POST /_emulator/settings`` may change while the emulator runs."""

    token_lifetime_seconds: int
    page_size: int
    monitoring_lag_seconds: float = 0.0
    """How late ``queryPipelineRuns`` shows runs (the scenario's ``monitoring_lag_seconds``)."""

    def to_json(self) -> dict[str, Any]:
        """The settings as JSON."""
        return asdict(self)


READS = "x-ms-ratelimit-remaining-subscription-reads"
WRITES = "x-ms-ratelimit-remaining-subscription-writes"
GLOBAL = {
    READS: "x-ms-ratelimit-remaining-subscription-global-reads",
    WRITES: "x-ms-ratelimit-remaining-subscription-global-writes",
}


@dataclass(slots=True)
class RateLimitBudget:
    """ARM's remaining-request counters, sent as ``x-ms-ratelimit-remaining-subscription-*``.

    ``hourly`` (the default): source for the headers and their first values: the 2018-06-01
    example files (reads 14994 .. 14988, writes 1190: an hourly budget of 15,000 reads and
    1,200 writes). That they refill evenly over the hour is inferred; this model only reports
    the budget, it never throttles on it (faults do that).

    ``token_bucket``: ARM in the public cloud since 2024: reads 250 burst refilled 25 a
    second, writes 200 burst refilled 10 a second, and a subscription-wide ``-global-`` bucket
    15 times that [learn.microsoft.com, "Understand how Azure Resource Manager throttles
    requests"]. An empty bucket answers 429 with ``Retry-After``. Guesses: one bucket for
    every principal (ARM keeps one per principal and region), the 429's body and the
    rounding of ``Retry-After``.
    """

    model: str = "hourly"
    level: dict[str, float] = field(default_factory=dict)
    updated: dict[str, float] = field(default_factory=dict)

    def _buckets(self, header: str) -> list[tuple[str, float, float]]:
        """(header, capacity, refill per second) of each bucket a request of ``header`` uses."""
        if self.model == "token_bucket":
            burst, refill = (250.0, 25.0) if header == READS else (200.0, 10.0)
            return [(header, burst, refill), (GLOBAL[header], 15 * burst, 15 * refill)]
        capacity = 15000.0 if header == READS else 1200.0
        return [(header, capacity, capacity / 3600.0)]

    def take(self, header: str, now: float) -> tuple[dict[str, str], float | None]:
        """Spend one request of ``header``'s budget at clock time ``now``.

        :return: the headers to send (what remains), and the seconds to wait when the
            request is throttled instead (token bucket only), else None.
        """
        levels = {}
        for name, capacity, refill in self._buckets(header):
            level = self.level.get(name, capacity)
            elapsed = max(now - self.updated.get(name, now), 0.0)
            levels[name] = (min(capacity, level + elapsed * refill), refill)
            self.updated[name] = now
        empty = [(1.0 - lv) / refill for lv, refill in levels.values() if lv < 1.0]
        throttled = bool(empty) and self.model == "token_bucket"
        for name, (level, _) in levels.items():
            self.level[name] = level if throttled else max(level - 1.0, 0.0)
        if throttled:
            return {name: "0" for name in levels}, max(empty)
        return {name: str(int(self.level[name])) for name in levels}, None


@dataclass(slots=True)
class EmulatorState:
    """Runs, tokens, counters, armed faults and settings. Hold ``lock`` to read or change them."""

    scenario: Scenario
    clock: Callable[[], float]
    scheme: str = "http"
    """``https`` when the server speaks TLS: for URLs the emulator hands out."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    runs: dict[str, EmulatedRun] = field(default_factory=dict)
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    runs_by_pipeline: Counter[str] = field(default_factory=Counter)
    latest_in_group: dict[str, str] = field(default_factory=dict)
    """runGroupId -> the runId that is ``isLatest`` in that group."""
    schedule_fired: Counter[str] = field(default_factory=Counter)
    """Scheduled fires done per trigger (the next one is due one period after the last)."""
    trigger_runs: Counter[str] = field(default_factory=Counter)
    """Runs started per trigger, scheduled or fired by an admin call."""
    extensions: tuple[Extension, ...] = ()
    """The services served beside Azure AD and ADF (see :mod:`.extensions`)."""
    rate_limits: RateLimitBudget = field(default_factory=RateLimitBudget)
    factory_principal_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    """The object id of the factory's system-assigned identity (get-factory's ``identity``)."""
    factory_etag: str = field(default_factory=lambda: str(uuid.uuid4()))
    faults: FaultBook = field(init=False)
    settings: EmulatorSettings = field(init=False)
    clock_origin: float = field(init=False)
    wall_origin: datetime = field(init=False)

    def __post_init__(self) -> None:
        self.faults = FaultBook(self.scenario.faults)
        # Each setting starts as the scenario's field of the same name.
        self.settings = EmulatorSettings(
            **{f.name: getattr(self.scenario, f.name) for f in fields(EmulatorSettings)}
        )
        self.rate_limits.model = self.scenario.rate_limit_model
        self.clock_origin = self.clock()
        self.wall_origin = datetime.now(UTC)

    def wall(self, moment: float) -> datetime:
        """A time of the injected clock as UTC wall time (the clock's origin is 'now')."""
        return self.wall_origin + timedelta(seconds=moment - self.clock_origin)

    def is_latest(self, run: EmulatedRun) -> bool:
        """Whether ``run`` is the newest of its run group (the caller holds the lock)."""
        return self.latest_in_group.get(run.run_group_id) == run.run_id

    def run_json(self, run: EmulatedRun, now: float) -> dict[str, Any]:
        """The PipelineRun body of ``run`` as of ``now`` (the caller holds the lock)."""
        return run.to_json(now, self.is_latest(run), self.scenario.factory_id)

    def start_run(
        self,
        spec: PipelineSpec,
        parameters: Mapping[str, Any],
        at: float,
        *,
        start_activity: str | None = None,
        run_group_id: str | None = None,
        invoked_by: Mapping[str, str] | None = None,
    ) -> EmulatedRun:
        """Plan and remember a new run of ``spec`` created at clock time ``at``; it becomes the
        latest of its group (its own, unless ``run_group_id``). The caller holds the lock."""
        run_id = str(uuid.uuid4())
        outcome = spec.outcome_for(self.runs_by_pipeline[spec.name])
        activity_ids = [str(uuid.uuid4()) for _ in spec.activity_plan()]
        run = EmulatedRun(
            run_id=run_id,
            spec=spec,
            parameters={k: _as_parameter_string(v) for k, v in parameters.items()},
            created_wall=self.wall(at),
            created_at=at,
            run_group_id=run_group_id or run_id,
            plan=plan_run(spec, outcome, activity_ids, start_activity),
            invoked_by_id=uuid.uuid4().hex,
            invoked_by=invoked_by,
        )
        self.runs[run_id] = run
        self.runs_by_pipeline[spec.name] += 1
        self.latest_in_group[run.run_group_id] = run_id
        return run

    def stats(self) -> dict[str, Any]:
        """The counters ``GET /_emulator/stats`` reports (the caller holds the lock)."""
        stats: dict[str, Any] = {
            "runs_created": len(self.runs),
            "runs_created_by_pipeline": dict(self.runs_by_pipeline),
            "requests": dict(self.requests),
            "requests_total": sum(self.requests.values()),
            "faults_applied": self.faults.applied,
            "runs_by_trigger": dict(self.trigger_runs),
        }
        for extension in self.extensions:
            if extension.stats is not None:
                stats.update(extension.stats(self))
        return stats

    def run_summaries(self) -> list[dict[str, Any]]:
        """One line per run for ``GET /_emulator/runs`` (the caller holds the lock)."""
        now = self.clock()
        return [
            {
                "runId": run.run_id,
                "pipelineName": run.pipeline_name,
                "status": run.status_at(now),
                "runGroupId": run.run_group_id,
                "isLatest": self.is_latest(run),
                "parameters": dict(run.parameters),
                "cancelled_recursive": run.cancelled_recursive,
                # Only runs the factory's own triggers started name one.
                **({"invokedBy": dict(run.invoked_by)} if run.invoked_by else {}),
            }
            for run in self.runs.values()
        ]


def _as_parameter_string(value: object) -> str:
    """ADF reports run parameters as strings (``True`` for true); objects and arrays as JSON."""
    return json.dumps(value) if isinstance(value, dict | list) else str(value)
