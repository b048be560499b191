"""Issue-3 guarantees shown over real HTTP: retries, the one-run rule, token refresh, clouds,
error messages, and no secret in any output. Both the sync and the async client are used."""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_adf_trigger.core.config.connection import settings_from_connection
from airflow_adf_trigger.core.config.settings import AdfSettings
from airflow_adf_trigger.core.errors import (
    AdfAuthenticationError,
    AdfAuthorizationError,
    AdfConnectionError,
    AdfRunOutcomeUnknownError,
)
from airflow_adf_trigger.core.runs.models import RunFilter, RunQuery, RunStatus
from airflow_adf_trigger.core.wire.aio import AsyncAdfClient
from airflow_adf_trigger.core.wire.client import AdfClient
from airflow_adf_trigger.emulator import EmulatorServer, Scenario
from tests.clock import FakeClock
from tests.conftest import SCENARIOS
from tests.emulator_fixtures import Emulators


@pytest.fixture
def flaky() -> Scenario:
    scenario = Scenario.load(SCENARIOS / "flaky.json")
    return replace(scenario, faults=())


@pytest.fixture
def server(emulator_for: Emulators, flaky: Scenario, clock: FakeClock) -> EmulatorServer:
    return emulator_for(flaky, clock=clock)


def settings_for(emulator: EmulatorServer, principal: int = 0, **extra: Any) -> AdfSettings:
    connection = emulator.state.scenario.airflow_connection(emulator.url, principal)
    return settings_from_connection(
        connection["login"], connection["password"], {**connection["extra"], **extra}
    )


def client_for(emulator: EmulatorServer, clock: FakeClock, **extra: Any) -> AdfClient:
    return AdfClient(settings_for(emulator, **extra), clock=clock, sleep=clock.sleep)


class TestRetries:
    def test_get_run_retries_429_with_retry_after(
        self, server: EmulatorServer, clock: FakeClock
    ) -> None:
        client = client_for(server, clock)
        run_id = client.create_run("copy_sales")
        server.add_fault(operation="get run", action="status", status=429, retry_after=4)
        assert client.get_run(run_id).run_id == run_id
        assert clock.sleeps == [4.0]
        assert server.request_counts()["get run"] == 2

    def test_get_run_retries_5xx_and_dropped_connections(
        self, server: EmulatorServer, clock: FakeClock
    ) -> None:
        client = client_for(server, clock)
        run_id = client.create_run("copy_sales")
        server.add_faults(
            [
                {"operation": "get run", "action": "status", "status": 503},
                {"operation": "get run", "action": "drop"},
                {"operation": "get run", "action": "status", "status": 500},
            ]
        )
        assert client.get_run(run_id).run_id == run_id
        assert server.request_counts()["get run"] == 4
        assert server.faults_applied == 3

    def test_reads_stop_at_the_attempt_budget_from_the_connection(
        self, server: EmulatorServer, clock: FakeClock
    ) -> None:
        client = client_for(server, clock, retry_max_attempts=2)
        run_id = client.create_run("copy_sales")
        server.add_fault(operation="get run", action="drop", times=-1)
        with pytest.raises(AdfConnectionError, match="Could not get run"):
            client.get_run(run_id)
        assert server.request_counts()["get run"] == 2

    def test_a_slow_read_times_out_and_is_retried(
        self, server: EmulatorServer, clock: FakeClock
    ) -> None:
        client = client_for(server, clock, request_timeout=0.2)
        run_id = client.create_run("copy_sales")
        server.add_fault(operation="get run", action="delay", delay_seconds=0.6)
        assert client.get_run(run_id).run_id == run_id
        assert server.request_counts()["get run"] == 2

    def test_create_run_is_retried_after_a_429(
        self, server: EmulatorServer, clock: FakeClock
    ) -> None:
        server.add_fault(operation="create run", action="status", status=429, retry_after=2)
        run_id = client_for(server, clock).create_run("copy_sales")
        assert server.runs_created == 1
        assert [s["runId"] for s in server.run_summaries()] == [run_id]
        assert server.request_counts()["create run"] == 2

    def test_create_run_is_retried_when_the_port_refuses(
        self, clock: FakeClock, flaky: Scenario
    ) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            free_port = probe.getsockname()[1]
        connection = flaky.airflow_connection(f"http://127.0.0.1:{free_port}")
        settings = settings_from_connection(
            connection["login"],
            connection["password"],
            {**connection["extra"], "retry_max_attempts": 3},
        )
        with pytest.raises(AdfConnectionError, match="refused"):
            AdfClient(settings, clock=clock, sleep=clock.sleep).create_run("copy_sales")
        assert len(clock.sleeps) == 2  # three attempts: the request provably never left


