"""AdfRunPipelineOperator with a stub client: unknown create-run outcomes, arguments, waits."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_adf_trigger.compat import AirflowException, AirflowFailException
from airflow_adf_trigger.core.errors import (
    AdfBadRequestError,
    AdfConfigurationError,
    AdfConnectionError,
    AdfOutageError,
    AdfRunOutcomeUnknownError,
    AdfServiceError,
    AdfWaitTimeoutError,
)
from airflow_adf_trigger.core.runs.models import (
    ActivityError,
    ActivityRun,
    CancelResult,
    PipelineRun,
    RunChanges,
    RunQuery,
    RunStatus,
)
from airflow_adf_trigger.core.runs.outcome import RunOutcome
from airflow_adf_trigger.core.runs.reconcile import CreateAttempt, PipelineDeclaration, ServerClock
from airflow_adf_trigger.core.runs.start import ATTEMPT_KEY
from airflow_adf_trigger.hooks.adf import AdfHook
from airflow_adf_trigger.operators.adf import AdfRunPipelineOperator
from tests.unit.helpers import make_settings

RUN_A = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
RUN_B = "7d4c1e2a-0b3f-4e5d-8a9b-1c2d3e4f5a6b"
NEW_RUN = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
KEY = AdfRunPipelineOperator.external_id_key


class Store(dict[str, Any]):
    """The task state store's interface over a dict."""

    def set(self, key: str, value: Any) -> None:
        self[key] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)


@dataclass
class StubClient:
    store: Store
    create_error: Exception | None = None
    listed: list[PipelineRun] = field(default_factory=list)
    runs: dict[str, PipelineRun] = field(default_factory=dict)
    created: list[dict[str, Any]] = field(default_factory=list)
    attempt_when_sent: Any = None
    queries: list[RunQuery] = field(default_factory=list)
    wait_error: Exception | None = None
    wait_kwargs: dict[str, Any] = field(default_factory=dict)
    final_status: RunStatus = RunStatus.SUCCEEDED
    failed_activities: list[ActivityRun] = field(default_factory=list)
    cancel_error: Exception | None = None
    cancels: list[tuple[str, bool]] = field(default_factory=list)

    def create_run(self, pipeline_name: str, parameters: Any, **options: Any) -> str:
        self.attempt_when_sent = self.store.get(ATTEMPT_KEY)
        self.created.append({"pipeline": pipeline_name, "parameters": parameters, **options})
        if self.create_error is not None:
            raise self.create_error
        return NEW_RUN

    declared: dict[str, str] = field(default_factory=lambda: {"n": "Int"})
    pipeline_reads: int = 0
    settings: Any = field(default_factory=make_settings)

    def now(self) -> float:
        return time.time()

    def read_pipeline(self, pipeline_name: str) -> PipelineDeclaration:
        self.pipeline_reads += 1
        moment = time.time()
        date = datetime.fromtimestamp(int(moment), UTC)
        return PipelineDeclaration(
            pipeline_name, dict(self.declared), {}, ServerClock(date, moment - 0.1, moment)
        )

    def query_run_changes(self, query: RunQuery) -> RunChanges:
        self.queries.append(query)
        # An answer from well past any window: one look decides.
        return RunChanges(tuple(self.listed), datetime.now(UTC) + timedelta(hours=1))

    def get_run(self, run_id: str) -> PipelineRun:
        listed = {listed.run_id: listed for listed in self.listed}
        return self.runs[run_id] if run_id in self.runs else listed[run_id]

    def wait_for_run(self, run_id: str, **kwargs: Any) -> PipelineRun:
        self.wait_kwargs = kwargs
        if isinstance(self.wait_error, AdfOutageError):
            kwargs["on_outage"](AdfConnectionError("connection refused"), 40.0)
        if self.wait_error is not None:
            raise self.wait_error
        return run(run_id, status=self.final_status)

    def cancel_run(self, run_id: str, *, is_recursive: bool) -> CancelResult:
        self.cancels.append((run_id, is_recursive))
        if self.cancel_error is not None:
            raise self.cancel_error
        return CancelResult(run_id, cancel_requested=True)

    def failure_details(self, run: PipelineRun) -> list[ActivityRun]:
        return self.failed_activities


