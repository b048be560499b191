"""AdfPipelineRunTrigger: argument checks, the outage budget, and a log of changes only."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from airflow_adf_trigger.core.errors import AdfConfigurationError, AdfServiceError
from airflow_adf_trigger.core.runs.models import PipelineRun, RunStatus
from airflow_adf_trigger.core.runs.outcome import OutcomeKind
from airflow_adf_trigger.triggers.adf import AdfPipelineRunTrigger
from tests.clock import FakeClock
from tests.unit.helpers import (
    RUN_ID,
    SECRET,
    adf_connection_json,
    make_settings,
)


class Client:
    settings = make_settings()


class Source:
    """Answers each look with the next step: a status, or an error (the clock moves 10 s)."""

    def __init__(self, clock: FakeClock, *steps: RunStatus | Exception) -> None:
        self.clock = clock
        self.steps = list(steps)
        self.looks = 0

    async def next_state(self, run_id: str, after: PipelineRun | None) -> PipelineRun:
        self.looks += 1
        self.clock.advance(10)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, Exception):
            raise step
        return PipelineRun(run_id=run_id, pipeline_name="copy_sales", status=step)


def trigger(**options: Any) -> AdfPipelineRunTrigger:
    return AdfPipelineRunTrigger(run_id=RUN_ID, **options)


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("poll_interval", 0),
        ("poll_interval", -1),
        ("poll_interval", float("nan")),
        ("poll_interval", float("inf")),
        ("end_time", float("nan")),
        ("end_time", -5),
        ("outage_budget", -1),
        ("outage_budget", float("inf")),
    ],
)
def test_a_bad_interval_deadline_or_budget_is_rejected_naming_it(argument: str, value: Any) -> None:
    with pytest.raises(AdfConfigurationError, match=f"^{argument}: "):
        trigger(**{argument: value})


def test_the_outage_budget_survives_serialization() -> None:
    classpath, kwargs = trigger(outage_budget=60, poll_interval=2).serialize()
    assert kwargs["outage_budget"] == 60
    again = AdfPipelineRunTrigger(**kwargs)
    assert again.serialize() == (classpath, kwargs)


def test_an_outage_longer_than_the_budget_ends_with_an_error_event() -> None:
    clock = FakeClock()
    source = Source(clock, RunStatus.IN_PROGRESS, AdfServiceError("HTTP 503", status=503))
    waiting = trigger(outage_budget=30)
    waiting.clock = clock
    outcome = asyncio.run(waiting.follow(Client(), source))
    assert outcome.kind is OutcomeKind.OUTAGE
    assert outcome.to_event()["status"] == "error"  # as earlier versions' operators expect
    assert f"Stopped waiting for run {RUN_ID}: Azure could not be read for 30 s" in outcome.message
    assert "The run itself was not touched" in outcome.message
    assert source.looks == 5  # one good look, then failures at 0, 10, 20 and 30 s of outage


def test_a_good_look_ends_the_outage() -> None:
    clock = FakeClock()
    error = AdfServiceError("HTTP 503", status=503)
    steps = [error, error, RunStatus.IN_PROGRESS, error, error, RunStatus.SUCCEEDED]
    waiting = trigger(outage_budget=25)
    waiting.clock = clock
    outcome = asyncio.run(waiting.follow(Client(), Source(clock, *steps)))
    assert outcome.kind is OutcomeKind.SUCCEEDED


def test_each_failed_look_logs_how_long_azure_has_been_unreachable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    error = AdfServiceError("HTTP 503", status=503)
    waiting = trigger(outage_budget=900)
    waiting.clock = clock
    with caplog.at_level(logging.WARNING):
        asyncio.run(waiting.follow(Client(), Source(clock, error, error, RunStatus.SUCCEEDED)))
    assert [r.getMessage() for r in caplog.records] == [
        f"Azure unreachable for 0 s (HTTP 503 (HTTP 503)); still waiting for run {RUN_ID}, "
        "giving up after 900 s",
        f"Azure unreachable for 10 s (HTTP 503 (HTTP 503)); still waiting for run {RUN_ID}, "
        "giving up after 900 s",
    ]


def test_only_status_changes_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    statuses = [RunStatus.QUEUED] * 3 + [RunStatus.IN_PROGRESS] * 4 + [RunStatus.SUCCEEDED]
    with caplog.at_level(logging.INFO, logger="airflow_adf_trigger.triggers.adf"):
        asyncio.run(trigger().follow(Client(), Source(clock, *statuses)))
    assert [r.getMessage() for r in caplog.records] == [
        f"Pipeline 'copy_sales' run {RUN_ID} is Queued",
        f"Pipeline 'copy_sales' run {RUN_ID} is InProgress",
    ]


def test_the_one_second_floor_against_azure_is_an_error_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_ADF_DEFAULT", adf_connection_json())

    async def first_event() -> dict[str, Any]:
        async for event in trigger(poll_interval=0.5).run():
            return dict(event.payload)
        raise AssertionError("no event")

    event = asyncio.run(first_event())
    assert event["status"] == "error"
    assert event["message"].startswith("poll_interval: 0.5 is below the 1 s floor")
    assert SECRET not in json.dumps(event)
