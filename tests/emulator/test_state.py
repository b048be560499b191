"""The emulator's pure parts: scenario parsing, run plans and timelines, queries, faults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_adf_trigger.emulator import PipelineSpec, Scenario
from airflow_adf_trigger.emulator.faults import FaultBook, parse_fault, parse_faults
from airflow_adf_trigger.emulator.queries import (
    PIPELINE_RUNS,
    decode_token,
    encode_token,
    parse_query,
    run_query,
)
from airflow_adf_trigger.emulator.runs import EmulatedRun, plan_run
from airflow_adf_trigger.emulator.scenario import OutcomeSpec, ScenarioError
from airflow_adf_trigger.emulator.wire import BadRequest
from tests.fresh import loaded_by

SCENARIOS = Path(__file__).resolve().parents[2] / "airflow_adf_trigger" / "emulator" / "scenarios"
EPOCH = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
WINDOW = {"lastUpdatedAfter": "2026-01-01T00:00:00Z", "lastUpdatedBefore": "2027-01-01T00:00:00Z"}


def spec(**body: Any) -> PipelineSpec:
    return PipelineSpec.from_json("p", body)


def run_of(pipeline: PipelineSpec, outcome: OutcomeSpec, start: str | None = None) -> EmulatedRun:
    ids = [f"a{i}" for i in range(len(pipeline.activity_plan()))]
    return EmulatedRun(
        run_id="r1",
        spec=pipeline,
        parameters={},
        created_wall=EPOCH,
        created_at=0.0,
        run_group_id="r1",
        plan=plan_run(pipeline, outcome, ids, start),
    )


def test_unset_activity_durations_share_what_the_others_leave() -> None:
    pipeline = spec(
        duration_seconds=10,
        activities=[{"name": "a", "duration_seconds": 4}, {"name": "b"}, {"name": "c"}],
    )
    assert [d for _, d in pipeline.activity_plan()] == [4, 3, 3]
    assert [(a.name, a.type) for a, _ in spec().activity_plan()] == [("Copy data", "Copy")]


def test_a_failed_plan_stops_at_the_failed_activity_or_the_last() -> None:
    three = [{"name": "a"}, {"name": "b"}, {"name": "c"}]
    named = plan_run(spec(activities=three, failed_activity="b"), OutcomeSpec("Failed"), ["1"] * 3)
    assert [(a.name, a.status) for a in named.activities] == [("a", "Succeeded"), ("b", "Failed")]
    assert named.message == "Operation on target b failed"
    unnamed = plan_run(spec(activities=three), OutcomeSpec("Failed"), ["1"] * 3)
    assert [a.status for a in unnamed.activities] == ["Succeeded", "Succeeded", "Failed"]


def test_a_run_timeline_and_its_last_updated() -> None:
    run = run_of(spec(queued_seconds=1, duration_seconds=2), OutcomeSpec("Succeeded"))
    assert [run.status_at(t) for t in (0, 0.99, 1, 2.99, 3, 100)] == [
        "Queued",
        "Queued",
        "InProgress",
        "InProgress",
        "Succeeded",
        "Succeeded",
    ]
    assert run.last_updated_at(2.5) == EPOCH + timedelta(seconds=1)
    assert run.to_json(100)["durationInMs"] == 2000


def test_a_cancel_freezes_the_timeline() -> None:
    run = run_of(
        spec(queued_seconds=1, duration_seconds=4, cancel_seconds=1), OutcomeSpec("Failed")
    )
    run.cancel_at = 2.0
    assert [run.status_at(t) for t in (1.5, 2, 2.9, 3, 50)] == [
        "InProgress",
        "Canceling",
        "Canceling",
        "Cancelled",
        "Cancelled",
    ]
    (activity,) = run.activity_runs(50)
    assert activity.body["status"] == "Cancelled"
    assert run.failed_activity_name(50) == "Copy data"


def test_outcomes_list_and_messages() -> None:
    pipeline = spec(outcomes=["Failed", {"outcome": "Succeeded"}], message="boom")
    assert pipeline.outcome_for(0) == OutcomeSpec("Failed", "boom")
    assert pipeline.outcome_for(5) == OutcomeSpec("Succeeded")
    assert spec(outcome="Failed").outcome_for(3) == OutcomeSpec("Failed", None)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"outcome": "Failed", "outcomes": ["Failed"]}, "either outcome or outcomes"),
        ({"outcomes": ["Crashed"]}, "outcomes[0]"),
        ({"outcomes": []}, "outcomes"),
        ({"activities": [{"name": "a"}, {"name": "a"}]}, "unique"),
        ({"activities": [{"type": "Copy"}]}, "activities[0]"),
        ({"cancel_seconds": -1}, "cancel_seconds"),
    ],
)
def test_bad_pipeline_specs_name_the_field(body: dict[str, Any], named: str) -> None:
    with pytest.raises(ScenarioError, match=named.replace("[", r"\[").replace("]", r"\]")):
        spec(**body)


def test_scenario_faults_and_page_size_are_validated() -> None:
    base = {
        "tenant_id": "t",
        "subscription_id": "s",
        "resource_group": "rg",
        "factory_name": "f",
        "service_principals": [{"client_id": "c", "client_secret": "x"}],
    }
    scenario = Scenario.from_json({**base, "faults": [{"operation": "*", "action": "drop"}]})
    assert scenario.faults[0].times == 1
    assert scenario.page_size == 100
    with pytest.raises(ScenarioError, match=r"faults: \[0\] status"):
        Scenario.from_json({**base, "faults": [{"operation": "*", "action": "status"}]})
    with pytest.raises(ScenarioError, match="page_size"):
        Scenario.from_json({**base, "page_size": 0})


def test_fault_book_consumes_in_order() -> None:
    book = FaultBook(
        parse_faults(
            [
                {"operation": "get run", "action": "drop", "times": 2},
                {"operation": "*", "action": "delay", "delay_seconds": 0.1},
            ]
        )
    )
    taken = [book.take("get run", None) for _ in range(4)]
    assert [f.action if f else None for f in taken] == ["drop", "drop", "delay", None]
    assert book.applied == 3
    assert [f["remaining"] for f in book.to_json()] == [0, 0]


@pytest.mark.parametrize(
    ("fault", "named"),
    [
        ({"operation": "delete factory", "action": "drop"}, "operation"),
        ({"operation": "*", "action": "drop", "times": 0}, "times"),
        ({"operation": "*", "action": "drop", "retry_after": 1.5}, "retry_after"),
        ({"operation": "*", "action": "drop", "colour": "red"}, "colour"),
    ],
)
def test_bad_faults_name_the_field(fault: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        parse_fault(fault)


def test_query_parsing_and_tokens() -> None:
    query = parse_query(WINDOW, PIPELINE_RUNS, "pipelineRuns")
    other = parse_query({**WINDOW, "orderBy": [{"orderBy": "RunStart"}]}, PIPELINE_RUNS, "x")
    token = encode_token(4, query.fingerprint)
    assert decode_token(token, query.fingerprint) == 4
    with pytest.raises(BadRequest, match="different query"):
        decode_token(token, other.fingerprint)
    with pytest.raises(BadRequest, match="not valid"):
        decode_token("%%%", query.fingerprint)
    with pytest.raises(BadRequest, match="earlier"):
        parse_query(
            {"lastUpdatedAfter": "2027-01-01", "lastUpdatedBefore": "2026-01-01"},
            PIPELINE_RUNS,
            "pipelineRuns",
        )


def test_run_query_window_is_inclusive_and_pages() -> None:
    records = [(EPOCH + timedelta(days=i), {"runId": str(i)}) for i in range(5)]
    query = parse_query(
        {"lastUpdatedAfter": EPOCH.isoformat(), "lastUpdatedBefore": "2026-11-29T12:00:00Z"},
        PIPELINE_RUNS,
        "pipelineRuns",
    )
    first = run_query(records, query, PIPELINE_RUNS, page_size=3)
    assert [r["runId"] for r in first["value"]] == ["0", "1", "2"]
    rest = parse_query(
        {
            "lastUpdatedAfter": EPOCH.isoformat(),
            "lastUpdatedBefore": "2026-11-29T12:00:00Z",
            "continuationToken": first["continuationToken"],
        },
        PIPELINE_RUNS,
        "pipelineRuns",
    )
    assert run_query(records, rest, PIPELINE_RUNS, page_size=3) == {"value": [{"runId": "3"}]}


def test_every_bundled_scenario_loads() -> None:
    bundled = sorted(SCENARIOS.glob("*.json"))
    assert {path.name for path in bundled} >= {"demo.json", "failing.json", "flaky.json"}
    flaky = Scenario.load(SCENARIOS / "flaky.json")
    assert flaky.service_principals[1].secret_expired
    assert [f.status for f in flaky.faults] == [429, 503]


def test_the_emulator_imports_neither_airflow_nor_the_core() -> None:
    loaded = loaded_by(
        "import airflow_adf_trigger.emulator", ("airflow", "airflow_adf_trigger.core")
    )
    assert [m for m in loaded if m.startswith(("airflow.", "airflow_adf_trigger.core"))] == []
    assert "airflow" not in loaded
