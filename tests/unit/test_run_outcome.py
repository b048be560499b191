"""RunOutcome: built once, written to the trigger event and read back, earlier events too."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_adf_trigger.core.errors import AdfError, AdfOutageError, AdfServiceError
from airflow_adf_trigger.core.runs.models import (
    ActivityError,
    ActivityRun,
    CancelResult,
    PipelineRun,
    RunStatus,
)
from airflow_adf_trigger.core.runs.outcome import (
    AdfEventError,
    OutcomeKind,
    RunOutcome,
    deadline_words,
    timeout_message,
)
from tests.unit.helpers import RUN_ID

URL = f"https://adf.azure.com/en-us/monitoring/pipelineruns/{RUN_ID}"
COPY_FAILED = ActivityRun(
    activity_run_id="a1",
    activity_name="Copy sales to lake",
    activity_type="Copy",
    status="Failed",
    pipeline_run_id=RUN_ID,
    error=ActivityError(code="2200", message="The required blob is missing"),
)


def pipeline_run(status: RunStatus, message: str = "") -> PipelineRun:
    return PipelineRun(
        run_id=RUN_ID, pipeline_name="copy_sales", status=status, message=message or None
    )


# ---------------------------------------------------------------- building


def test_a_failed_run_names_adfs_message_and_each_failed_activity() -> None:
    run = pipeline_run(RunStatus.FAILED, "Operation on target Copy sales to lake failed")
    outcome = RunOutcome.of_run(run, [COPY_FAILED], run_page_url=URL)
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


def test_succeeded_and_cancelled_runs() -> None:
    succeeded = RunOutcome.of_run(pipeline_run(RunStatus.SUCCEEDED))
    assert (succeeded.kind, succeeded.message) == (
        OutcomeKind.SUCCEEDED,
        f"Pipeline 'copy_sales' run {RUN_ID} succeeded",
    )
    assert succeeded.succeeded
    cancelled = RunOutcome.of_run(pipeline_run(RunStatus.CANCELLED))
    assert (cancelled.kind, cancelled.message) == (
        OutcomeKind.CANCELLED,
        f"Pipeline 'copy_sales' run {RUN_ID} ended Cancelled",
    )
    assert not cancelled.succeeded


@pytest.mark.parametrize("status", [RunStatus.QUEUED, RunStatus.IN_PROGRESS, RunStatus.CANCELING])
def test_a_run_still_going_has_no_outcome(status: RunStatus) -> None:
    with pytest.raises(ValueError, match=f"is {status.value}, not finished"):
        RunOutcome.of_run(pipeline_run(status))


@pytest.mark.parametrize(
    ("cancel", "then"),
    [
        (None, "the run was left running"),
        (
            CancelResult(RUN_ID, cancel_requested=True),
            f"cancel requested for run {RUN_ID} (child pipelines included)",
        ),
        (
            CancelResult(RUN_ID, cancel_requested=False, finished_status=RunStatus.SUCCEEDED),
            f"run {RUN_ID} already finished with status Succeeded (child pipelines included)",
        ),
        (
            AdfServiceError("ADF failed", status=503),
            "cancelling it failed: ADF failed (HTTP 503)",
        ),
    ],
)
def test_the_timeout_message_says_what_became_of_the_run(
    cancel: CancelResult | AdfError | None, then: str
) -> None:
    message = timeout_message(
        RUN_ID,
        limit="after the 600 s timeout",
        cancel=cancel,
        pipeline_name="copy_sales",
        status=RunStatus.IN_PROGRESS,
    )
    assert message == (
        f"Pipeline 'copy_sales' run {RUN_ID} was still InProgress after the 600 s timeout; {then}"
    )


def test_a_timeout_before_any_look_names_only_the_run() -> None:
    outcome = RunOutcome.timed_out(RUN_ID, limit=deadline_words(1_800_000_000.0), cancel=None)
    assert outcome.kind is OutcomeKind.TIMEOUT
    assert outcome.message == (
        f"Run {RUN_ID} had not finished at its deadline, 2027-01-15T08:00:00Z; "
        "the run was left running"
    )


def test_an_outage_says_the_run_was_not_touched_and_where_to_follow_it() -> None:
    error = AdfOutageError(RUN_ID, 900.4, AdfServiceError("busy", status=503))
    outcome = RunOutcome.outage(error, run_page_url=URL)
    assert outcome.kind is OutcomeKind.OUTAGE
    assert outcome.message == (
        f"Stopped waiting for run {RUN_ID}: Azure could not be read for 900 s (last error: busy "
        "(HTTP 503)). The run itself was not touched; it may still be going. Follow it in ADF "
        f"Studio: {URL}"
    )


# ---------------------------------------------------------------- the event, both ways

OUTCOMES = [
    RunOutcome.of_run(pipeline_run(RunStatus.FAILED, "broke"), [COPY_FAILED], run_page_url=URL),
    RunOutcome.of_run(pipeline_run(RunStatus.SUCCEEDED), run_page_url=URL),
    RunOutcome.of_run(pipeline_run(RunStatus.CANCELLED), run_page_url=URL),
    RunOutcome.timed_out(RUN_ID, limit="after 1 s", cancel=None, run_page_url=URL),
    RunOutcome.outage(AdfOutageError(RUN_ID, 60, AdfServiceError("busy")), run_page_url=URL),
    RunOutcome.error(RUN_ID, "poll_interval: 0.5 is below the 1 s floor"),
]


@pytest.mark.parametrize("outcome", OUTCOMES, ids=lambda o: o.kind.value)
def test_every_outcome_reads_back_from_its_event(outcome: RunOutcome) -> None:
    assert RunOutcome.from_event(outcome.to_event()) == outcome


def test_a_finished_runs_event_has_the_keys_earlier_versions_wrote() -> None:
    assert OUTCOMES[0].to_event() == {
        "status": "Failed",
        "run_id": RUN_ID,
        "message": OUTCOMES[0].message,
        "pipeline_name": "copy_sales",
        "failures": [
            "activity 'Copy sales to lake' (Copy) failed: [2200] The required blob is missing"
        ],
        "run_page_url": URL,
    }


def test_an_outage_is_an_error_event_that_says_outage_beside() -> None:
    event = OUTCOMES[4].to_event()
    assert event == {
        "status": "error",
        "reason": "outage",
        "run_id": RUN_ID,
        "message": OUTCOMES[4].message,
        "run_page_url": URL,
    }


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            {
                "status": "Succeeded",
                "run_id": RUN_ID,
                "message": f"Pipeline 'copy_sales' run {RUN_ID} succeeded",
                "pipeline_name": "copy_sales",
                "failures": [],
                "run_page_url": URL,
            },
            RunOutcome(
                OutcomeKind.SUCCEEDED,
                RUN_ID,
                f"Pipeline 'copy_sales' run {RUN_ID} succeeded",
                pipeline_name="copy_sales",
                run_page_url=URL,
            ),
        ),
        (
            {
                "status": "Failed",
                "run_id": RUN_ID,
                "message": f"Pipeline 'copy_sales' run {RUN_ID} ended Failed: broke\n  - x",
                "pipeline_name": "copy_sales",
                "failures": ["x"],
                "run_page_url": URL,
            },
            RunOutcome(
                OutcomeKind.FAILED,
                RUN_ID,
                f"Pipeline 'copy_sales' run {RUN_ID} ended Failed: broke\n  - x",
                pipeline_name="copy_sales",
                failures=("x",),
                run_page_url=URL,
            ),
        ),
        (
            {
                "status": "timeout",
                "run_id": RUN_ID,
                "message": f"Run {RUN_ID} did not finish before the deadline; the run was left "
                "running",
                "run_page_url": URL,
            },
            RunOutcome(
                OutcomeKind.TIMEOUT,
                RUN_ID,
                f"Run {RUN_ID} did not finish before the deadline; the run was left running",
                run_page_url=URL,
            ),
        ),
        (  # an earlier trigger's outage: an error it could not tell apart
            {
                "status": "error",
                "run_id": RUN_ID,
                "message": f"Stopped waiting for run {RUN_ID}: ...",
                "run_page_url": URL,
            },
            RunOutcome(
                OutcomeKind.ERROR,
                RUN_ID,
                f"Stopped waiting for run {RUN_ID}: ...",
                run_page_url=URL,
            ),
        ),
        (  # a bad connection, before any URL was known
            {"status": "error", "run_id": "not-a-guid", "message": "run_id: 'not-a-guid' is..."},
            RunOutcome(OutcomeKind.ERROR, "not-a-guid", "run_id: 'not-a-guid' is..."),
        ),
    ],
    ids=["succeeded", "failed", "timeout", "outage", "bad-connection"],
)
def test_events_of_the_earlier_shape_are_read(event: dict[str, Any], expected: RunOutcome) -> None:
    assert RunOutcome.from_event(event) == expected


def test_an_event_without_a_message_gets_one_and_unknown_keys_are_ignored() -> None:
    event = {"status": "Cancelled", "run_id": RUN_ID, "from_a_later_version": {"x": 1}}
    outcome = RunOutcome.from_event(event)
    assert outcome == RunOutcome(OutcomeKind.CANCELLED, RUN_ID, f"Run {RUN_ID} ended Cancelled")


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        (None, "expected a dict, got NoneType None"),
        ("Succeeded", "expected a dict, got str 'Succeeded'"),
        ({"run_id": RUN_ID}, "no status in an event with keys ['run_id']"),
        (
            {"status": None, "run_id": RUN_ID},
            "status None is not one of Cancelled, Failed, Succeeded, error, timeout",
        ),
        (
            {"status": "Succeded", "run_id": RUN_ID},
            "status 'Succeded' is not one of Cancelled, Failed, Succeeded, error, timeout",
        ),
        (
            {"status": "InProgress", "run_id": RUN_ID},
            "status 'InProgress' is not one of Cancelled, Failed, Succeeded, error, timeout",
        ),
        (
            {"status": "outage", "run_id": RUN_ID},
            "status 'outage' is not one of Cancelled, Failed, Succeeded, error, timeout",
        ),
        (
            {"status": 1, "run_id": RUN_ID},
            "status 1 is not one of Cancelled, Failed, Succeeded, error, timeout",
        ),
        ({"status": "Succeeded"}, "a 'Succeeded' event without a run id (run_id=None)"),
        ({"status": "Failed", "run_id": " "}, "a 'Failed' event without a run id (run_id=' ')"),
        ({"status": "Failed", "run_id": 7}, "a 'Failed' event without a run id (run_id=7)"),
        (
            {"status": "Failed", "run_id": RUN_ID, "message": ["x"]},
            f"message ['x'] of run {RUN_ID} is not text",
        ),
        (
            {"status": "Failed", "run_id": RUN_ID, "failures": "x"},
            f"failures of run {RUN_ID} are not a list: 'x'",
        ),
        (
            {"status": "Failed", "run_id": RUN_ID, "failures": [{"activity": "x"}]},
            f"failures of run {RUN_ID} are not a list of text",
        ),
        (
            {"status": "Failed", "run_id": RUN_ID, "pipeline_name": 3},
            f"pipeline_name of run {RUN_ID} is not text: 3",
        ),
        (
            {"status": "error", "run_id": RUN_ID, "run_page_url": ["u"]},
            f"run_page_url of run {RUN_ID} is not text: ['u']",
        ),
    ],
)
def test_a_malformed_event_is_refused_naming_what_is_wrong(event: Any, problem: str) -> None:
    with pytest.raises(AdfEventError) as caught:
        RunOutcome.from_event(event)
    assert str(caught.value) == f"The trigger's event cannot be read: {problem}"
    assert isinstance(caught.value, AdfError) and isinstance(caught.value, ValueError)


def test_outcome_kinds_split_the_runs_end_from_the_waits() -> None:
    assert {kind for kind in OutcomeKind if kind.is_run_end} == {
        OutcomeKind.SUCCEEDED,
        OutcomeKind.FAILED,
        OutcomeKind.CANCELLED,
    }
    assert [kind.event_status for kind in OutcomeKind] == [
        "Succeeded",
        "Failed",
        "Cancelled",
        "timeout",
        "error",
        "error",
    ]
