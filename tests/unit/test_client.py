"""AdfClient over mocked HTTP: token caching, refresh, retries, and the one-run guarantee."""

from __future__ import annotations

import logging

import pytest
import requests
import requests_mock

from airflow_adf_trigger.core.auth import TokenCache
from airflow_adf_trigger.core.client import AdfClient
from airflow_adf_trigger.core.errors import (
    AdfConnectionError,
    AdfRunOutcomeUnknownError,
    AdfServiceError,
    AdfThrottledError,
    AdfWaitTimeoutError,
)
from airflow_adf_trigger.core.models import RunStatus
from tests.clock import FakeClock

from .helpers import FACTORY_URL, RUN_ID, SECRET, TOKEN_URL, make_settings

CREATE_URL = f"{FACTORY_URL}/pipelines/copy_sales/createRun"
RUN_URL = f"{FACTORY_URL}/pipelineruns/{RUN_ID}"


def token_body(token: str = "tok-1", expires_in: int = 3599) -> dict[str, object]:
    return {"token_type": "Bearer", "expires_in": expires_in, "access_token": token}


def run_body(status: str = "InProgress", message: str = "") -> dict[str, object]:
    return {"runId": RUN_ID, "pipelineName": "copy_sales", "status": status, "message": message}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> AdfClient:
    return AdfClient(
        make_settings(retry_max_attempts=4, retry_max_seconds=60),
        token_cache=TokenCache(),
        clock=clock,
        sleep=clock.sleep,
    )


def test_create_run_sends_bearer_token_and_returns_run_id(
    client: AdfClient, requests_mock: requests_mock.Mocker
) -> None:
    requests_mock.post(TOKEN_URL, json=token_body("tok-abc"))
    create = requests_mock.post(CREATE_URL, json={"runId": RUN_ID})
    assert client.create_run("copy_sales", {"date": "2026-01-31"}) == RUN_ID
    assert create.last_request.headers["Authorization"] == "Bearer tok-abc"
    assert create.last_request.json() == {"date": "2026-01-31"}


def test_token_is_cached_until_five_minutes_before_expiry(
    client: AdfClient, clock: FakeClock, requests_mock: requests_mock.Mocker
) -> None:
    token = requests_mock.post(TOKEN_URL, json=token_body(expires_in=3600))
    requests_mock.get(RUN_URL, json=run_body())
    client.get_run(RUN_ID)
    clock.now += 3600 - 301
    client.get_run(RUN_ID)
    assert token.call_count == 1
    clock.now += 2
    client.get_run(RUN_ID)
    assert token.call_count == 2


def test_clients_of_one_credential_share_a_token(
    clock: FakeClock, requests_mock: requests_mock.Mocker
) -> None:
    cache = TokenCache()
    token = requests_mock.post(TOKEN_URL, json=token_body())
    requests_mock.get(RUN_URL, json=run_body())
    for _ in range(3):
        AdfClient(make_settings(), token_cache=cache, clock=clock).get_run(RUN_ID)
    assert token.call_count == 1


def test_a_different_secret_does_not_borrow_a_cached_token(
    clock: FakeClock, requests_mock: requests_mock.Mocker
) -> None:
    cache = TokenCache()
    token = requests_mock.post(TOKEN_URL, json=token_body())
    requests_mock.get(RUN_URL, json=run_body())
    AdfClient(make_settings(), token_cache=cache, clock=clock).get_run(RUN_ID)
    AdfClient(make_settings(client_secret="other"), token_cache=cache, clock=clock).get_run(RUN_ID)
    assert token.call_count == 2


def test_arm_401_drops_the_token_and_retries_once(
    client: AdfClient, requests_mock: requests_mock.Mocker
) -> None:
    token = requests_mock.post(
        TOKEN_URL, [{"json": token_body("old")}, {"json": token_body("new")}]
    )
    run = requests_mock.get(
        RUN_URL,
        [
            {"status_code": 401, "json": {"error": {"code": "ExpiredAuthenticationToken"}}},
            {"json": run_body("Succeeded")},
        ],
    )
    assert client.get_run(RUN_ID).status is RunStatus.SUCCEEDED
    assert token.call_count == 2
    assert run.request_history[-1].headers["Authorization"] == "Bearer new"


def test_reads_retry_server_errors_honouring_retry_after(
    client: AdfClient, clock: FakeClock, requests_mock: requests_mock.Mocker
) -> None:
    requests_mock.post(TOKEN_URL, json=token_body())
    requests_mock.get(
        RUN_URL,
        [
            {"status_code": 429, "headers": {"Retry-After": "3"}, "json": {}},
            {"status_code": 503, "headers": {"retry-after-ms": "500"}, "json": {}},
            {"json": run_body("Queued")},
        ],
    )
    assert client.get_run(RUN_ID).status is RunStatus.QUEUED
    assert clock.sleeps == [3.0, 0.5]


def test_reads_give_up_after_the_attempt_budget(
    client: AdfClient, requests_mock: requests_mock.Mocker
) -> None:
    requests_mock.post(TOKEN_URL, json=token_body())
    run = requests_mock.get(RUN_URL, status_code=429, headers={"Retry-After": "1"}, json={})
    with pytest.raises(AdfThrottledError):
        client.get_run(RUN_ID)
    assert run.call_count == 4


