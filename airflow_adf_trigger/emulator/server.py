"""The emulator's HTTP server: Azure AD token endpoints and the ADF REST API, in memory.

Each request is read into a :class:`~airflow_adf_trigger.emulator.wire.Request`, counted
under its operation name, matched against the armed faults, and answered by the AAD, ARM or
admin module, or by an extension the caller registered (see :mod:`.extensions`), as a
:class:`~airflow_adf_trigger.emulator.wire.Response`.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from airflow_adf_trigger.emulator import aad, admin, arm, schedules
from airflow_adf_trigger.emulator.extensions import Extension, Handler
from airflow_adf_trigger.emulator.faults import (
    FaultSpec,
    fault_response,
    parse_fault,
    parse_faults,
)
from airflow_adf_trigger.emulator.scenario import Scenario
from airflow_adf_trigger.emulator.state import EmulatorState
from airflow_adf_trigger.emulator.tls import (
    CertificateFiles,
    self_signed_certificate,
    server_context,
)
from airflow_adf_trigger.emulator.wire import Request, Response, arm_error

log = logging.getLogger("airflow_adf_trigger.emulator")

SHUTDOWN_POLL_SECONDS = 0.05
"""How often the serving loop checks for stop(); short, so tests tear down quickly."""


class EmulatorServer:
    """Serve a scenario: Azure AD's token endpoints and the ADF REST API, on one port.

    Use it as a context manager (``with EmulatorServer(scenario) as server:``) or call
    :meth:`start` and :meth:`stop`; point a connection at :attr:`url` with
    ``scenario.airflow_connection(server.url)``.

    :param scenario: the factory, principals and pipelines to serve (:class:`Scenario`).
    :param host: the address to listen on.
    :param port: the port; 0 picks a free one (read it back from :attr:`port`).
    :param clock: the monotonic clock runs play out on; tests pass a fake one to step time.
    :param tls: serve HTTPS with a self-signed certificate made at start for 127.0.0.1 and
        localhost; clients trust :attr:`ca_file` (e.g. ``session.verify``).
    :param extensions: more services to serve on the same port (see :mod:`.extensions`).
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        tls: bool = False,
        extensions: Sequence[Extension] = (),
    ) -> None:
        names = [extension.name for extension in extensions]
        if len(set(names)) != len(names):
            raise ValueError(f"extension names must be unique, got {names}")
        self.state = EmulatorState(
            scenario=scenario,
            clock=clock,
            scheme="https" if tls else "http",
            extensions=tuple(extensions),
        )
        handler = type("BoundHandler", (_Handler,), {"state": self.state})
        self._tls_dir: tempfile.TemporaryDirectory[str] | None = None
        self._certificate: CertificateFiles | None = None
        if tls:  # made before the port is bound, so that a failure here holds no port
            self._tls_dir = tempfile.TemporaryDirectory(prefix="adf-emulator-tls-")
            self._certificate = self_signed_certificate(Path(self._tls_dir.name))
        self._httpd = _HTTPServer((host, port), handler)
        if self._certificate is not None:
            self._httpd.tls_context = server_context(self._certificate)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL, for both the authority host and the management endpoint."""
        host, port = self._httpd.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else host
        return f"{self.state.scheme}://{name}:{port}"

    @property
    def tls(self) -> bool:
        """Whether the emulator serves HTTPS."""
        return self._certificate is not None

    @property
    def ca_file(self) -> str | None:
        """With TLS: the PEM certificate for clients to trust (it is its own CA); else None."""
        return None if self._certificate is None else str(self._certificate.cert_file)

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self._httpd.server_address[1])

    @property
    def runs_created(self) -> int:
        """How many pipeline runs were created, reruns included."""
        with self.state.lock:
            return len(self.state.runs)

    @property
    def faults_applied(self) -> int:
        """How many requests a fault has hit so far."""
        with self.state.lock:
            return self.state.faults.applied

    def request_counts(self) -> dict[str, int]:
        """A copy of the per-operation request counter (faulted requests included)."""
        with self.state.lock:
            return dict(self.state.requests)

    def stats(self) -> dict[str, Any]:
        """What ``GET /_emulator/stats`` answers."""
        with self.state.lock:
            return self.state.stats()

    def run_summaries(self) -> list[dict[str, Any]]:
        """What ``GET /_emulator/runs`` answers: one line per run, status as of now."""
        with self.state.lock:
            return self.state.run_summaries()

    def fire_trigger(self, name: str, parameters: Mapping[str, Any] | None = None) -> str:
        """Start a run as the factory's trigger ``name`` would (``invokedBy`` names it).

        :param name: a trigger of the scenario's ``triggers``.
        :param parameters: the run's parameters, over the trigger's own.
        :return: the new run's id.
        """
        with self.state.lock:
            return schedules.fire(self.state, name, parameters)

    def add_fault(self, **fault: Any) -> FaultSpec:
        """Arm one fault after those already armed.

        :param fault: the fault's fields, as in a scenario's ``faults``, e.g.
            ``add_fault(operation="get run", action="status", status=429, retry_after=1)``.
        :raises ValueError: the fault is malformed.
        """
        return self.add_faults([parse_fault(fault)])[0]

    def add_faults(self, faults: Iterable[Mapping[str, Any] | FaultSpec]) -> tuple[FaultSpec, ...]:
        """Arm several faults, in order.

        :param faults: each as the fields of a scenario's ``faults`` entry, or a FaultSpec.
        :raises ValueError: one is malformed; none is armed then.
        """
        specs = parse_faults(list(faults))
        with self.state.lock:
            self.state.faults.add(specs)
        return specs

    def clear_faults(self) -> None:
        """Disarm every fault."""
        with self.state.lock:
            self.state.faults.clear()

    def faults(self) -> list[dict[str, Any]]:
        """The armed faults with their remaining counts, as ``GET /_emulator/faults``."""
        with self.state.lock:
            return self.state.faults.to_json()

    def update_settings(
        self,
        *,
        token_lifetime_seconds: int | None = None,
        page_size: int | None = None,
        monitoring_lag_seconds: float | None = None,
    ) -> None:
        """Change settings for what happens next (tokens issued, queries answered).

        :param token_lifetime_seconds: the ``expires_in`` of tokens issued from now on.
        :param page_size: how many runs one query answer holds from now on.
        :param monitoring_lag_seconds: ``queryPipelineRuns`` answers show the runs as they
            were this many seconds ago on the emulator's clock (get-run shows them now).
        """
        changes = {
            "token_lifetime_seconds": token_lifetime_seconds,
            "page_size": page_size,
            "monitoring_lag_seconds": monitoring_lag_seconds,
        }
        admin.apply_settings(self.state, {k: v for k, v in changes.items() if v is not None})

    def start(self) -> EmulatorServer:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.serve_forever, name="adf-emulator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until stop() (or a KeyboardInterrupt)."""
        self._httpd.serve_forever(poll_interval=SHUTDOWN_POLL_SECONDS)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._tls_dir is not None:
            self._tls_dir.cleanup()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _HTTPServer(ThreadingHTTPServer):
    """A thread per connection; a listen backlog for a thousand clients connecting at once.

    With a ``tls_context`` it does the TLS handshake in each connection's own thread.
    (Wrapping the listening socket instead would run every handshake in the accept loop, so
    one slow or refused handshake would hold up every other client.)
    """

    daemon_threads = True
    request_queue_size = 1024
    tls_context: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls_context is None:
            super().finish_request(request, client_address)
            return
        try:
            connection = self.tls_context.wrap_socket(request, server_side=True)
        except OSError as error:  # ssl.SSLError included: e.g. the client refused our cert
            log.debug("TLS handshake with %s failed: %s", client_address[0], error)
            return
        try:
            super().finish_request(connection, client_address)
        finally:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_WR)
            connection.close()


