"""A factory an adversary shapes, and the Airflow around one task, for the operator's real code.

Written apart from the emulator on purpose: the emulator follows the project's own reading of
ADF, this fake lets each scenario choose what is unknown about ADF (how late its run list is,
how far the worker's clock is from Azure's, how parameter values are shown back) and what
strangers do. Everything runs in process on one fake clock.

The operator is the real :class:`AdfRunPipelineOperator`; only its hook's client is replaced
(the methods it calls: read_pipeline, create_run, get_run, query_run_changes, cancel_run).
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_adf_trigger.core.errors import AdfRunOutcomeUnknownError
from airflow_adf_trigger.core.runs.models import CancelResult, PipelineRun, RunChanges, RunQuery
from airflow_adf_trigger.core.runs.reconcile import PipelineDeclaration, ServerClock
from airflow_adf_trigger.core.runs.status import RunStatus
from airflow_adf_trigger.hooks.adf import AdfHook
from airflow_adf_trigger.operators.adf import AdfRunPipelineOperator
from tests.unit.helpers import make_settings

PIPELINE = "copy_sales"
WORKER_EPOCH = 1_800_000_000.0


class Killed(BaseException):
    """The worker process died here (SIGKILL): nothing after this line ran."""


@dataclass
class FakeRun:
    run_id: str
    parameters: dict[str, str]
    created: float
    """Azure's clock (seconds since the epoch)."""
    group: str
    owner: str
    """``task``, or who else started it (``stranger``, ``trigger``...)."""
    status: RunStatus = RunStatus.IN_PROGRESS
    invoked_by_type: str = "Manual"
    sender: Any = None
    """Which task instance and series of tries sent the create-run (the task's runs)."""

    def as_run(self) -> PipelineRun:
        moment = datetime.fromtimestamp(self.created, UTC)
        return PipelineRun(
            run_id=self.run_id,
            pipeline_name=PIPELINE,
            status=self.status,
            run_group_id=self.group,
            parameters=dict(self.parameters),
            run_start=moment,
            last_updated=moment,
            invoked_by_type=self.invoked_by_type,
        )


def shown(value: Any, style: str) -> str:
    """A sent value as ADF shows it back, in one of the styles no public source rules out."""
    if isinstance(value, str):
        return value
    if value is None:
        return {"json": "null", "empty": "", "python": "None"}.get(style, "")
    if isinstance(value, bool):
        return {"python": str(value)}.get(style, json.dumps(value))
    if isinstance(value, dict | list):
        if style == "compact":
            return json.dumps(value, separators=(",", ":"))
        return json.dumps(value)
    return str(value)


@dataclass
class World:
    """ADF and the worker's clock as one scenario sets them."""

    skew: float = 0.0
    """Azure's clock minus the worker's (seconds)."""
    lag: float = 0.0
    """How late a new run appears in queryPipelineRuns (GET shows it at once)."""
    declared: Mapping[str, str] = field(default_factory=lambda: {"region": "String"})
    value_style: str = "json"
    now: float = WORKER_EPOCH
    runs: dict[str, FakeRun] = field(default_factory=dict)
    create_plan: list[str] = field(default_factory=list)
    """What happens to each create-run the task sends, in order: ``ok``, ``lost`` (the run
    starts, the answer is lost), ``dropped`` (nothing starts, the outcome is unknown),
    ``kill_after_create`` (the run starts, the worker dies before the answer)."""
    on_create: Callable[[World], None] | None = None
    """Something a stranger does while the task's create-run is in flight."""
    creates_sent: int = 0
    kill_in_wait: bool = False
    sender: Any = None
    """The task instance and series whose try is running (set by the harness)."""

    # ------------------------------------------------------------ clocks

    def azure(self) -> float:
        return self.now + self.skew

    def advance(self, seconds: float) -> None:
        self.now += seconds

    # ------------------------------------------------------------ what others do

    def start(
        self,
        parameters: Mapping[str, Any],
        *,
        owner: str = "stranger",
        at: float | None = None,
        group: str | None = None,
        invoked_by_type: str = "Manual",
        status: RunStatus = RunStatus.IN_PROGRESS,
    ) -> str:
        """A run started by someone (default: a stranger), at Azure time ``at`` (now)."""
        run_id = str(uuid.uuid4())
        self.runs[run_id] = FakeRun(
            run_id,
            {name: shown(value, self.value_style) for name, value in parameters.items()},
            self.azure() if at is None else at,
            group or run_id,
            owner,
            status,
            invoked_by_type,
            self.sender if owner == "task" else None,
        )
        return run_id

    def task_runs(self) -> list[FakeRun]:
        return [run for run in self.runs.values() if run.owner == "task"]


