"""A fault proxy: a real HTTP server on 127.0.0.1 in front of the emulator that misbehaves
on command, for one stage of the protocol at a time.

It has two listeners, one the client uses as its Azure AD authority and one as its Resource
Manager endpoint, so an outage can hit the token endpoint alone or ARM alone. Every response
goes out with ``Connection: close``: each request gets its own TCP connection, so a fault
never lands on a pooled connection another request shares.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

Stage = Literal["token", "create-run", "get-run", "query-runs", "cancel", "query-activities"]
STAGES: tuple[Stage, ...] = (
    "token",
    "create-run",
    "get-run",
    "query-runs",
    "cancel",
    "query-activities",
)

TRICKLE_SECONDS_PER_BYTE = 0.5
SERVE_POLL_SECONDS = 0.05
MAX_REQUEST_HEAD = 64 * 1024
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "te", "upgrade"}

_RUN = r"/pipelineruns/[^/]+"

_RESERVED_PORTS: set[int] = set()
_RESERVED_GUARD = threading.Lock()


def _ephemeral_floor() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
            return int(ports.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _reserve_port() -> int:
    """A port below the ephemeral range, never handed to another proxy of this process.

    A listener taken down for an outage gives up its port; one from the ephemeral range
    could meanwhile go to another server binding port 0 (another cell's emulator), and the
    client's retry would reach that stranger instead of being refused.
    """
    floor = _ephemeral_floor()
    with _RESERVED_GUARD:
        for _ in range(1000):
            port = random.randrange(10_000, max(10_001, floor))
            if port in _RESERVED_PORTS:
                continue
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            finally:
                probe.close()
            _RESERVED_PORTS.add(port)
            return port
    raise RuntimeError("no free port below the ephemeral range")


def stage_of(method: str, path: str) -> Stage | None:
    """Which stage a request is (None: one the matrix does not fault, e.g. get factory)."""
    path = path.split("?", 1)[0]
    if method == "POST" and re.search(r"/oauth2/(v2\.0/)?token$", path):
        return "token"
    if method == "POST" and re.search(r"/pipelines/[^/]+/createRun$", path):
        return "create-run"
    if method == "GET" and re.search(_RUN + "$", path):
        return "get-run"
    if method == "POST" and path.endswith("/queryPipelineRuns"):
        return "query-runs"
    if method == "POST" and re.search(_RUN + "/cancel$", path):
        return "cancel"
    if method == "POST" and re.search(_RUN + "/queryActivityruns$", path):
        return "query-activities"
    return None


@dataclass(frozen=True)
class Upstream:
    """What the emulator answered to a forwarded request."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes


Action = Literal[
    "reset_before_response",
    "reset_mid_body",
    "no_answer",
    "trickle",
    "answer",
    "rewrite",
]


@dataclass(frozen=True)
class ProxyFault:
    """What the proxy does to the next ``times`` requests of one stage.

    ``forward``: send the request on to the emulator first (so a create-run *does* create
    a run) before misbehaving; otherwise the emulator never sees it.
    """

    action: Action
    forward: bool = True
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | Callable[[], bytes] = b""
    rewrite: Callable[[bytes], bytes] | None = None
    times: int = 1


@dataclass
class Exchange:
    """One faulted request as the proxy saw it."""

    stage: Stage
    action: Action
    forwarded_at: datetime | None = None
    """When the emulator answered the forwarded request (wall clock, UTC)."""
    held_seconds: float | None = None
    """no_answer / trickle: how long the client kept the connection before giving up."""
    cap_reached: bool = False
    """no_answer / trickle: the client was still waiting when the proxy stopped at its cap."""


@dataclass
class _Listener:
    name: str
    port: int = field(default_factory=_reserve_port)
    sock: socket.socket | None = None
    down_until: float = 0.0
    is_down: threading.Event = field(default_factory=threading.Event)
    is_up: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


class FaultProxy:
    """Forward to ``upstream`` (the emulator's URL); misbehave for an armed stage.

    ``hold_cap`` bounds how long a ``no_answer`` or ``trickle`` fault keeps a connection:
    a client still there at the cap has outlived its request deadline (recorded).
    """

    def __init__(self, upstream: str, *, hold_cap: float = 6.0) -> None:
        parts = urlsplit(upstream)
        if parts.hostname != "127.0.0.1" or parts.port is None:
            raise ValueError(f"the proxy forwards only to 127.0.0.1:<port>, not {upstream}")
        self._upstream_port = parts.port
        self.hold_cap = hold_cap
        self._lock = threading.Lock()
        self._faults: dict[Stage, ProxyFault] = {}
        self._remaining: dict[Stage, int] = {}
        self.exchanges: list[Exchange] = []
        self.tokens_seen: set[str] = set()
        """Every access token that went through (as answered to the client)."""
        self.forwarded: dict[Stage, list[datetime]] = {stage: [] for stage in STAGES}
        """When the emulator answered each forwarded request, by stage."""
        self.received: dict[Stage, int] = dict.fromkeys(STAGES, 0)
        """Requests that reached the proxy, by stage (faulted ones included)."""
        self._stopping = threading.Event()
        self._workers: list[threading.Thread] = []
        self._listeners = {name: _Listener(name) for name in ("authority", "management")}
        for listener in self._listeners.values():
            self._bind(listener)
            listener.is_up.set()
            listener.thread = threading.Thread(
                target=self._serve, args=(listener,), name=f"fault-proxy-{listener.name}"
            )
            listener.thread.daemon = True
            listener.thread.start()

    # ------------------------------------------------------------------ control

    @property
    def authority_url(self) -> str:
        return f"http://127.0.0.1:{self._listeners['authority'].port}"

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self._listeners['management'].port}"

    def arm(self, stage: Stage, fault: ProxyFault) -> None:
        with self._lock:
            self._faults[stage] = fault
            self._remaining[stage] = fault.times

    def disarm(self) -> None:
        with self._lock:
            self._faults.clear()
            self._remaining.clear()

    def take_down(self, stage: Stage, seconds: float) -> None:
        """Stop listening where ``stage`` is served (refused connections) for ``seconds``."""
        listener = self._listeners["authority" if stage == "token" else "management"]
        listener.is_up.clear()
        listener.is_down.clear()
        listener.down_until = time.monotonic() + seconds
        if not listener.is_down.wait(timeout=5.0):
            raise RuntimeError(f"the {listener.name} listener did not go down")

    def wait_up(self, timeout: float) -> bool:
        """Wait until both listeners listen again; False if ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        return all(
            listener.is_up.wait(timeout=max(0.0, deadline - time.monotonic()))
            for listener in self._listeners.values()
        )

    def close(self) -> None:
        self._stopping.set()
        for listener in self._listeners.values():
            if listener.thread is not None:
                listener.thread.join(timeout=5.0)
        for worker in list(self._workers):
            worker.join(timeout=self.hold_cap + 5.0)
        with _RESERVED_GUARD:
            _RESERVED_PORTS.difference_update(
                listener.port for listener in self._listeners.values()
            )

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ serving

    def _bind(self, listener: _Listener) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", listener.port))
        sock.listen(128)
        sock.settimeout(SERVE_POLL_SECONDS)
        listener.port = sock.getsockname()[1]
        listener.sock = sock
        return sock

    def _serve(self, listener: _Listener) -> None:
        rebind_failures = 0
        while not self._stopping.is_set():
            if listener.down_until > time.monotonic():
                if listener.sock is not None:
                    listener.sock.close()
                    listener.sock = None
                listener.is_down.set()
                time.sleep(SERVE_POLL_SECONDS)
                continue
            sock = listener.sock
            if sock is None:
                try:
                    sock = self._bind(listener)
                except OSError:
                    rebind_failures += 1
                    if rebind_failures > 200:  # 10 s: the port was taken; give up
                        return
                    time.sleep(SERVE_POLL_SECONDS)
                    continue
                listener.is_up.set()
            try:
                connection, _ = sock.accept()
            except OSError:  # TimeoutError included: look at down_until and stopping again
                continue
            worker = threading.Thread(target=self._handle, args=(connection,), daemon=True)
            self._workers.append(worker)
            worker.start()
        if listener.sock is not None:
            listener.sock.close()

    def _handle(self, connection: socket.socket) -> None:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            request = _read_request(connection, timeout=30.0)
            if request is None:
                return
            method, target, headers, body = request
            stage = stage_of(method, target)
            if stage is not None:
                with self._lock:
                    self.received[stage] += 1
            fault = self._take(stage)
            if fault is None or stage is None:
                upstream = self._forward(method, target, headers, body)
                self._note_forwarded(stage, upstream)
                _send_response(connection, upstream.status, upstream.headers, upstream.body)
                return
            self._apply(connection, stage, fault, method, target, headers, body)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                connection.close()

    def _take(self, stage: Stage | None) -> ProxyFault | None:
        if stage is None:
            return None
        with self._lock:
            fault = self._faults.get(stage)
            if fault is None or self._remaining.get(stage, 0) == 0:
                return None
            if self._remaining[stage] > 0:
                self._remaining[stage] -= 1
            return fault

    def _note_forwarded(self, stage: Stage | None, upstream: Upstream) -> None:
        if stage is None:
            return
        with self._lock:
            self.forwarded[stage].append(datetime.now(UTC))
        if stage == "token":
            self._note_token(upstream.body)

    def _note_token(self, body: bytes) -> None:
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            parsed = json.loads(body)
            token = parsed.get("access_token") if isinstance(parsed, dict) else None
            if isinstance(token, str) and token:
                with self._lock:
                    self.tokens_seen.add(token)

    def _forward(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> Upstream:
        upstream = http.client.HTTPConnection("127.0.0.1", self._upstream_port, timeout=30.0)
        try:
            upstream.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() not in HOP_BY_HOP:
                    upstream.putheader(name, value)
            upstream.putheader("Content-Length", str(len(body)))
            upstream.endheaders(body)
            response = upstream.getresponse()
            payload = response.read()
            return Upstream(response.status, response.reason, response.getheaders(), payload)
        finally:
            upstream.close()

    def _apply(
        self,
        connection: socket.socket,
        stage: Stage,
        fault: ProxyFault,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> None:
        exchange = Exchange(stage, fault.action)
        with self._lock:
            self.exchanges.append(exchange)
        upstream: Upstream | None = None
        if fault.forward:
            upstream = self._forward(method, target, headers, body)
            exchange.forwarded_at = datetime.now(UTC)
            self._note_forwarded(stage, upstream)
        if fault.action == "reset_before_response":
            _reset(connection)
        elif fault.action == "reset_mid_body":
            assert upstream is not None, "reset_mid_body forwards"
            cut = max(1, len(upstream.body) // 2)
            _send_head(connection, upstream.status, upstream.headers, len(upstream.body))
            connection.sendall(upstream.body[:cut])
            _reset(connection)
        elif fault.action == "no_answer":
            started = time.monotonic()
            exchange.cap_reached = not _wait_for_client_close(connection, self.hold_cap)
            exchange.held_seconds = time.monotonic() - started
        elif fault.action == "trickle":
            assert upstream is not None, "trickle forwards"
            started = time.monotonic()
            exchange.cap_reached = not self._trickle(connection, upstream)
            exchange.held_seconds = time.monotonic() - started
        elif fault.action == "answer":
            payload = fault.body() if callable(fault.body) else fault.body
            _send_response(connection, fault.status, list(fault.headers), payload)
        elif fault.action == "rewrite":
            assert upstream is not None and fault.rewrite is not None, "rewrite forwards"
            payload = fault.rewrite(upstream.body)
            if stage == "token":
                self._note_token(payload)
            _send_response(connection, upstream.status, upstream.headers, payload)

    def _trickle(self, connection: socket.socket, upstream: Upstream) -> bool:
        """Send the body a byte at a time; True if the client went away before the cap."""
        _send_head(connection, upstream.status, upstream.headers, len(upstream.body))
        deadline = time.monotonic() + self.hold_cap
        for index in range(len(upstream.body)):
            if self._stopping.is_set():
                return True
            try:
                connection.sendall(upstream.body[index : index + 1])
            except OSError:
                return True
            if time.monotonic() >= deadline:
                return False
            if _client_closed(connection, TRICKLE_SECONDS_PER_BYTE):
                return True
        return True


# ---------------------------------------------------------------------- the wire


def _read_request(
    connection: socket.socket, timeout: float
) -> tuple[str, str, list[tuple[str, str]], bytes] | None:
    connection.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return None
        data += chunk
        if len(data) > MAX_REQUEST_HEAD:
            return None
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    length = next((int(v) for n, v in headers if n.lower() == "content-length"), 0)
    body = rest
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            return None
        body += chunk
    return method, target, headers, body[:length]


def _send_head(
    connection: socket.socket, status: int, headers: list[tuple[str, str]], length: int
) -> None:
    reason = http.client.responses.get(status, "Unknown")
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{name}: {value}" for name, value in headers if name.lower() not in HOP_BY_HOP]
    lines += [f"Content-Length: {length}", "Connection: close", "", ""]
    connection.sendall("\r\n".join(lines).encode("latin-1"))


def _send_response(
    connection: socket.socket, status: int, headers: list[tuple[str, str]], body: bytes
) -> None:
    _send_head(connection, status, headers, len(body))
    connection.sendall(body)
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_WR)


def _reset(connection: socket.socket) -> None:
    """Abort the connection with a TCP RST (SO_LINGER on, timeout 0)."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


def _client_closed(connection: socket.socket, seconds: float) -> bool:
    """Wait up to ``seconds`` for the client to close its side; True if it did."""
    connection.settimeout(seconds)
    try:
        return connection.recv(4096) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def _wait_for_client_close(connection: socket.socket, cap: float) -> bool:
    """Hold the connection without answering until the client closes it or ``cap`` passes."""
    deadline = time.monotonic() + cap
    while (left := deadline - time.monotonic()) > 0:
        if _client_closed(connection, min(left, 0.25)):
            return True
    return False
