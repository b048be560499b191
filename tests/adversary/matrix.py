"""The adversarial matrix of "never start a pipeline twice, never follow a run you did not start".

Each scenario is what an adversary (a stranger, a rerun, skew, lag, a kill or a clear at some
step, an older Airflow) does around one task's tries. Its verdict says whether the promise
held: at most one run of the task's own per series of tries and no stranger's run followed,
or a clear error naming the candidates (fail safe). A few rows are documented limits: the
outcome the README states, asserted exactly so that a change of behaviour is noticed.

``python -m tests.adversary`` prints the table; ``tests/adversary/test_matrix.py`` runs it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from airflow_adf_trigger import compat
from airflow_adf_trigger.compat import AirflowFailException
from airflow_adf_trigger.core.runs.start import ATTEMPT_KEY, NOT_MINE_KEY
from airflow_adf_trigger.core.runs.status import RunStatus
from airflow_adf_trigger.operators.adf import AdfRunPipelineOperator
from tests.adversary.world import (
    TI,
    Dag,
    DagRunXcom,
    Killed,
    Store,
    World,
    operator,
)

KEY = "airflow_run_key"
HOLDS, FAILS_SAFE, LIMIT = "holds", "fails safe", "limit"


class FakeVariables:
    """Airflow's Variable API over a dict (Airflow 3.0 to 3.2 keep the store in a Variable)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: str, description: str | None = None) -> None:
        self.values[key] = value

    def delete(self, key: str) -> None:
        self.values.pop(key, None)


class VariableStoreOperator(AdfRunPipelineOperator):
    """The operator as it runs on Airflow 3.0 to 3.2: the project's own mixin, Variable store."""

    execute_resumable = compat._ResumableJobMixin.execute_resumable  # type: ignore[assignment]


@dataclass
class DagRunStub:
    run_after: Any


@dataclass
class Instance:
    """One task instance: its operator, its Airflow state, the outcome of each try."""

    harness: Harness
    task: AdfRunPipelineOperator
    ti: TI
    store: Store | None
    series: int = 1
    outcomes: list[str] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def run_try(self) -> str:
        """One try, as Airflow runs it; its outcome (``success``, ``failed``, ``killed``)."""
        self.ti.next_try()
        self.harness.world.sender = (id(self), self.series)
        context: dict[str, Any] = {
            "ti": self.ti,
            "dag": self.harness.dag,
            "dag_run": DagRunStub(self.harness.dag_run_made),
        }
        if self.store is not None:
            context["task_state_store"] = self.store
        self.task.run_id = None  # each try is a new process with a fresh operator
        self.task._killed = False
        self.task._create_sent_at = None
        try:
            self.task.execute(context)  # type: ignore[arg-type]
            outcome = "success"
        except Killed:
            outcome = "killed"
        except Exception as error:
            self.errors.append(error)
            outcome = "failed"
        self.outcomes.append(outcome)
        self.harness.world.advance(self.harness.retry_delay)
        return outcome

    def clear(self) -> None:
        self.ti.clear()
        self.series += 1

    def followed(self) -> str | None:
        values = self.harness.xcom.get((self.ti.task_id, self.ti.map_index), {})
        return values.get("run_id") if self.outcomes and self.outcomes[-1] == "success" else None


@dataclass
class Harness:
    world: World
    store_kind: str = "task state store"
    retry_delay: float = 5.0
    xcom: DagRunXcom = field(default_factory=DagRunXcom)
    instances: list[Instance] = field(default_factory=list)
    variables: FakeVariables = field(default_factory=FakeVariables)
    dag_run_made: datetime = datetime(2026, 12, 1, tzinfo=UTC)

    @property
    def dag(self) -> Dag:
        return Dag([instance.task for instance in self.instances])

    def instance(self, map_index: int = -1, task_id: str = "trigger", **options: Any) -> Instance:
        cls = VariableStoreOperator if self.store_kind == "variable" else AdfRunPipelineOperator
        task = operator(self.world, task_id=task_id, **options)
        task.__class__ = cls
        ti = TI(self.xcom, task_id, map_index, task.retries or 0)
        store = None if self.store_kind == "variable" else Store()
        made = Instance(self, task, ti, store)
        self.instances.append(made)
        return made


@dataclass(frozen=True)
class Scenario:
    name: str
    expect: str
    """``holds``, ``fails safe`` or ``limit``."""
    play: Callable[[Harness], None]
    key: bool = False
    store_kind: str = "task state store"
    world: dict[str, Any] = field(default_factory=dict)
    limit: str = ""
    """For a limit: the outcome the README states, and how it is checked."""


