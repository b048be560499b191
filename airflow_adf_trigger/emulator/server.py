"""The emulator's HTTP server: Azure AD token endpoints and the ADF REST API, in memory."""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from airflow_adf_trigger.emulator.scenario import PipelineSpec, Scenario

log = logging.getLogger(__name__)

API_VERSION = "2018-06-01"
ARM_SCOPES = (
    "https://management.azure.com/.default",
    "https://management.chinacloudapi.cn/.default",
    "https://management.core.usgovcloudapi.net/.default",
)
ARM_RESOURCES = tuple(scope.removesuffix(".default") for scope in ARM_SCOPES)


@dataclass(slots=True)
class EmulatedRun:
    run_id: str
    spec: PipelineSpec
    parameters: dict[str, str]
    created_wall: datetime
    created_at: float
    run_group_id: str

    def status_at(self, now: float) -> str:
        elapsed = now - self.created_at
        if elapsed < self.spec.queued_seconds:
            return "Queued"
        if elapsed < self.spec.queued_seconds + self.spec.duration_seconds:
            return "InProgress"
        return self.spec.outcome

    def to_json(self, now: float) -> dict[str, Any]:
        status = self.status_at(now)
        elapsed = now - self.created_at
        run_start = (
            self.created_wall + timedelta(seconds=self.spec.queued_seconds)
            if status != "Queued"
            else None
        )
        terminal = status in ("Succeeded", "Failed", "Cancelled")
        total = self.spec.queued_seconds + self.spec.duration_seconds
        run_end = self.created_wall + timedelta(seconds=total) if terminal else None
        last_updated = self.created_wall + timedelta(seconds=min(elapsed, total))
        return {
            "runId": self.run_id,
            "runGroupId": self.run_group_id,
            "isLatest": True,
            "pipelineName": self.spec.name,
            "parameters": self.parameters,
            "runDimensions": {},
            "invokedBy": {
                "name": "Manual",
                "id": uuid.uuid4().hex,
                "invokedByType": "Manual",
            },
            "lastUpdated": _timestamp(last_updated),
            "runStart": _timestamp(run_start),
            "runEnd": _timestamp(run_end),
            "durationInMs": int(self.spec.duration_seconds * 1000) if terminal else None,
            "status": status,
            "message": self.spec.message if terminal else "",
            "annotations": [],
        }


@dataclass(slots=True)
class EmulatorState:
    """Everything the emulator remembers, behind one lock."""

    scenario: Scenario
    clock: Callable[[], float]
    lock: threading.Lock = field(default_factory=threading.Lock)
    runs: dict[str, EmulatedRun] = field(default_factory=dict)
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)