class StubHook(AdfHook):
    """The real hook over a stub client and settings (no connection is read)."""

    def __init__(self, client: StubClient, *, local: bool = True) -> None:
        super().__init__()
        local_endpoints = {
            "authority_host": "http://127.0.0.1:9",
            "management_endpoint": "http://127.0.0.1:9",
        }
        self.__dict__["client"] = client
        self.__dict__["settings"] = make_settings(**(local_endpoints if local else {}))

    def monitoring_url(self, run_id: str | None = None) -> str:
        return f"https://adf.example/{run_id}"


class TI:
    stats_tags: dict[str, str] = {}  # noqa: RUF012

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def run(
    run_id: str = RUN_A,
    *,
    status: RunStatus = RunStatus.IN_PROGRESS,
    parameters: dict[str, str] | None = None,
    start: datetime | None = None,
) -> PipelineRun:
    return PipelineRun(
        run_id=run_id,
        pipeline_name="copy_sales",
        status=status,
        parameters={"n": "5"} if parameters is None else parameters,
        run_start=start or datetime.now(UTC) - timedelta(seconds=20),
    )


def lost_attempt(**changes: Any) -> dict[str, Any]:
    """The record of a create-run sent 30 s ago (Azure's clock = the worker's here)."""
    sent = time.time() - 30
    date = datetime.fromtimestamp(int(sent), UTC)
    pipeline = PipelineDeclaration("copy_sales", {"n": "Int"}, {}, ServerClock(date, sent, sent))
    attempt = CreateAttempt.prepare(
        "copy_sales", {"n": 5}, sent_at=sent, budget=150, pipeline=pipeline, **changes
    )
    return attempt.gave_up(sent + 15).to_json()


def operator(client: StubClient, *, local: bool = True, **options: Any) -> AdfRunPipelineOperator:
    options.setdefault("reconcile_search_timeout", 0)
    task = AdfRunPipelineOperator(
        task_id="trigger", pipeline_name="copy_sales", parameters={"n": 5}, **options
    )
    task.__dict__["hook"] = StubHook(client, local=local)
    return task


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def context(store: Store) -> dict[str, Any]:
    return {"ti": TI(), "task_state_store": store}