@dataclass
class Verdict:
    scenario: Scenario
    own_runs: int
    most_in_a_series: int
    strangers_followed: int
    failed_safe: bool
    seen: str
    ok: bool


def evaluate(scenario: Scenario) -> Verdict:
    settings = dict(scenario.world)
    declared = {"region": "String", **settings.pop("declared", {})}
    if scenario.key:
        declared[KEY] = "String"
    world = World(declared=declared, **settings)
    harness = Harness(world, store_kind=scenario.store_kind)
    with _variables(harness):
        scenario.play(harness)
    task_runs = world.task_runs()
    per_series: dict[Any, int] = {}
    for run in task_runs:
        per_series[run.sender] = per_series.get(run.sender, 0) + 1
    senders = {run.run_id: run.sender for run in task_runs}
    strangers = 0
    wrong_instance = 0
    for instance in harness.instances:
        followed = instance.followed()
        if followed is None:
            continue
        if followed not in senders:
            strangers += 1
        elif senders[followed][0] != id(instance):
            wrong_instance += 1
    failed_safe = any(
        isinstance(error, AirflowFailException) and "could be its run" in str(error)
        for instance in harness.instances
        for error in instance.errors
    )
    most = max(per_series.values(), default=0)
    outcomes = ", ".join("/".join(instance.outcomes) for instance in harness.instances)
    holds = most <= 1 and strangers == 0 and wrong_instance == 0
    if scenario.expect == HOLDS:
        ok = (
            holds
            and not failed_safe
            and all(i.outcomes[-1] == "success" for i in harness.instances)
        )
    elif scenario.expect == FAILS_SAFE:
        ok = holds and failed_safe
    else:  # a documented limit: the stated outcome, exactly
        ok = not holds
    return Verdict(
        scenario, len(task_runs), most, strangers + wrong_instance, failed_safe, outcomes, ok
    )


@contextlib.contextmanager
def _variables(harness: Harness) -> Iterator[None]:
    import airflow.sdk

    saved = airflow.sdk.Variable
    airflow.sdk.Variable = harness.variables  # type: ignore[assignment,misc]
    try:
        yield
    finally:
        airflow.sdk.Variable = saved  # type: ignore[misc]


# ---------------------------------------------------------------------- moves


def lost_then_retry(harness: Harness, outcome: str = "lost", **options: Any) -> Instance:
    """The first create-run ends as ``outcome``; the retry decides."""
    harness.world.create_plan = [outcome, "ok"]
    task = harness.instance(**options)
    task.run_try()
    task.run_try()
    return task


def stranger_before(seconds: float, parameters: dict[str, Any] | None = None) -> Any:
    def play(harness: Harness, outcome: str) -> None:
        world = harness.world
        world.start(parameters or {"region": "emea"}, at=world.azure() - seconds)
        lost_then_retry(harness, outcome)

    return play


def stranger_during(parameters: dict[str, Any], **start: Any) -> Callable[[World], None]:
    def during(world: World) -> None:
        if world.creates_sent == 1:
            world.start(parameters, **start)

    return during


def with_stranger_during(outcome: str, parameters: dict[str, Any], **start: Any) -> Any:
    def play(harness: Harness) -> None:
        harness.world.on_create = stranger_during(parameters, **start)
        lost_then_retry(harness, outcome, parameters={"region": "emea"})

    return play


def params_during(outcome: str, task_parameters: Any, stranger: dict[str, Any]) -> Any:
    def play(harness: Harness) -> None:
        harness.world.on_create = stranger_during(stranger)
        lost_then_retry(harness, outcome, parameters=task_parameters)

    return play


def rerun(outcome: str, *, recovery: bool, person_rerun: str | None = None) -> Any:
    """A rerun of a failed run (passing parameters too); a person may rerun it as well."""

    def play(harness: Harness) -> None:
        world = harness.world
        reference = world.start(
            {"region": "emea"}, at=world.azure() - 3600, status=RunStatus.FAILED
        )
        ordinary = world.start({"region": "emea"}, at=world.azure() - 30)
        del ordinary
        if person_rerun == "before":
            world.start(
                {"region": "emea"}, at=world.azure() - 20, group=reference if recovery else None
            )
        elif person_rerun == "during":
            world.on_create = stranger_during(
                {"region": "emea"}, group=reference if recovery else None
            )
        lost_then_retry(
            harness,
            outcome,
            parameters={"region": "apac"},  # ADF keeps the reference run's
            reference_pipeline_run_id=reference,
            is_recovery=recovery,
            start_from_failure=recovery or None,
        )

    return play