@dataclass(frozen=True, slots=True)
class Route:
    """Where a request goes: its operation name (None: not counted, never faulted)."""

    operation: str | None
    handler: Handler
    pipeline: str | None = None
    faultable: bool = True
    """Whether armed faults may hit it (faults answer in Azure's error shapes)."""


def resolve(state: EmulatorState, request: Request) -> Route:
    """Name the operation of a request and pick the module that answers it."""
    segments = request.segments
    if segments[:1] == ("_emulator",):
        return Route(None, admin.handle)
    if aad.is_token_request(request):
        return Route("token", aad.issue_token)
    if aad.is_metadata_request(request):
        return Route(None, aad.openid_configuration)
    if segments[1:2] == ("oauth2",):
        return Route(None, lambda *_: Response(404, {"error": "not_found"}))
    for extension in state.extensions:
        if extension.claims(request):
            return Route(
                extension.operation(request), extension.handle, faultable=extension.faultable
            )
    if segments[:1] and segments[0].lower() == "subscriptions":
        call = arm.classify(request)
        pipeline = call.pipeline
        if call.run_id is not None:
            with state.lock:
                run = state.runs.get(call.run_id.lower())
            pipeline = None if run is None else run.pipeline_name
        return Route(call.operation, arm.handle, pipeline)
    return Route(None, lambda *_: arm_error(404, "NotFound", "Unknown path"))