class EmulatorServer:
    """Serve a scenario on 127.0.0.1. Use as a context manager or call start()/stop()."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.state = EmulatorState(scenario=scenario, clock=clock)
        handler = type("BoundHandler", (_Handler,), {"state": self.state})
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else host
        return f"http://{name}:{port}"

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def runs_created(self) -> int:
        with self.state.lock:
            return len(self.state.runs)

    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="adf-emulator", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    state: EmulatorState
    protocol_version = "HTTP/1.1"
    server_version = "adf-emulator"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    # ------------------------------------------------------------------ dispatch

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        segments = [unquote(s) for s in split.path.split("/") if s]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            if segments[:1] == ["_emulator"]:
                self._admin(method, segments[1:])
            elif len(segments) >= 3 and segments[1] == "oauth2" and method == "POST":
                self._token(segments, body)
            elif segments[:1] == ["subscriptions"]:
                self._arm(method, segments, query, body)
            else:
                self._send_json(404, {"error": {"code": "NotFound", "message": "Unknown path"}})
        except Exception:  # the emulator must answer, like Azure, even when it breaks
            log.exception("emulator failed on %s %s", method, split.path)
            self._send_json(
                500, {"error": {"code": "InternalServerError", "message": "Emulator error"}}
            )

    # ------------------------------------------------------------------ Azure AD

    def _token(self, segments: list[str], body: bytes) -> None:
        tenant = segments[0]
        endpoint = "/".join(segments[1:])
        if endpoint not in ("oauth2/token", "oauth2/v2.0/token"):
            self._send_json(404, {"error": "not_found"})
            return
        v1 = endpoint == "oauth2/token"
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        scenario = self.state.scenario
        with self.state.lock:
            self.state.requests["token"] += 1
        if tenant.lower() != scenario.tenant_id.lower():
            self._aad_error(
                400,
                "invalid_tenant",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant "
                "ID and are signing into the correct cloud.",
            )
            return
        if form.get("grant_type") != "client_credentials":
            self._aad_error(
                400,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type.",
            )
            return
        audience = form.get("resource") if v1 else form.get("scope")
        if audience not in (ARM_RESOURCES if v1 else ARM_SCOPES):
            self._aad_error(
                400,
                "invalid_resource" if v1 else "invalid_scope",
                500011 if v1 else 70011,
                f"The provided value for the input parameter "
                f"'{'resource' if v1 else 'scope'}' is not valid.",
            )
            return
        client_id = form.get("client_id", "")
        principal = next((p for p in scenario.service_principals if p.client_id == client_id), None)
        if principal is None:
            self._aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{tenant}'.",
            )
            return
        if not secrets.compare_digest(form.get("client_secret", ""), principal.client_secret):
            self._aad_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request "
                "is the client secret value, not the client secret ID, for a secret added to "
                f"app '{client_id}'.",
            )
            return
        lifetime = scenario.token_lifetime_seconds
        token = "emu." + secrets.token_urlsafe(24)
        with self.state.lock:
            self.state.tokens[token] = (client_id, self.state.clock() + lifetime)
        if v1:
            now = int(time.time())
            self._send_json(
                200,
                {
                    "token_type": "Bearer",
                    "expires_in": str(lifetime),
                    "ext_expires_in": str(lifetime),
                    "expires_on": str(now + lifetime),
                    "not_before": str(now),
                    "resource": audience,
                    "access_token": token,
                },
            )
        else:
            self._send_json(
                200,
                {
                    "token_type": "Bearer",
                    "expires_in": lifetime,
                    "ext_expires_in": lifetime,
                    "access_token": token,
                },
            )

    def _aad_error(self, status: int, error: str, code: int, text: str) -> None:
        trace_id = str(uuid.uuid4())
        correlation_id = str(uuid.uuid4())
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        self._send_json(
            status,
            {
                "error": error,
                "error_description": f"AADSTS{code}: {text}\r\nTrace ID: {trace_id}\r\n"
                f"Correlation ID: {correlation_id}\r\nTimestamp: {stamp}",
                "error_codes": [code],
                "timestamp": stamp,
                "trace_id": trace_id,
                "correlation_id": correlation_id,
                "error_uri": f"https://login.microsoftonline.com/error?code={code}",
            },
        )

    # ------------------------------------------------------------------ ARM / ADF

    def _arm(self, method: str, segments: list[str], query: dict[str, str], body: bytes) -> None:
        if not self._authorized():
            return
        if query.get("api-version") != API_VERSION:
            self._arm_error(
                400,
                "InvalidApiVersionParameter",
                f"The api-version '{query.get('api-version', '')}' is invalid. "
                f"The supported version is '{API_VERSION}'.",
            )
            return
        scenario = self.state.scenario
        if len(segments) < 2 or segments[1].lower() != scenario.subscription_id:
            sub = segments[1] if len(segments) > 1 else ""
            self._arm_error(
                404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found."
            )
            return
        if (
            len(segments) < 4
            or segments[2] != "resourceGroups"
            or (segments[3].lower() != scenario.resource_group.lower())
        ):
            group = segments[3] if len(segments) > 3 else ""
            self._arm_error(
                404, "ResourceGroupNotFound", f"Resource group '{group}' could not be found."
            )
            return
        if (
            len(segments) < 8
            or [s.lower() for s in segments[4:7]]
            != ["providers", "microsoft.datafactory", "factories"]
            or segments[7].lower() != scenario.factory_name.lower()
        ):
            name = segments[7] if len(segments) > 7 else ""
            self._arm_error(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.DataFactory/factories/{name}' under resource group "
                f"'{segments[3]}' was not found.",
            )
            return
        rest = segments[8:]
        if method == "GET" and not rest:
            self._count("get factory")
            self._send_json(200, self._factory_json())
        elif (
            method == "POST"
            and len(rest) == 3
            and rest[0] == "pipelines"
            and rest[2] == "createRun"
        ):
            self._create_run(rest[1], query, body)
        elif method == "GET" and len(rest) == 2 and rest[0] == "pipelineruns":
            self._get_run(rest[1])
        else:
            self._arm_error(404, "NotFound", f"No route for {method} {'/'.join(rest)}")

    def _create_run(self, pipeline: str, query: dict[str, str], body: bytes) -> None:
        self._count("create run")
        spec = self.state.scenario.pipelines.get(pipeline)
        if spec is None:
            self._arm_error(
                404,
                "PipelineNotFound",
                f"Pipeline '{pipeline}' was not found in factory "
                f"'{self.state.scenario.factory_name}'.",
            )
            return
        try:
            parameters = json.loads(body) if body else {}
        except ValueError:
            self._arm_error(400, "BadRequest", "The request body is not valid JSON.")
            return
        if not isinstance(parameters, dict):
            self._arm_error(400, "BadRequest", "The request body must be a JSON object.")
            return
        if spec.parameters is not None:
            unknown = sorted(set(parameters) - set(spec.parameters))
            if unknown:
                self._arm_error(
                    400,
                    "BadRequest",
                    f"The parameters {', '.join(unknown)} are not defined in pipeline "
                    f"'{pipeline}'.",
                )
                return
        run_id = str(uuid.uuid4())
        run = EmulatedRun(
            run_id=run_id,
            spec=spec,
            parameters={k: _as_parameter_string(v) for k, v in parameters.items()},
            created_wall=datetime.now(UTC),
            created_at=self.state.clock(),
            run_group_id=run_id,
        )
        with self.state.lock:
            self.state.runs[run_id] = run
        log.debug("created run %s of pipeline %s", run_id, pipeline)
        self._send_json(200, {"runId": run_id})

    def _get_run(self, run_id: str) -> None:
        self._count("get run")
        with self.state.lock:
            run = self.state.runs.get(run_id.lower())
        if run is None:
            self._arm_error(404, "PipelineRunNotFound", f"Pipeline run '{run_id}' was not found.")
            return
        self._send_json(200, run.to_json(self.state.clock()))

    def _factory_json(self) -> dict[str, Any]:
        s = self.state.scenario
        return {
            "id": f"/subscriptions/{s.subscription_id}/resourceGroups/{s.resource_group}"
            f"/providers/Microsoft.DataFactory/factories/{s.factory_name}",
            "name": s.factory_name,
            "type": "Microsoft.DataFactory/factories",
            "location": "westeurope",
            "properties": {"provisioningState": "Succeeded", "version": "2018-06-01"},
        }

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            self._arm_error(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
            )
            return False
        with self.state.lock:
            entry = self.state.tokens.get(token)
        if entry is None:
            self._arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.")
            return False
        if self.state.clock() >= entry[1]:
            self._arm_error(
                401,
                "ExpiredAuthenticationToken",
                "The access token expiry UTC time is earlier than current UTC time.",
            )
            return False
        return True

    # ------------------------------------------------------------------ admin

    def _admin(self, method: str, segments: list[str]) -> None:
        if method == "GET" and segments == ["stats"]:
            with self.state.lock:
                stats = {
                    "runs_created": len(self.state.runs),
                    "requests": dict(self.state.requests),
                }
            self._send_json(200, stats)
        else:
            self._send_json(404, {"error": {"code": "NotFound", "message": "Unknown admin path"}})

    # ------------------------------------------------------------------ output

    def _count(self, operation: str) -> None:
        with self.state.lock:
            self.state.requests[operation] += 1

    def _arm_error(self, status: int, code: str, message: str) -> None:
        self._send_json(status, {"error": {"code": code, "message": message, "target": None}})

    def _send_json(self, status: int, body: object) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        request_id = str(uuid.uuid4())
        self.send_header("x-ms-request-id", request_id)
        self.send_header("x-ms-correlation-request-id", request_id)
        self.end_headers()
        self.wfile.write(payload)


def _timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _as_parameter_string(value: object) -> str:
    """ADF reports run parameters as strings; objects and arrays as their JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    return json.dumps(value) if isinstance(value, dict | list) else str(value)