def lag_with_stranger(outcome: str) -> Any:
    """The list is 90 s late: a stranger (same parameters) shows before the task's own run."""

    def play(harness: Harness) -> None:
        world = harness.world
        world.on_create = stranger_during({"region": "emea"})
        harness.retry_delay = 0
        lost_then_retry(harness, outcome)

    return play


def lost_retry_at_once(outcome: str = "lost") -> Any:
    def play(harness: Harness) -> None:
        harness.retry_delay = 0
        lost_then_retry(harness, outcome)

    return play


def clear_then_dropped(finished: RunStatus | None) -> Any:
    """Series 1 starts a run; a clear; series 2's create-run is dropped; its retry decides."""

    def play(harness: Harness) -> None:
        world = harness.world
        world.create_plan = ["ok", "dropped", "ok"]
        task = harness.instance()
        task.run_try()
        if finished is not None:
            (run,) = world.task_runs()
            run.status = finished
        task.clear()
        task.run_try()
        task.run_try()

    return play


def mapped(outcomes: list[str]) -> Any:
    """Mapped instances with equal parameters, started together."""

    def play(harness: Harness) -> None:
        harness.world.create_plan = [*outcomes, "ok", "ok", "ok"]
        harness.retry_delay = 0  # siblings start together: each inside the other's window
        tasks = [harness.instance(map_index=index) for index in range(len(outcomes))]
        for task in tasks:
            task.run_try()
        for task in tasks:
            if task.outcomes[-1] != "success":
                task.run_try()

    return play


def kill_at(step: str, *, stranger_after: bool = False) -> Any:
    """The worker dies at ``step``; a stranger may start the same run before the retry."""

    def play(harness: Harness) -> None:
        world = harness.world
        task = harness.instance()
        if step == "pipeline read":
            real = task.task.hook.client.read_pipeline  # type: ignore[attr-defined]

            def dying(name: str) -> Any:
                task.task.hook.client.read_pipeline = real  # type: ignore[attr-defined]
                raise Killed

            task.task.hook.client.read_pipeline = dying  # type: ignore[attr-defined]
        elif step == "after the record, before sending":
            world.create_plan = ["ok"]
            real_create = task.task.hook.client.create_run  # type: ignore[attr-defined]

            def dying_create(*args: Any, **kwargs: Any) -> Any:
                task.task.hook.client.create_run = real_create  # type: ignore[attr-defined]
                world.creates_sent += 1
                raise Killed

            task.task.hook.client.create_run = dying_create  # type: ignore[attr-defined]
            world.create_plan = ["ok", "ok"]
        elif step == "ADF started the run, answer in flight":
            world.create_plan = ["kill_after_create", "ok"]
        elif step == "answer read, run id not yet stored":
            assert task.store is not None
            task.store.kill_on = task.task.external_id_key
        elif step == "run id stored, record not yet dropped":
            assert task.store is not None
            task.store.kill_on_delete = ATTEMPT_KEY
        task.run_try()
        if stranger_after:
            world.advance(10)
            world.start({"region": "emea"})
        task.run_try()

    return play


def stale_record_then_clear(harness: Harness) -> None:
    """The worker dies after storing the run id, before dropping the create-run record; a
    stranger starts an equal run inside that record's window; a user clears the task. The
    clear cancels the task's own run and leaves the stranger's alone."""
    world = harness.world
    world.create_plan = ["ok", "ok"]
    task = harness.instance()
    assert task.store is not None
    task.store.kill_on_delete = ATTEMPT_KEY
    task.run_try()
    world.advance(10)
    stranger = world.start({"region": "emea"})
    task.clear()
    task.run_try()
    own, _new = world.task_runs()
    assert world.runs[stranger].status is RunStatus.IN_PROGRESS, "the stranger's run is untouched"
    assert own.status is RunStatus.CANCELLED, "the cleared series' own run is cancelled"


def waiting_then_cleared(harness: Harness) -> Instance:
    """A task whose worker dies while it waits on its run, then cleared by a user."""
    harness.world.create_plan = ["ok", "ok"]
    harness.world.kill_in_wait = True
    task = harness.instance(wait_for_termination=True, deferrable=False)
    task.run_try()
    task.clear()
    return task


