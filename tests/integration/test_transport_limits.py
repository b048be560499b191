"""Both transports against a misbehaving HTTP server on 127.0.0.1: deadlines and bad tokens."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from airflow_adf_trigger.core.errors import AdfAuthenticationError, AdfConnectionError, AdfError
from airflow_adf_trigger.core.wire.aio import AsyncAdfClient
from airflow_adf_trigger.core.wire.auth import TokenCache
from airflow_adf_trigger.core.wire.client import POOL_SIZE, AdfClient
from tests.unit.helpers import RUN_ID, SECRET, make_settings

BAD_TOKEN = "Qm9vazE\r\nX-Leak: Qm9vazE"
"""An access token with CR/LF, as a broken or hostile token endpoint might issue."""

Handler = Callable[[BaseHTTPRequestHandler], None]


class Misbehaving:
    """A server whose token and ARM answers are given by the test."""

    def __init__(self, token: Handler, arm: Handler) -> None:
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.token(self) if "/oauth2/" in self.path else outer.arm(self)

            def do_GET(self) -> None:
                outer.arm(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.token = token
        self.arm = arm

        class _Server(ThreadingHTTPServer):
            request_queue_size = 128

        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Misbehaving:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def send_json(handler: BaseHTTPRequestHandler, body: object, status: int = 200) -> None:
    raw = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(raw)))
    handler.end_headers()
    handler.wfile.write(raw)


def good_token(handler: BaseHTTPRequestHandler) -> None:
    send_json(handler, {"access_token": "good-token", "expires_in": 3599})


def trickled_run(handler: BaseHTTPRequestHandler) -> None:
    """A complete run body, sent one byte every 0.2 s (about 15 s in all)."""
    raw = json.dumps({"runId": RUN_ID, "pipelineName": "p", "status": "InProgress"}).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(raw)))
    handler.end_headers()
    try:
        for byte in raw:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(0.2)
    except OSError:
        pass  # the client hung up, as it should


def settings_for(url: str, **overrides: object) -> Any:
    values: dict[str, object] = {
        "authority_host": url,
        "management_endpoint": url,
        "request_timeout": 1,
        "retry_max_attempts": 1,
    }
    values.update(overrides)
    return make_settings(**values)


@pytest.fixture(params=["sync", "async"])
def call_get_run(request: pytest.FixtureRequest) -> Callable[[Any], Any]:
    def sync(settings: Any) -> Any:
        with AdfClient(settings, token_cache=TokenCache()) as client:
            return client.get_run(RUN_ID)

    def run_async(settings: Any) -> Any:
        async def go() -> Any:
            async with AsyncAdfClient(settings, token_cache=TokenCache()) as client:
                return await client.get_run(RUN_ID)

        return asyncio.run(go())

    return sync if request.param == "sync" else run_async


@pytest.fixture
def trickling() -> Iterator[Misbehaving]:
    with Misbehaving(good_token, trickled_run) as server:
        yield server


def test_request_timeout_bounds_the_whole_request_not_each_read(
    trickling: Misbehaving, call_get_run: Callable[[Any], Any]
) -> None:
    started = time.monotonic()
    with pytest.raises(AdfConnectionError, match="no complete answer within the request timeout"):
        call_get_run(settings_for(trickling.url))
    # Each byte comes well inside the 1 s read timeout; only a total deadline stops the call
    # before the body's ~15 s. The bound is loose on purpose: it tells the two rules apart.
    assert time.monotonic() - started < 8


def test_a_token_with_line_breaks_is_never_sent_nor_shown(
    call_get_run: Callable[[Any], Any], caplog: pytest.LogCaptureFixture
) -> None:
    seen_headers: list[str] = []

    def bad_token(handler: BaseHTTPRequestHandler) -> None:
        send_json(handler, {"access_token": BAD_TOKEN, "expires_in": 3599})

    def arm(handler: BaseHTTPRequestHandler) -> None:
        seen_headers.append(str(handler.headers))
        send_json(handler, {"runId": RUN_ID, "pipelineName": "p", "status": "Queued"})

    caplog.set_level(logging.DEBUG)
    with Misbehaving(bad_token, arm) as server, pytest.raises(AdfError) as caught:
        call_get_run(settings_for(server.url))
    assert isinstance(caught.value, AdfAuthenticationError)
    assert seen_headers == []  # ARM never got the token
    shown = "".join(traceback.format_exception(caught.value)) + caplog.text
    chained: BaseException | None = caught.value
    while chained is not None:
        shown += repr(chained) + str(chained)
        chained = chained.__cause__ or chained.__context__
    assert "Qm9vazE" not in shown
    assert SECRET not in shown


def test_the_sync_pool_serves_many_threads_without_discarding_connections(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def arm(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(0.05)
        send_json(handler, {"runId": RUN_ID, "pipelineName": "p", "status": "Queued"})

    caplog.set_level(logging.WARNING, logger="urllib3")
    statuses: list[str] = []
    with Misbehaving(good_token, arm) as server:
        settings = settings_for(server.url, request_timeout=10)
        with AdfClient(settings) as client:
            client.get_run(RUN_ID)  # one token for all

            def read() -> None:
                statuses.append(client.get_run(RUN_ID).status.value)

            threads = [threading.Thread(target=read) for _ in range(50)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    assert statuses == ["Queued"] * 50
    assert POOL_SIZE >= 50
    assert "Connection pool is full" not in caplog.text
