"""Every scenario of the adversarial matrix holds, fails safe, or ends as its stated limit."""

from __future__ import annotations

import pytest

from airflow_adf_trigger.compat import AirflowFailException
from airflow_adf_trigger.core.runs.start import ATTEMPT_KEY
from airflow_adf_trigger.core.runs.status import RunStatus
from tests.adversary.matrix import SCENARIOS, Harness, Scenario, evaluate
from tests.adversary.world import World


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_the_promise(scenario: Scenario) -> None:
    verdict = evaluate(scenario)
    assert verdict.ok, (
        f"{scenario.name}: expected {scenario.expect}; own runs {verdict.own_runs} (most in a "
        f"series {verdict.most_in_a_series}), others' runs followed {verdict.strangers_followed}, "
        f"failed safe {verdict.failed_safe}, tries {verdict.seen}"
    )


def test_the_matrix_is_at_least_thirty_scenarios() -> None:
    assert len(SCENARIOS) >= 30


def test_a_record_left_behind_never_adopts_a_stranger_after_the_run_failed() -> None:
    """Killed between storing the run id and dropping the create-run record; a stranger
    starts an equal run inside the record's window; the task's run fails. The retry resubmits
    (its run ended) and starts a run of its own: the record left behind belongs to the failed
    run, so it is not searched for, and the stranger's run is never followed."""
    world = World(declared={"region": "String"})
    harness = Harness(world)
    world.create_plan = ["ok", "ok"]
    task = harness.instance()
    assert task.store is not None
    task.store.kill_on_delete = ATTEMPT_KEY
    assert task.run_try() == "killed"
    world.advance(10)
    stranger = world.start({"region": "emea"})
    (first,) = world.task_runs()
    first.status = RunStatus.FAILED
    assert task.run_try() == "success", task.errors
    followed = task.followed()
    assert followed not in (stranger, first.run_id)
    assert [run.run_id for run in world.task_runs()] == [first.run_id, followed]
    assert ATTEMPT_KEY not in task.store


@pytest.mark.parametrize("key", [False, True], ids=["no run key", "run key"])
@pytest.mark.parametrize("stranger", [False, True], ids=["alone", "stranger during"])
def test_a_resubmission_after_a_failed_run_whose_answer_is_lost(key: bool, stranger: bool) -> None:
    """The task's run fails; the retry resubmits (a new run, as Airflow's resumable mixin
    does after a Failed one) and loses the answer; a stranger may start an equal run at that
    moment. The next retry follows the lost run (the failed one is excluded), or, with a
    stranger and no run key, fails safe naming both; it never follows the failed run or the
    stranger's, and never starts a third."""
    declared = {"region": "String", **({"airflow_run_key": "String"} if key else {})}
    world = World(declared=declared)
    harness = Harness(world)
    world.create_plan = ["ok", "lost", "ok"]
    world.kill_in_wait = True  # the first try dies waiting; its run then fails
    task = harness.instance(wait_for_termination=True, deferrable=False)
    assert task.run_try() == "killed"
    (failed,) = world.task_runs()
    failed.status = RunStatus.FAILED
    if stranger:
        world.on_create = lambda w: w.start({"region": "emea"}) if w.creates_sent == 2 else None
    assert task.run_try() == "failed"
    lost = world.task_runs()[1]
    outcome = task.run_try()
    assert len(world.task_runs()) == 2, "no third run"
    if stranger and not key:
        assert outcome == "failed"
        assert isinstance(task.errors[-1], AirflowFailException)
        assert "could be its run" in str(task.errors[-1])
    else:
        assert outcome == "success", task.errors
        assert task.followed() == lost.run_id
