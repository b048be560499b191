"""Every client operation and retry rule, shown for the sync and the async transport alike."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_adf_trigger.core.errors import (
    AdfAuthenticationError,
    AdfConfigurationError,
    AdfConnectionError,
    AdfNotFoundError,
    AdfRunOutcomeUnknownError,
    AdfServiceError,
    AdfWaitTimeoutError,
)
from airflow_adf_trigger.core.runs.models import RunFilter, RunQuery, RunStatus
from tests.clock import FakeClock

from .fake_azure import FakeAzure, Harness, Refused, Reset
from .helpers import RUN_ID, SECRET, make_settings

OTHER_RUN = "11111111-2222-3333-4444-555555555555"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
WINDOW = RunQuery(last_updated_after=NOW - timedelta(days=1), last_updated_before=NOW)


def run_json(run_id: str = RUN_ID, status: str = "InProgress", **extra: Any) -> dict[str, Any]:
    return {"runId": run_id, "pipelineName": "copy_sales", "status": status, **extra}


def activity_json(name: str, status: str, error: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "activityRunId": f"act-{name}",
        "activityName": name,
        "activityType": "Copy",
        "status": status,
        "pipelineRunId": RUN_ID,
        "pipelineName": "copy_sales",
        "activityRunStart": "2026-11-26T11:00:00.1234567Z",
        "activityRunEnd": None,
        "durationInMs": None,
        "retryAttempt": None,
        "error": error or {"errorCode": "", "message": "", "failureType": "", "target": name},
    }


class TestRerunParameters:
    def test_parameters_given_with_a_reference_run_are_reported_as_ignored(
        self, harness: Harness, fake: FakeAzure, caplog: pytest.LogCaptureFixture
    ) -> None:
        fake.on("POST", "/createRun", (200, {}, {"runId": OTHER_RUN}))
        with caplog.at_level(logging.WARNING, logger="airflow_adf_trigger.core.wire.operations"):
            harness.call(
                "create_run", "copy_sales", {"date": "x"}, reference_pipeline_run_id=RUN_ID
            )
        assert "Parameters are ignored by ADF when rerunning run" in caplog.text

    def test_a_plain_rerun_says_nothing(
        self, harness: Harness, fake: FakeAzure, caplog: pytest.LogCaptureFixture
    ) -> None:
        fake.on("POST", "/createRun", (200, {}, {"runId": OTHER_RUN}))
        with caplog.at_level(logging.WARNING, logger="airflow_adf_trigger.core.wire.operations"):
            harness.call("create_run", "copy_sales", reference_pipeline_run_id=RUN_ID)
        assert "ignored" not in caplog.text


class TestCancel:
    def test_cancel_is_recursive_by_default(self, harness: Harness, fake: FakeAzure) -> None:
        fake.on("POST", "/cancel", (200, {}, None))
        fake.on("GET", f"/pipelineruns/{RUN_ID}", (200, {}, run_json(status="Canceling")))
        result = harness.call("cancel_run", RUN_ID)
        assert result.cancel_requested
        (seen,) = fake.requests_to("/cancel")
        assert seen.query == {"api-version": "2018-06-01", "isRecursive": "true"}
        assert seen.body == b""

    def test_cancel_can_leave_child_pipelines_running(
        self, harness: Harness, fake: FakeAzure
    ) -> None:
        fake.on("POST", "/cancel", (200, {}, None))
        fake.on("GET", f"/pipelineruns/{RUN_ID}", (200, {}, run_json(status="Canceling")))
        harness.call("cancel_run", RUN_ID, is_recursive=False)
        assert fake.requests_to("/cancel")[0].query["isRecursive"] == "false"

    def test_cancel_of_a_finished_run_reports_its_status(
        self, harness: Harness, fake: FakeAzure
    ) -> None:
        body = {
            "error": {
                "code": "PipelineRunNotRunning",
                "message": "Pipeline run has already completed with status 'Succeeded'.Only "
                "pipeline runs that are in progress or queued can be canceled.",
            }
        }
        fake.on("POST", "/cancel", (400, {}, body))
        result = harness.call("cancel_run", RUN_ID)
        assert not result.cancel_requested
        assert result.finished_status is RunStatus.SUCCEEDED
        assert result.describe() == f"run {RUN_ID} already finished with status Succeeded"

    @pytest.mark.parametrize("status", ["Succeeded", "Failed"])
    def test_a_plain_200_for_a_finished_run_says_it_had_finished(
        self, harness: Harness, fake: FakeAzure, status: str
    ) -> None:
        fake.on("POST", "/cancel", (200, {}, None))
        fake.on("GET", f"/pipelineruns/{RUN_ID}", (200, {}, run_json(status=status)))
        result = harness.call("cancel_run", RUN_ID)
        assert not result.cancel_requested
        assert result.finished_status is RunStatus(status)

    def test_an_accepted_cancel_stays_accepted_when_the_look_after_fails(
        self, harness: Harness, fake: FakeAzure
    ) -> None:
        fake.on("POST", "/cancel", (200, {}, None))
        fake.on("GET", f"/pipelineruns/{RUN_ID}", (503, {}, {}))
        assert harness.call("cancel_run", RUN_ID).cancel_requested

    def test_unparsable_not_running_message_is_settled_by_reading_the_run(
        self, harness: Harness, fake: FakeAzure
    ) -> None:
        body = {"error": {"code": "PipelineRunNotRunning", "message": "Not running."}}
        fake.on("POST", "/cancel", (409, {}, body))
        fake.on("GET", f"/pipelineruns/{RUN_ID}", (200, {}, run_json(status="Failed")))
        assert harness.call("cancel_run", RUN_ID).finished_status is RunStatus.FAILED

    def test_cancel_of_an_unknown_run_is_not_found(self, harness: Harness, fake: FakeAzure) -> None:
        fake.on("POST", "/cancel", (404, {}, {"error": {"code": "PipelineRunNotFound"}}))
        with pytest.raises(AdfNotFoundError, match=f"Run {RUN_ID} was not found"):
            harness.call("cancel_run", RUN_ID)

    def test_cancel_is_retried_like_a_read(
        self, harness: Harness, fake: FakeAzure, clock: FakeClock
    ) -> None:
        fake.on("POST", "/cancel", (503, {"Retry-After": "2"}, {}), (200, {}, None))
        fake.on("GET", f"/pipelineruns/{RUN_ID}", (200, {}, run_json(status="Canceling")))
        assert harness.call("cancel_run", RUN_ID).cancel_requested
        assert clock.sleeps == [2.0]


class TestQueries:
    def test_pipeline_runs_follow_every_page(self, harness: Harness, fake: FakeAzure) -> None:
        fake.on(
            "POST",
            "/queryPipelineRuns",
            (200, {}, {"value": [run_json(RUN_ID)], "continuationToken": "page-2"}),
            (200, {}, {"value": [], "continuationToken": "page-3"}),
            (200, {}, {"value": [run_json(OTHER_RUN, "Failed")]}),
        )
        query = RunQuery(
            last_updated_after=NOW - timedelta(hours=1),
            last_updated_before=NOW,
            filters=(RunFilter("PipelineName", "In", ("copy_sales", "load")),),
            order_by=(("RunStart", "DESC"),),
        )
        runs = harness.call("query_pipeline_runs", query)
        assert [r.run_id for r in runs] == [RUN_ID, OTHER_RUN]
        bodies = [s.json() for s in fake.requests_to("/queryPipelineRuns")]
        assert bodies[0] == {
            "lastUpdatedAfter": "2026-11-26T11:00:00.000000Z",
            "lastUpdatedBefore": "2026-11-26T12:00:00.000000Z",
            "filters": [
                {"operand": "PipelineName", "operator": "In", "values": ["copy_sales", "load"]}
            ],
            "orderBy": [{"orderBy": "RunStart", "order": "DESC"}],
        }
        assert [b.get("continuationToken") for b in bodies] == [None, "page-2", "page-3"]

    def test_a_repeated_continuation_token_stops_paging(
        self, harness: Harness, fake: FakeAzure
    ) -> None:
        fake.on("POST", "/queryPipelineRuns", (200, {}, {"value": [], "continuationToken": "same"}))
        with pytest.raises(AdfServiceError, match="repeated a continuation token"):
            harness.call("query_pipeline_runs", WINDOW)
        assert len(fake.requests_to("/queryPipelineRuns")) == 2

    def test_a_failed_page_is_retried_without_losing_earlier_pages(
        self, harness: Harness, fake: FakeAzure
    ) -> None:
        fake.on(
            "POST",
            "/queryPipelineRuns",
            (200, {}, {"value": [run_json(RUN_ID)], "continuationToken": "p2"}),
            (500, {}, {}),
            (200, {}, {"value": [run_json(OTHER_RUN)]}),
        )
        runs = harness.call("query_pipeline_runs", WINDOW)
        assert [r.run_id for r in runs] == [RUN_ID, OTHER_RUN]

    def test_bad_query_is_refused_before_sending(self, harness: Harness, fake: FakeAzure) -> None:
        backwards = RunQuery(last_updated_after=NOW, last_updated_before=NOW - timedelta(1))
        with pytest.raises(AdfConfigurationError, match="last_updated_after"):
            harness.call("query_pipeline_runs", backwards)
        odd = RunQuery(NOW - timedelta(1), NOW, filters=(RunFilter("Status", "Like", ("F",)),))
        with pytest.raises(AdfConfigurationError, match="operator 'Like'"):
            harness.call("query_pipeline_runs", odd)
        assert fake.seen == []

    def test_activity_runs_of_a_run_every_page(self, harness: Harness, fake: FakeAzure) -> None:
        fake.on(
            "POST",
            f"/pipelineruns/{RUN_ID}/queryActivityruns",
            (200, {}, {"value": [activity_json("Lookup", "Succeeded")], "continuationToken": "x"}),
            (200, {}, {"value": [activity_json("Copy", "InProgress")]}),
        )
        activities = harness.call("query_activity_runs", RUN_ID, WINDOW)
        assert [(a.activity_name, a.status) for a in activities] == [
            ("Lookup", "Succeeded"),
            ("Copy", "InProgress"),
        ]
        assert activities[0].error is None

    def test_failure_details_are_the_failed_activities_in_adfs_words(
        self, harness: Harness, fake: FakeAzure
    ) -> None:
        error = {
            "errorCode": "2200",
            "message": "The required blob is missing",
            "failureType": "UserError",
            "target": "Copy",
        }
        fake.on(
            "GET",
            f"/pipelineruns/{RUN_ID}",
            (200, {}, run_json(status="Failed", runStart="2026-11-26T11:00:00Z")),
        )
        fake.on(
            "POST",
            "/queryActivityruns",
            (
                200,
                {},
                {
                    "value": [
                        activity_json("Lookup", "Succeeded"),
                        activity_json("Copy", "Failed", error),
                    ]
                },
            ),
        )
        (failure,) = harness.call("failure_details", RUN_ID, now=NOW)
        assert failure.activity_name == "Copy"
        assert failure.error is not None and failure.error.code == "2200"
        assert failure.describe() == (
            "activity 'Copy' (Copy) failed: [2200] The required blob is missing"
        )
        window = fake.requests_to("/queryActivityruns")[0].json()
        assert window["lastUpdatedAfter"] == "2026-11-26T10:00:00.000000Z"
        assert window["lastUpdatedBefore"] == "2026-11-27T12:00:00.000000Z"


class TestRetries:
    def test_reads_retry_429_and_5xx_honouring_hints(
        self, harness: Harness, fake: FakeAzure, clock: FakeClock
    ) -> None:
        fake.on(
            "GET",
            f"/pipelineruns/{RUN_ID}",
            (429, {"Retry-After": "3"}, {}),
            (502, {"x-ms-retry-after-ms": "200"}, {}),
            (504, {"retry-after-ms": "100"}, {}),
            (200, {}, run_json()),
        )
        assert harness.call("get_run", RUN_ID).status is RunStatus.IN_PROGRESS
        assert clock.sleeps == [3.0, 0.2, 0.1]

    def test_reads_retry_broken_connections(self, harness: Harness, fake: FakeAzure) -> None:
        fake.on("GET", f"/pipelineruns/{RUN_ID}", Reset, Refused, (200, {}, run_json()))
        assert harness.call("get_run", RUN_ID).run_id == RUN_ID

    def test_reads_report_a_connection_error_when_attempts_run_out(
        self, harness: Harness, fake: FakeAzure
    ) -> None:
        fake.on("GET", f"/pipelineruns/{RUN_ID}", Reset)
        with pytest.raises(AdfConnectionError, match=r"Could not get run at management\.azure"):
            harness.call("get_run", RUN_ID)
        assert len(fake.requests_to(RUN_ID)) == 4

    @pytest.mark.parametrize("failure", [Reset, (500, {}, {}), (503, {}, {})])
    def test_create_run_with_unknown_outcome_is_sent_once(
        self, harness: Harness, fake: FakeAzure, failure: Any
    ) -> None:
        fake.on("POST", "/createRun", failure, (200, {}, {"runId": RUN_ID}))
        with pytest.raises(AdfRunOutcomeUnknownError, match=r"'copy_sales'.*may have started"):
            harness.call("create_run", "copy_sales", {"a": 1})
        assert len(fake.requests_to("/createRun")) == 1

    def test_create_run_is_resent_when_it_never_left(
        self, harness: Harness, fake: FakeAzure
    ) -> None:
        fake.on(
            "POST",
            "/createRun",
            Refused,
            (429, {"Retry-After": "1"}, {}),
            (200, {}, {"runId": RUN_ID}),
        )
        assert harness.call("create_run", "copy_sales") == RUN_ID
        assert len(fake.requests_to("/createRun")) == 3

    def test_a_refused_token_is_replaced_once(self, harness: Harness, fake: FakeAzure) -> None:
        fake.scripts.clear()
        fake.on(
            "POST",
            "/token",
            (200, {}, {"access_token": "old", "expires_in": 3599}),
            (200, {}, {"access_token": "new", "expires_in": 3599}),
        )
        fake.on(
            "GET",
            f"/pipelineruns/{RUN_ID}",
            (401, {}, {"error": {"code": "InvalidAuthenticationToken"}}),
            (200, {}, run_json()),
        )
        harness.call("get_run", RUN_ID)
        auth = [s.headers["authorization"] for s in fake.requests_to(RUN_ID)]
        assert auth == ["Bearer old", "Bearer new"]

    def test_a_second_401_is_reported_not_looped(self, harness: Harness, fake: FakeAzure) -> None:
        fake.on(
            "GET",
            f"/pipelineruns/{RUN_ID}",
            (401, {}, {"error": {"code": "InvalidAuthenticationToken"}}),
        )
        with pytest.raises(AdfAuthenticationError, match="refused the access token"):
            harness.call("get_run", RUN_ID)
        assert len(fake.requests_to(RUN_ID)) == 2

    def test_token_endpoint_throttling_is_retried(
        self, harness: Harness, fake: FakeAzure, clock: FakeClock
    ) -> None:
        fake.scripts.clear()
        fake.on(
            "POST",
            "/token",
            (429, {"Retry-After": "5"}, {}),
            (200, {}, {"access_token": "t", "expires_in": 3599}),
        )
        fake.on("GET", f"/pipelineruns/{RUN_ID}", (200, {}, run_json()))
        harness.call("get_run", RUN_ID)
        assert clock.sleeps == [5.0]


class TestWaiting:
    def test_wait_polls_until_the_end(
        self, harness: Harness, fake: FakeAzure, clock: FakeClock
    ) -> None:
        fake.on(
            "GET",
            f"/pipelineruns/{RUN_ID}",
            (200, {}, run_json(status="Queued")),
            (200, {}, run_json(status="InProgress")),
            (200, {}, run_json(status="Succeeded")),
        )
        seen: list[RunStatus] = []
        run = harness.call(
            "wait_for_run", RUN_ID, poll_interval=5, on_poll=lambda r: seen.append(r.status)
        )
        assert run.status is RunStatus.SUCCEEDED
        assert seen == [RunStatus.QUEUED, RunStatus.IN_PROGRESS, RunStatus.SUCCEEDED]
        assert clock.sleeps == [5, 5]

    def test_wait_reports_changes_and_a_heartbeat_not_every_check(
        self, harness: Harness, fake: FakeAzure, clock: FakeClock
    ) -> None:
        statuses = ["Queued", "InProgress", *["InProgress"] * 40, "Succeeded"]
        fake.on(
            "GET",
            f"/pipelineruns/{RUN_ID}",
            *[(200, {}, run_json(status=status)) for status in statuses],
        )
        reported: list[tuple[str, bool]] = []
        harness.call(
            "wait_for_run",
            RUN_ID,
            poll_interval=15,
            on_report=lambda r, changed: reported.append((r.status.value, changed)),
        )
        assert reported == [
            ("Queued", True),
            ("InProgress", True),
            ("InProgress", False),  # 300 s of the same status: a heartbeat
            ("InProgress", False),
            ("Succeeded", True),
        ]

    def test_wait_gives_up_at_its_timeout(
        self, harness: Harness, fake: FakeAzure, clock: FakeClock
    ) -> None:
        fake.on("GET", f"/pipelineruns/{RUN_ID}", (200, {}, run_json()))
        with pytest.raises(AdfWaitTimeoutError, match="still InProgress after waiting 12 s"):
            harness.call("wait_for_run", RUN_ID, poll_interval=5, timeout=12)
        assert clock.sleeps == [5, 5, 2]


class TestIdentity:
    class FakeCredential:
        def __init__(self) -> None:
            self.scopes: list[str] = []

        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            self.scopes.extend(scopes)

            class Token:
                token = "identity-token"
                expires_on = 1_800_003_600

            return Token()

    def test_an_azure_identity_credential_replaces_the_secret(
        self, kind: str, fake: FakeAzure, clock: FakeClock
    ) -> None:
        credential = self.FakeCredential()
        harness = Harness(kind, fake, make_settings(client_secret=None), clock)
        fake.on("GET", f"/pipelineruns/{RUN_ID}", (200, {}, run_json()))
        client = harness.client(credential=credential)
        harness.call_on(client, "get_run", RUN_ID)
        harness.call_on(client, "get_run", RUN_ID)
        assert credential.scopes == ["https://management.azure.com/.default"]
        assert fake.requests_to("/token") == []
        assert fake.requests_to(RUN_ID)[0].headers["authorization"] == "Bearer identity-token"

    def test_credential_errors_become_one_line_authentication_errors(
        self, kind: str, fake: FakeAzure, clock: FakeClock
    ) -> None:
        class Broken:
            def get_token(self, *scopes: str, **kwargs: Any) -> Any:
                raise RuntimeError("ManagedIdentityCredential authentication unavailable.\nmore")

        harness = Harness(kind, fake, make_settings(client_secret=None), clock)
        with pytest.raises(AdfAuthenticationError) as caught:
            harness.call_on(harness.client(credential=Broken()), "get_run", RUN_ID)
        assert str(caught.value) == (
            "No client secret is set (the connection's password), so the azure-identity "
            "default credential was tried instead, and it could not get a token: "
            "ManagedIdentityCredential authentication unavailable."
        )


def test_secret_and_tokens_never_show(
    harness: Harness, fake: FakeAzure, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.scripts.clear()
    fake.on("POST", "/token", (200, {}, {"access_token": "tok-private-123", "expires_in": 3599}))
    fake.on("GET", f"/pipelineruns/{RUN_ID}", Reset, (500, {}, {}), (200, {}, run_json()))
    fake.on("POST", "/createRun", (500, {}, {}))
    client = harness.client()
    harness.call_on(client, "get_run", RUN_ID)
    with pytest.raises(AdfRunOutcomeUnknownError) as caught:
        harness.call_on(client, "create_run", "copy_sales")
    shown = caplog.text + repr(client) + str(caught.value) + repr(caught.value)
    assert SECRET not in shown and "tok-private-123" not in shown


def test_concurrent_callers_fetch_one_token(kind: str, fake: FakeAzure, clock: FakeClock) -> None:
    """Threads (sync) or tasks (async) racing for a token: exactly one token request."""
    import threading

    fake.on("GET", f"/pipelineruns/{RUN_ID}", (200, {}, run_json()))
    fake.latency = 0.02
    harness = Harness(kind, fake, make_settings(), clock)
    if kind == "sync":
        client = harness.client()
        threads = [threading.Thread(target=client.get_run, args=(RUN_ID,)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:
        import asyncio

        client = harness.client()

        async def many() -> None:
            await asyncio.gather(*(client.get_run(RUN_ID) for _ in range(8)))  # type: ignore[misc]

        asyncio.run(many())
    assert len(fake.requests_to("/token")) == 1
    assert len(fake.requests_to(RUN_ID)) == 8


def test_an_unreachable_token_endpoint_is_named_in_plain_words(
    harness: Harness, fake: FakeAzure
) -> None:
    fake.scripts.clear()
    fake.on("POST", "/token", Refused)
    with pytest.raises(AdfConnectionError, match=r"^Could not get an Azure AD token at login\."):
        harness.call("get_run", RUN_ID)