class _Handler(BaseHTTPRequestHandler):
    state: EmulatorState
    protocol_version = "HTTP/1.1"
    server_version = "adf-emulator"
    # Headers and body go out in two writes; with Nagle's algorithm the body then waits for
    # the client's delayed ACK (about 40 ms per request on a kept-alive connection).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def date_time_string(self, timestamp: float | None = None) -> str:
        """``Date`` on the emulator's own clock, the one its runs are stamped with (Azure's
        answers carry the time of the clock that stamps its runs; RFC 9110 section 6.6.1)."""
        if timestamp is None:  # the clock and its origin need no lock
            timestamp = self.state.wall(self.state.clock()).timestamp()
        return super().date_time_string(timestamp)

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request.parse(self.command, self.path, dict(self.headers.items()), body)
        route = resolve(self.state, request)
        fault = None
        with self.state.lock:
            schedules.fire_due(self.state)  # the factory's scheduled runs whose time has come
            if route.operation is not None:
                self.state.requests[route.operation] += 1
                if route.faultable:
                    fault = self.state.faults.take(route.operation, route.pipeline)
        if fault is not None:
            log.info(
                "fault on %s%s: %s%s%s",
                route.operation,
                f" (pipeline {route.pipeline})" if route.pipeline else "",
                fault.action,
                f" {fault.status}" if fault.action == "status" else "",
                f" after {fault.delay_seconds:g} s" if fault.delay_seconds else "",
            )
            if fault.delay_seconds:
                time.sleep(fault.delay_seconds)
            if fault.action == "drop":
                self._drop()
                return
            if fault.action == "status" and route.operation is not None:
                self._write(fault_response(fault, route.operation))
                return
        try:
            response = route.handler(self.state, request)
        except Exception:  # the emulator must answer, like Azure, even when it breaks
            log.exception("emulator failed on %s /%s", request.method, "/".join(request.segments))
            response = arm_error(500, "InternalServerError", "Emulator error")
        if fault is not None and fault.action == "lose_response":
            self._drop()
            return
        if route.operation is not None and response.status == 400:
            with self.state.lock:  # refused requests are counted apart (benchmarks, tests)
                self.state.requests[f"{route.operation} refused"] += 1
        self._write(response)

    # Methods no route serves (PUT, PATCH, OPTIONS) still get a JSON error in the service's
    # own shape (ARM: 405 MethodNotAllowed), never the standard library's HTML 501 page.
    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_OPTIONS = _dispatch

    def _write(self, response: Response) -> None:
        payload = response.payload()
        self.send_response(response.status)
        if response.body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        # Source: every 2018-06-01 example carries both, with the same value.
        request_id = str(uuid.uuid4())
        self.send_header("x-ms-request-id", request_id)
        self.send_header("x-ms-correlation-request-id", request_id)
        for name, value in response.headers.items():
            self.send_header(name, value)
        try:
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up first (its own deadline): nothing to answer, nothing to log.
            self.close_connection = True

    def _drop(self) -> None:
        """Close the connection without a word, as a network failure would."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
