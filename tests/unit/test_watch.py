"""RunWatch: the one set of rules for waiting on a run (core/runs/watch.py)."""

from __future__ import annotations

from airflow_adf_trigger.core.errors import (
    AdfAuthenticationError,
    AdfConnectionError,
    AdfOutageError,
)
from airflow_adf_trigger.core.runs.models import PipelineRun, RunStatus
from airflow_adf_trigger.core.runs.watch import Ending, RunWatch

RUN = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def reading(status: RunStatus) -> PipelineRun:
    return PipelineRun(run_id=RUN, pipeline_name="copy_sales", status=status)


def watch(**options: float | None) -> RunWatch:
    return RunWatch(RUN, interval=10, started=100.0, **options)  # type: ignore[arg-type]


def test_a_run_still_going_is_looked_at_again_after_the_interval() -> None:
    step = watch().seen(reading(RunStatus.IN_PROGRESS), 100.0)
    assert (step.stop, step.pause, step.changed) == (None, 10, True)


def test_only_a_new_status_counts_as_a_change() -> None:
    waiting = watch()
    waiting.seen(reading(RunStatus.QUEUED), 100.0)
    assert not waiting.seen(reading(RunStatus.QUEUED), 110.0).changed
    assert waiting.seen(reading(RunStatus.IN_PROGRESS), 120.0).changed


def test_an_end_state_stops_the_watch() -> None:
    for status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED):
        assert watch().seen(reading(status), 100.0).stop is Ending.ENDED


def test_the_last_pause_is_cut_to_the_deadline() -> None:
    waiting = watch(timeout=25)
    assert waiting.seen(reading(RunStatus.IN_PROGRESS), 120.0).pause == 5
    assert waiting.seen(reading(RunStatus.IN_PROGRESS), 125.0).stop is Ending.DEADLINE
    assert waiting.remaining(130.0) == 0


def test_transient_errors_are_waited_out_until_the_outage_budget() -> None:
    waiting = watch(outage_budget=30)
    down = AdfConnectionError("connection refused")
    first = waiting.failed(down, 100.0)
    assert (first.stop, first.outage_for, first.pause) == (None, 0, 10)
    assert waiting.failed(down, 120.0).outage_for == 20
    last = waiting.failed(down, 130.0)
    assert last.stop is Ending.OUTAGE
    outage = waiting.outage(130.0)
    assert isinstance(outage, AdfOutageError) and RUN in str(outage)


def test_a_reading_ends_the_outage() -> None:
    waiting = watch(outage_budget=30)
    down = AdfConnectionError("reset")
    waiting.failed(down, 100.0)
    waiting.seen(reading(RunStatus.IN_PROGRESS), 125.0)
    assert waiting.failed(down, 140.0).outage_for == 0


def test_an_outage_at_the_deadline_stops_the_watch() -> None:
    waiting = watch(timeout=15, outage_budget=900)
    assert waiting.failed(AdfConnectionError("reset"), 115.0).stop is Ending.OUTAGE


def test_an_error_waiting_cannot_heal_stops_at_once() -> None:
    refused = AdfAuthenticationError("AADSTS7000215: invalid client secret")
    step = watch().failed(refused, 100.0)
    assert step.stop is Ending.ERROR and step.error is refused