class TestOneRunGuarantee:
    @pytest.mark.parametrize(
        ("fault", "created"),
        [
            ({"action": "lose_response"}, 1),
            ({"action": "drop"}, 0),
            ({"action": "status", "status": 500}, 0),
            ({"action": "status", "status": 503}, 0),
        ],
    )
    def test_create_run_with_an_unknown_outcome_is_sent_once(
        self, server: EmulatorServer, clock: FakeClock, fault: dict[str, Any], created: int
    ) -> None:
        server.add_fault(operation="create run", **fault)
        with pytest.raises(AdfRunOutcomeUnknownError) as caught:
            client_for(server, clock).create_run("copy_sales", {"region": "emea"})
        assert server.request_counts()["create run"] == 1
        assert server.runs_created == created
        message = str(caught.value)
        assert "'copy_sales'" in message and "may have started" in message
        assert caught.value.sent_at.isoformat() in message

    def test_a_create_run_answer_slower_than_the_timeout_is_not_resent(
        self, server: EmulatorServer, clock: FakeClock
    ) -> None:
        server.add_fault(operation="create run", action="delay", delay_seconds=0.6)
        with pytest.raises(AdfRunOutcomeUnknownError, match="no answer within the request timeout"):
            client_for(server, clock, request_timeout=0.2).create_run("copy_sales")
        assert server.request_counts()["create run"] == 1

    def test_async_client_keeps_the_same_rule(
        self, server: EmulatorServer, clock: FakeClock
    ) -> None:
        server.add_fault(operation="create run", action="lose_response")

        async def attempt() -> None:
            async with AsyncAdfClient(settings_for(server), clock=clock) as client:
                await client.create_run("copy_sales")

        with pytest.raises(AdfRunOutcomeUnknownError):
            asyncio.run(attempt())
        assert server.request_counts()["create run"] == 1
        assert server.runs_created == 1


class TestTokens:
    def test_token_is_refreshed_during_a_long_wait(
        self, emulator_for: Emulators, flaky: Scenario, clock: FakeClock
    ) -> None:
        slow = replace(flaky.pipelines["copy_sales"], duration_seconds=600, activities=())
        scenario = replace(flaky, token_lifetime_seconds=60, pipelines={"copy_sales": slow})
        emulator = emulator_for(scenario, clock=clock)
        client = client_for(emulator, clock)
        run = client.wait_for_run(client.create_run("copy_sales"), poll_interval=10)
        counts = emulator.request_counts()
        assert run.status is RunStatus.FAILED  # the first scripted outcome
        # The run ends 600.5 s after it starts: a GET every 10 s from 0 to 610 s. A 60 s token
        # is renewed a tenth of its life before it ends, so every sixth poll signs in again.
        assert counts["get run"] == 62
        assert counts["token"] == 11

    def test_expired_secret_is_explained(self, server: EmulatorServer, clock: FakeClock) -> None:
        settings = settings_for(server, principal=1)
        with pytest.raises(AdfAuthenticationError, match=r"secret has expired \(AADSTS7000222\)"):
            AdfClient(settings, clock=clock).get_factory()

    def test_unknown_application_is_explained(
        self, server: EmulatorServer, clock: FakeClock
    ) -> None:
        connection = server.state.scenario.airflow_connection(server.url)
        settings = settings_from_connection(
            "99999999-0000-0000-0000-000000000000", "x", connection["extra"]
        )
        with pytest.raises(AdfAuthenticationError, match=r"AADSTS700016"):
            AdfClient(settings, clock=clock).get_factory()

    def test_v1_endpoint_with_the_us_government_audience(
        self, server: EmulatorServer, clock: FakeClock
    ) -> None:
        client = client_for(server, clock, cloud="usgov", token_api="v1")
        assert client.settings.cloud.resource == "https://management.core.usgovcloudapi.net/"
        assert client.get_factory()["name"] == "adf-demo"

    @pytest.mark.parametrize("cloud", ["public", "china", "usgov"])
    def test_each_clouds_scope_is_accepted(
        self, server: EmulatorServer, clock: FakeClock, cloud: str
    ) -> None:
        client = client_for(server, clock, cloud=cloud)
        assert client.get_factory()["name"] == "adf-demo"
        host = {"public": "adf.azure.com", "china": "adf.azure.cn", "usgov": "adf.azure.us"}[cloud]
        assert client.settings.factory.monitoring_url(client.settings.cloud).startswith(
            f"https://{host}/"
        )


