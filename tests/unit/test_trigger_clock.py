"""AdfPipelineRunTrigger on a fake clock: the direct poller's pacing, the deadline, the end."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from airflow_adf_trigger.core.errors import AdfAuthorizationError, AdfServiceError
from airflow_adf_trigger.core.runs.models import (
    ActivityError,
    ActivityRun,
    CancelResult,
    PipelineRun,
    RunStatus,
)
from airflow_adf_trigger.core.runs.outcome import OutcomeKind, RunOutcome
from airflow_adf_trigger.triggers.adf import AdfPipelineRunTrigger, DirectRunStatus
from tests.clock import FakeClock
from tests.unit.helpers import RUN_ID, SUBSCRIPTION, make_settings

START = 1_800_000_000.0  # 2027-01-15T08:00:00Z
URL = (
    f"https://adf.azure.com/en-us/monitoring/pipelineruns/{RUN_ID}?factory=/subscriptions/"
    f"{SUBSCRIPTION}/resourceGroups/rg-analytics/providers/Microsoft.DataFactory/factories/"
    "adf-demo"
)
FAILED_COPY = ActivityRun(
    activity_run_id="a1",
    activity_name="Copy sales to lake",
    activity_type="Copy",
    status="Failed",
    pipeline_run_id=RUN_ID,
    error=ActivityError(code="2200", message="The required blob is missing"),
)


class Client:
    """An async client whose every GET takes ``read_seconds`` of the fake clock."""

    settings = make_settings()

    def __init__(
        self,
        clock: FakeClock,
        *statuses: RunStatus,
        read_seconds: float = 0.0,
        cancel_error: Exception | None = None,
        failures_error: Exception | None = None,
    ) -> None:
        self.clock = clock
        self.statuses = list(statuses)
        self.read_seconds = read_seconds
        self.cancel_error = cancel_error
        self.failures_error = failures_error
        self.reads: list[float] = []
        self.cancels: list[tuple[str, bool]] = []

    async def get_run(self, run_id: str) -> PipelineRun:
        self.reads.append(self.clock.now - START)
        self.clock.advance(self.read_seconds)
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        message = "Operation on target Copy sales to lake failed" if status == "Failed" else None
        return PipelineRun(
            run_id=run_id, pipeline_name="copy_sales", status=status, message=message
        )

    async def cancel_run(self, run_id: str, *, is_recursive: bool) -> CancelResult:
        self.cancels.append((run_id, is_recursive))
        if self.cancel_error is not None:
            raise self.cancel_error
        return CancelResult(run_id, cancel_requested=True)

    async def failure_details(self, run: PipelineRun) -> list[ActivityRun]:
        if self.failures_error is not None:
            raise self.failures_error
        return [FAILED_COPY]


def fake_sleep(clock: FakeClock) -> Any:
    async def sleep(seconds: float) -> None:
        clock.sleep(seconds)

    return sleep


def direct(client: Client, clock: FakeClock, interval: float = 15.0) -> DirectRunStatus:
    return DirectRunStatus(client, interval, clock=clock, sleep=fake_sleep(clock))


def follow(trigger: AdfPipelineRunTrigger, client: Client, clock: FakeClock) -> RunOutcome:
    trigger.clock = trigger.wall_clock = clock
    trigger.sleep = fake_sleep(clock)
    return asyncio.run(trigger.follow(client, direct(client, clock, trigger.poll_interval)))


# ---------------------------------------------------------------- the direct poller


def test_the_first_look_is_at_once_and_each_next_one_a_full_interval_after_the_last() -> None:
    clock = FakeClock(START)
    client = Client(clock, RunStatus.QUEUED, read_seconds=2)
    source = direct(client, clock)

    async def three_looks() -> None:
        for _ in range(3):
            await source.next_state(RUN_ID, None)

    asyncio.run(three_looks())
    assert clock.sleeps == [0.0, 13.0, 13.0]  # a 2 s answer does not stretch the interval
    assert client.reads == [0.0, 15.0, 30.0]


def test_an_answer_slower_than_the_interval_is_followed_at_once() -> None:
    clock = FakeClock(START)
    client = Client(clock, RunStatus.QUEUED, read_seconds=20)
    source = direct(client, clock)

    async def two_looks() -> None:
        await source.next_state(RUN_ID, None)
        await source.next_state(RUN_ID, None)

    asyncio.run(two_looks())
    assert clock.sleeps == [0.0, 0.0]
    assert client.reads == [0.0, 20.0]


# ---------------------------------------------------------------- the deadline


def test_the_deadline_cancels_the_run_recursively_and_says_so() -> None:
    clock = FakeClock(START)
    client = Client(clock, RunStatus.QUEUED, RunStatus.IN_PROGRESS)
    trigger = AdfPipelineRunTrigger(
        run_id=RUN_ID, poll_interval=10, end_time=START + 20, cancel_on_timeout=True
    )
    outcome = follow(trigger, client, clock)
    # The look due at the deadline is made; none after it. (A deadline that falls inside a
    # look's wait cuts it short through asyncio.wait_for, on the event loop's own clock: that
    # case runs against the emulator, in real time.)
    assert client.reads == [0.0, 10.0, 20.0]
    assert client.cancels == [(RUN_ID, True)]
    assert outcome == RunOutcome(
        kind=OutcomeKind.TIMEOUT,
        run_id=RUN_ID,
        message=(
            f"Pipeline 'copy_sales' run {RUN_ID} was still InProgress at its deadline, "
            f"2027-01-15T08:00:20Z; cancel requested for run {RUN_ID} (child pipelines included)"
        ),
        pipeline_name="copy_sales",
        run_page_url=URL,
    )
    assert outcome.to_event()["status"] == "timeout"


def test_without_cancel_on_timeout_the_run_is_left_running() -> None:
    clock = FakeClock(START)
    client = Client(clock, RunStatus.IN_PROGRESS)
    trigger = AdfPipelineRunTrigger(run_id=RUN_ID, poll_interval=10, end_time=START + 5)
    outcome = follow(trigger, client, clock)
    assert client.cancels == []
    assert outcome.message == (
        f"Pipeline 'copy_sales' run {RUN_ID} was still InProgress at its deadline, "
        "2027-01-15T08:00:05Z; the run was left running"
    )


def test_a_failed_cancel_is_reported_not_raised() -> None:
    clock = FakeClock(START)
    client = Client(clock, RunStatus.IN_PROGRESS, cancel_error=AdfServiceError("down", status=503))
    trigger = AdfPipelineRunTrigger(
        run_id=RUN_ID, poll_interval=10, end_time=START + 5, cancel_on_timeout=True
    )
    outcome = follow(trigger, client, clock)
    assert outcome.kind is OutcomeKind.TIMEOUT
    assert outcome.message.endswith("; cancelling it failed: down (HTTP 503)")


def test_a_deadline_already_past_looks_at_nothing_and_names_the_known_pipeline() -> None:
    clock = FakeClock(START)
    client = Client(clock, RunStatus.IN_PROGRESS)
    trigger = AdfPipelineRunTrigger(
        run_id=RUN_ID, end_time=START - 1, cancel_on_timeout=True, pipeline_name="copy_sales"
    )
    outcome = follow(trigger, client, clock)
    assert client.reads == []
    assert outcome.message == (
        f"Pipeline 'copy_sales' run {RUN_ID} had not finished at its deadline, "
        f"2027-01-15T07:59:59Z; cancel requested for run {RUN_ID} (child pipelines included)"
    )


# ---------------------------------------------------------------- the end


def test_a_failed_run_ends_with_each_failed_activity() -> None:
    clock = FakeClock(START)
    client = Client(clock, RunStatus.IN_PROGRESS, RunStatus.FAILED)
    outcome = follow(AdfPipelineRunTrigger(run_id=RUN_ID, poll_interval=10), client, clock)
    assert outcome == RunOutcome(
        kind=OutcomeKind.FAILED,
        run_id=RUN_ID,
        message=(
            f"Pipeline 'copy_sales' run {RUN_ID} ended Failed: Operation on target Copy sales "
            "to lake failed\n"
            "  - activity 'Copy sales to lake' (Copy) failed: [2200] The required blob is missing"
        ),
        pipeline_name="copy_sales",
        failures=(
            "activity 'Copy sales to lake' (Copy) failed: [2200] The required blob is missing",
        ),
        run_page_url=URL,
    )
    assert client.reads == [0.0, 10.0]


def test_a_failed_run_whose_activities_cannot_be_read_ends_with_adfs_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(START)
    client = Client(clock, RunStatus.FAILED, failures_error=AdfServiceError("busy", status=503))
    with caplog.at_level(logging.WARNING, logger="airflow_adf_trigger.triggers.adf"):
        outcome = follow(AdfPipelineRunTrigger(run_id=RUN_ID), client, clock)
    assert outcome.message == (
        f"Pipeline 'copy_sales' run {RUN_ID} ended Failed: Operation on target Copy sales to "
        "lake failed"
    )
    assert outcome.failures == ()
    assert [r.getMessage() for r in caplog.records] == [
        f"Could not read the failed activities of run {RUN_ID}: busy (HTTP 503)"
    ]


def test_an_error_that_waiting_will_not_heal_ends_at_once() -> None:
    clock = FakeClock(START)

    class Refused(Client):
        async def get_run(self, run_id: str) -> PipelineRun:
            raise AdfAuthorizationError("no role on the factory", status=403)

    outcome = follow(AdfPipelineRunTrigger(run_id=RUN_ID), Refused(clock, RunStatus.QUEUED), clock)
    assert outcome == RunOutcome(
        OutcomeKind.ERROR, RUN_ID, "no role on the factory (HTTP 403)", run_page_url=URL
    )