def clear_killed_at(step: str) -> Any:
    """Series 1 starts a run and waits for it; a user clears the task; the first try of
    series 2 dies while forgetting series 1 (``step``); its retry finishes the forgetting:
    series 1's run is cancelled, never reattached to, and one new run starts."""

    def play(harness: Harness) -> None:
        world = harness.world
        task = waiting_then_cleared(harness)
        if step == "remembering the cleared run":
            assert task.store is not None
            task.store.kill_on = NOT_MINE_KEY
        else:  # cancelling it
            client = task.task.hook.client  # type: ignore[attr-defined]
            real = client.cancel_run

            def dying(*args: Any, **kwargs: Any) -> Any:
                client.cancel_run = real
                raise Killed

            client.cancel_run = dying
        assert task.run_try() == "killed"
        task.run_try()
        first, *_ = world.task_runs()
        assert first.status is RunStatus.CANCELLED, "the cleared series' run is cancelled"
        assert task.followed() != first.run_id, "the cleared series' run is not followed"

    return play


def retries_edited_between_tries(harness: Harness) -> None:
    """The worker dies while the task waits on its run; before the retry, someone edits the
    DAG's ``retries`` (3 to 1; a DAG folder without versions serves the new file). The retry
    is no new series: it reattaches to the run and cancels nothing."""
    world = harness.world
    world.create_plan = ["ok", "ok"]
    world.kill_in_wait = True
    task = harness.instance(wait_for_termination=True, deferrable=False, retries=3)
    task.run_try()
    task.task.retries = 1
    task.run_try()
    (run,) = world.task_runs()
    assert run.status is not RunStatus.CANCELLED, "the task's own run is not cancelled"


def mark_failed_mid_create_then_clear(harness: Harness) -> None:
    """A user marks the task failed while its create-run hangs (on_kill: no run id yet),
    then clears it: the lost run is found and cancelled, one new run starts."""
    world = harness.world
    world.create_plan = ["lost", "ok"]
    task = harness.instance()
    task.run_try()
    task.task.on_kill()
    task.clear()
    task.run_try()


def sibling_run_survives_a_clear(harness: Harness) -> None:
    """Mapped siblings with equal parameters: one's create-run is dropped, then it is cleared.
    The clear looks for its lost run and must not take (and cancel) the sibling's."""
    world = harness.world
    world.create_plan = ["dropped", "ok", "ok"]
    harness.retry_delay = 0
    first, second = harness.instance(map_index=0), harness.instance(map_index=1)
    second.run_try()  # dropped; the sibling's run starts inside its window, after its record
    first.run_try()
    second.clear()
    second.run_try()
    sibling = first.followed()
    assert sibling is not None
    assert world.runs[sibling].status is RunStatus.IN_PROGRESS, "the sibling's run was cancelled"


def recreated_dag_run(harness: Harness) -> None:
    """A DAG run deleted and made again under the same run id, over the Variable a failed try
    of the first one left (Airflow 3.0 to 3.2): the new DAG run starts its own run."""
    world = harness.world
    old_run = world.start({"region": "emea"}, owner="old DAG run", status=RunStatus.SUCCEEDED)
    left = compat.VariableTaskStateStore(
        "adversary", "manual__1", "trigger", -1, harness.dag_run_made.isoformat()
    )
    left.set(AdfRunPipelineOperator.external_id_key, old_run)
    harness.dag_run_made = datetime(2026, 12, 2, tzinfo=UTC)
    new = harness.instance()
    new.run_try()


def cleared_on_old_airflow(harness: Harness) -> None:
    """Airflow 3.0 to 3.2: a user marks the waiting task failed, then clears it: the run is
    cancelled and one new run starts (it used to be reattached to)."""
    world = harness.world
    waiting_then_cleared(harness).run_try()
    first, _second = world.task_runs()
    assert first.status is RunStatus.CANCELLED, "the cleared series' run is cancelled"


def typed_values(style: str) -> Any:
    def play(harness: Harness) -> None:
        lost_then_retry(
            harness,
            "lost",
            parameters={"cfg": {"a": [1, 2]}, "flag": True, "none": None, "n": 5},
        )

    return play


def scheduled_twin_during(harness: Harness) -> None:
    harness.world.on_create = stranger_during({"region": "emea"}, invoked_by_type="ScheduleTrigger")
    lost_then_retry(harness, "dropped")


def _dropped(play: Any) -> Any:
    return lambda harness: play(harness, "dropped")


def _lost(play: Any) -> Any:
    return lambda harness: play(harness, "lost")


