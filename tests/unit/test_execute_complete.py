"""Back from the triggerer: every outcome through the operator's and both sensors'
``execute_complete``, events of the earlier shape, and events that are not outcomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_adf_trigger.compat import AirflowException, AirflowFailException, TaskDeferred
from airflow_adf_trigger.core.runs.models import PipelineRun, RunQuery, RunStatus
from airflow_adf_trigger.hooks.adf import AdfHook
from airflow_adf_trigger.operators.adf import AdfRunPipelineOperator
from airflow_adf_trigger.sensors.adf import AdfPipelineRunSensor
from airflow_adf_trigger.sensors.latest import AdfLatestPipelineRunSensor
from tests.unit.helpers import RUN_ID, make_settings

NEWER_RUN = "7d4c1e2a-0b3f-4e5d-8a9b-1c2d3e4f5a6b"
URL = f"https://adf.azure.com/en-us/monitoring/pipelineruns/{RUN_ID}"
NOT_TOUCHED = (
    f"Stopped waiting for run {RUN_ID}: Azure could not be read for 900 s (last error: busy). "
    f"The run itself was not touched; it may still be going. Follow it in ADF Studio: {URL}"
)

EVENTS: dict[str, dict[str, Any]] = {
    "Succeeded": {
        "status": "Succeeded",
        "run_id": RUN_ID,
        "message": f"Pipeline 'copy_sales' run {RUN_ID} succeeded",
        "pipeline_name": "copy_sales",
        "failures": [],
        "run_page_url": URL,
    },
    "Failed": {
        "status": "Failed",
        "run_id": RUN_ID,
        "message": f"Pipeline 'copy_sales' run {RUN_ID} ended Failed: broke\n  - activity ...",
        "pipeline_name": "copy_sales",
        "failures": ["activity ..."],
        "run_page_url": URL,
    },
    "Cancelled": {
        "status": "Cancelled",
        "run_id": RUN_ID,
        "message": f"Pipeline 'copy_sales' run {RUN_ID} ended Cancelled",
        "pipeline_name": "copy_sales",
        "failures": [],
        "run_page_url": URL,
    },
    "timeout": {
        "status": "timeout",
        "run_id": RUN_ID,
        "message": f"Run {RUN_ID} had not finished at its deadline; cancel requested",
        "run_page_url": URL,
    },
    "error": {
        "status": "error",
        "run_id": RUN_ID,
        "message": "no role on the factory (HTTP 403)",
        "run_page_url": URL,
    },
    "outage": {
        "status": "error",
        "reason": "outage",
        "run_id": RUN_ID,
        "message": NOT_TOUCHED,
        "run_page_url": URL,
    },
    "earlier outage": {  # an earlier trigger's: it did not tell an outage apart
        "status": "error",
        "run_id": RUN_ID,
        "message": NOT_TOUCHED,
        "run_page_url": URL,
    },
}
MALFORMED: list[tuple[Any, str]] = [
    ({"status": "Succeeded"}, "a 'Succeeded' event without a run id (run_id=None)"),
    (
        {"status": "Succeded", "run_id": RUN_ID},
        "status 'Succeded' is not one of Cancelled, Failed, Succeeded, error, timeout",
    ),
    (None, "expected a dict, got NoneType None"),
]


class Client:
    def __init__(self, *runs: PipelineRun) -> None:
        self.runs = list(runs)
        self.queries: list[RunQuery] = []

    def query_pipeline_runs(self, query: RunQuery) -> list[PipelineRun]:
        self.queries.append(query)
        return self.runs


class Hook(AdfHook):
    """The real hook over a stub client and settings (no connection is read)."""

    def __init__(self, client: Client) -> None:
        super().__init__()
        self.__dict__["client"] = client
        self.__dict__["settings"] = make_settings(
            authority_host="http://127.0.0.1:9", management_endpoint="http://127.0.0.1:9"
        )


class TI:
    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def failure(call: Any) -> BaseException:
    with pytest.raises(AirflowException) as caught:
        call()
    return caught.value


# ---------------------------------------------------------------- the operator


def operator() -> AdfRunPipelineOperator:
    return AdfRunPipelineOperator(
        task_id="trigger", pipeline_name="copy_sales", wait_for_termination=True, deferrable=True
    )


def test_the_operator_returns_the_run_id_of_a_succeeded_run() -> None:
    task = operator()
    assert task.execute_complete({}, EVENTS["Succeeded"]) == RUN_ID  # type: ignore[arg-type]
    assert task.run_id == RUN_ID


@pytest.mark.parametrize("status", ["Failed", "Cancelled", "timeout", "error", "earlier outage"])
def test_the_operator_fails_the_try_with_the_outcomes_message(status: str) -> None:
    """Retries stay possible: a retry starts a new run after a finished one, or reattaches."""
    task = operator()
    error = failure(lambda: task.execute_complete({}, EVENTS[status]))  # type: ignore[arg-type]
    assert not isinstance(error, AirflowFailException)
    assert str(error) == EVENTS[status]["message"]
    assert task.run_id == RUN_ID


def test_after_an_outage_the_operator_says_a_retry_reattaches() -> None:
    task = operator()
    error = failure(lambda: task.execute_complete({}, EVENTS["outage"]))  # type: ignore[arg-type]
    assert str(error) == f"{NOT_TOUCHED}; a retry of this task reattaches to run {RUN_ID}."


@pytest.mark.parametrize(("event", "problem"), MALFORMED)
def test_the_operator_refuses_an_event_that_is_not_an_outcome(event: Any, problem: str) -> None:
    task = operator()
    error = failure(lambda: task.execute_complete({}, event))  # type: ignore[arg-type]
    assert not isinstance(error, AirflowFailException)  # a retry looks at the run afresh
    assert str(error) == f"The trigger's event cannot be read: {problem}"
    assert task.run_id is None


# ---------------------------------------------------------------- the run sensor


def sensor(**options: Any) -> AdfPipelineRunSensor:
    return AdfPipelineRunSensor(task_id="wait", run_id=RUN_ID, deferrable=True, **options)


def test_the_sensor_succeeds_on_a_succeeded_run() -> None:
    assert sensor().execute_complete({}, EVENTS["Succeeded"]) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "retried"),
    [
        ("Failed", False),  # as poke: a finished run cannot change
        ("Cancelled", False),
        ("timeout", True),
        ("error", True),  # a bad connection may be fixed before the retry
        ("outage", True),
        ("earlier outage", True),
    ],
)
def test_the_sensor_fails_a_finished_run_for_good_and_anything_else_for_a_retry(
    status: str, retried: bool
) -> None:
    error = failure(lambda: sensor().execute_complete({}, EVENTS[status]))  # type: ignore[arg-type]
    assert isinstance(error, AirflowFailException) is not retried
    assert str(error) == EVENTS[status]["message"]


@pytest.mark.parametrize(("event", "problem"), MALFORMED)
def test_the_sensor_refuses_an_event_that_is_not_an_outcome(event: Any, problem: str) -> None:
    error = failure(lambda: sensor().execute_complete({}, event))  # type: ignore[arg-type]
    assert not isinstance(error, AirflowFailException)
    assert str(error) == f"The trigger's event cannot be read: {problem}"


@pytest.mark.parametrize("status", ["Failed", "Cancelled", "outage"])
def test_soft_fail_turns_a_deferred_failure_into_a_skip(status: str) -> None:
    task = sensor(soft_fail=True)
    with pytest.raises(Exception) as caught:
        task.resume_execution("execute_complete", {"event": EVENTS[status]}, {})  # type: ignore[arg-type]
    assert type(caught.value).__name__ == "AirflowSkipException"


def test_without_soft_fail_the_deferred_failure_stays_a_failure() -> None:
    with pytest.raises(AirflowFailException, match="ended Failed: broke"):
        sensor().resume_execution("execute_complete", {"event": EVENTS["Failed"]}, {})  # type: ignore[arg-type]


# ---------------------------------------------------------------- the latest-run sensor


def pipeline_run(run_id: str, status: RunStatus) -> PipelineRun:
    return PipelineRun(
        run_id=run_id,
        pipeline_name="copy_sales",
        status=status,
        run_start=datetime.now(UTC) - timedelta(minutes=5),
    )


def latest(*runs: PipelineRun) -> tuple[AdfLatestPipelineRunSensor, Client]:
    task = AdfLatestPipelineRunSensor(
        task_id="latest", pipeline_name="copy_sales", deferrable=True, poke_interval=5
    )
    client = Client(*runs)
    task.__dict__["hook"] = Hook(client)
    return task, client


@pytest.mark.parametrize("status", ["Succeeded", "Failed", "Cancelled"])
def test_after_the_watched_run_ended_the_latest_sensor_looks_again(status: str) -> None:
    """A newer run may have started meanwhile: it is the one that counts."""
    task, client = latest(pipeline_run(NEWER_RUN, RunStatus.SUCCEEDED))
    context: dict[str, Any] = {"ti": TI()}
    assert task.execute_complete(context, EVENTS[status]) is None  # type: ignore[arg-type]
    assert len(client.queries) == 1
    assert context["ti"].xcom == {"run_id": NEWER_RUN}


def test_a_newer_run_still_going_is_followed_next() -> None:
    task, _ = latest(pipeline_run(NEWER_RUN, RunStatus.IN_PROGRESS))
    with pytest.raises(TaskDeferred) as deferred:
        task.execute_complete({"ti": TI()}, EVENTS["Failed"])  # type: ignore[arg-type]
    assert deferred.value.trigger.run_id == NEWER_RUN
    assert deferred.value.method_name == "execute_complete"


@pytest.mark.parametrize("status", ["timeout", "error", "outage", "earlier outage"])
def test_the_latest_sensor_fails_the_try_when_the_wait_did_not_reach_the_runs_end(
    status: str,
) -> None:
    task, client = latest(pipeline_run(NEWER_RUN, RunStatus.SUCCEEDED))
    error = failure(lambda: task.execute_complete({"ti": TI()}, EVENTS[status]))  # type: ignore[arg-type]
    assert not isinstance(error, AirflowFailException)
    assert str(error) == EVENTS[status]["message"]
    assert client.queries == []


@pytest.mark.parametrize(("event", "problem"), MALFORMED[:2])
def test_the_latest_sensor_refuses_a_dict_that_is_not_an_outcome(event: Any, problem: str) -> None:
    task, client = latest(pipeline_run(NEWER_RUN, RunStatus.SUCCEEDED))
    error = failure(lambda: task.execute_complete({"ti": TI()}, event))  # type: ignore[arg-type]
    assert str(error) == f"The trigger's event cannot be read: {problem}"
    assert client.queries == []


@pytest.mark.parametrize("event", [None, datetime(2027, 1, 15, 8, 0, tzinfo=UTC)])
def test_the_time_delta_triggers_event_only_means_look_again(event: Any) -> None:
    task, client = latest(pipeline_run(NEWER_RUN, RunStatus.SUCCEEDED))
    assert task.execute_complete({"ti": TI()}, event) is None  # type: ignore[arg-type]
    assert len(client.queries) == 1
