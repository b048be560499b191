"""Requests and responses as plain values, and the error bodies Azure AD and ARM answer with."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request: method, decoded path segments, query, lower-cased headers, body."""

    method: str
    segments: tuple[str, ...]
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes = b""

    @classmethod
    def parse(cls, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Request:
        """Split a request target such as ``/a/b%20c?x=1`` into segments and query."""
        split = urlsplit(target)
        return cls(
            method=method,
            segments=tuple(unquote(s) for s in split.path.split("/") if s),
            query={k: v[-1] for k, v in parse_qs(split.query).items()},
            headers={k.lower(): v for k, v in headers.items()},
            body=body,
        )

    def json_body(self) -> object:
        """The body parsed as JSON (None when empty); raises ValueError when malformed."""
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True, slots=True)
class Response:
    """One HTTP answer; a body of None is sent as an empty body."""

    status: int
    body: object = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        """The body as bytes: JSON, or nothing."""
        return b"" if self.body is None else json.dumps(self.body).encode()


class BadRequest(ValueError):
    """A request ADF would refuse with 400; ``target`` names the offending field."""

    def __init__(self, message: str, target: str | None = None, code: str = "BadRequest"):
        super().__init__(message)
        self.message = message
        self.target = target
        self.code = code


def arm_error(
    status: int, code: str, message: str, target: str | None = None, **headers: str
) -> Response:
    """ARM's error envelope: ``{"error": {"code", "message", "target"}}``.

    Source: datafactory.json CloudError; the azure-facts list."""
    body = {"error": {"code": code, "message": message, "target": target}}
    return Response(status, body, headers)


def aad_error(status: int, error: str, code: int, text: str, **headers: str) -> Response:
    """Azure AD's OAuth error body, with its AADSTS code, trace and correlation ids.

    Source: the bodies quoted in azure-tools-for-java issue 3900 and the azure-facts list."""
    trace_id = str(uuid.uuid4())
    correlation_id = str(uuid.uuid4())
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    body = {
        "error": error,
        "error_description": f"AADSTS{code}: {text}\r\nTrace ID: {trace_id}\r\n"
        f"Correlation ID: {correlation_id}\r\nTimestamp: {stamp}",
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }
    return Response(status, body, headers)


def timestamp(value: datetime | None) -> str | None:
    """ADF's timestamp format: seven fractional digits and a Z.

    Source: every 2018-06-01 example (e.g. ``2018-06-16T00:37:44.6257014Z``)."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def parse_time(text: object) -> datetime | None:
    """An ISO 8601 time as an aware UTC datetime (naive means UTC); None if it is not one."""
    if not isinstance(text, str) or not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_bool(query: Mapping[str, str], name: str) -> bool:
    """A ``true``/``false`` query parameter (absent means false); BadRequest otherwise."""
    raw = query.get(name) or "false"
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise BadRequest(f"The value '{raw}' of query parameter '{name}' is not a valid boolean.", name)
