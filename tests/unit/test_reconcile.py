"""Finding the run of a create-run whose answer was lost (core/runs/reconcile.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_adf_trigger.core.errors import AdfBadRequestError, AdfConnectionError
from airflow_adf_trigger.core.runs.models import PipelineRun, RunChanges, RunQuery, RunStatus
from airflow_adf_trigger.core.runs.reconcile import (
    AdfReconcileError,
    CreateAttempt,
    PipelineDeclaration,
    ServerClock,
    Verdict,
    canonical,
    fingerprint,
    search,
)
from tests.clock import FakeClock

LOCAL = 1_800_000_000.0
"""The worker's clock when the pipeline was read."""
AZURE = datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)
"""Azure's Date on that answer: 40 minutes away from the worker's clock, on purpose."""
SENT = LOCAL + 0.5
GAVE_UP = SENT + 30
RUN_A = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
RUN_B = "7d4c1e2a-0b3f-4e5d-8a9b-1c2d3e4f5a6b"
REFERENCE = "0b7d6c5e-1111-4222-8333-944455566677"


def azure(seconds_after_send: float) -> datetime:
    """Azure's time that many seconds after the create-run was sent."""
    return AZURE + timedelta(seconds=SENT - LOCAL + seconds_after_send)


def declaration(
    defaults: dict[str, Any] | None = None, *, clock: bool = True, key: bool = False
) -> PipelineDeclaration:
    types = {"region": "String", **{name: "String" for name in defaults or {}}}
    if key:
        types["airflow_run_key"] = "String"
    return PipelineDeclaration(
        "copy_sales",
        types,
        dict(defaults or {}),
        ServerClock(AZURE, LOCAL - 0.2, LOCAL) if clock else None,
    )


def attempt(
    parameters: dict[str, Any] | None = None,
    *,
    pipeline: PipelineDeclaration | None = None,
    lost: bool = True,
    **options: Any,
) -> CreateAttempt:
    made = CreateAttempt.prepare(
        "copy_sales",
        {"region": "emea"} if parameters is None else parameters,
        sent_at=SENT,
        budget=150,
        pipeline=pipeline or declaration(),
        **options,
    )
    return made.gave_up(GAVE_UP) if lost else made


def run(
    run_id: str = RUN_A,
    *,
    pipeline: str = "copy_sales",
    parameters: dict[str, str] | None = None,
    start: datetime | None = None,
    status: RunStatus = RunStatus.IN_PROGRESS,
    last_updated: datetime | None = None,
    group: str | None = None,
    invoked_by_type: str | None = "Manual",
) -> PipelineRun:
    start = azure(1) if start is None else start
    return PipelineRun(
        run_id=run_id,
        pipeline_name=pipeline,
        status=status,
        parameters={"region": "emea"} if parameters is None else parameters,
        run_start=start,
        last_updated=last_updated or start,
        run_group_id=group or run_id,
        invoked_by_type=invoked_by_type,
    )


class TestCanonical:
    @pytest.mark.parametrize(
        ("sent", "shown"),
        [
            (5, "5"),
            (5, 5),
            (5.0, "5"),
            (2.5, "2.5"),
            (True, "true"),
            (True, "True"),
            (False, "False"),
            ({"b": 1, "a": [1, 2]}, '{"a": [1, 2], "b": 1}'),
            ({"b": 1, "a": [1, 2]}, '{"a":[1,2],"b":1}'),
            ([1, "x"], '[1, "x"]'),
            ("emea", "emea"),
            ('{"a": 1}', {"a": 1}),
            (None, "null"),
        ],
    )
    def test_a_sent_value_matches_how_adf_shows_it(self, sent: Any, shown: Any) -> None:
        assert fingerprint(sent) == fingerprint(shown)

    @pytest.mark.parametrize(
        ("sent", "shown"),
        [
            (5, "6"),
            (True, "false"),
            ("00123", "123"),
            ({"a": 1}, '{"a": 2}'),
            ([1, 2], "[2, 1]"),
            ("emea", "EMEA"),
        ],
    )
    def test_different_values_do_not_match(self, sent: Any, shown: Any) -> None:
        assert fingerprint(sent) != fingerprint(shown)

    def test_strings_holding_json_compare_as_their_value(self) -> None:
        assert canonical('{"b": "2", "a": true}') == {"b": 2, "a": True}
        assert canonical("not json") == "not json"

    def test_fingerprints_do_not_contain_the_value(self) -> None:
        assert "hunter2" not in fingerprint("hunter2")
        assert "hunter2" not in json.dumps(attempt({"password": "hunter2"}).to_json())


