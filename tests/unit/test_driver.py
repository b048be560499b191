"""The one driver both clients share: the sync client runs its coroutine without a loop."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from airflow_adf_trigger.core.wire.auth import TokenCache
from airflow_adf_trigger.core.wire.client import AdfClient
from airflow_adf_trigger.core.wire.driver import HeldThreadLock, run_to_end
from airflow_adf_trigger.core.wire.protocol import HttpRequest, HttpResponse, TransportFailure
from tests.clock import FakeClock
from tests.unit.helpers import RUN_ID, make_settings

RUN = {"runId": RUN_ID, "pipelineName": "ingest", "status": "InProgress"}


def answers(request: HttpRequest, timeout: float) -> HttpResponse | TransportFailure:
    if request.url.endswith("/token"):
        return HttpResponse.create(200, {}, b'{"access_token": "tok", "expires_in": 3599}')
    return HttpResponse.create(200, {}, json.dumps(RUN).encode())


def test_run_to_end_returns_what_a_coroutine_that_never_suspends_returns() -> None:
    async def forty_two() -> int:
        return 42

    assert run_to_end(forty_two()) == 42


def test_run_to_end_refuses_a_coroutine_that_suspends() -> None:
    async def waits() -> int:
        await asyncio.sleep(0)  # gives control to an event loop: there is none
        return 42

    with pytest.raises(RuntimeError, match="suspended"):
        run_to_end(waits())


def test_the_sync_client_works_inside_a_running_event_loop() -> None:
    """Sync code called from a coroutine (a notebook cell, a callback) still runs the driver
    without touching the loop, and without the async token lock."""
    client = AdfClient(make_settings(), transport=answers, token_cache=TokenCache())

    async def inside() -> str:
        return client.get_run(RUN_ID).status.value

    assert asyncio.run(inside()) == "InProgress"


def test_the_sync_token_lock_is_released_when_the_fetch_fails() -> None:
    lock = threading.Lock()

    async def fails() -> None:
        async with HeldThreadLock(lock):
            raise ValueError("no token")

    with pytest.raises(ValueError, match="no token"):
        run_to_end(fails())
    assert not lock.locked()


def test_a_sync_sleep_step_uses_the_injected_sleep_once_per_step() -> None:
    clock = FakeClock()
    statuses = iter(["InProgress", "InProgress", "Succeeded"])

    def transport(request: HttpRequest, timeout: float) -> HttpResponse | TransportFailure:
        if request.url.endswith("/token"):
            return answers(request, timeout)
        body = dict(RUN, status=next(statuses))
        return HttpResponse.create(200, {}, json.dumps(body).encode())

    client = AdfClient(
        make_settings(),
        transport=transport,
        token_cache=TokenCache(),
        clock=clock,
        sleep=clock.sleep,
    )
    assert client.wait_for_run(RUN_ID, poll_interval=5).status.value == "Succeeded"
    assert clock.sleeps == [5.0, 5.0]
