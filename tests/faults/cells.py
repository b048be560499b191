"""The fault matrix: every stage x every fault, with the sync client, the async client and
(for a few representative cells) the ``adf-trigger`` CLI as a subprocess. The get-run stage
is driven twice: one ``get_run``, and a ``wait_for_run`` that must ride out the fault
(60 s outages included) and see the run end.

Each cell starts its own emulator and fault proxy, performs one operation through the proxy
while the fault is armed, and checks the invariants of the issue "Exactly one run and no raw
crash, whatever fails":

- ``expected``    the outcome is the one the retry rules call for;
- ``one-run``     at most one run per create attempt (none for the other operations);
- ``no-lost-run`` a run the emulator created is the id returned, or the caller got
                  AdfRunOutcomeUnknownError naming the pipeline and a window that holds it;
- ``no-secret``   neither the client secret nor any issued token shows in logs (DEBUG),
                  stdout/stderr, the exception chain's str/repr or the formatted traceback;
- ``clear-error`` completed, or an AdfError with a readable message (no raw exception);
- ``deadline``    a trickled or unanswered response was given up within the hold cap
                  (3 x request_timeout): request_timeout is a deadline for the whole request;
- ``recovers``    after the fault is over, the same client works again.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from typing import Any, Literal, TextIO
from urllib.parse import quote, urlencode

from airflow_adf_trigger.core.config.connection import settings_from_connection
from airflow_adf_trigger.core.config.settings import AdfSettings
from airflow_adf_trigger.core.errors import (
    AdfAuthenticationError,
    AdfBadRequestError,
    AdfConnectionError,
    AdfError,
    AdfRunOutcomeUnknownError,
    AdfThrottledError,
)
from airflow_adf_trigger.core.runs.models import (
    ActivityRun,
    CancelResult,
    PipelineRun,
    RunQuery,
    RunStatus,
)
from airflow_adf_trigger.core.wire.aio import AsyncAdfClient
from airflow_adf_trigger.core.wire.auth import TokenCache
from airflow_adf_trigger.core.wire.client import AdfClient
from airflow_adf_trigger.emulator import EmulatorServer, Scenario
from tests.faults.proxy import STAGES, FaultProxy, ProxyFault, Stage

SECRET = "faultmatrix-Secret-7Qx2Lw9Vb4Kp"
"""Distinctive, and the same URL-quoted, so it is found in any form it could leak in."""
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT_ID = "0d3c4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"
SUBSCRIPTION = "12345678-1234-1234-1234-123456789abc"
PIPELINE = "copy_sales"
SHORT_PIPELINE = "short"
"""Ends 2.5 s after it starts: what the ``wait`` cells follow to the end."""
WAIT_OPTIONS: dict[str, float] = {"poll_interval": 0.5, "timeout": 150.0, "outage_budget": 90.0}
"""wait_for_run's options in the wait cells: a 60 s outage fits in the outage budget."""
REQUEST_TIMEOUT = 2.0
RETRY_MAX_ATTEMPTS = 2
RETRY_MAX_SECONDS = 5.0
HEAVY_REQUEST_TIMEOUT = 10.0
HOLD_CAP = 3 * REQUEST_TIMEOUT
"""A client still reading a trickled or unanswered response after this has no deadline."""
MAX_MESSAGE_CHARS = 10_000
"""A "clear" error message fits on a screen; a 10 MB one does not."""
REFUSED_SECONDS = 0.3
"""The short outage: shorter than the first backoff (0.5-1 s), so one retry gets through."""

SCENARIO: dict[str, Any] = {
    "tenant_id": TENANT,
    "subscription_id": SUBSCRIPTION,
    "resource_group": "rg-analytics",
    "factory_name": "adf-demo",
    "service_principals": [{"client_id": CLIENT_ID, "client_secret": SECRET}],
    "pipelines": {
        PIPELINE: {
            "queued_seconds": 0.05,
            "duration_seconds": 300,
            "cancel_seconds": 0.2,
            "activities": [
                {"name": "Lookup files", "type": "Lookup", "duration_seconds": 150},
                {"name": "Copy sales to lake", "type": "Copy"},
            ],
        },
        SHORT_PIPELINE: {"queued_seconds": 0.05, "duration_seconds": 2.5},
    },
}

# --------------------------------------------------------------------------- faults

