"""What a client keeps between requests (its token), the budgets that end its retries, and
what a wait leaves alone: each case for the sync and the async client alike.

Every operation's own rules (cancel, queries, retries per status, waits) are in
test_operations.py, over the same harness.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from airflow_adf_trigger.core.errors import (
    AdfRunOutcomeUnknownError,
    AdfServiceError,
    AdfThrottledError,
    AdfWaitTimeoutError,
)
from tests.clock import FakeClock

from .fake_azure import FakeAzure, Harness
from .helpers import RUN_ID, SECRET, make_settings

RUN = f"/pipelineruns/{RUN_ID}"


def run_json(status: str = "InProgress") -> dict[str, Any]:
    return {"runId": RUN_ID, "pipelineName": "copy_sales", "status": status}


def token_requests(fake: FakeAzure) -> int:
    return len(fake.requests_to("/token"))


# --------------------------------------------------------------------------- the token


def test_create_run_sends_the_bearer_token_and_the_parameters(
    harness: Harness, fake: FakeAzure
) -> None:
    fake.scripts.clear()
    fake.token_ok("tok-abc")
    fake.on("POST", "/createRun", (200, {}, {"runId": RUN_ID}))
    assert harness.call("create_run", "copy_sales", {"date": "2026-01-31"}) == RUN_ID
    (seen,) = fake.requests_to("/createRun")
    assert seen.headers["authorization"] == "Bearer tok-abc"
    assert seen.json() == {"date": "2026-01-31"}


def test_a_token_is_reused_until_five_minutes_before_it_expires(
    harness: Harness, fake: FakeAzure, clock: FakeClock
) -> None:
    fake.scripts.clear()
    fake.token_ok(expires_in=3600)
    fake.on("GET", RUN, (200, {}, run_json()))
    client = harness.client()
    harness.call_on(client, "get_run", RUN_ID)
    clock.advance(3600 - 301)
    harness.call_on(client, "get_run", RUN_ID)
    assert token_requests(fake) == 1
    clock.advance(2)
    harness.call_on(client, "get_run", RUN_ID)
    assert token_requests(fake) == 2


def test_clients_of_one_credential_share_a_token(harness: Harness, fake: FakeAzure) -> None:
    fake.on("GET", RUN, (200, {}, run_json()))
    for _ in range(3):
        harness.call("get_run", RUN_ID)  # a new client each time, one token cache
    assert token_requests(fake) == 1


def test_another_secret_never_borrows_a_cached_token(harness: Harness, fake: FakeAzure) -> None:
    fake.on("GET", RUN, (200, {}, run_json()))
    harness.call("get_run", RUN_ID)
    harness.call_on(harness.client(make_settings(client_secret="other")), "get_run", RUN_ID)
    assert token_requests(fake) == 2


# --------------------------------------------------------------------------- retry budgets


def test_a_throttled_read_gives_up_after_its_attempts(
    harness: Harness, fake: FakeAzure, clock: FakeClock
) -> None:
    fake.on("GET", RUN, (429, {"Retry-After": "1"}, {}))
    with pytest.raises(AdfThrottledError):
        harness.call("get_run", RUN_ID)
    assert len(fake.requests_to(RUN)) == 4
    assert clock.sleeps == [1.0, 1.0, 1.0]


def test_a_read_gives_up_when_the_next_wait_would_pass_its_time_budget(
    harness: Harness, fake: FakeAzure, clock: FakeClock
) -> None:
    fake.on("GET", RUN, (503, {"Retry-After": "45"}, {}))
    with pytest.raises(AdfServiceError):
        harness.call("get_run", RUN_ID)
    assert len(fake.requests_to(RUN)) == 2  # another 45 s would pass the 60 s budget
    assert clock.sleeps == [45.0]


def test_a_throttled_create_run_waits_as_told_then_is_sent_again(
    harness: Harness, fake: FakeAzure, clock: FakeClock
) -> None:
    fake.on("POST", "/createRun", (429, {"Retry-After": "2"}, {}), (200, {}, {"runId": RUN_ID}))
    assert harness.call("create_run", "copy_sales") == RUN_ID
    assert len(fake.requests_to("/createRun")) == 2
    assert clock.sleeps == [2.0]


def test_an_unknown_create_run_outcome_names_when_it_was_sent_by_the_clients_clock(
    harness: Harness, fake: FakeAzure, clock: FakeClock
) -> None:
    fake.on("POST", "/createRun", (500, {}, {}))
    with pytest.raises(AdfRunOutcomeUnknownError) as caught:
        harness.call("create_run", "copy_sales")
    moment = datetime.fromtimestamp(clock.now, UTC)
    assert (caught.value.sent_at, caught.value.gave_up_at) == (moment, moment)
    assert f"between {moment.isoformat()} and {moment.isoformat()}" in str(caught.value)


# --------------------------------------------------------------------------- waits


def test_a_wait_that_times_out_never_touches_the_run(
    harness: Harness, fake: FakeAzure, clock: FakeClock
) -> None:
    fake.on("GET", RUN, (200, {}, run_json()))
    with pytest.raises(AdfWaitTimeoutError, match="still InProgress after waiting 25 s"):
        harness.call("wait_for_run", RUN_ID, poll_interval=10, timeout=25)
    assert {(seen.method, seen.path.rsplit("/", 1)[-1]) for seen in fake.seen} == {
        ("POST", "token"),
        ("GET", RUN_ID),
    }
    assert clock.sleeps == [10, 10, 5]


def test_a_retried_read_is_logged_without_secret_or_token(
    harness: Harness, fake: FakeAzure, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.scripts.clear()
    fake.token_ok("tok-very-private")
    fake.on("GET", RUN, (503, {}, {}), (200, {}, run_json()))
    client = harness.client()
    harness.call_on(client, "get_run", RUN_ID)
    assert "Retrying get run" in caplog.text
    shown = repr(client) + repr(client.settings) + str(client.settings) + caplog.text
    assert SECRET not in shown
    assert "tok-very-private" not in shown