class TestFirstTry:
    def test_the_attempt_is_recorded_before_sending_and_removed_once_the_run_exists(
        self, store: Store, context: dict[str, Any]
    ) -> None:
        client = StubClient(store)
        assert operator(client).execute(context) == NEW_RUN  # type: ignore[arg-type]
        sent = CreateAttempt.from_json(client.attempt_when_sent)
        assert sent.pipeline_name == "copy_sales" and sent.on_azure_clock
        assert client.pipeline_reads == 1
        assert ATTEMPT_KEY not in store
        assert store[KEY] == NEW_RUN
        assert context["ti"].xcom["run_id"] == NEW_RUN

    def test_an_unknown_outcome_keeps_the_attempt_with_when_it_gave_up(
        self, store: Store, context: dict[str, Any], capfd: pytest.CaptureFixture[str]
    ) -> None:
        sent = datetime.now(UTC)
        gave_up = sent + timedelta(seconds=31)
        lost = AdfRunOutcomeUnknownError("copy_sales", sent, gave_up, "connection reset")
        client = StubClient(store, create_error=lost)
        with pytest.raises(AdfRunOutcomeUnknownError):
            operator(client).execute(context)  # type: ignore[arg-type]
        window_end = CreateAttempt.from_json(store[ATTEMPT_KEY]).window_end
        # Closed at the give-up (Azure's clock, 1 s of Date resolution) plus the 30 s margin.
        assert gave_up + timedelta(seconds=30) <= window_end
        assert window_end <= gave_up + timedelta(seconds=32)
        assert KEY not in store
        assert "the retry will first look for pipeline 'copy_sales' (a run started between" in (
            capfd.readouterr().out
        )

    def test_a_refused_create_run_removes_the_attempt(
        self, store: Store, context: dict[str, Any]
    ) -> None:
        refused = AdfBadRequestError("unknown parameter n", status=400)
        client = StubClient(store, create_error=refused)
        with pytest.raises(AdfBadRequestError):
            operator(client).execute(context)  # type: ignore[arg-type]
        assert ATTEMPT_KEY not in store

    def test_an_unexpected_crash_mid_request_keeps_the_attempt(
        self, store: Store, context: dict[str, Any]
    ) -> None:
        client = StubClient(store, create_error=KeyboardInterrupt())
        before = datetime.now(UTC)
        with pytest.raises(KeyboardInterrupt):
            operator(client).execute(context)  # type: ignore[arg-type]
        # The window is closed already: the request's whole retry budget (120 s + 30 s
        # request timeout) and the margin, not "until the next try".
        window_end = CreateAttempt.from_json(store[ATTEMPT_KEY]).window_end
        assert window_end <= before + timedelta(seconds=150 + 30 + 3)

    def test_no_attempt_is_recorded_when_reconciling_is_off(
        self, store: Store, context: dict[str, Any]
    ) -> None:
        client = StubClient(store)
        operator(client, reconcile_unknown_outcome=False).execute(context)  # type: ignore[arg-type]
        assert client.attempt_when_sent is None
        assert client.pipeline_reads == 0