class TestServerClock:
    def test_azure_time_is_bounded_by_the_date_and_the_requests_timing(self) -> None:
        clock = ServerClock(AZURE, sent=100.0, received=100.4)
        assert clock.earliest(110.0) == AZURE + timedelta(seconds=9.6)
        assert clock.latest(110.0) == AZURE + timedelta(seconds=11)

    def test_the_window_is_on_azures_clock_whatever_the_workers_says(self) -> None:
        made = attempt()
        assert made.on_azure_clock
        assert made.window_start == azure(0)
        # Gave up 30 s after sending; ADF may still stamp the run 30 s later (the margin).
        assert made.window_end == AZURE + timedelta(seconds=1 + GAVE_UP - (LOCAL - 0.2) + 30)

    def test_a_killed_try_leaves_a_window_closed_by_its_whole_budget(self) -> None:
        made = attempt(lost=False)
        assert made.window_end == AZURE + timedelta(seconds=1 + SENT + 150 - (LOCAL - 0.2) + 30)

    def test_without_a_date_the_window_is_on_the_workers_clock_and_never_certain(self) -> None:
        made = attempt(pipeline=declaration(clock=False))
        assert not made.on_azure_clock
        worker = datetime.fromtimestamp(SENT + 1, UTC)
        assert made.judge(run(start=worker))[0] is Verdict.DOUBT