Kind = Literal["unsent", "sent", "malformed", "throttled-long", "bad-request", "outage"]
"""How the rules see a fault: never sent (retry anything), sent but unanswered (retry reads
only), a 200 that cannot be read, a throttle longer than the budget, a 4xx, an outage."""


@dataclass(frozen=True)
class Fault:
    name: str
    kind: Kind
    make: Callable[[Stage], ProxyFault] | None = None
    """The proxy fault, built at arming time (a Retry-After date is relative to now)."""
    outage_seconds: float = 0.0
    """Instead of ``make``: stop listening for this long."""
    stages: tuple[Stage, ...] = STAGES
    slow: bool = False
    heavy: bool = False
    """Busy on the CPU (a 10 MB answer): such cells run one at a time, so that threads of
    other cells cannot starve one past its 2 s request deadline, and get a request timeout
    of :data:`HEAVY_REQUEST_TIMEOUT`: another test session on the same cores (the
    deployment layer beside this one in ``make test``) can still starve the read past 2 s,
    and a timed-out read is rightly retried as transient, which is not what the cell tests."""


def _error_body(stage: Stage, status: int, message: str) -> bytes:
    if stage == "token":
        return json.dumps(
            {"error": "temporarily_unavailable", "error_description": message}
        ).encode()
    return json.dumps({"error": {"code": f"Http{status}", "message": message}}).encode()


def _answer(status: int, *headers: tuple[str, str], forward: bool) -> Callable[[Stage], ProxyFault]:
    def make(stage: Stage) -> ProxyFault:
        body = _error_body(stage, status, f"fault proxy answered {status}")
        all_headers = (("Content-Type", "application/json"), *headers)
        return ProxyFault("answer", forward=forward, status=status, headers=all_headers, body=body)

    return make


def _retry_after_date(stage: Stage) -> ProxyFault:
    when = formatdate(time.time() + 2, usegmt=True)
    return _answer(429, ("Retry-After", when), forward=False)(stage)


def _rewrite(transform: Callable[[bytes], bytes]) -> Callable[[Stage], ProxyFault]:
    return lambda _stage: ProxyFault("rewrite", rewrite=transform)


def _huge(stage: Stage) -> ProxyFault:
    def body() -> bytes:
        text = "AADSTS900144: " + "x" * 10_000_000
        if stage == "token":
            return json.dumps({"error": "invalid_request", "error_description": text}).encode()
        return json.dumps({"error": {"code": "BadRequest", "message": text}}).encode()

    headers = (("Content-Type", "application/json"),)
    return ProxyFault("answer", forward=False, status=400, headers=headers, body=body)


def _crlf_token(body: bytes) -> bytes:
    parsed = json.loads(body)
    token = parsed["access_token"]
    parsed["access_token"] = f"{token[:12]}\r\nX-Injected: yes\r\n{token[12:]}"
    return json.dumps(parsed).encode()


