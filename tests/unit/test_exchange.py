"""The exchange flow driven by hand, step by step, with no client and no HTTP library."""

from __future__ import annotations

import random

import pytest

from airflow_adf_trigger.core.errors import AdfConnectionError, AdfRunOutcomeUnknownError
from airflow_adf_trigger.core.wire import protocol
from airflow_adf_trigger.core.wire.auth import AccessToken
from airflow_adf_trigger.core.wire.exchange import (
    Answered,
    NeedToken,
    Sleep,
    Transmit,
    exchange,
    fetch_token,
)
from airflow_adf_trigger.core.wire.protocol import HttpResponse, TransportFailure

from .helpers import RUN_ID, SECRET, make_settings

SETTINGS = make_settings(retry_max_attempts=3)
TOKEN = AccessToken("tok-1", expires_at=5000.0)


def answered(status: int, at: float = 100.0, **headers: str) -> Answered:
    return Answered(HttpResponse.create(status, headers, b"{}"), at, at + 0.1)


def test_a_read_asks_for_a_token_then_sends_it() -> None:
    flow = exchange(SETTINGS, protocol.build_get_run(SETTINGS, RUN_ID), rng=random.Random(1))
    assert next(flow) == NeedToken(None)
    sent = flow.send(TOKEN)
    assert isinstance(sent, Transmit)
    assert sent.request.headers["Authorization"] == "Bearer tok-1"
    assert sent.timeout == SETTINGS.request_timeout
    with pytest.raises(StopIteration) as done:
        flow.send(answered(200))
    assert done.value.value.status == 200
    assert done.value.value.received_at == pytest.approx(100.1)


def test_a_401_gives_the_refused_token_back_and_tries_once_more() -> None:
    flow = exchange(SETTINGS, protocol.build_get_run(SETTINGS, RUN_ID))
    next(flow)
    flow.send(TOKEN)
    assert flow.send(answered(401)) == NeedToken(refused=TOKEN)
    flow.send(AccessToken("tok-2", expires_at=5000.0))
    with pytest.raises(StopIteration) as done:
        flow.send(answered(401))  # a second 401 is the answer
    assert done.value.value.status == 401


def test_a_throttled_read_sleeps_as_azure_asks() -> None:
    flow = exchange(SETTINGS, protocol.build_get_run(SETTINGS, RUN_ID))
    next(flow)
    flow.send(TOKEN)
    assert flow.send(answered(429, **{"Retry-After": "7"})) == Sleep(7.0)
    assert flow.send(None) == NeedToken(None)


def test_a_create_run_answered_502_is_an_unknown_outcome_not_a_retry() -> None:
    request = protocol.build_create_run(SETTINGS, "copy_sales")
    flow = exchange(SETTINGS, request, subject="copy_sales")
    next(flow)
    flow.send(TOKEN)
    with pytest.raises(AdfRunOutcomeUnknownError) as caught:
        flow.send(answered(502, at=1_800_000_000.0))
    assert caught.value.pipeline_name == "copy_sales"
    assert caught.value.sent_at.timestamp() == 1_800_000_000.0


def test_a_create_run_never_sent_is_sent_again() -> None:
    flow = exchange(SETTINGS, protocol.build_create_run(SETTINGS, "copy_sales"))
    next(flow)
    flow.send(TOKEN)
    refused = TransportFailure("refused", never_sent=True)
    assert isinstance(flow.send(Answered(refused, 100.0, 100.0)), Sleep)
    assert flow.send(None) == NeedToken(None)


def test_retries_end_with_a_connection_error_naming_the_host() -> None:
    flow = exchange(make_settings(retry_max_attempts=1), protocol.build_get_run(SETTINGS, RUN_ID))
    next(flow)
    flow.send(TOKEN)
    reset = TransportFailure("the connection broke (reset)", never_sent=False)
    with pytest.raises(AdfConnectionError, match=r"management\.azure\.com: the connection broke"):
        flow.send(Answered(reset, 100.0, 100.0))


def test_the_token_request_carries_the_secret_but_no_authorization() -> None:
    flow = fetch_token(SETTINGS)
    sent = next(flow)
    assert isinstance(sent, Transmit)
    assert "Authorization" not in sent.request.headers
    assert SECRET.encode() in (sent.request.body or b"")
    body = b'{"access_token": "tok-9", "expires_in": 3599}'
    with pytest.raises(StopIteration) as done:
        flow.send(Answered(HttpResponse.create(200, {}, body), 10.0, 11.0))
    token = done.value.value
    assert (token.token, token.expires_at, token.obtained_at) == ("tok-9", 3610.0, 11.0)