class TestJudge:
    def test_the_run_of_the_attempt_is_mine(self) -> None:
        assert attempt().judge(run())[0] is Verdict.MINE

    def test_another_pipeline_is_not(self) -> None:
        assert attempt().judge(run(pipeline="other"))[0] is Verdict.OTHER

    def test_a_different_parameter_value_is_not(self) -> None:
        assert attempt().judge(run(parameters={"region": "apac"}))[0] is Verdict.OTHER

    def test_a_missing_sent_parameter_is_not(self) -> None:
        assert attempt().judge(run(parameters={}))[0] is Verdict.OTHER

    def test_a_parameter_not_sent_and_not_declared_is_a_strangers(self) -> None:
        shown = {"region": "emea", "extra": "1"}
        assert attempt().judge(run(parameters=shown))[0] is Verdict.OTHER

    def test_a_parameter_not_sent_may_show_the_pipelines_default(self) -> None:
        made = attempt(pipeline=declaration({"mode": "full"}))
        assert made.judge(run(parameters={"region": "emea", "mode": "full"}))[0] is Verdict.MINE
        assert made.judge(run(parameters={"region": "emea", "mode": "delta"}))[0] is (Verdict.OTHER)

    def test_a_superset_of_the_sent_parameters_is_not_mine(self) -> None:
        """A stranger that sent what this task sent and more is not taken for it."""
        made = attempt({})
        assert made.judge(run(parameters={"region": "emea"}))[0] is Verdict.OTHER

    def test_typed_values_match_adfs_strings(self) -> None:
        made = attempt({"n": 5, "full": True, "cfg": {"a": [1, 2]}, "none": None})
        shown = {"n": "5", "full": "True", "cfg": '{"a":[1,2]}', "none": ""}
        assert made.judge(run(parameters=shown))[0] is Verdict.MINE

    def test_a_parameter_sent_as_none_may_come_back_absent(self) -> None:
        assert attempt({"region": None}).judge(run(parameters={}))[0] is Verdict.MINE

    @pytest.mark.parametrize("offset", [-1.0, 62.0])
    def test_a_start_just_outside_the_window_is_not(self, offset: float) -> None:
        assert attempt().judge(run(start=azure(offset)))[0] is Verdict.OTHER

    @pytest.mark.parametrize("offset", [0.0, 30.0, 60.0])
    def test_a_start_inside_the_window_is(self, offset: float) -> None:
        assert attempt().judge(run(start=azure(offset)))[0] is Verdict.MINE

    def test_a_queued_run_without_a_start_uses_its_last_update(self) -> None:
        queued = run(status=RunStatus.QUEUED, last_updated=azure(2))
        queued = PipelineRun(**{**_fields(queued), "run_start": None})
        assert attempt().judge(queued)[0] is Verdict.MINE

    def test_a_run_without_any_time_is_in_doubt(self) -> None:
        timeless = PipelineRun(**{**_fields(run()), "run_start": None, "last_updated": None})
        assert attempt().judge(timeless)[0] is Verdict.DOUBT

    @pytest.mark.parametrize("status", [RunStatus.CANCELING, RunStatus.CANCELLED])
    def test_a_cancelled_run_is_never_adopted(self, status: RunStatus) -> None:
        assert attempt().judge(run(status=status))[0] is Verdict.OTHER

    @pytest.mark.parametrize("kind", ["ScheduleTrigger", "PipelineActivity"])
    def test_a_run_a_trigger_or_a_parent_started_is_not(self, kind: str) -> None:
        assert attempt().judge(run(invoked_by_type=kind))[0] is Verdict.OTHER

    def test_a_run_known_to_be_anothers_is_not(self) -> None:
        assert attempt(excluded=[RUN_A]).judge(run())[0] is Verdict.OTHER

    def test_a_plain_attempt_doubts_a_run_in_another_runs_group(self) -> None:
        assert attempt().judge(run(group=REFERENCE))[0] is Verdict.DOUBT

    def test_a_recovery_rerun_expects_the_reference_runs_parameters_and_group(self) -> None:
        reference = run(REFERENCE, parameters={"region": "apac"}, start=azure(-3600))
        made = attempt(
            {"region": "emea"},  # sent, but ADF keeps the reference run's
            rerun_options={"reference_pipeline_run_id": REFERENCE, "is_recovery": True},
            reference=reference,
        )
        rerun = run(parameters={"region": "apac"}, group=REFERENCE)
        assert made.judge(rerun)[0] is Verdict.MINE
        assert made.judge(run(parameters={"region": "apac"}, group=RUN_B))[0] is Verdict.OTHER
        assert made.judge(reference)[0] is Verdict.OTHER  # the reference run itself

    def test_with_a_run_key_only_the_key_counts(self) -> None:
        made = attempt(
            {"region": "emea", "airflow_run_key": "k1"},
            pipeline=declaration(key=True),
            run_key_parameter="airflow_run_key",
            run_key="k1",
        )
        late = run(parameters={"region": "x", "airflow_run_key": "k1"}, start=azure(3600))
        assert made.judge(late)[0] is Verdict.MINE
        twin = run(parameters={"region": "emea", "airflow_run_key": "k2"})
        assert made.judge(twin)[0] is Verdict.OTHER
        assert made.judge(run(parameters={"region": "emea"}))[0] is Verdict.OTHER


def _fields(made: PipelineRun) -> dict[str, Any]:
    return {name: getattr(made, name) for name in PipelineRun.__slots__}


class TestRecord:
    def test_round_trip_through_plain_json(self) -> None:
        made = attempt(
            rerun_options={"reference_pipeline_run_id": REFERENCE, "is_recovery": True},
            reference=run(REFERENCE, group="g1"),
            excluded=[RUN_B],
        )
        text = json.dumps(made.to_json())
        again = CreateAttempt.from_json(json.loads(text))
        assert again.to_json() == made.to_json()
        assert again.excluded == (RUN_B, REFERENCE)
        assert "emea" not in text

    def test_empty_rerun_options_are_not_recorded(self) -> None:
        options = {"reference_pipeline_run_id": None, "start_activity_name": ""}
        assert attempt(rerun_options=options).rerun_options == {}

    @pytest.mark.parametrize(
        "record",
        [None, [], {"version": 1}, {"version": 2}, {"version": 2, "pipeline_name": "p"}],
    )
    def test_an_unreadable_record_is_a_value_error(self, record: Any) -> None:
        with pytest.raises(ValueError, match="attempt record"):
            CreateAttempt.from_json(record)


