"""Every scenario of the adversarial matrix holds, fails safe, or ends as its stated limit."""

from __future__ import annotations

import pytest

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
