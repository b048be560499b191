"""One scripted fake of Azure that both the sync and the async client can be pointed at.

Tests script answers per (method, path suffix); the same script answers ``AdfClient`` and
``AsyncAdfClient`` through an injected transport (no HTTP library), so every behaviour is
shown once for each client's driver.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from airflow_adf_trigger.core.config.settings import AdfSettings
from airflow_adf_trigger.core.wire.aio import AsyncAdfClient
from airflow_adf_trigger.core.wire.auth import TokenCache
from airflow_adf_trigger.core.wire.client import AdfClient
from airflow_adf_trigger.core.wire.protocol import HttpRequest, HttpResponse, TransportFailure
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


def _seen(request: HttpRequest) -> Seen:
    parts = urlsplit(request.url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    query.update(request.params)
    headers = {k.lower(): v for k, v in request.headers.items()}
    return Seen(request.method, parts.path, query, headers, request.body or b"")


def _answer(fake: FakeAzure, request: HttpRequest) -> HttpResponse | TransportFailure:
    try:
        status, headers, raw = fake.answer(_seen(request))
    except Refused:
        return TransportFailure("the connection was refused", never_sent=True)
    except Reset:
        return TransportFailure("the connection broke (reset)", never_sent=False)
    return HttpResponse.create(status, headers, raw)


class Harness:
    """Calls a client operation the same way for either client; returns its result.

    Both clients get a fake transport (no HTTP library): what is shown here is the flows'
    behaviour as each driver carries it out. The transports themselves are shown against
    real servers (tests/integration, tests/faults).
    """

    def __init__(self, kind: str, fake: FakeAzure, settings: AdfSettings, clock: FakeClock) -> None:
        self.kind = kind
        self.fake = fake
        self.settings = settings
        self.clock = clock
        self.cache = TokenCache()

    def client(
        self, settings: AdfSettings | None = None, **kwargs: Any
    ) -> AdfClient | AsyncAdfClient:
        """A client of this harness's kind over the fake, sharing its token cache and clock
        (``settings`` replaces the harness's own, e.g. another secret)."""
        settings = settings or self.settings
        if self.kind == "sync":

            def send(request: HttpRequest, timeout: float) -> HttpResponse | TransportFailure:
                time.sleep(self.fake.latency)
                return _answer(self.fake, request)

            return AdfClient(
                settings,
                transport=send,
                token_cache=self.cache,
                clock=self.clock,
                sleep=self.clock.sleep,
                **kwargs,
            )

        async def send_async(
            request: HttpRequest, timeout: float
        ) -> HttpResponse | TransportFailure:
            await asyncio.sleep(self.fake.latency)
            return _answer(self.fake, request)

        async def sleep(seconds: float) -> None:
            self.clock.sleep(seconds)

        return AsyncAdfClient(
            settings,
            transport=send_async,
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