class TestRetryAfterAnUnknownOutcome:
    def test_one_matching_run_is_adopted_and_nothing_is_created(
        self, store: Store, context: dict[str, Any], capfd: pytest.CaptureFixture[str]
    ) -> None:
        store[ATTEMPT_KEY] = lost_attempt()
        client = StubClient(store, listed=[run(RUN_A)])
        assert operator(client).execute(context) == RUN_A  # type: ignore[arg-type]
        assert client.created == []
        assert store[KEY] == RUN_A and ATTEMPT_KEY not in store
        assert context["ti"].xcom["run_id"] == RUN_A
        assert f"Found the run the earlier try started: pipeline 'copy_sales' run {RUN_A}" in (
            capfd.readouterr().out
        )

    def test_an_adopted_run_is_followed_to_its_end(
        self, store: Store, context: dict[str, Any]
    ) -> None:
        store[ATTEMPT_KEY] = lost_attempt()
        client = StubClient(store, listed=[run(RUN_A)])
        task = operator(client, wait_for_termination=True, deferrable=False, check_interval=2)
        assert task.execute(context) == RUN_A  # type: ignore[arg-type]
        assert client.wait_kwargs["poll_interval"] == 2
        assert client.created == []

    def test_no_match_starts_a_new_run_and_says_so(
        self, store: Store, context: dict[str, Any], capfd: pytest.CaptureFixture[str]
    ) -> None:
        store[ATTEMPT_KEY] = lost_attempt()
        client = StubClient(store, listed=[run(RUN_B, parameters={"n": "6"})])
        assert operator(client).execute(context) == NEW_RUN  # type: ignore[arg-type]
        assert len(client.created) == 1
        output = capfd.readouterr().out
        assert "No run of pipeline 'copy_sales'" in output
        assert "Starting a new run" in output
        assert ATTEMPT_KEY not in store and store[KEY] == NEW_RUN

    def test_several_matches_fail_the_task_listing_each_and_start_nothing(
        self, store: Store, context: dict[str, Any]
    ) -> None:
        store[ATTEMPT_KEY] = lost_attempt()
        client = StubClient(store, listed=[run(RUN_A), run(RUN_B, status=RunStatus.QUEUED)])
        with pytest.raises(AirflowFailException) as caught:
            operator(client).execute(context)  # type: ignore[arg-type]
        message = str(caught.value)
        assert f"run {RUN_A} (InProgress" in message and f"https://adf.example/{RUN_A}" in message
        assert f"run {RUN_B} (Queued" in message and f"https://adf.example/{RUN_B}" in message
        assert "Nothing was started" in message
        assert client.created == []

    def test_the_earlier_tries_own_finished_run_is_not_taken_for_the_lost_one(
        self, store: Store, context: dict[str, Any]
    ) -> None:
        # Try 1 started RUN_A, which failed; try 2 lost its create-run answer (no run made);
        # try 3 must not adopt RUN_A even though it matches the parameters and time.
        store[KEY] = RUN_A
        store[ATTEMPT_KEY] = lost_attempt(excluded=[RUN_A])
        failed = run(RUN_A, status=RunStatus.FAILED)
        client = StubClient(store, listed=[failed], runs={RUN_A: failed})
        assert operator(client).execute(context) == NEW_RUN  # type: ignore[arg-type]
        assert len(client.created) == 1

    def test_a_new_attempt_remembers_the_earlier_tries_run(
        self, store: Store, context: dict[str, Any]
    ) -> None:
        store[KEY] = RUN_A
        failed = run(RUN_A, status=RunStatus.FAILED)
        client = StubClient(store, runs={RUN_A: failed})
        operator(client).execute(context)  # type: ignore[arg-type]
        assert CreateAttempt.from_json(client.attempt_when_sent).excluded == (RUN_A,)

    def test_an_unreadable_record_fails_safe(self, store: Store, context: dict[str, Any]) -> None:
        store[ATTEMPT_KEY] = {"version": 1}
        client = StubClient(store)
        with pytest.raises(AirflowFailException, match="cannot be read"):
            operator(client).execute(context)  # type: ignore[arg-type]
        assert client.created == []

    def test_reconciling_off_ignores_the_record(
        self, store: Store, context: dict[str, Any]
    ) -> None:
        store[ATTEMPT_KEY] = lost_attempt()
        client = StubClient(store, listed=[run(RUN_A)])
        task = operator(client, reconcile_unknown_outcome=False)
        assert task.execute(context) == NEW_RUN  # type: ignore[arg-type]
        assert client.queries == []


class TestArguments:
    @pytest.mark.parametrize(
        ("argument", "value"),
        [
            ("check_interval", 0),
            ("check_interval", -1),
            ("check_interval", float("nan")),
            ("check_interval", float("inf")),
            ("check_interval", True),
            ("timeout", -5),
            ("timeout", 0),
            ("timeout", timedelta(seconds=-1)),
            ("timeout", float("inf")),
            ("outage_budget", -1),
            ("outage_budget", float("nan")),
            ("reconcile_search_timeout", -1),
            ("reconcile_search_timeout", float("inf")),
        ],
    )
    def test_a_bad_interval_or_timeout_is_rejected_when_the_task_is_built(
        self, argument: str, value: Any
    ) -> None:
        with pytest.raises(AdfConfigurationError, match=f"^{argument}: "):
            AdfRunPipelineOperator(task_id="t", pipeline_name="p", **{argument: value})

    def test_the_one_second_floor_applies_against_azure_before_anything_starts(
        self, store: Store, context: dict[str, Any]
    ) -> None:
        client = StubClient(store)
        task = operator(client, local=False, wait_for_termination=True, check_interval=0.5)
        with pytest.raises(AirflowFailException, match=r"check_interval: 0\.5 is below the 1 s"):
            task.execute(context)  # type: ignore[arg-type]
        assert client.created == []

    def test_a_short_interval_is_fine_against_a_local_emulator(
        self, store: Store, context: dict[str, Any]
    ) -> None:
        client = StubClient(store)
        task = operator(client, wait_for_termination=True, deferrable=False, check_interval=0.1)
        assert task.execute(context) == NEW_RUN  # type: ignore[arg-type]
        assert client.wait_kwargs["poll_interval"] == 0.1

    @pytest.mark.parametrize("reference", ["None", "not-a-run-id", " null "])
    def test_a_bad_reference_run_id_fails_before_any_request(
        self, store: Store, context: dict[str, Any], reference: str
    ) -> None:
        client = StubClient(store)
        task = operator(client, reference_pipeline_run_id=reference)
        with pytest.raises(AirflowFailException, match=r"^reference_pipeline_run_id: "):
            task.execute(context)  # type: ignore[arg-type]
        assert client.created == [] and store == {}

    def test_a_good_reference_run_id_is_sent(self, store: Store, context: dict[str, Any]) -> None:
        client = StubClient(store, runs={RUN_A: run(RUN_A, status=RunStatus.FAILED)})
        operator(client, reference_pipeline_run_id=RUN_A.upper()).execute(context)  # type: ignore[arg-type]
        assert client.created[0]["reference_pipeline_run_id"] == RUN_A
        # The rerun's run shows the reference run's parameters, and is never that run.
        assert CreateAttempt.from_json(client.attempt_when_sent).excluded == (RUN_A,)