class TestOperations:
    def test_cancel_stops_the_run_and_children(
        self, server: EmulatorServer, clock: FakeClock
    ) -> None:
        client = client_for(server, clock)
        run_id = client.create_run("copy_sales")
        assert client.cancel_run(run_id).cancel_requested
        assert client.get_run(run_id).status is RunStatus.CANCELING
        clock.now += 1
        assert client.get_run(run_id).status is RunStatus.CANCELLED
        (summary,) = server.run_summaries()
        assert summary["cancelled_recursive"] is True
        again = client.cancel_run(run_id)
        assert not again.cancel_requested and again.finished_status is RunStatus.CANCELLED

    def test_failure_details_and_recovery_rerun(
        self, server: EmulatorServer, clock: FakeClock
    ) -> None:
        client = client_for(server, clock)
        failed = client.wait_for_run(client.create_run("copy_sales"), poll_interval=1)
        (failure,) = client.failure_details(failed)
        assert failure.activity_name == "Copy sales to lake"
        assert failure.error is not None and failure.error.code == "2200"
        assert "UserErrorSourceBlobNotExists" in failure.error.message
        rerun_id = client.create_run(
            "copy_sales",
            reference_pipeline_run_id=failed.run_id,
            is_recovery=True,
            start_from_failure=True,
        )
        rerun = client.wait_for_run(rerun_id, poll_interval=1)
        assert rerun.status is RunStatus.SUCCEEDED
        assert rerun.run_group_id == failed.run_group_id

    def test_query_pipeline_runs_pages_through_everything(
        self, server: EmulatorServer, clock: FakeClock
    ) -> None:
        server.update_settings(page_size=3)
        client = client_for(server, clock)
        created = {client.create_run("copy_sales") for _ in range(8)}
        anchor = datetime.now(UTC)  # the emulator maps its clock onto real time at start
        query = RunQuery(
            last_updated_after=anchor - timedelta(days=2),
            last_updated_before=anchor + timedelta(days=2),
            filters=(RunFilter("PipelineName", "In", ("copy_sales",)),),
        )
        assert {run.run_id for run in client.query_pipeline_runs(query)} == created
        assert server.request_counts()["query pipeline runs"] == 3

    def test_async_client_waits_and_explains_a_failure(
        self, server: EmulatorServer, clock: FakeClock
    ) -> None:
        async def scenario() -> tuple[RunStatus, list[str]]:
            async def fake_sleep(seconds: float) -> None:
                clock.sleep(seconds)

            async with AsyncAdfClient(
                settings_for(server), clock=clock, sleep=fake_sleep
            ) as client:
                run = await client.wait_for_run(
                    await client.create_run("copy_sales"), poll_interval=1
                )
                failures = await client.failure_details(run)
                return run.status, [f.describe() for f in failures]

        status, failures = asyncio.run(scenario())
        assert status is RunStatus.FAILED
        assert failures == [
            "activity 'Copy sales to lake' (Copy) failed: [2200] Operation on target Copy sales "
            "to lake failed: ErrorCode=UserErrorSourceBlobNotExists,'The required blob is "
            "missing: sales/2026-11-26.csv'"
        ]


def test_missing_role_names_the_role_and_the_scope(
    server: EmulatorServer, clock: FakeClock
) -> None:
    server.add_fault(
        operation="get factory",
        action="status",
        status=403,
        code="AuthorizationFailed",
        message="The client does not have authorization to perform action "
        "'Microsoft.DataFactory/factories/read'.",
    )
    with pytest.raises(AdfAuthorizationError) as caught:
        client_for(server, clock).get_factory()
    message = str(caught.value)
    assert "grant it the 'Data Factory Contributor' role on /subscriptions/" in message
    assert "code AuthorizationFailed" in message and "request id" in message


def test_no_secret_or_token_in_any_output(
    server: EmulatorServer,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    client = client_for(server, clock)
    server.add_faults(
        [
            {"operation": "get run", "action": "status", "status": 503},
            {"operation": "get run", "action": "drop"},
        ]
    )
    run_id = client.create_run("copy_sales")
    client.wait_for_run(run_id, poll_interval=1)
    client.failure_details(run_id)
    errors: list[str] = []
    server.add_fault(operation="create run", action="lose_response")
    try:
        client.create_run("copy_sales")
    except AdfRunOutcomeUnknownError as error:
        errors.append(repr(error) + str(error))
    try:
        AdfClient(settings_for(server, principal=1), clock=clock).get_factory()
    except AdfAuthenticationError as error:
        errors.append(repr(error) + str(error))
    with server.state.lock:
        tokens = list(server.state.tokens)
    assert tokens
    captured = capfd.readouterr()
    everything = "\n".join(
        [caplog.text, captured.out, captured.err, repr(client), repr(client.settings), *errors]
    )
    secrets = [p.client_secret for p in server.state.scenario.service_principals]
    for value in [*secrets, *tokens]:
        assert value not in everything