SCENARIOS: list[Scenario] = [
    Scenario("lost answer, no stranger", HOLDS, lost_then_retry),
    Scenario("dropped create-run, no stranger", HOLDS, lambda h: lost_then_retry(h, "dropped")),
    Scenario("equal stranger 20 s before, answer lost", HOLDS, _lost(stranger_before(20))),
    Scenario("equal stranger 20 s before, dropped", HOLDS, _dropped(stranger_before(20))),
    Scenario("equal stranger 2 s before, dropped", HOLDS, _dropped(stranger_before(2))),
    Scenario(
        "equal stranger during the attempt, answer lost",
        FAILS_SAFE,
        with_stranger_during("lost", {"region": "emea"}),
    ),
    Scenario(
        "equal stranger during the attempt, dropped",
        LIMIT,
        with_stranger_during("dropped", {"region": "emea"}),
        limit="without a run key, a stranger's equal run inside the attempt's window is "
        "adopted when the task's own never started",
    ),
    Scenario(
        "equal stranger during the attempt, dropped, run key",
        HOLDS,
        with_stranger_during("dropped", {"region": "emea"}),
        key=True,
    ),
    Scenario(
        "superset stranger during, dropped",
        HOLDS,
        params_during("dropped", {"region": "emea"}, {"region": "emea", "extra": "1"}),
        world={"declared": {"region": "String", "extra": "String"}},
    ),
    Scenario(
        "superset stranger during, answer lost",
        HOLDS,
        params_during("lost", {"region": "emea"}, {"region": "emea", "extra": "1"}),
    ),
    Scenario(
        "task sends no parameters, stranger sends some, dropped",
        HOLDS,
        params_during("dropped", None, {"region": "emea"}),
    ),
    Scenario(
        "subset stranger during, dropped",
        HOLDS,
        params_during("dropped", {"region": "emea", "day": "1"}, {"region": "emea"}),
    ),
    Scenario(
        "different stranger during, answer lost",
        HOLDS,
        params_during("lost", {"region": "emea"}, {"region": "apac"}),
    ),
    Scenario(
        "lag 90 s, answer lost, retry at once", HOLDS, lost_retry_at_once(), world={"lag": 90}
    ),
    Scenario(
        "lag 90 s, dropped, retry at once", HOLDS, lost_retry_at_once("dropped"), world={"lag": 90}
    ),
    Scenario(
        "lag 90 s, equal stranger shows first, answer lost",
        FAILS_SAFE,
        lag_with_stranger("lost"),
        world={"lag": 90},
    ),
    Scenario(
        "lag 90 s, equal stranger shows first, run key",
        HOLDS,
        lag_with_stranger("lost"),
        key=True,
        world={"lag": 90},
    ),
    Scenario(
        "lag 600 s, beyond the 120 s search, answer lost",
        LIMIT,
        lost_retry_at_once(),
        world={"lag": 600},
        limit="a lag beyond reconcile_search_timeout hides the lost run: a second one starts "
        "(set the timeout above the lag the doctor measures)",
    ),
    Scenario("worker 120 s behind Azure, answer lost", HOLDS, lost_then_retry, world={"skew": 120}),
    Scenario(
        "worker 120 s ahead of Azure, answer lost", HOLDS, lost_then_retry, world={"skew": -120}
    ),
    Scenario(
        "worker 120 s behind, stranger 20 s before, dropped",
        HOLDS,
        _dropped(stranger_before(20)),
        world={"skew": 120},
    ),
    Scenario(
        "worker 120 s ahead, stranger 20 s before, dropped",
        HOLDS,
        _dropped(stranger_before(20)),
        world={"skew": -120},
    ),
    Scenario("plain rerun passing parameters, answer lost", HOLDS, rerun("lost", recovery=False)),
    Scenario(
        "plain rerun, dropped (an ordinary equal run exists)",
        HOLDS,
        rerun("dropped", recovery=False),
    ),
    Scenario("recovery rerun, answer lost", HOLDS, rerun("lost", recovery=True)),
    Scenario(
        "recovery rerun, dropped: the reference run is never adopted",
        HOLDS,
        rerun("dropped", recovery=True),
    ),
    Scenario(
        "recovery rerun, dropped, a person's rerun 20 s before",
        HOLDS,
        rerun("dropped", recovery=True, person_rerun="before"),
    ),
    Scenario(
        "recovery rerun, answer lost, a person's rerun during",
        FAILS_SAFE,
        rerun("lost", recovery=True, person_rerun="during"),
    ),
    Scenario("clear, then a dropped create-run (run still going)", HOLDS, clear_then_dropped(None)),
    Scenario(
        "clear after success, then a dropped create-run",
        HOLDS,
        clear_then_dropped(RunStatus.SUCCEEDED),
    ),
    Scenario("mapped x2 equal parameters, one dropped", HOLDS, mapped(["ok", "dropped"])),
    Scenario("mapped x2 equal parameters, one lost", HOLDS, mapped(["ok", "lost"])),
    Scenario("mapped x2 equal parameters, both lost", FAILS_SAFE, mapped(["lost", "lost"])),
    Scenario(
        "mapped x2 equal parameters, one dropped, then cleared",
        HOLDS,
        sibling_run_survives_a_clear,
    ),
    Scenario(
        "mapped x2 equal parameters, both lost, run key", HOLDS, mapped(["lost", "lost"]), key=True
    ),
    Scenario(
        "kill during the pipeline read (token), stranger after",
        HOLDS,
        kill_at("pipeline read", stranger_after=True),
    ),
    Scenario(
        "kill after the record, before sending, stranger after",
        LIMIT,
        kill_at("after the record, before sending", stranger_after=True),
        limit="without a run key, a stranger's equal run inside a killed try's window is "
        "adopted when the killed request never left",
    ),
    Scenario(
        "kill after the record, before sending, stranger after, run key",
        HOLDS,
        kill_at("after the record, before sending", stranger_after=True),
        key=True,
    ),
    Scenario(
        "kill while the answer is in flight",
        HOLDS,
        kill_at("ADF started the run, answer in flight"),
    ),
    Scenario(
        "kill before the run id is stored", HOLDS, kill_at("answer read, run id not yet stored")
    ),
    Scenario(
        "kill after the run id is stored, before the record is dropped, stranger after",
        HOLDS,
        kill_at("run id stored, record not yet dropped", stranger_after=True),
    ),
    Scenario(
        "kill after the run id is stored, before the record is dropped, stranger, clear",
        HOLDS,
        stale_record_then_clear,
    ),
    Scenario(
        "clear, killed while remembering the cleared run, retry",
        HOLDS,
        clear_killed_at("remembering the cleared run"),
    ),
    Scenario(
        "clear, killed while cancelling the cleared run, retry",
        HOLDS,
        clear_killed_at("cancelling the cleared run"),
    ),
    Scenario(
        "Variable store: clear, killed while cancelling the cleared run, retry",
        HOLDS,
        clear_killed_at("cancelling the cleared run"),
        store_kind="variable",
    ),
    Scenario("retries edited between tries", HOLDS, retries_edited_between_tries),
    Scenario("mark failed mid create-run, then clear", HOLDS, mark_failed_mid_create_then_clear),
    Scenario("Variable store: answer lost", HOLDS, lost_then_retry, store_kind="variable"),
    Scenario(
        "Variable store: clear while the run goes",
        HOLDS,
        cleared_on_old_airflow,
        store_kind="variable",
    ),
    Scenario(
        "Variable store: re-created DAG run, same run id",
        HOLDS,
        recreated_dag_run,
        store_kind="variable",
    ),
    Scenario(
        "Variable store: equal stranger during, lost",
        FAILS_SAFE,
        with_stranger_during("lost", {"region": "emea"}),
        store_kind="variable",
    ),
    Scenario(
        "values shown as compact JSON",
        HOLDS,
        typed_values("compact"),
        world={"value_style": "compact"},
    ),
    Scenario(
        "values shown as spaced JSON, None as null",
        HOLDS,
        typed_values("json"),
        world={"value_style": "json"},
    ),
    Scenario(
        "values shown with None as empty",
        HOLDS,
        typed_values("empty"),
        world={"value_style": "empty"},
    ),
    Scenario("a scheduled trigger's equal run during, dropped", HOLDS, scheduled_twin_during),
]


def table(verdicts: list[Verdict]) -> str:
    """The matrix as a plain-text table."""
    header = ("scenario", "expect", "own runs", "max/series", "others followed", "seen", "ok")
    rows = [
        (
            v.scenario.name,
            v.scenario.expect,
            str(v.own_runs),
            str(v.most_in_a_series),
            str(v.strangers_followed),
            v.seen,
            "yes" if v.ok else "NO",
        )
        for v in verdicts
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    limits = [f"- {v.scenario.name}: {v.scenario.limit}" for v in verdicts if v.scenario.limit]
    return "\n".join([*lines, "", "Documented limits:", *limits])


__all__ = ["SCENARIOS", "Scenario", "Verdict", "evaluate", "table"]
