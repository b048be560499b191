"""The emulator over plain HTTP: exact status codes, bodies and headers, as Azure answers."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_adf_trigger.emulator import EmulatorServer
from tests.clock import FakeClock
from tests.emulator_fixtures import Emulators

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
SUBSCRIPTION = "12345678-1234-1234-1234-123456789abc"
CLIENT_ID = "0d3c4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"
SECRET = "emulator-only-secret"
EXPIRED_CLIENT_ID = "99999999-6a7b-4c8d-9e0f-1a2b3c4d5e6f"
API = {"api-version": "2018-06-01"}
WINDOW = {"lastUpdatedAfter": "2000-01-01T00:00:00Z", "lastUpdatedBefore": "2100-01-01T00:00Z"}
ETL_ACTIVITIES = [
    {"name": "Lookup files", "type": "Lookup", "duration_seconds": 2},
    {"name": "Copy sales to lake", "type": "Copy", "duration_seconds": 3},
    {"name": "Notify", "type": "WebActivity", "duration_seconds": 1},
]
ACTIVITY_FIELDS = {
    "activityRunId",
    "activityName",
    "activityType",
    "activityRunStart",
    "activityRunEnd",
    "durationInMs",
    "retryAttempt",
    "input",
    "output",
    "error",
    "pipelineName",
    "pipelineRunId",
    "status",
    "linkedServiceName",
    "userProperties",
}


def scenario_json(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tenant_id": TENANT,
        "subscription_id": SUBSCRIPTION,
        "resource_group": "rg-analytics",
        "factory_name": "adf-demo",
        "service_principals": [
            {"client_id": CLIENT_ID, "client_secret": SECRET},
            {"client_id": EXPIRED_CLIENT_ID, "client_secret": "old", "secret_expired": True},
        ],
        "pipelines": {
            "copy_sales": {
                "queued_seconds": 1,
                "duration_seconds": 10,
                "parameters": ["region", "date"],
            },
            "etl": {
                "queued_seconds": 1,
                "activities": ETL_ACTIVITIES,
                "failed_activity": "Copy sales to lake",
                "outcomes": ["Failed", "Succeeded"],
                "message": "Operation on target Copy sales to lake failed: blob missing",
                "cancel_seconds": 2,
            },
        },
    }
    body.update(overrides)
    return body


class Adf:
    """A few lines of HTTP, exactly as a client of Azure would send them."""

    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        self.factory = (
            f"{server.url}/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-analytics"
            "/providers/Microsoft.DataFactory/factories/adf-demo"
        )
        answer = token_request(server)
        assert answer.status_code == 200, answer.text
        self.headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def post(self, path: str, body: object = None, **query: str) -> requests.Response:
        return requests.post(
            self.factory + path,
            params={**API, **query},
            json=body,
            headers=self.headers,
            timeout=5,
        )

    def get(self, path: str) -> requests.Response:
        return requests.get(self.factory + path, params=API, headers=self.headers, timeout=5)

    def create_run(self, pipeline: str, parameters: object = None, **query: str) -> str:
        answer = self.post(f"/pipelines/{pipeline}/createRun", parameters, **query)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["runId"])

    def run(self, run_id: str) -> dict[str, Any]:
        answer = self.get(f"/pipelineruns/{run_id}")
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    def cancel(self, run_id: str, recursive: str = "true") -> requests.Response:
        return self.post(f"/pipelineruns/{run_id}/cancel", isRecursive=recursive)

    def query_runs(self, body: dict[str, Any]) -> requests.Response:
        return self.post("/queryPipelineRuns", body)

    def query_activities(self, run_id: str, body: dict[str, Any]) -> requests.Response:
        return self.post(f"/pipelineruns/{run_id}/queryActivityruns", body)

    def activities(self, run_id: str) -> list[dict[str, Any]]:
        answer = self.query_activities(run_id, WINDOW)
        assert answer.status_code == 200, answer.text
        return answer.json()["value"]  # type: ignore[no-any-return]

    def admin(self, method: str, path: str, body: object = None) -> requests.Response:
        return requests.request(method, f"{self.server.url}/_emulator/{path}", json=body, timeout=5)


def token_request(
    server: EmulatorServer, client_id: str = CLIENT_ID, secret: str = SECRET
) -> requests.Response:
    return requests.post(
        f"{server.url}/{TENANT}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": "https://management.azure.com/.default",
        },
        timeout=5,
    )


@pytest.fixture
def server(emulator_for: Emulators, clock: FakeClock) -> EmulatorServer:
    return emulator_for(scenario_json(), clock=clock)


@pytest.fixture
def adf(server: EmulatorServer) -> Adf:
    return Adf(server)


# ---------------------------------------------------------------------- cancel


def test_cancel_answers_200_with_an_empty_body_then_canceling_then_cancelled(
    adf: Adf, clock: FakeClock
) -> None:
    run_id = adf.create_run("copy_sales", {"region": "emea"})
    clock.advance(3)
    assert adf.run(run_id)["status"] == "InProgress"

    answer = adf.cancel(run_id, recursive="true")

    assert answer.status_code == 200
    assert answer.content == b""
    assert answer.headers["Content-Length"] == "0"
    assert answer.headers["x-ms-request-id"]
    canceling = adf.run(run_id)
    assert canceling["status"] == "Canceling"
    assert canceling["runEnd"] is None
    assert adf.cancel(run_id).status_code == 200  # Canceling: accepted again, no change
    clock.advance(0.5)  # copy_sales keeps the default cancel_seconds
    cancelled = adf.run(run_id)
    # As the Cancelled run of PipelineRuns_QueryByFactory.json: no message, no end, no duration.
    assert cancelled["status"] == "Cancelled"
    assert (cancelled["message"], cancelled["runEnd"], cancelled["durationInMs"]) == (
        "",
        None,
        None,
    )
    assert cancelled["lastUpdated"] > canceling["lastUpdated"]
    (summary,) = adf.admin("GET", "runs").json()
    assert summary == {
        "runId": run_id,
        "pipelineName": "copy_sales",
        "status": "Cancelled",
        "runGroupId": run_id,
        "isLatest": True,
        "parameters": {"region": "emea"},
        "cancelled_recursive": True,
    }


def test_cancel_of_a_queued_run_records_a_non_recursive_cancel(
    adf: Adf, server: EmulatorServer, clock: FakeClock
) -> None:
    run_id = adf.create_run("copy_sales")
    assert adf.cancel(run_id, recursive="false").status_code == 200
    clock.advance(1)
    run = adf.run(run_id)
    assert (run["status"], run["runStart"], run["durationInMs"]) == ("Cancelled", None, None)
    assert server.run_summaries()[0]["cancelled_recursive"] is False


@pytest.mark.parametrize("ending", ["Succeeded", "Failed", "Cancelled"])
def test_cancel_of_a_finished_run_is_pipeline_run_not_running(
    adf: Adf, clock: FakeClock, ending: str
) -> None:
    pipeline = {"Succeeded": "copy_sales", "Failed": "etl", "Cancelled": "etl"}[ending]
    run_id = adf.create_run(pipeline)
    if ending == "Cancelled":
        adf.cancel(run_id)
    clock.advance(60)

    answer = adf.cancel(run_id)

    assert answer.status_code == 400
    assert answer.json() == {
        "error": {
            "code": "PipelineRunNotRunning",
            "message": f"Pipeline run has already completed with status '{ending}'.Only "
            "pipeline runs that are in progress or queued can be canceled.",
            "target": None,
        }
    }


def test_cancel_of_an_unknown_run_is_404_like_get_run(adf: Adf) -> None:
    unknown = "00000000-0000-0000-0000-000000000000"
    cancel = adf.cancel(unknown)
    get = adf.get(f"/pipelineruns/{unknown}")
    assert cancel.status_code == get.status_code == 404
    assert cancel.json()["error"]["code"] == get.json()["error"]["code"] == "PipelineRunNotFound"


# ---------------------------------------------------------------------- outcomes, activities


def test_outcomes_play_in_order_and_the_last_one_repeats(adf: Adf, clock: FakeClock) -> None:
    runs = [adf.create_run("etl") for _ in range(3)]
    clock.advance(60)
    finals = [adf.run(run_id) for run_id in runs]
    assert [run["status"] for run in finals] == ["Failed", "Succeeded", "Succeeded"]
    assert finals[0]["message"] == "Operation on target Copy sales to lake failed: blob missing"
    assert finals[1]["message"] == ""
    assert finals[0]["durationInMs"] == 5000  # stopped at the failing activity
    assert finals[1]["durationInMs"] == 6000


def test_per_outcome_messages_and_the_default_failure_message(
    emulator_for: Emulators, clock: FakeClock
) -> None:
    body = scenario_json()
    body["pipelines"]["flaky"] = {
        "outcomes": [
            {"outcome": "Failed", "message": "throttled by the source", "error_code": "2108"},
            "Failed",
            "Succeeded",
        ]
    }
    server = emulator_for(body, clock=clock)
    adf = Adf(server)
    runs = [adf.create_run("flaky") for _ in range(3)]
    clock.advance(60)
    assert [adf.run(r)["message"] for r in runs] == [
        "throttled by the source",
        "Operation on target Copy data failed",
        "",
    ]
    (failed,) = adf.activities(runs[0])
    assert failed["error"]["errorCode"] == "2108"
    assert server.stats()["runs_created_by_pipeline"] == {"flaky": 3}


def test_activity_runs_of_a_failed_run(adf: Adf, clock: FakeClock) -> None:
    run_id = adf.create_run("etl")
    clock.advance(2)
    (lookup,) = adf.activities(run_id)
    assert (lookup["status"], lookup["activityRunEnd"], lookup["durationInMs"]) == (
        "InProgress",
        None,
        None,
    )
    clock.advance(60)

    lookup, copy = adf.activities(run_id)  # "Notify" comes after the failure: never ran

    assert set(copy) == ACTIVITY_FIELDS
    assert copy["error"] == {
        "errorCode": "2200",
        "message": "Operation on target Copy sales to lake failed: blob missing",
        "failureType": "UserError",
        "target": "Copy sales to lake",
    }
    assert {k: copy[k] for k in ("activityName", "activityType", "status", "durationInMs")} == {
        "activityName": "Copy sales to lake",
        "activityType": "Copy",
        "status": "Failed",
        "durationInMs": 3000,
    }
    assert (copy["pipelineName"], copy["pipelineRunId"]) == ("etl", run_id)
    assert (copy["retryAttempt"], copy["input"], copy["output"]) == (None, {}, {})
    assert (copy["linkedServiceName"], copy["userProperties"]) == ("", {})
    assert lookup["status"] == "Succeeded"
    assert lookup["error"] == {
        "errorCode": "",
        "message": "",
        "failureType": "",
        "target": "Lookup files",
    }
    assert lookup["activityRunEnd"] == copy["activityRunStart"]
    assert adf.run(run_id)["runEnd"] == copy["activityRunEnd"]


def test_the_activity_in_progress_at_cancel_time_ends_cancelled(adf: Adf, clock: FakeClock) -> None:
    run_id = adf.create_run("etl")
    clock.advance(4)  # Lookup done, Copy running
    adf.cancel(run_id)
    clock.advance(1)
    assert [a["status"] for a in adf.activities(run_id)] == ["Succeeded", "InProgress"]
    clock.advance(1)  # etl's cancel_seconds is 2
    lookup, copy = adf.activities(run_id)
    assert (lookup["status"], copy["status"]) == ("Succeeded", "Cancelled")
    # The run's runEnd stays null once Cancelled; its lastUpdated is when the activity ended.
    assert copy["activityRunEnd"] == adf.run(run_id)["lastUpdated"]


def test_query_activity_runs_needs_both_window_ends(adf: Adf) -> None:
    run_id = adf.create_run("etl")
    for missing in ("lastUpdatedAfter", "lastUpdatedBefore"):
        body = {k: v for k, v in WINDOW.items() if k != missing}
        answer = adf.query_activities(run_id, body)
        assert answer.status_code == 400
        error = answer.json()["error"]
        assert error["code"] == "BadRequest"
        assert missing in error["message"]
        assert error["target"] == missing


def test_query_activity_runs_filters_orders_and_pages(
    emulator_for: Emulators, clock: FakeClock
) -> None:
    body = scenario_json(page_size=2)
    body["pipelines"]["long"] = {
        "duration_seconds": 5,
        "activities": [
            {"name": f"step {i}", "type": "Wait" if i % 2 else "Copy"} for i in range(5)
        ],
    }
    server = emulator_for(body, clock=clock)
    adf = Adf(server)
    run_id = adf.create_run("long")
    clock.advance(60)
    query = {**WINDOW, "orderBy": [{"orderBy": "ActivityName", "order": "DESC"}]}
    names, pages, token = [], 0, None
    while True:
        answer = adf.query_activities(
            run_id, {**query, **({"continuationToken": token} if token else {})}
        )
        assert answer.status_code == 200
        pages += 1
        names += [a["activityName"] for a in answer.json()["value"]]
        token = answer.json().get("continuationToken")
        if token is None:
            break
    assert pages == 3
    assert names == ["step 4", "step 3", "step 2", "step 1", "step 0"]

    def matching(*filters: dict[str, Any]) -> list[str]:
        answer = adf.query_activities(run_id, {**WINDOW, "filters": list(filters)})
        assert answer.status_code == 200, answer.text
        values = answer.json()["value"]
        if "continuationToken" in answer.json():
            more = adf.query_activities(
                run_id,
                {
                    **WINDOW,
                    "filters": list(filters),
                    "continuationToken": answer.json()["continuationToken"],
                },
            )
            values += more.json()["value"]
        return [a["activityName"] for a in values]

    wait = {"operand": "ActivityType", "operator": "Equals", "values": ["Wait"]}
    assert matching(wait) == ["step 1", "step 3"]
    by_name = {"operand": "ActivityName", "operator": "In", "values": ["step 0", "step 4"]}
    assert matching(by_name) == ["step 0", "step 4"]
    not_in = {"operand": "ActivityName", "operator": "NotIn", "values": ["step 0", "step 4"]}
    assert matching(not_in, wait) == ["step 1", "step 3"]
    succeeded = {"operand": "Status", "operator": "NotEquals", "values": ["Succeeded"]}
    assert matching(succeeded) == []
    bad = adf.query_activities(run_id, {**WINDOW, "filters": [{**wait, "operand": "PipelineName"}]})
    assert bad.status_code == 400


# ---------------------------------------------------------------------- query pipeline runs


@pytest.fixture
def paged(emulator_for: Emulators, clock: FakeClock) -> tuple[Adf, list[str]]:
    """Seven runs created one second apart (the last one still queued), page size 2."""
    server = emulator_for(scenario_json(page_size=2), clock=clock)
    adf = Adf(server)
    runs = []
    for index in range(7):
        if index:
            clock.advance(1)
        runs.append(adf.create_run("etl" if index % 3 == 0 else "copy_sales"))
    return adf, runs


def all_pages(adf: Adf, body: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    runs, pages, token = [], 0, None
    while True:
        answer = adf.query_runs({**body, **({"continuationToken": token} if token else {})})
        assert answer.status_code == 200, answer.text
        pages += 1
        runs += answer.json()["value"]
        token = answer.json().get("continuationToken")
        if token is None:
            return runs, pages


def test_query_pipeline_runs_pages_of_two_until_no_token(paged: tuple[Adf, list[str]]) -> None:
    adf, created = paged
    first = adf.query_runs(WINDOW)
    assert first.status_code == 200
    assert len(first.json()["value"]) == 2
    assert isinstance(first.json()["continuationToken"], str)

    runs, pages = all_pages(adf, WINDOW)

    assert pages == 4
    assert [run["runId"] for run in runs] == created
    assert set(runs[0]) >= {"runId", "runGroupId", "isLatest", "status", "lastUpdated"}


def test_concurrent_queries_page_independently(paged: tuple[Adf, list[str]]) -> None:
    adf, created = paged
    by_start = {**WINDOW, "orderBy": [{"orderBy": "RunStart", "order": "DESC"}]}
    copies = {
        **WINDOW,
        "filters": [{"operand": "PipelineName", "operator": "Equals", "values": ["copy_sales"]}],
    }
    first_a = adf.query_runs(by_start).json()
    first_b = adf.query_runs(copies).json()
    second_a = adf.query_runs({**by_start, "continuationToken": first_a["continuationToken"]})
    second_b = adf.query_runs({**copies, "continuationToken": first_b["continuationToken"]})
    ids_a = [r["runId"] for r in first_a["value"] + second_a.json()["value"]]
    ids_b = [r["runId"] for r in first_b["value"] + second_b.json()["value"]]
    assert ids_a == [created[i] for i in (5, 4, 3, 2)]  # run 6 has no runStart yet: last
    assert ids_b == [created[i] for i in (1, 2, 4, 5)]

    crossed = adf.query_runs({**copies, "continuationToken": first_a["continuationToken"]})
    garbled = adf.query_runs({**copies, "continuationToken": "not-a-token!"})
    for answer in (crossed, garbled):
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == "BadRequest"
        assert answer.json()["error"]["target"] == "continuationToken"


def test_query_pipeline_runs_filters(paged: tuple[Adf, list[str]]) -> None:
    adf, created = paged

    def ids(*filters: dict[str, Any], order: str | None = None) -> list[str]:
        body: dict[str, Any] = {**WINDOW, "filters": list(filters)}
        if order:
            body["orderBy"] = [{"orderBy": order, "order": "ASC"}]
        return [run["runId"] for run in all_pages(adf, body)[0]]

    def f(operand: str, operator: str, *values: str) -> dict[str, Any]:
        return {"operand": operand, "operator": operator, "values": list(values)}

    etl = [created[i] for i in (0, 3, 6)]
    copies = [created[i] for i in (1, 2, 4, 5)]
    assert ids(f("PipelineName", "Equals", "etl")) == etl
    assert ids(f("PipelineName", "NotEquals", "etl")) == copies
    assert ids(f("PipelineName", "In", "etl", "copy_sales")) == created
    assert ids(f("PipelineName", "NotIn", "copy_sales")) == etl
    assert ids(f("Status", "Equals", "Queued")) == [created[6]]
    assert ids(f("Status", "In", "Failed")) == [created[0]]  # etl's first run fails at 6 s
    assert ids(f("RunGroupId", "Equals", created[2])) == [created[2]]
    run_start = adf.run(created[3])["runStart"]
    assert ids(f("RunStart", "Equals", run_start)) == [created[3]]
    assert len(ids(f("RunStart", "NotEquals", run_start))) == 6
    run_end = adf.run(created[0])["runEnd"]
    assert ids(f("RunEnd", "In", run_end)) == [created[0]]
    assert ids(f("LatestOnly", "Equals", "true")) == created
    assert ids(f("Status", "NotIn", "Queued"), order="Status")[0] == created[0]

    for bad, named in (
        (f("Colour", "Equals", "red"), "Colour"),
        (f("Status", "Contains", "Failed"), "Contains"),
        # Not in the spec's operand enum [datafactory.json, RunQueryFilter].
        (f("PipelineRunId", "In", created[1]), "PipelineRunId"),
        # Case-sensitive names [azure-rest-api-specs issue 18369].
        (f("status", "Equals", "Queued"), "status"),
        (f("Status", "equals", "Queued"), "equals"),
        # One value only [azure-sdk-for-net issue 22025].
        (f("RunGroupId", "In", created[1], created[2]), "does not support and array of values"),
    ):
        answer = adf.query_runs({**WINDOW, "filters": [bad]})
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == "BadRequest"
        assert named in answer.json()["error"]["message"]


def test_query_pipeline_runs_keeps_to_the_last_updated_window(
    paged: tuple[Adf, list[str]],
) -> None:
    adf, created = paged
    last = adf.run(created[-1])["lastUpdated"]  # still Queued: lastUpdated = creation
    window = {"lastUpdatedAfter": last, "lastUpdatedBefore": WINDOW["lastUpdatedBefore"]}
    after_last = all_pages(adf, window)[0]
    assert created[-1] in [run["runId"] for run in after_last]
    assert created[1] not in [run["runId"] for run in after_last]
    missing = adf.query_runs({"lastUpdatedBefore": WINDOW["lastUpdatedBefore"]})
    assert missing.status_code == 400
    assert "lastUpdatedAfter" in missing.json()["error"]["message"]


def test_order_by_run_end_desc_puts_unfinished_runs_last(paged: tuple[Adf, list[str]]) -> None:
    adf, created = paged
    body = {**WINDOW, "orderBy": [{"orderBy": "RunEnd", "order": "DESC"}]}
    runs = all_pages(adf, body)[0]
    assert runs[0]["runId"] == created[0]  # the only ended run (etl fails at 6 s)
    assert all(run["runEnd"] is None for run in runs[1:])


# ---------------------------------------------------------------------- recovery reruns


def test_a_recovery_rerun_joins_the_group_and_becomes_the_latest(
    adf: Adf, clock: FakeClock
) -> None:
    first = adf.create_run("etl", {"date": "2026-11-26"})
    clock.advance(60)
    rerun = adf.create_run(
        "etl", referencePipelineRunId=first, isRecovery="true", startFromFailure="true"
    )
    old, new = adf.run(first), adf.run(rerun)
    assert new["runGroupId"] == old["runGroupId"] == first
    assert (old["isLatest"], new["isLatest"]) == (False, True)
    assert new["parameters"] == {"date": "2026-11-26"}
    assert new["invokedBy"]["invokedByType"] == "Manual"
    latest = {"operand": "LatestOnly", "operator": "Equals", "values": ["true"]}
    answer = adf.query_runs({**WINDOW, "filters": [latest]})
    assert [run["runId"] for run in answer.json()["value"]] == [rerun]
    clock.advance(60)
    assert [a["activityName"] for a in adf.activities(rerun)] == [
        "Copy sales to lake",
        "Notify",
    ]
    assert adf.run(rerun)["status"] == "Succeeded"  # second outcome of etl


def test_rerun_without_recovery_gets_its_own_group(adf: Adf, clock: FakeClock) -> None:
    first = adf.create_run("etl")
    clock.advance(60)
    rerun = adf.create_run("etl", referencePipelineRunId=first, startFromFailure="true")
    assert adf.run(rerun)["runGroupId"] == rerun
    assert adf.run(first)["isLatest"] is True
    clock.advance(60)
    assert len(adf.activities(rerun)) == 3


def test_rerun_from_a_named_activity(adf: Adf, clock: FakeClock) -> None:
    first = adf.create_run("etl")
    clock.advance(60)
    rerun = adf.create_run(
        "etl", referencePipelineRunId=first, isRecovery="true", startActivityName="Notify"
    )
    clock.advance(60)
    assert [a["activityName"] for a in adf.activities(rerun)] == ["Notify"]


@pytest.mark.parametrize(
    "reference", ["00000000-0000-0000-0000-000000000000", "{}", "not-a-run-id"]
)
def test_rerun_of_an_unknown_run_is_referenced_pipeline_run_not_valid(
    adf: Adf, reference: str
) -> None:
    answer = adf.post(
        "/pipelines/etl/createRun", referencePipelineRunId=reference, isRecovery="true"
    )
    assert answer.status_code == 400
    assert answer.json() == {
        "error": {
            "code": "ReferencedPipelineRunNotValid",
            "message": f"Referenced pipeline run id {reference} is not a valid run id.",
            "target": "pipeline/etl/",
        }
    }
    assert adf.server.runs_created == 0
    assert adf.server.request_counts()["create run refused"] == 1


def test_rerun_of_a_run_of_another_pipeline_is_refused_the_same_way(adf: Adf) -> None:
    other = adf.create_run("copy_sales")
    answer = adf.post("/pipelines/etl/createRun", referencePipelineRunId=other)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "ReferencedPipelineRunNotValid"


def test_a_rerun_keeps_the_reference_runs_parameters_and_ignores_the_body(
    adf: Adf, clock: FakeClock
) -> None:
    first = adf.create_run("copy_sales", {"region": "emea", "date": "2026-11-26"})
    clock.advance(60)
    # Even a parameter the pipeline does not declare is not looked at: the body is unused.
    rerun = adf.create_run(
        "copy_sales", {"region": "apac", "undeclared": "x"}, referencePipelineRunId=first
    )
    assert adf.run(rerun)["parameters"] == {"region": "emea", "date": "2026-11-26"}
    recovery = adf.create_run(
        "copy_sales", {"date": "2027-01-01"}, referencePipelineRunId=first, isRecovery="true"
    )
    assert adf.run(recovery)["parameters"] == {"region": "emea", "date": "2026-11-26"}


# ---------------------------------------------------------------------- faults


def test_a_429_fault_answers_before_processing_with_retry_hints(
    adf: Adf, server: EmulatorServer
) -> None:
    server.add_fault(
        operation="create run", action="status", status=429, retry_after=7, retry_after_ms=7000
    )

    answer = adf.post("/pipelines/copy_sales/createRun")

    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "7"
    assert answer.headers["x-ms-retry-after-ms"] == "7000"
    assert answer.json()["error"]["code"] == "TooManyRequests"
    assert server.runs_created == 0
    assert adf.post("/pipelines/copy_sales/createRun").status_code == 200  # times: 1
    assert server.request_counts() == {"token": 1, "create run": 2}
    stats = server.stats()
    assert (stats["faults_applied"], stats["requests_total"]) == (1, 3)


def test_a_503_fault_on_get_run(adf: Adf, server: EmulatorServer) -> None:
    run_id = adf.create_run("copy_sales")
    server.add_fault(operation="get run", action="status", status=503)
    answer = adf.get(f"/pipelineruns/{run_id}")
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "ServiceUnavailable"
    assert "Retry-After" not in answer.headers
    assert adf.get(f"/pipelineruns/{run_id}").status_code == 200


def test_drop_closes_the_connection_without_creating_a_run(
    adf: Adf, server: EmulatorServer
) -> None:
    server.add_fault(operation="create run", action="drop")
    with pytest.raises(requests.ConnectionError):
        adf.post("/pipelines/copy_sales/createRun")
    assert server.runs_created == 0
    assert server.request_counts()["create run"] == 1


def test_lose_response_creates_the_run_but_the_client_hears_nothing(
    adf: Adf, server: EmulatorServer
) -> None:
    server.add_fault(operation="create run", action="lose_response", pipeline="copy_sales")
    with pytest.raises(requests.ConnectionError):
        adf.post("/pipelines/copy_sales/createRun")
    assert server.runs_created == 1
    (summary,) = server.run_summaries()
    assert adf.run(summary["runId"])["pipelineName"] == "copy_sales"


def test_delay_waits_then_answers_normally(adf: Adf, server: EmulatorServer) -> None:
    server.add_fault(operation="get factory", action="delay", delay_seconds=0.3)
    # Real time on purpose: the fault holds the real answer back (the emulator's clock is not
    # what a client's read timeout counts).
    started = time.monotonic()
    answer = adf.get("")
    assert answer.status_code == 200
    assert answer.json()["name"] == "adf-demo"
    assert time.monotonic() - started >= 0.3


def test_pipeline_restricted_faults_skip_other_pipelines(adf: Adf, server: EmulatorServer) -> None:
    server.add_fault(operation="*", action="status", status=500, pipeline="etl", times=-1)
    assert adf.post("/pipelines/copy_sales/createRun").status_code == 200
    assert adf.post("/pipelines/etl/createRun").status_code == 500
    assert adf.post("/pipelines/etl/createRun").status_code == 500
    assert server.faults() == [
        {
            "operation": "*",
            "action": "status",
            "status": 500,
            "delay_seconds": 0.0,
            "times": -1,
            "pipeline": "etl",
            "remaining": -1,
        }
    ]
    server.clear_faults()
    assert adf.post("/pipelines/etl/createRun").status_code == 200


def test_admin_faults_endpoint_appends_lists_consumes_and_clears(
    adf: Adf, server: EmulatorServer
) -> None:
    added = adf.admin(
        "POST",
        "faults",
        [
            {"operation": "get factory", "action": "status", "status": 500, "times": 2},
            {"operation": "*", "action": "status", "status": 503},
        ],
    )
    assert added.status_code == 200
    assert [f["remaining"] for f in added.json()] == [2, 1]

    statuses = [adf.get("").status_code for _ in range(4)]

    assert statuses == [500, 500, 503, 200]
    assert [f["remaining"] for f in adf.admin("GET", "faults").json()] == [0, 0]
    assert adf.admin("POST", "faults", {"operation": "token", "action": "drop"}).ok
    assert adf.admin("DELETE", "faults").json() == []
    invalid = adf.admin("POST", "faults", {"operation": "get run", "action": "explode"})
    assert invalid.status_code == 400
    assert "action" in invalid.json()["error"]["message"]
    stats = adf.admin("GET", "stats").json()
    assert stats["faults_applied"] == 3
    assert stats["requests"] == {"token": 1, "get factory": 4}


def test_faults_from_the_scenario_file_hit_the_token_endpoint(
    emulator_for: Emulators, tmp_path: Path
) -> None:
    path = tmp_path / "scenario.json"
    faults = [{"operation": "token", "action": "status", "status": 503, "retry_after": 1}]
    path.write_text(json.dumps(scenario_json(faults=faults)), encoding="utf-8")
    server = emulator_for(path)
    refused = token_request(server)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["error"] == "temporarily_unavailable"
    assert refused.json()["error_codes"] == [90033]
    assert token_request(server).status_code == 200
    assert server.request_counts() == {"token": 2}


def test_applied_faults_are_logged_without_secrets(
    server: EmulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.add_faults([{"operation": "token", "action": "status", "status": 429}])
    with caplog.at_level(logging.INFO, logger="airflow_adf_trigger.emulator"):
        assert token_request(server).status_code == 429
    assert "fault on token: status 429" in caplog.text
    assert SECRET not in caplog.text


def test_settings_change_the_lifetime_of_new_tokens(server: EmulatorServer) -> None:
    answer = requests.post(
        f"{server.url}/_emulator/settings", json={"token_lifetime_seconds": 60}, timeout=5
    )
    assert answer.json() == {
        "token_lifetime_seconds": 60,
        "page_size": 100,
        "monitoring_lag_seconds": 0.0,
    }
    assert token_request(server).json()["expires_in"] == 60
    bad = requests.post(f"{server.url}/_emulator/settings", json={"colour": 1}, timeout=5)
    assert bad.status_code == 400


# ---------------------------------------------------------------------- sign-in


def test_an_expired_secret_is_aadsts7000222(server: EmulatorServer) -> None:
    answer = token_request(server, EXPIRED_CLIENT_ID, "old")
    assert answer.status_code == 401
    body = answer.json()
    assert body["error"] == "invalid_client"
    assert body["error_codes"] == [7000222]
    assert body["error_description"].startswith(
        f"AADSTS7000222: The provided client secret keys for app '{EXPIRED_CLIENT_ID}' are "
        "expired. Visit the Azure portal to create new keys for your app"
    )
    assert token_request(server, EXPIRED_CLIENT_ID, "wrong").json()["error_codes"] == [7000215]


# ---------------------------------------------------------------------- CLI


def test_the_cli_serves_a_scenario_with_faults(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.json"
    faults = [{"operation": "token", "action": "status", "status": 500}]
    scenario.write_text(json.dumps(scenario_json(faults=faults)), encoding="utf-8")
    port_file = tmp_path / "port"
    command = [sys.executable, "-m", "airflow_adf_trigger.emulator", "--port", "0"]
    command += ["--scenario", str(scenario), "--port-file", str(port_file)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while not port_file.exists() or not port_file.read_text():
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        url = f"http://127.0.0.1:{port_file.read_text()}"
        form = {"grant_type": "client_credentials", "client_id": CLIENT_ID}
        answer = requests.post(f"{url}/{TENANT}/oauth2/v2.0/token", data=form, timeout=5)
        assert answer.status_code == 500
        stats = requests.get(f"{url}/_emulator/stats", timeout=5).json()
        assert stats["faults_applied"] == 1
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=5)
    assert "fault on token: status 500" in stderr
