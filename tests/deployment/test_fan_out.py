"""Twenty deferred waits in the real triggerer: one shared poller reads them all.

Twenty tells the two designs apart as well as fifty did (a trigger polling its own run
would send 20 GETs per interval; the shared poller sends one query) and defers in less
than half the time.
"""

from __future__ import annotations

import time
from typing import Any

from tests.deployment.airflow_deployment import AirflowDeployment, wait_until
from tests.deployment.conftest import runs_of

DAG_ID = "deploy_fan_out"
WIDTH = 20  # the DAG's FAN_OUT_WIDTH
CHECK_INTERVAL = 2.0  # the DAG's check_interval
SAMPLE_SECONDS = 10.0
UNFINISHED = ("Queued", "InProgress")


def reads(emulator: Any) -> dict[str, int]:
    with emulator.state.lock:
        requests = dict(emulator.state.requests)
    return {op: requests.get(op, 0) for op in ("query pipeline runs", "get run")}


def test_twenty_deferred_runs_are_read_with_one_query_per_interval(
    airflow_deployment: AirflowDeployment, deployment_emulator: Any
) -> None:
    airflow = airflow_deployment
    run_id = airflow.trigger(DAG_ID)

    def all_deferred() -> bool:
        airflow.check_alive()
        states = [ti["state"] for ti in airflow.task_instances(DAG_ID, run_id)]
        return len(states) == WIDTH and all(state == "deferred" for state in states)

    started = time.monotonic()
    wait_until("every mapped task to be deferred", all_deferred, timeout=240, interval=1)
    print(f"{WIDTH} mapped tasks deferred {time.monotonic() - started:.0f} s after the trigger")
    runs = runs_of(deployment_emulator, run_id)
    assert len(runs) == WIDTH and all(r["status"] in UNFINISHED for r in runs), runs
    time.sleep(CHECK_INTERVAL * 2)  # past the first ticks of the newest triggers

    before, sampled = reads(deployment_emulator), time.monotonic()
    time.sleep(SAMPLE_SECONDS)
    after, took = reads(deployment_emulator), time.monotonic() - sampled
    # The sample counts only if every run was still going all through it (the scenario's
    # `fan` pipeline runs long enough for that; a run that ended would read as fewer GETs).
    ended = [r for r in runs_of(deployment_emulator, run_id) if r["status"] != "InProgress"]
    assert not ended, f"runs ended during the sample: lengthen the `fan` pipeline: {ended}"

    intervals = took / CHECK_INTERVAL
    queries = (after["query pipeline runs"] - before["query pipeline runs"]) / intervals
    gets = (after["get run"] - before["get run"]) / intervals
    print(f"{WIDTH} deferred runs: {queries:.2f} queries and {gets:.2f} GETs per interval")
    # One query per tick for the whole factory (a second page or a late tick at most), where
    # one trigger per run would send 20 GETs per interval.
    assert 0.5 <= queries <= 2.5, queries
    assert gets <= 3.0, gets
    assert airflow.wait_for_dag_run(DAG_ID, run_id, timeout=240) == "success"
    assert all(r["status"] == "Succeeded" for r in runs_of(deployment_emulator, run_id))
