"""How each transport names a library failure: sent or not, fatal or not, never quoting it."""

from __future__ import annotations

import httpx
import pytest
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from airflow_adf_trigger.core.wire.aio import classify_httpx_error
from airflow_adf_trigger.core.wire.client import classify_requests_error
from airflow_adf_trigger.core.wire.protocol import TransportFailure

LEAK = "Bearer c2VjcmV0LXRva2Vu"
"""What a library's message may quote (a request header); no description may repeat it."""


def refused() -> requests.exceptions.ConnectionError:
    cause = NewConnectionError(None, f"refused ({LEAK})")  # type: ignore[arg-type]
    return requests.exceptions.ConnectionError(MaxRetryError(None, "/", cause))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "never_sent", "fatal"),
    [
        (requests.exceptions.SSLError(LEAK), True, True),
        (requests.exceptions.ConnectTimeout(LEAK), True, False),
        (refused(), True, False),
        (requests.exceptions.ReadTimeout(LEAK), False, False),
        (requests.exceptions.ConnectionError(ProtocolError(LEAK)), False, False),
        (requests.exceptions.InvalidHeader(f"Invalid header value {LEAK!r}"), False, False),
    ],
)
def test_requests_failures(error: Exception, never_sent: bool, fatal: bool) -> None:
    failure = classify_requests_error(error)
    assert (failure.never_sent, failure.fatal) == (never_sent, fatal)
    assert LEAK not in failure.description


def request() -> httpx.Request:
    return httpx.Request("GET", "https://management.azure.com/")


@pytest.mark.parametrize(
    ("error", "never_sent", "fatal"),
    [
        (httpx.ConnectTimeout(LEAK, request=request()), True, False),
        (
            httpx.ConnectError(f"[SSL: CERTIFICATE_VERIFY_FAILED] {LEAK}", request=request()),
            True,
            True,
        ),
        (httpx.ConnectError(f"Connection refused {LEAK}", request=request()), True, False),
        (httpx.PoolTimeout(LEAK, request=request()), True, False),
        (httpx.ReadTimeout(LEAK, request=request()), False, False),
        (httpx.RemoteProtocolError(LEAK, request=request()), False, False),
        (httpx.LocalProtocolError(f"Illegal header value {LEAK}", request=request()), False, False),
    ],
)
def test_httpx_failures(error: httpx.HTTPError, never_sent: bool, fatal: bool) -> None:
    failure = classify_httpx_error(error)
    assert isinstance(failure, TransportFailure)
    assert (failure.never_sent, failure.fatal) == (never_sent, fatal)
    assert LEAK not in failure.description