class TestWorkerWait:
    def test_an_outage_fails_saying_the_run_was_not_touched(
        self, store: Store, context: dict[str, Any], capfd: pytest.CaptureFixture[str]
    ) -> None:
        outage = AdfOutageError(NEW_RUN, 900.0, AdfConnectionError("connection refused"))
        client = StubClient(store, wait_error=outage)
        task = operator(client, wait_for_termination=True, deferrable=False)
        with pytest.raises(AirflowException) as caught:
            task.execute(context)  # type: ignore[arg-type]
        message = str(caught.value)
        assert "The run itself was not touched" in message
        assert NEW_RUN in message and f"https://adf.example/{NEW_RUN}" in message
        assert client.wait_kwargs["outage_budget"] == 900.0
        assert (
            "Azure unreachable for 40 s (connection refused); still waiting, giving up after "
            "900 s" in capfd.readouterr().out
        )

    def test_an_outage_fails_as_the_deferred_wait_does(
        self, store: Store, context: dict[str, Any]
    ) -> None:
        outage = AdfOutageError(NEW_RUN, 900.0, AdfConnectionError("connection refused"))
        worker = operator(StubClient(store, wait_error=outage), wait_for_termination=True)
        with pytest.raises(AirflowException) as in_worker:
            worker.execute(context)  # type: ignore[arg-type]
        event = RunOutcome.outage(outage, run_page_url=f"https://adf.example/{NEW_RUN}")
        with pytest.raises(AirflowException) as deferred:
            operator(StubClient(store)).execute_complete(context, event.to_event())  # type: ignore[arg-type]
        assert (
            str(in_worker.value)
            == str(deferred.value)
            == (
                f"{outage} Follow it in ADF Studio: https://adf.example/{NEW_RUN}; a retry of this "
                f"task reattaches to run {NEW_RUN}."
            )
        )

    def test_a_failed_run_fails_with_each_failed_activity_as_the_trigger_says_it(
        self, store: Store, context: dict[str, Any]
    ) -> None:
        copy = ActivityRun(
            activity_run_id="a1",
            activity_name="Copy",
            activity_type="Copy",
            status="Failed",
            pipeline_run_id=NEW_RUN,
            error=ActivityError(code="2200", message="blob missing"),
        )
        client = StubClient(store, final_status=RunStatus.FAILED, failed_activities=[copy])
        with pytest.raises(AirflowException) as caught:
            operator(client, wait_for_termination=True).execute(context)  # type: ignore[arg-type]
        assert not isinstance(caught.value, AirflowFailException)  # a retry starts a new run
        failed = run(NEW_RUN, status=RunStatus.FAILED)
        assert (
            str(caught.value)
            == RunOutcome.of_run(failed, [copy]).message
            == (
                f"Pipeline 'copy_sales' run {NEW_RUN} ended Failed\n"
                "  - activity 'Copy' (Copy) failed: [2200] blob missing"
            )
        )

    @pytest.mark.parametrize(
        ("cancel_error", "then"),
        [
            (None, f"cancel requested for run {NEW_RUN} (child pipelines included)"),
            (AdfServiceError("busy", status=503), "cancelling it failed: busy (HTTP 503)"),
        ],
    )
    def test_the_timeout_cancels_the_run_recursively_and_says_so(
        self, store: Store, context: dict[str, Any], cancel_error: Exception | None, then: str
    ) -> None:
        still = run(NEW_RUN, status=RunStatus.IN_PROGRESS)
        client = StubClient(
            store, wait_error=AdfWaitTimeoutError(still, 600.2), cancel_error=cancel_error
        )
        task = operator(client, wait_for_termination=True, timeout=600)
        with pytest.raises(AirflowException) as caught:
            task.execute(context)  # type: ignore[arg-type]
        assert client.cancels == [(NEW_RUN, True)]
        assert str(caught.value) == (
            f"Pipeline 'copy_sales' run {NEW_RUN} was still InProgress after the 600 s timeout; "
            f"{then}"
        )

    def test_the_outage_budget_is_passed_on(self, store: Store, context: dict[str, Any]) -> None:
        client = StubClient(store)
        task = operator(client, wait_for_termination=True, deferrable=False, outage_budget=60)
        task.execute(context)  # type: ignore[arg-type]
        assert client.wait_kwargs["outage_budget"] == 60

    def test_the_deferred_wait_carries_the_outage_budget(
        self, store: Store, context: dict[str, Any]
    ) -> None:
        from airflow_adf_trigger.compat import TaskDeferred

        client = StubClient(store)
        task = operator(client, wait_for_termination=True, deferrable=True, outage_budget=60)
        with pytest.raises(TaskDeferred) as deferred:
            task.execute(context)  # type: ignore[arg-type]
        _, kwargs = deferred.value.trigger.serialize()
        assert kwargs["outage_budget"] == 60 and kwargs["run_id"] == NEW_RUN
        assert kwargs["pipeline_name"] == task.pipeline_name  # narrows the shared change feed


