"""One scripted fake of Azure that both the sync and the async client can be pointed at.

Tests script answers per (method, path suffix); the same script drives ``AdfClient`` through
a ``requests`` adapter and ``AsyncAdfClient`` through an ``httpx.MockTransport``, so every
behaviour is shown once for each transport.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import requests
from requests.adapters import BaseAdapter

from airflow_adf_trigger.core.aio import AsyncAdfClient
from airflow_adf_trigger.core.auth import TokenCache
from airflow_adf_trigger.core.client import AdfClient
from airflow_adf_trigger.core.settings import AdfSettings
from tests.clock import FakeClock


class Refused(Exception):
    """Script step: the connection is refused (the request never left)."""


class Reset(Exception):
    """Script step: the connection breaks after the request was sent."""


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


Answer = tuple[int, dict[str, str], Any] | type[Exception]


@dataclass
class FakeAzure:
    """Answers by the first script whose (method, path suffix) matches; the last answer repeats."""

    scripts: list[tuple[str, str, list[Answer]]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    latency: float = 0.0
    """Seconds each answer takes (real time), so that concurrent callers overlap."""

    def on(self, method: str, suffix: str, *answers: Answer) -> None:
        self.scripts.append((method, suffix, list(answers)))

    def token_ok(self, token: str = "tok", expires_in: int = 3599) -> None:
        self.on("POST", "/token", (200, {}, {"access_token": token, "expires_in": expires_in}))

    def requests_to(self, suffix: str) -> list[Seen]:
        return [s for s in self.seen if s.path.endswith(suffix)]

    def answer(self, seen: Seen) -> tuple[int, dict[str, str], bytes]:
        self.seen.append(seen)
        for method, suffix, answers in self.scripts:
            if method == seen.method and seen.path.endswith(suffix):
                step = answers.pop(0) if len(answers) > 1 else answers[0]
                if isinstance(step, type):
                    raise step()
                status, headers, body = step
                raw = (
                    body
                    if isinstance(body, bytes)
                    else b""
                    if body is None
                    else json.dumps(body).encode()
                )
                return status, headers, raw
        raise AssertionError(f"unscripted request {seen.method} {seen.path}")


def _seen(method: str, url: str, headers: dict[str, str], body: bytes | None) -> Seen:
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    return Seen(method, parts.path, query, {k.lower(): v for k, v in headers.items()}, body or b"")


class _Adapter(BaseAdapter):
    def __init__(self, fake: FakeAzure) -> None:
        super().__init__()
        self.fake = fake

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        body = request.body.encode() if isinstance(request.body, str) else request.body
        time.sleep(self.fake.latency)
        try:
            status, headers, raw = self.fake.answer(
                _seen(str(request.method), str(request.url), dict(request.headers), body)
            )
        except Refused:
            raise requests.exceptions.ConnectTimeout("refused") from None
        except Reset:
            raise requests.exceptions.ConnectionError("reset") from None
        response = requests.Response()
        response.status_code = status
        response.headers.update(headers)
        response._content = raw
        response.request = request
        return response

    def close(self) -> None:
        pass


class Harness:
    """Calls a client operation the same way for either transport; returns its result."""

    def __init__(self, kind: str, fake: FakeAzure, settings: AdfSettings, clock: FakeClock) -> None:
        self.kind = kind
        self.fake = fake
        self.settings = settings
        self.clock = clock
        self.cache = TokenCache()

    def client(self, **kwargs: Any) -> AdfClient | AsyncAdfClient:
        if self.kind == "sync":
            session = requests.Session()
            session.mount("https://", _Adapter(self.fake))
            return AdfClient(
                self.settings,
                session=session,
                token_cache=self.cache,
                clock=self.clock,
                sleep=self.clock.sleep,
                **kwargs,
            )

        async def handle(request: httpx.Request) -> httpx.Response:
            await asyncio.sleep(self.fake.latency)
            try:
                status, headers, raw = self.fake.answer(
                    _seen(request.method, str(request.url), dict(request.headers), request.content)
                )
            except Refused:
                raise httpx.ConnectError("refused", request=request) from None
            except Reset:
                raise httpx.RemoteProtocolError("reset", request=request) from None
            return httpx.Response(status, headers=headers, content=raw)

        async def sleep(seconds: float) -> None:
            self.clock.sleep(seconds)

        return AsyncAdfClient(
            self.settings,
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(handle)),
            token_cache=self.cache,
            clock=self.clock,
            sleep=sleep,
            **kwargs,
        )

    def call(self, operation: str, *args: Any, **kwargs: Any) -> Any:
        return self.call_on(self.client(), operation, *args, **kwargs)

    def call_on(
        self, client: AdfClient | AsyncAdfClient, operation: str, *args: Any, **kwargs: Any
    ) -> Any:
        method: Callable[..., Any] = getattr(client, operation)
        if self.kind == "sync":
            return method(*args, **kwargs)
        return asyncio.run(method(*args, **kwargs))
