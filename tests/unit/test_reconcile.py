"""Finding the run of a create-run whose answer was lost (core/reconcile.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_adf_trigger.core.errors import AdfBadRequestError, AdfConnectionError
from airflow_adf_trigger.core.models import PipelineRun, RunQuery, RunStatus
from airflow_adf_trigger.core.reconcile import (
    AdfReconcileError,
    CreateAttempt,
    canonical,
    find_matching_runs,
    fingerprint,
)
from tests.clock import FakeClock

SENT = datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)
GAVE_UP = SENT + timedelta(seconds=30)
SKEW = timedelta(seconds=60)
RUN_A = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
RUN_B = "7d4c1e2a-0b3f-4e5d-8a9b-1c2d3e4f5a6b"


def attempt(parameters: dict[str, Any] | None = None, **options: Any) -> CreateAttempt:
    return CreateAttempt.start(
        "copy_sales",
        {"region": "emea"} if parameters is None else parameters,
        options,
        sent_at=SENT,
    ).gave_up(GAVE_UP)


def run(
    run_id: str = RUN_A,
    *,
    pipeline: str = "copy_sales",
    parameters: dict[str, str] | None = None,
    start: datetime | None = SENT + timedelta(seconds=1),
    status: RunStatus = RunStatus.IN_PROGRESS,
    last_updated: datetime | None = None,
    group: str | None = None,
) -> PipelineRun:
    return PipelineRun(
        run_id=run_id,
        pipeline_name=pipeline,
        status=status,
        parameters={"region": "emea"} if parameters is None else parameters,
        run_start=start,
        last_updated=last_updated or start,
        run_group_id=group or run_id,
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


class TestMatches:
    def test_the_run_of_the_attempt_matches(self) -> None:
        assert attempt().matches(run())

    def test_another_pipeline_does_not_match(self) -> None:
        assert not attempt().matches(run(pipeline="copy_orders"))

    def test_a_different_parameter_value_does_not_match(self) -> None:
        assert not attempt().matches(run(parameters={"region": "apac"}))

    def test_a_missing_sent_parameter_does_not_match(self) -> None:
        assert not attempt().matches(run(parameters={}))

    def test_parameters_added_by_adf_do_not_matter(self) -> None:
        assert attempt().matches(run(parameters={"region": "emea", "date": "2026-11-26"}))

    def test_typed_values_match_adfs_strings(self) -> None:
        sent = {"n": 5, "full": True, "cfg": {"b": 1, "a": 2}}
        shown = {"n": "5", "full": "True", "cfg": '{"a":2,"b":1}'}
        assert attempt(sent).matches(run(parameters=shown))

    def test_a_parameter_sent_as_none_may_come_back_empty_or_absent(self) -> None:
        assert attempt({"x": None}).matches(run(parameters={"x": ""}))
        assert attempt({"x": None}).matches(run(parameters={}))

    @pytest.mark.parametrize("offset", [-SKEW, timedelta(0), GAVE_UP - SENT, GAVE_UP - SENT + SKEW])
    def test_a_start_on_the_window_edges_matches(self, offset: timedelta) -> None:
        assert attempt().matches(run(start=SENT + offset), skew=SKEW)

    @pytest.mark.parametrize(
        "offset",
        [-SKEW - timedelta(microseconds=1), GAVE_UP - SENT + SKEW + timedelta(microseconds=1)],
    )
    def test_a_start_just_outside_the_window_does_not_match(self, offset: timedelta) -> None:
        assert not attempt().matches(run(start=SENT + offset), skew=SKEW)

    def test_without_gave_up_at_the_window_ends_at_now(self) -> None:
        killed = CreateAttempt.start("copy_sales", {"region": "emea"}, sent_at=SENT)
        later = SENT + timedelta(minutes=10)
        assert killed.matches(run(start=later), now=later)
        assert not killed.matches(run(start=later), now=later - SKEW - timedelta(seconds=1))

    def test_a_queued_run_without_a_start_uses_its_last_update(self) -> None:
        queued = run(start=None, status=RunStatus.QUEUED, last_updated=SENT)
        assert attempt().matches(queued)

    def test_a_run_without_any_time_does_not_match(self) -> None:
        assert not attempt().matches(run(start=None, status=RunStatus.IN_PROGRESS))

    def test_a_run_known_to_be_another_tries_does_not_match(self) -> None:
        known = replace(attempt(), other_run_ids=(RUN_A,))
        assert not known.matches(run(RUN_A))
        assert known.matches(run(RUN_B))


class TestJson:
    def test_round_trip_through_plain_json(self) -> None:
        original = replace(
            attempt(reference_pipeline_run_id=RUN_B, is_recovery=True), other_run_ids=(RUN_A,)
        )
        again = CreateAttempt.from_json(json.loads(json.dumps(original.to_json())))
        assert again == original

    def test_a_killed_try_has_no_gave_up_at(self) -> None:
        killed = CreateAttempt.start("copy_sales", None, sent_at=SENT)
        assert killed.to_json()["gave_up_at"] is None
        assert CreateAttempt.from_json(killed.to_json()).gave_up_at is None

    def test_empty_rerun_options_are_not_recorded(self) -> None:
        made = CreateAttempt.start(
            "p", None, {"start_activity_name": "", "is_recovery": None}, sent_at=SENT
        )
        assert made.rerun_options == {}

    @pytest.mark.parametrize(
        "record",
        [None, "x", {"version": 99}, {"version": 1}, {**attempt().to_json(), "sent_at": "soon"}],
    )
    def test_an_unreadable_record_is_a_value_error(self, record: Any) -> None:
        with pytest.raises(ValueError):
            CreateAttempt.from_json(record)


class StubClient:
    """Answers each query with the next list of runs (the last one repeats)."""

    def __init__(
        self, *answers: list[PipelineRun] | Exception, runs: dict[str, PipelineRun] | None = None
    ) -> None:
        self.answers = list(answers)
        self.queries: list[RunQuery] = []
        self.runs = runs or {}

    def query_pipeline_runs(self, query: RunQuery) -> list[PipelineRun]:
        self.queries.append(query)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def get_run(self, run_id: str) -> PipelineRun:
        return self.runs[run_id]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=(GAVE_UP + timedelta(seconds=5)).timestamp())


def search(
    client: StubClient, clock: FakeClock, made: CreateAttempt | None = None, **options: Any
) -> list[PipelineRun]:
    options.setdefault("search_timeout", 20)
    options.setdefault("interval", 5)
    return find_matching_runs(
        client, made or attempt(), clock=clock, sleep=clock.sleep, skew=SKEW, **options
    )


class TestSearch:
    def test_one_match_is_found_at_the_first_look(self, clock: FakeClock) -> None:
        client = StubClient([run(RUN_A)])
        assert [r.run_id for r in search(client, clock)] == [RUN_A]
        assert clock.sleeps == []

    def test_the_query_names_the_pipeline_only_and_spans_the_attempt(
        self, clock: FakeClock
    ) -> None:
        client = StubClient([run()])
        search(client, clock)
        (query,) = client.queries
        assert [(f.operand, f.operator, f.values) for f in query.filters] == [
            ("PipelineName", "Equals", ("copy_sales",))
        ]
        assert query.last_updated_after == SENT - SKEW
        assert query.last_updated_before == datetime.fromtimestamp(clock.now, UTC) + SKEW

    def test_a_run_that_shows_up_late_is_found(self, clock: FakeClock) -> None:
        client = StubClient([], [], [run(RUN_A)])
        assert [r.run_id for r in search(client, clock)] == [RUN_A]
        assert clock.sleeps == [5, 5]

    def test_nothing_found_within_the_timeout_is_an_empty_answer(self, clock: FakeClock) -> None:
        client = StubClient([run(RUN_B, parameters={"region": "apac"})])
        assert search(client, clock, search_timeout=12) == []
        assert clock.sleeps == [5, 5, 2]
        assert len(client.queries) == 4

    def test_a_zero_timeout_looks_once(self, clock: FakeClock) -> None:
        client = StubClient([])
        assert search(client, clock, search_timeout=0) == []
        assert len(client.queries) == 1

    def test_every_match_is_returned_oldest_first(self, clock: FakeClock) -> None:
        later = run(RUN_A, start=SENT + timedelta(seconds=9))
        earlier = run(RUN_B, start=SENT + timedelta(seconds=2))
        client = StubClient([later, earlier, run(pipeline="other")])
        assert [r.run_id for r in search(client, clock)] == [RUN_B, RUN_A]

    def test_runs_outside_the_window_are_filtered_here(self, clock: FakeClock) -> None:
        old = run(RUN_B, start=SENT - timedelta(hours=1), last_updated=SENT + timedelta(seconds=3))
        client = StubClient([old])
        assert search(client, clock, search_timeout=0) == []

    def test_transient_errors_are_waited_out(self, clock: FakeClock) -> None:
        client = StubClient(AdfConnectionError("reset"), [run()])
        assert [r.run_id for r in search(client, clock)] == [RUN_A]

    def test_no_answer_at_all_is_an_error_not_an_empty_answer(self, clock: FakeClock) -> None:
        client = StubClient(AdfConnectionError("network down"))
        with pytest.raises(AdfReconcileError, match="network down") as caught:
            search(client, clock, search_timeout=10)
        assert "Nothing was started" in str(caught.value)

    def test_other_errors_are_raised(self, clock: FakeClock) -> None:
        client = StubClient(AdfBadRequestError("bad filter", status=400))
        with pytest.raises(AdfBadRequestError):
            search(client, clock)

    def test_a_recovery_rerun_must_be_in_the_reference_runs_group(self, clock: FakeClock) -> None:
        reference = run(RUN_B, start=SENT - timedelta(days=1), group="group-1")
        rerun = attempt(reference_pipeline_run_id=RUN_B, is_recovery=True)
        outsider = run("11111111-1111-1111-1111-111111111111", group="group-2")
        member = run(RUN_A, group="group-1", start=SENT + timedelta(seconds=4))
        client = StubClient([outsider, member], runs={RUN_B: reference})
        assert [r.run_id for r in search(client, clock, rerun)] == [RUN_A]