FAULTS: tuple[Fault, ...] = (
    Fault("refused", "unsent", outage_seconds=REFUSED_SECONDS),
    Fault("reset before response", "sent", lambda _s: ProxyFault("reset_before_response")),
    Fault("reset mid-body", "sent", lambda _s: ProxyFault("reset_mid_body")),
    Fault("read timeout", "sent", lambda _s: ProxyFault("no_answer")),
    Fault("trickled body", "sent", lambda _s: ProxyFault("trickle")),
    Fault("429 Retry-After 1", "unsent", _answer(429, ("Retry-After", "1"), forward=False)),
    Fault("429 Retry-After date", "unsent", _retry_after_date),
    Fault("429 retry-after-ms", "unsent", _answer(429, ("retry-after-ms", "800"), forward=False)),
    Fault(
        "429 x-ms-retry-after-ms",
        "unsent",
        _answer(429, ("x-ms-retry-after-ms", "800"), forward=False),
    ),
    Fault("429 no header", "unsent", _answer(429, forward=False)),
    Fault(
        "429 Retry-After 3600",
        "throttled-long",
        _answer(429, ("Retry-After", "3600"), forward=False),
    ),
    Fault("500 (processed)", "sent", _answer(500, forward=True)),
    Fault("502 (processed)", "sent", _answer(502, forward=True)),
    Fault("503 (processed)", "sent", _answer(503, forward=True)),
    Fault("504 (processed)", "sent", _answer(504, forward=True)),
    Fault(
        "200 HTML body",
        "malformed",
        _rewrite(lambda _b: b"<html><body><h1>Bad Gateway</h1></body></html>"),
    ),
    Fault("200 truncated JSON", "malformed", _rewrite(lambda b: b[: len(b) // 2] or b"{")),
    Fault("200 JSON []", "malformed", _rewrite(lambda _b: b"[]")),
    Fault("200 JSON {value: 5}", "malformed", _rewrite(lambda _b: b'{"value": 5}')),
    Fault("400 with 10 MB message", "bad-request", _huge, heavy=True),
    Fault("outage 5 s", "outage", outage_seconds=5.0),
    Fault("outage 60 s", "outage", outage_seconds=60.0, slow=True),
    Fault("token with CR/LF", "malformed", _rewrite(_crlf_token), stages=("token",)),
)
FAULTS_BY_NAME = {fault.name: fault for fault in FAULTS}

Expected = tuple[type[BaseException] | str, ...]


def expected_outcomes(stage: Stage, fault: Fault, *, wait: bool = False) -> Expected:
    """What the rules call for: reads retry on 429/5xx/transport errors within the budget;
    create-run is resent only when provably never sent; otherwise its outcome is unknown.

    The token stage's operation is a create-run, but the faulted request is the token read.
    A wait (``wait``) goes on polling through transient errors and outages within its
    outage budget, so it sees the run end.
    """
    if wait:
        if fault.kind == "bad-request":
            return (AdfBadRequestError,)
        return ("ok", AdfError) if fault.kind == "malformed" else ("ok",)
    create = stage == "create-run"
    if fault.kind == "outage":
        return (AdfConnectionError,)  # the budget (2 attempts, 5 s) ends inside the outage
    if fault.kind == "unsent":
        return ("ok",)
    if fault.kind == "sent":
        return (AdfRunOutcomeUnknownError,) if create else ("ok",)
    if fault.kind == "throttled-long":
        return (
            (AdfThrottledError, AdfAuthenticationError)
            if stage == "token"
            else (AdfThrottledError,)
        )
    if fault.kind == "bad-request":
        return (AdfAuthenticationError,) if stage == "token" else (AdfBadRequestError,)
    # A 200 that cannot be read: not retryable by the rules, but a retry is no harm for reads.
    if stage == "token":
        return ("ok", AdfAuthenticationError)
    return (AdfRunOutcomeUnknownError,) if create else ("ok", AdfError)


def describe_expected(expected: Expected) -> str:
    return " or ".join(item if isinstance(item, str) else item.__name__ for item in expected)


# --------------------------------------------------------------------------- cells

ClientKind = Literal["sync", "async", "cli"]
CLIENTS: tuple[ClientKind, ...] = ("sync", "async")
CLI_CELLS: tuple[tuple[Stage, str, bool], ...] = (
    ("token", "token with CR/LF", False),
    ("token", "503 (processed)", False),
    ("create-run", "refused", False),
    ("create-run", "reset before response", False),
    ("create-run", "trickled body", False),
    ("create-run", "429 Retry-After date", False),
    ("create-run", "200 HTML body", False),
    ("create-run", "200 JSON []", False),
    ("create-run", "outage 60 s", False),
    ("get-run", "trickled body", False),
    ("get-run", "503 (processed)", False),
    ("cancel", "reset before response", False),
    ("query-activities", "200 truncated JSON", False),
    ("get-run", "503 (processed)", True),
    ("get-run", "outage 60 s", True),
)
INVARIANTS = (
    "expected",
    "one-run",
    "no-lost-run",
    "no-secret",
    "clear-error",
    "deadline",
    "recovers",
)


@dataclass(frozen=True)
class Cell:
    stage: Stage
    fault: Fault
    client: ClientKind
    wait: bool = False
    """Follow a run with wait_for_run (the faulted requests are its polls), not one get."""

    @property
    def label(self) -> str:
        return f"{self.stage} (wait)" if self.wait else self.stage

    @property
    def id(self) -> str:
        return f"{self.label}|{self.fault.name}|{self.client}"

    @property
    def slow(self) -> bool:
        return self.fault.slow

    @property
    def expected(self) -> Expected:
        return expected_outcomes(self.stage, self.fault, wait=self.wait)


def all_cells(*, include_slow: bool = True) -> list[Cell]:
    cells = [
        Cell(stage, fault, client)
        for stage in STAGES
        for fault in FAULTS
        if stage in fault.stages
        for client in CLIENTS
    ]
    cells += [
        Cell("get-run", fault, client, wait=True)
        for fault in FAULTS
        if "get-run" in fault.stages
        for client in CLIENTS
    ]
    cells += [Cell(stage, FAULTS_BY_NAME[name], "cli", wait) for stage, name, wait in CLI_CELLS]
    return [cell for cell in cells if include_slow or not cell.slow]


@dataclass
class CellResult:
    cell: Cell
    outcome: str
    elapsed: float
    checks: dict[str, str | None] = field(default_factory=dict)
    """Invariant name -> None when it holds, else what broke it ("n/a" when it cannot apply)."""
    detail: str = ""

    @property
    def failures(self) -> dict[str, str]:
        return {
            name: problem
            for name, problem in self.checks.items()
            if problem is not None and problem != "n/a"
        }

    @property
    def ok(self) -> bool:
        return not self.failures


# --------------------------------------------------------------------------- capture


class _ThreadLogs(logging.Handler):
    """Every log record, formatted with its traceback, filed under the thread that made it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: dict[int, list[str]] = {}
        self.guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:
            text = f"(unformattable record {record.msg!r} {record.args!r})"
        with self.guard:
            self.lines.setdefault(record.thread or 0, []).append(text)

    def take(self, thread: int) -> list[str]:
        with self.guard:
            return self.lines.pop(thread, [])


class _ThreadStream(io.TextIOBase):
    """sys.stdout/sys.stderr for concurrent cells: each cell thread writes to its own buffer."""

    def __init__(self, original: TextIO) -> None:
        self.original = original
        self.buffers: dict[int, io.StringIO] = {}

    def write(self, text: str) -> int:
        buffer = self.buffers.get(threading.get_ident())
        if buffer is None:
            return self.original.write(text)
        return buffer.write(text)

    def flush(self) -> None:
        self.original.flush()


_LOGS = _ThreadLogs()


@contextlib.contextmanager
def capturing() -> Iterator[None]:
    """Route DEBUG logs and stdout/stderr per thread for the duration of a matrix run."""
    root = logging.getLogger()
    level = root.level
    root.addHandler(_LOGS)
    root.setLevel(logging.DEBUG)
    out, err = _ThreadStream(sys.stdout), _ThreadStream(sys.stderr)
    sys.stdout, sys.stderr = out, err
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out.original, err.original
        root.removeHandler(_LOGS)
        root.setLevel(level)


@contextlib.contextmanager
def _cell_output() -> Iterator[list[str]]:
    """Collect what this thread logs and prints while the cell runs."""
    ident = threading.get_ident()
    _LOGS.take(ident)
    streams = [s for s in (sys.stdout, sys.stderr) if isinstance(s, _ThreadStream)]
    buffers = [io.StringIO() for _ in streams]
    for stream, buffer in zip(streams, buffers, strict=True):
        stream.buffers[ident] = buffer
    collected: list[str] = []
    try:
        yield collected
    finally:
        for stream, buffer in zip(streams, buffers, strict=True):
            stream.buffers.pop(ident, None)
            collected.append(buffer.getvalue())
        collected.extend(_LOGS.take(ident))


def exception_texts(error: BaseException) -> list[str]:
    """The formatted traceback and every str/repr along the __cause__/__context__ chain."""
    texts = ["".join(traceback.format_exception(error))]
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending and len(seen) < 50:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        texts += [str(current), repr(current), *(repr(arg) for arg in current.args)]
        with contextlib.suppress(TypeError):
            texts += [repr(value) for value in vars(current).values()]
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
    return texts


def secrets_of(proxy: FaultProxy) -> list[str]:
    """The client secret and every token the proxy passed on (and the pieces of a token a
    CR/LF split, as a header error would quote them)."""
    needles = [SECRET]
    for token in proxy.tokens_seen:
        needles.append(token)
        needles += [part for part in re.split(r"[\r\n]+", token) if len(part) >= 8]
    return needles


def find_leaks(haystack: list[str], needles: list[str]) -> list[str]:
    leaks = []
    for needle in dict.fromkeys(needles):
        for text in haystack:
            if needle in text:
                leaks.append("the client secret" if needle == SECRET else "an issued token")
                break
    return sorted(set(leaks))


def redact(text: str, needles: list[str]) -> str:
    for needle in sorted(set(needles), key=len, reverse=True):
        text = text.replace(needle, "<redacted>")
    return text


# --------------------------------------------------------------------------- drivers


def connection_extra(proxy: FaultProxy, *, heavy: bool = False) -> dict[str, Any]:
    return {
        "tenant_id": TENANT,
        "subscription_id": SUBSCRIPTION,
        "resource_group": "rg-analytics",
        "factory_name": "adf-demo",
        "authority_host": proxy.authority_url,
        "management_endpoint": proxy.management_url,
        "request_timeout": HEAVY_REQUEST_TIMEOUT if heavy else REQUEST_TIMEOUT,
        "retry_max_attempts": RETRY_MAX_ATTEMPTS,
        "retry_max_seconds": RETRY_MAX_SECONDS,
    }


def proxied_settings(proxy: FaultProxy, *, heavy: bool = False) -> AdfSettings:
    return settings_from_connection(CLIENT_ID, SECRET, connection_extra(proxy, heavy=heavy))


def direct_settings(emulator: EmulatorServer) -> AdfSettings:
    connection = emulator.state.scenario.airflow_connection(emulator.url)
    return settings_from_connection(
        connection["login"], connection["password"], connection["extra"]
    )


class _SyncDriver:
    def __init__(self, settings: AdfSettings) -> None:
        self.client = AdfClient(settings, token_cache=TokenCache())

    def call(self, name: str, *args: Any, **options: Any) -> Any:
        return getattr(self.client, name)(*args, **options)

    def close(self) -> None:
        self.client.close()


class _AsyncDriver:
    """The async client, each call run to completion on one event loop of the cell."""

    def __init__(self, settings: AdfSettings) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = AsyncAdfClient(settings, token_cache=TokenCache())

    def call(self, name: str, *args: Any, **options: Any) -> Any:
        return self.loop.run_until_complete(getattr(self.client, name)(*args, **options))

    def close(self) -> None:
        try:
            self.loop.run_until_complete(self.client.aclose())
        finally:
            self.loop.close()


def _window() -> RunQuery:
    now = datetime.now(UTC)
    return RunQuery(now - timedelta(hours=1), now + timedelta(hours=1))


def _operation(cell: Cell, run_id: str | None) -> tuple[str, tuple[Any, ...]]:
    stage = cell.stage
    if cell.wait:
        return "wait_for_run", (run_id,)
    if stage in ("token", "create-run"):
        return "create_run", (PIPELINE,)
    if stage == "get-run":
        return "get_run", (run_id,)
    if stage == "query-runs":
        return "query_pipeline_runs", (_window(),)
    if stage == "cancel":
        return "cancel_run", (run_id,)
    return "query_activity_runs", (run_id, _window())


def _wrong_result(cell: Cell, result: Any, run_id: str | None, new_runs: list[str]) -> str:
    """'' when the operation's result is right, else what is wrong with it."""
    stage = cell.stage
    if cell.wait:
        ok = isinstance(result, PipelineRun) and result.run_id == run_id
        if ok and result.status is RunStatus.SUCCEEDED:
            return ""
        return f"returned {result!r}"
    if stage in ("token", "create-run"):
        if new_runs and result == new_runs[0]:
            return ""
        return f"returned run id {result!r}, the emulator created {new_runs}"
    if stage == "get-run":
        ok = isinstance(result, PipelineRun) and result.run_id == run_id
        return "" if ok else f"returned {result!r}"
    if stage == "query-runs":
        ok = isinstance(result, list) and run_id in {run.run_id for run in result}
        return "" if ok else f"the run is not among {len(result)} returned"
    if stage == "cancel":
        # A retried cancel may find the run already Cancelled by its own first attempt.
        ok = isinstance(result, CancelResult) and (
            result.cancel_requested or result.finished_status is RunStatus.CANCELLED
        )
        return "" if ok else f"returned {result!r}"
    ok = isinstance(result, list) and all(
        isinstance(a, ActivityRun) and a.pipeline_run_id == run_id for a in result
    )
    return "" if ok else f"returned activity runs of another run: {result!r}"


# --------------------------------------------------------------------------- one cell


def run_cell(cell: Cell) -> CellResult:
    """Run one cell in a fresh emulator behind a fresh proxy, and check every invariant."""
    with (
        EmulatorServer(Scenario.from_json(SCENARIO)) as emulator,
        FaultProxy(emulator.url, hold_cap=HOLD_CAP) as proxy,
    ):
        run_id: str | None = None
        if cell.stage not in ("token", "create-run"):
            with AdfClient(direct_settings(emulator), token_cache=TokenCache()) as setup:
                run_id = setup.create_run(SHORT_PIPELINE if cell.wait else PIPELINE)
        if cell.client == "cli":
            return _run_cli_cell(cell, emulator, proxy, run_id)
        return _run_client_cell(cell, emulator, proxy, run_id)


def _arm(cell: Cell, proxy: FaultProxy) -> None:
    if cell.fault.outage_seconds:
        proxy.take_down(cell.stage, cell.fault.outage_seconds)
    else:
        assert cell.fault.make is not None
        proxy.arm(cell.stage, cell.fault.make(cell.stage))


def _run_client_cell(
    cell: Cell, emulator: EmulatorServer, proxy: FaultProxy, run_id: str | None
) -> CellResult:
    settings = proxied_settings(proxy, heavy=cell.fault.heavy)
    error: BaseException | None = None
    result: Any = None
    recovery: BaseException | None = None
    with _cell_output() as output:
        driver = _SyncDriver(settings) if cell.client == "sync" else _AsyncDriver(settings)
        try:
            if cell.stage != "token":
                driver.call("get_factory")  # signs in, so the fault hits the stage itself
            runs_before = {run["runId"] for run in emulator.run_summaries()}
            name, args = _operation(cell, run_id)
            options = WAIT_OPTIONS if cell.wait else {}
            _arm(cell, proxy)
            started = time.monotonic()
            try:
                result = driver.call(name, *args, **options)
            except BaseException as caught:  # a raw crash is a finding, not a test error
                error = caught
            elapsed = time.monotonic() - started
            proxy.disarm()
            new_runs = [
                run["runId"] for run in emulator.run_summaries() if run["runId"] not in runs_before
            ]
            proxy.wait_up(timeout=cell.fault.outage_seconds + 5)
            try:
                driver.call("get_factory")
            except BaseException as caught:
                recovery = caught
        finally:
            driver.close()
    needles = secrets_of(proxy)
    haystack = list(output)
    for item in (error, recovery):
        if item is not None:
            haystack += exception_texts(item)
    if error is None:
        wrong = _wrong_result(cell, result, run_id, new_runs)
        outcome = f"wrong result: {wrong}" if wrong else "ok"
    else:
        outcome = type(error).__name__
    checks: dict[str, str | None] = {
        "expected": _check_expected(cell.expected, error, outcome)
        or _check_unknown_was_sent(error, proxy),
        "one-run": _check_one_run(cell.stage, new_runs),
        "no-lost-run": _check_no_lost_run(new_runs, result, error, proxy),
        "no-secret": _check_no_secret(haystack, needles),
        "clear-error": _check_clear(error),
        "deadline": _check_deadline(proxy),
        "recovers": None
        if recovery is None
        else f"the next call raised {type(recovery).__name__}: {_first_line(recovery)}",
    }
    detail = "" if error is None else _first_line(error)
    return CellResult(cell, outcome, elapsed, checks, redact(detail, needles))


def _first_line(error: BaseException, limit: int = 160) -> str:
    text = (str(error).strip().splitlines() or [""])[0]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _check_expected(expected: Expected, error: BaseException | None, outcome: str) -> str | None:
    if error is None:
        if outcome != "ok":
            return outcome
        return None if "ok" in expected else f"completed; expected {describe_expected(expected)}"
    if any(isinstance(item, type) and isinstance(error, item) for item in expected):
        return None
    return f"raised {type(error).__name__}; expected {describe_expected(expected)}"


def _check_unknown_was_sent(error: BaseException | None, proxy: FaultProxy) -> str | None:
    """Outcome unknown is a false alarm when no create-run request ever left the client."""
    if isinstance(error, AdfRunOutcomeUnknownError) and proxy.received["create-run"] == 0:
        return "AdfRunOutcomeUnknownError, but no create-run request ever reached the proxy"
    return None


def _check_one_run(stage: Stage, new_runs: list[str]) -> str | None:
    allowed = 1 if stage in ("token", "create-run") else 0
    if len(new_runs) <= allowed:
        return None
    return f"{len(new_runs)} runs created by one {'create attempt' if allowed else 'read'}"


def _check_no_lost_run(
    new_runs: list[str], result: Any, error: BaseException | None, proxy: FaultProxy
) -> str | None:
    if not new_runs:
        return None
    if error is None and result in new_runs:
        return None
    if isinstance(error, AdfRunOutcomeUnknownError):
        forwarded = proxy.forwarded["create-run"]
        sent_at, gave_up_at = error.sent_at, error.gave_up_at
        text = str(error)
        tolerance = timedelta(seconds=1)
        inside = all(sent_at - tolerance <= when <= gave_up_at + tolerance for when in forwarded)
        names = PIPELINE in text and sent_at.isoformat() in text and gave_up_at.isoformat() in text
        if inside and names:
            return None
        return (
            f"AdfRunOutcomeUnknownError window {sent_at.isoformat()}..{gave_up_at.isoformat()} "
            f"does not hold the creation at {[w.isoformat() for w in forwarded]} or is not named"
        )
    told = "nothing" if error is None else type(error).__name__
    return f"run {new_runs[0]} was created but the caller got {told}, not its id"


def _check_no_secret(haystack: list[str], needles: list[str]) -> str | None:
    leaks = find_leaks(haystack, needles)
    return None if not leaks else f"{' and '.join(leaks)} in the output"


def _check_clear(error: BaseException | None) -> str | None:
    if error is None:
        return None
    if not isinstance(error, AdfError):
        return f"raw {type(error).__module__}.{type(error).__name__}"
    size = len(str(error))
    if size > MAX_MESSAGE_CHARS:
        return f"{type(error).__name__} message is {size:,} characters"
    return None


def _check_deadline(proxy: FaultProxy) -> str | None:
    stuck = [exchange for exchange in proxy.exchanges if exchange.cap_reached]
    if not stuck:
        return None
    return (
        f"client still reading after {HOLD_CAP:g} s (3 x request_timeout); "
        "request_timeout did not bound the whole request"
    )


# --------------------------------------------------------------------------- CLI cells

_CLI_ENV_DROP = (
    "ADF_CONNECTION_URI",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "ADF_SUBSCRIPTION_ID",
    "ADF_RESOURCE_GROUP",
    "ADF_FACTORY_NAME",
    "ADF_CLOUD",
    "ADF_AUTHORITY_HOST",
    "ADF_MANAGEMENT_ENDPOINT",
)
_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
CLI_TIMEOUT = 120.0


def _cli_arguments(cell: Cell, run_id: str | None) -> list[str]:
    stage = cell.stage
    if cell.wait:
        return [
            "wait",
            str(run_id),
            "--poll-interval",
            str(WAIT_OPTIONS["poll_interval"]),
            "--timeout",
            str(WAIT_OPTIONS["timeout"]),
        ]
    if stage in ("token", "create-run"):
        return ["run", PIPELINE]
    if stage == "get-run":
        return ["status", str(run_id)]
    if stage == "cancel":
        return ["cancel", str(run_id)]
    if stage == "query-activities":
        return ["activities", str(run_id)]
    raise ValueError(f"no CLI command for stage {stage}")


def _run_cli_cell(
    cell: Cell, emulator: EmulatorServer, proxy: FaultProxy, run_id: str | None
) -> CellResult:
    extra = connection_extra(proxy, heavy=cell.fault.heavy)
    query = urlencode({k: str(v) for k, v in extra.items()})
    uri = f"adf://{quote(CLIENT_ID, safe='')}:{quote(SECRET, safe='')}@/?{query}"
    env = {k: v for k, v in os.environ.items() if k not in _CLI_ENV_DROP}
    env["ADF_CONNECTION_URI"] = uri
    command = [sys.executable, "-m", "airflow_adf_trigger.cli", *_cli_arguments(cell, run_id)]
    runs_before = {run["runId"] for run in emulator.run_summaries()}
    _arm(cell, proxy)
    started = time.monotonic()
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT, check=False
        )
        code, out, err = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as expired:
        code = -1
        out = expired.stdout if isinstance(expired.stdout, str) else ""
        err = expired.stderr if isinstance(expired.stderr, str) else ""
    elapsed = time.monotonic() - started
    proxy.disarm()
    new_runs = [run["runId"] for run in emulator.run_summaries() if run["runId"] not in runs_before]
    needles = secrets_of(proxy)
    outcome = {0: "exit 0", 3: "exit 3 (Azure error)", -1: "killed after timeout"}.get(
        code, f"exit {code}"
    )
    crashed = "Traceback (most recent call last)" in err
    if crashed:
        outcome += " with a traceback"
    wants_ok = "ok" in cell.expected
    wants_error = any(isinstance(item, type) for item in cell.expected)
    expected_ok = (code == 0 and wants_ok) or (code == 3 and wants_error and not crashed)
    checks: dict[str, str | None] = {
        "expected": None
        if expected_ok
        else f"{outcome}; expected {describe_expected(cell.expected)}",
        "one-run": _check_one_run(cell.stage, new_runs),
        "no-lost-run": _check_cli_lost_run(new_runs, code, out, err),
        "no-secret": _check_no_secret([out, err], needles),
        "clear-error": None
        if code in (0, 3) and not crashed and len(err) <= MAX_MESSAGE_CHARS
        else f"{outcome}, {len(err):,} characters on stderr",
        "deadline": _check_deadline(proxy),
        "recovers": "n/a",
    }
    last_line = (err.strip().splitlines() or [""])[-1]
    return CellResult(cell, outcome, elapsed, checks, redact(last_line[:160], needles))


def _check_cli_lost_run(new_runs: list[str], code: int, out: str, err: str) -> str | None:
    if not new_runs:
        return None
    if code == 0 and new_runs[0] in out:
        return None
    if code == 3 and f"'{PIPELINE}'" in err and len(_ISO.findall(err)) >= 2:
        return None
    return f"run {new_runs[0]} was created but neither its id nor a time window was printed"


# --------------------------------------------------------------------------- the matrix


def run_matrix(
    cells: list[Cell], *, workers: int = 32, on_result: Callable[[CellResult], None] | None = None
) -> list[CellResult]:
    """Run the cells concurrently (each waits on sockets and timers, hardly on the CPU);
    the slowest start first. Results come back in the order of ``cells``."""
    order = sorted(range(len(cells)), key=lambda i: -_expected_duration(cells[i]))
    results: dict[int, CellResult] = {}
    with capturing(), ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(_run_guarded, cells[i]): i for i in order}
        for future, index in futures.items():
            results[index] = future.result()
            if on_result is not None:
                on_result(results[index])
    return [results[i] for i in range(len(cells))]


_ONE_HEAVY_CELL = threading.Lock()


def _run_guarded(cell: Cell) -> CellResult:
    """A cell whose own machinery breaks is reported as such, not lost."""
    started = time.monotonic()
    try:
        if cell.fault.heavy:
            with _ONE_HEAVY_CELL:
                return run_cell(cell)
        return run_cell(cell)
    except Exception as error:
        trace = traceback.format_exception_only(error)[-1].strip()
        return CellResult(
            cell,
            "harness error",
            time.monotonic() - started,
            {"expected": f"the cell itself failed: {trace}"},
        )


def _expected_duration(cell: Cell) -> float:
    if cell.fault.outage_seconds:
        return cell.fault.outage_seconds
    if cell.fault.name in ("trickled body", "read timeout"):
        return HOLD_CAP
    if cell.wait:
        return 3.0
    return 1.0 + (1.0 if cell.client == "cli" else 0.0)


def format_table(results: list[CellResult]) -> str:
    """The matrix as a text table: one line per cell, failures spelled out under it."""
    header = ("stage", "fault", "client", "expected", "outcome", "elapsed", "invariants")
    rows = []
    for result in results:
        cell = result.cell
        verdict = "OK" if result.ok else "FAIL " + ",".join(result.failures)
        rows.append(
            (
                cell.label,
                cell.fault.name,
                cell.client,
                describe_expected(cell.expected),
                result.outcome[:48],
                f"{result.elapsed:6.1f} s",
                verdict,
            )
        )
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    widths[-1] = 0

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(str(value).ljust(width) for value, width in zip(row, widths, strict=True))

    lines = [line(header), line(tuple("-" * (w or 10) for w in widths))]
    for result, row in zip(results, rows, strict=True):
        lines.append(line(row).rstrip())
        for name, problem in result.failures.items():
            lines.append(f"{'':8}{name}: {problem}")
        if result.failures and result.detail:
            lines.append(f"{'':8}message: {result.detail}")
    failed = sum(not r.ok for r in results)
    lines.append("")
    lines.append(f"{len(results)} cells, {len(results) - failed} OK, {failed} FAIL")
    return "\n".join(lines)