class StubClient:
    """Answers each query with the next list of runs (the last one repeats), on Azure's clock
    moving with the fake worker clock."""

    def __init__(
        self,
        *answers: list[PipelineRun] | Exception,
        clock: FakeClock,
        runs: dict[str, PipelineRun] | None = None,
    ) -> None:
        self.answers = list(answers)
        self.queries: list[RunQuery] = []
        self.runs = runs or {}
        self.clock = clock

    def query_run_changes(self, query: RunQuery) -> RunChanges:
        self.queries.append(query)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        for listed in answer:
            self.runs.setdefault(listed.run_id, listed)
        return RunChanges(tuple(answer), AZURE + timedelta(seconds=self.clock() - LOCAL))

    def get_run(self, run_id: str) -> PipelineRun:
        return self.runs[run_id]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=GAVE_UP + 5)


def look(client: StubClient, clock: FakeClock, made: CreateAttempt | None = None, **options: Any):  # type: ignore[no-untyped-def]
    options.setdefault("search_timeout", 20)
    options.setdefault("interval", 5)
    return search(client, made or attempt(), clock=clock, sleep=clock.sleep, **options)


class TestSearch:
    def test_one_match_is_adopted_after_the_list_passed_the_window(self, clock: FakeClock) -> None:
        client = StubClient([run(RUN_A)], clock=clock)
        result = look(client, clock)
        assert result.adopt is not None and result.adopt.run_id == RUN_A
        # The window ends 60 s after sending on Azure's clock, plus 20 s of lag allowance.
        assert azure(0) + timedelta(seconds=clock() - SENT) >= attempt().window_end

    def test_a_retry_long_after_the_window_looks_once(self) -> None:
        late = FakeClock(start=GAVE_UP + 600)
        client = StubClient([run(RUN_A)], clock=late)
        assert look(client, late).adopt is not None
        assert late.sleeps == []

    def test_the_query_names_the_pipeline_only_and_spans_the_window(self, clock: FakeClock) -> None:
        client = StubClient([], clock=clock)
        look(client, clock)
        query = client.queries[0]
        assert [(f.operand, f.values) for f in query.filters] == [("PipelineName", ("copy_sales",))]
        assert query.last_updated_after < attempt().window_start

    def test_the_search_does_not_stop_at_the_first_match(self, clock: FakeClock) -> None:
        """Lag: a stranger shows first, this attempt's own run later; neither is adopted."""
        stranger, own = run(RUN_B, start=azure(0.2)), run(RUN_A, start=azure(0.4))
        client = StubClient([stranger], [stranger], [stranger, own], clock=clock)
        result = look(client, clock)
        assert result.adopt is None
        assert {r.run_id for r, _ in result.candidates()} == {RUN_A, RUN_B}

    def test_a_run_that_shows_up_late_is_found(self, clock: FakeClock) -> None:
        client = StubClient([], [], [run(RUN_A)], clock=clock)
        result = look(client, clock)
        assert result.adopt is not None and result.adopt.run_id == RUN_A

    def test_nothing_found_means_nothing_was_started(self, clock: FakeClock) -> None:
        result = look(StubClient([], clock=clock), clock)
        assert result.nothing and result.adopt is None

    def test_a_run_cancelled_since_it_was_listed_is_not_adopted(self, clock: FakeClock) -> None:
        listed = run(RUN_A)
        now = run(RUN_A, status=RunStatus.CANCELLED)
        client = StubClient([listed], clock=clock, runs={RUN_A: now})
        assert look(client, clock).nothing

    def test_a_run_key_match_ends_the_search_at_once(self, clock: FakeClock) -> None:
        made = attempt(
            {"airflow_run_key": "k1"},
            pipeline=declaration(key=True),
            run_key_parameter="airflow_run_key",
            run_key="k1",
        )
        client = StubClient([run(parameters={"airflow_run_key": "k1"})], clock=clock)
        assert look(client, clock, made).adopt is not None
        assert clock.sleeps == []

    def test_transient_errors_are_waited_out(self, clock: FakeClock) -> None:
        client = StubClient(AdfConnectionError("refused"), [run(RUN_A)], clock=clock)
        assert look(client, clock).adopt is not None

    def test_no_answer_at_all_is_an_error_not_an_empty_answer(self, clock: FakeClock) -> None:
        client = StubClient(AdfConnectionError("refused"), clock=clock)
        with pytest.raises(AdfReconcileError, match="Nothing was started"):
            look(client, clock)

    def test_other_errors_are_raised(self, clock: FakeClock) -> None:
        client = StubClient(AdfBadRequestError("bad filter"), clock=clock)
        with pytest.raises(AdfBadRequestError):
            look(client, clock)