def test_reads_give_up_when_the_time_budget_would_pass(
    client: AdfClient, requests_mock: requests_mock.Mocker
) -> None:
    requests_mock.post(TOKEN_URL, json=token_body())
    run = requests_mock.get(RUN_URL, status_code=503, headers={"Retry-After": "45"}, json={})
    with pytest.raises(AdfServiceError):
        client.get_run(RUN_ID)
    assert run.call_count == 2  # 45 s, then another 45 s would pass the 60 s budget


def test_create_run_is_never_resent_after_a_server_error(
    client: AdfClient, requests_mock: requests_mock.Mocker
) -> None:
    requests_mock.post(TOKEN_URL, json=token_body())
    create = requests_mock.post(CREATE_URL, status_code=500, json={})
    with pytest.raises(AdfRunOutcomeUnknownError) as caught:
        client.create_run("copy_sales")
    assert create.call_count == 1
    message = str(caught.value)
    assert "may have started" in message and "'copy_sales'" in message
    assert caught.value.sent_at <= caught.value.gave_up_at


def test_create_run_is_never_resent_after_a_read_timeout(
    client: AdfClient, requests_mock: requests_mock.Mocker
) -> None:
    requests_mock.post(TOKEN_URL, json=token_body())
    create = requests_mock.post(CREATE_URL, exc=requests.exceptions.ReadTimeout)
    with pytest.raises(AdfRunOutcomeUnknownError, match="no answer within the request timeout"):
        client.create_run("copy_sales")
    assert create.call_count == 1


def test_create_run_is_retried_after_a_429(
    client: AdfClient, clock: FakeClock, requests_mock: requests_mock.Mocker
) -> None:
    requests_mock.post(TOKEN_URL, json=token_body())
    create = requests_mock.post(
        CREATE_URL,
        [
            {"status_code": 429, "headers": {"Retry-After": "2"}, "json": {}},
            {"json": {"runId": RUN_ID}},
        ],
    )
    assert client.create_run("copy_sales") == RUN_ID
    assert create.call_count == 2
    assert clock.sleeps == [2.0]


def test_create_run_is_retried_when_the_connection_was_never_made(
    client: AdfClient, requests_mock: requests_mock.Mocker
) -> None:
    requests_mock.post(TOKEN_URL, json=token_body())
    create = requests_mock.post(
        CREATE_URL,
        [{"exc": requests.exceptions.ConnectTimeout}, {"json": {"runId": RUN_ID}}],
    )
    assert client.create_run("copy_sales") == RUN_ID
    assert create.call_count == 2


def test_reads_retry_broken_connections_then_report_them(
    client: AdfClient, requests_mock: requests_mock.Mocker
) -> None:
    requests_mock.post(TOKEN_URL, json=token_body())
    run = requests_mock.get(RUN_URL, exc=requests.exceptions.ConnectionError("reset"))
    with pytest.raises(AdfConnectionError, match=r"management\.azure\.com"):
        client.get_run(RUN_ID)
    assert run.call_count == 4


def test_wait_for_run_polls_until_terminal(
    client: AdfClient, clock: FakeClock, requests_mock: requests_mock.Mocker
) -> None:
    requests_mock.post(TOKEN_URL, json=token_body())
    requests_mock.get(
        RUN_URL,
        [
            {"json": run_body("Queued")},
            {"json": run_body("InProgress")},
            {"json": run_body("Failed", "boom")},
        ],
    )
    seen: list[RunStatus] = []
    run = client.wait_for_run(RUN_ID, poll_interval=10, on_poll=lambda r: seen.append(r.status))
    assert run.status is RunStatus.FAILED and run.message == "boom"
    assert seen == [RunStatus.QUEUED, RunStatus.IN_PROGRESS, RunStatus.FAILED]
    assert clock.sleeps == [10, 10]


def test_wait_for_run_stops_at_its_timeout_without_touching_the_run(
    client: AdfClient, requests_mock: requests_mock.Mocker
) -> None:
    requests_mock.post(TOKEN_URL, json=token_body())
    requests_mock.get(RUN_URL, json=run_body("InProgress"))
    with pytest.raises(AdfWaitTimeoutError, match="still InProgress after waiting 25 s"):
        client.wait_for_run(RUN_ID, poll_interval=10, timeout=25)
    assert all(r.method == "GET" for r in requests_mock.request_history if "pipelineruns" in r.url)


def test_secret_and_token_stay_out_of_reprs_and_logs(
    client: AdfClient, requests_mock: requests_mock.Mocker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    requests_mock.post(TOKEN_URL, json=token_body("tok-very-private"))
    requests_mock.get(RUN_URL, [{"status_code": 503, "json": {}}, {"json": run_body()}])
    client.get_run(RUN_ID)
    shown = repr(client) + repr(client.settings) + str(client.settings) + caplog.text
    assert SECRET not in shown
    assert "tok-very-private" not in shown
    assert "Retrying get run" in caplog.text