def test_the_worker_wait_logs_what_the_watch_reports(
    store: Store, context: dict[str, Any], capfd: pytest.CaptureFixture[str]
) -> None:
    client = StubClient(store)
    operator(client, wait_for_termination=True).execute(context)  # type: ignore[arg-type]
    capfd.readouterr()
    report = client.wait_kwargs["on_report"]
    report(run(status=RunStatus.IN_PROGRESS), True)
    report(run(status=RunStatus.IN_PROGRESS), False)
    first, second = capfd.readouterr().out.splitlines()[-2:]
    assert f"Pipeline 'copy_sales' run {RUN_A} is InProgress" in first and "still" not in first
    assert f"run {RUN_A} is still InProgress (checked every 15 s)" in second


def test_the_search_follows_the_lag_this_process_saw(
    store: Store, context: dict[str, Any], capfd: pytest.CaptureFixture[str]
) -> None:
    from airflow_adf_trigger.core.runs import poller

    task = operator(StubClient(store), reconcile_search_timeout=120)
    starter = task._starter(context)
    assert starter.search_timeout_now() == 120
    poller._process_lags.append((time.monotonic(), 200.0))
    assert starter.search_timeout_now() == 300
    assert "lagged 200 s in this process: searching 300 s past the window" in (
        capfd.readouterr().out
    )


def test_the_starter_and_the_mixin_keep_the_run_under_one_key() -> None:
    from airflow_adf_trigger.core.runs.start import RUN_KEY

    assert AdfRunPipelineOperator.external_id_key == RUN_KEY