class FakeClient:
    """The client the operator's hook hands out, over a :class:`World`."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.settings = make_settings()

    def now(self) -> float:
        return self.world.now

    def _date(self) -> datetime:
        return datetime.fromtimestamp(int(self.world.azure()), UTC)  # Date: whole seconds

    def read_pipeline(self, pipeline_name: str) -> PipelineDeclaration:
        sent = self.world.now
        self.world.advance(0.05)
        date = self._date()
        return PipelineDeclaration(
            pipeline_name, dict(self.world.declared), {}, ServerClock(date, sent, self.world.now)
        )

    def get_run(self, run_id: str) -> PipelineRun:
        return self.world.runs[run_id].as_run()

    def wait_for_run(self, run_id: str, **_options: Any) -> PipelineRun:
        """The worker wait: the worker dies in it while ``kill_in_wait`` is set."""
        if self.world.kill_in_wait:
            self.world.kill_in_wait = False
            raise Killed
        self.world.runs[run_id].status = RunStatus.SUCCEEDED
        return self.get_run(run_id)

    def cancel_run(self, run_id: str, *, is_recursive: bool = True) -> CancelResult:
        run = self.world.runs[run_id]
        if run.status.is_terminal:
            return CancelResult(run_id, cancel_requested=False, finished_status=run.status)
        run.status = RunStatus.CANCELLED
        return CancelResult(run_id, cancel_requested=True)

    def query_run_changes(self, query: RunQuery) -> RunChanges:
        visible_until = self.world.azure() - self.world.lag
        after, before = query.last_updated_after.timestamp(), query.last_updated_before.timestamp()
        runs = tuple(
            run.as_run()
            for run in self.world.runs.values()
            if run.created <= visible_until and after <= run.created <= before
        )
        self.world.advance(0.05)
        return RunChanges(runs, self._date())

    def create_run(
        self, pipeline_name: str, parameters: Mapping[str, Any] | None, **options: Any
    ) -> str:
        world = self.world
        outcome = world.create_plan[world.creates_sent] if world.create_plan else "ok"
        world.creates_sent += 1
        sent = world.now
        if world.on_create is not None:
            world.on_create(world)
        world.advance(0.2)
        run_id = None
        if outcome != "dropped":
            reference = options.get("reference_pipeline_run_id")
            if reference:  # the rerun keeps the reference run's parameters
                ref = world.runs[reference]
                group = ref.group if options.get("is_recovery") else None
                run_id = str(uuid.uuid4())
                world.runs[run_id] = FakeRun(
                    run_id,
                    dict(ref.parameters),
                    world.azure(),
                    group or run_id,
                    "task",
                    sender=world.sender,
                )
            else:
                run_id = world.start(parameters or {}, owner="task")
        if outcome == "kill_after_create":
            raise Killed
        if outcome in ("lost", "dropped"):
            world.advance(30)  # the client waited for its answer, then gave up
            raise AdfRunOutcomeUnknownError(
                pipeline_name,
                datetime.fromtimestamp(sent, UTC),
                datetime.fromtimestamp(world.now, UTC),
                "connection reset",
            )
        assert run_id is not None
        return run_id


class Store(dict[str, Any]):
    """Airflow 3.3's task state store of one task instance, over a dict; ``kill_on`` makes the
    worker die as a key is written, ``kill_on_delete`` as one is deleted."""

    kill_on: str | None = None
    kill_on_delete: str | None = None

    def set(self, key: str, value: Any, **_options: Any) -> None:
        if key == self.kill_on:
            self.kill_on = None
            raise Killed
        self[key] = value

    def delete(self, key: str) -> None:
        if key == self.kill_on_delete:
            self.kill_on_delete = None
            raise Killed
        self.pop(key, None)


class DagRunXcom(dict[tuple[str, int], dict[str, Any]]):
    """Every task instance's XCom in one DAG run."""


class TI:
    """What the operator reads of its task instance."""

    def __init__(self, xcom: DagRunXcom, task_id: str, map_index: int, retries: int) -> None:
        self.dag_id, self.run_id, self.task_id = "adversary", "manual__1", task_id
        self.map_index = map_index
        self.try_number = 0
        self.max_tries = retries
        self.retries = retries
        self._xcom = xcom
        self.stats_tags: dict[str, str] = {}

    def next_try(self) -> None:
        """A retry (Airflow clears the try's XCom as it starts)."""
        self.try_number += 1
        self._xcom[(self.task_id, self.map_index)] = {}

    def clear(self) -> None:
        """A user's clear: the next try starts a new series."""
        self.max_tries = self.try_number + self.retries

    def xcom_push(self, key: str, value: Any) -> None:
        self._xcom.setdefault((self.task_id, self.map_index), {})[key] = value

    def xcom_pull(
        self, task_ids: Iterable[str], key: str, map_indexes: Any = None, **_: Any
    ) -> list[Any]:
        return [
            values[key]
            for (task_id, _index), values in self._xcom.items()
            if task_id in set(task_ids) and key in values
        ]


class Dag:
    def __init__(self, tasks: list[AdfRunPipelineOperator]) -> None:
        self.tasks = tasks
        self.task_ids = list(dict.fromkeys(task.task_id for task in tasks))


class FakeHook(AdfHook):
    """The real hook over the fake client (no connection is read)."""

    def __init__(self, client: FakeClient) -> None:
        super().__init__()
        self.__dict__["client"] = client
        self.__dict__["settings"] = client.settings

    def monitoring_url(self, run_id: str | None = None) -> str:
        return f"https://adf.example/{run_id}"


_task_ids = itertools.count()


def operator(world: World, **options: Any) -> AdfRunPipelineOperator:
    """The real operator, its hook's client replaced, its sleeps on the world's clock."""
    options.setdefault("parameters", {"region": "emea"})
    options.setdefault("reconcile_search_timeout", 120)
    options.setdefault("retries", 3)
    task = AdfRunPipelineOperator(
        task_id=options.pop("task_id", f"trigger_{next(_task_ids)}"),
        pipeline_name=PIPELINE,
        **options,
    )
    task.__dict__["hook"] = FakeHook(FakeClient(world))
    task._monotonic = lambda: world.now  # type: ignore[method-assign]
    task._nap = world.advance  # type: ignore[method-assign]
    return task


def after_seconds(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)
