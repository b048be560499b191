"""Fault injection: scripted throttling, server errors, dropped connections and lost responses.

A fault names the operation it hits and what happens to the matching request:

* ``status``: answer at once with that HTTP status and an Azure-shaped error body, without
  processing the request (no run is created);
* ``drop``: close the connection without any answer, without processing;
* ``delay``: wait ``delay_seconds``, then process normally;
* ``lose_response``: process normally (a run *is* created), then close the connection
  without sending the answer.

Faults are consumed in order: the first armed fault that matches, with times left, applies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from http import HTTPStatus
from typing import Any

from airflow_adf_trigger.emulator.wire import Response, aad_error, arm_error

OPERATIONS = (
    "token",
    "get factory",
    "get pipeline",
    "create run",
    "get run",
    "cancel run",
    "query pipeline runs",
    "query activity runs",
)
ANY_OPERATION = "*"
DEFAULT_RETRY_AFTER_SECONDS = 1
"""``Retry-After`` of a 429 fault that gives no hint of its own: ARM and Azure AD send one
with every 429 (Source: learn.microsoft.com, "Understand how Azure Resource Manager
throttles requests"). The value is the emulator's choice, short so tests stay fast."""
ACTIONS = ("status", "drop", "delay", "lose_response")
FOREVER = -1


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """One fault as a scenario file or the admin endpoint gives it."""

    operation: str
    action: str
    status: int | None = None
    retry_after: int | None = None
    """Seconds, sent as the ``Retry-After`` header."""
    retry_after_ms: int | None = None
    """Milliseconds, sent as the ``x-ms-retry-after-ms`` header."""
    delay_seconds: float = 0.0
    """Wait this long before the action (for ``delay``: before processing normally)."""
    times: int = 1
    """How many matching requests it applies to; -1 means every one."""
    pipeline: str | None = None
    """Only requests about this pipeline (create run, or a run of this pipeline)."""
    code: str | None = None
    """Error code of a ``status`` answer; default: derived from the status."""
    message: str | None = None
    """Error message of a ``status`` answer; default: an Azure-like sentence."""

    def matches(self, operation: str, pipeline: str | None) -> bool:
        """Whether this fault applies to a request for ``operation`` about ``pipeline``."""
        if self.operation not in (ANY_OPERATION, operation):
            return False
        return self.pipeline is None or self.pipeline == pipeline

    def headers(self) -> dict[str, str]:
        """The retry hints this fault sends along with its answer (a 429 always has one)."""
        headers = {}
        retry_after = self.retry_after
        if retry_after is None and self.status == 429:
            ms = self.retry_after_ms
            retry_after = DEFAULT_RETRY_AFTER_SECONDS if ms is None else -(-ms // 1000)
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        if self.retry_after_ms is not None:
            headers["x-ms-retry-after-ms"] = str(self.retry_after_ms)
        return headers

    def to_json(self) -> dict[str, Any]:
        """The fault as JSON, leaving out fields that are not set."""
        return {k: v for k, v in asdict(self).items() if v is not None}


_FIELDS = tuple(f.name for f in fields(FaultSpec))


def parse_fault(body: object) -> FaultSpec:
    """Validate one fault object; raises ValueError naming the bad field."""
    if isinstance(body, FaultSpec):
        return body
    if not isinstance(body, Mapping):
        raise ValueError("a fault must be a JSON object")
    unknown = sorted(set(body) - set(_FIELDS))
    if unknown:
        raise ValueError(f"unknown fault field(s) {', '.join(unknown)}; known: {_FIELDS}")
    operation = body.get("operation")
    if operation not in (*OPERATIONS, ANY_OPERATION):
        raise ValueError(f"operation: {operation!r} is not one of {(*OPERATIONS, ANY_OPERATION)}")
    action = body.get("action")
    if action not in ACTIONS:
        raise ValueError(f"action: {action!r} is not one of {ACTIONS}")
    status = _optional_int(body, "status")
    if action == "status" and (status is None or not 400 <= status <= 599):
        raise ValueError("status: a 'status' fault needs an HTTP error status (400-599)")
    times = _optional_int(body, "times")
    if times is not None and times < 1 and times != FOREVER:
        raise ValueError("times: must be a positive count, or -1 for every request")
    delay = body.get("delay_seconds", 0.0)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
        raise ValueError("delay_seconds: must be a non-negative number")
    pipeline = body.get("pipeline")
    return FaultSpec(
        operation=str(operation),
        action=str(action),
        status=status,
        retry_after=_optional_int(body, "retry_after", minimum=0),
        retry_after_ms=_optional_int(body, "retry_after_ms", minimum=0),
        delay_seconds=float(delay),
        times=1 if times is None else times,
        pipeline=None if pipeline is None else str(pipeline),
        code=None if body.get("code") is None else str(body["code"]),
        message=None if body.get("message") is None else str(body["message"]),
    )


def parse_faults(body: object) -> tuple[FaultSpec, ...]:
    """Validate one fault or a list of them."""
    if isinstance(body, Sequence) and not isinstance(body, str | bytes):
        parsed = []
        for index, item in enumerate(body):
            try:
                parsed.append(parse_fault(item))
            except ValueError as error:
                raise ValueError(f"[{index}] {error}") from None
        return tuple(parsed)
    return (parse_fault(body),)


@dataclass(slots=True)
class ArmedFault:
    """A fault and how many more requests it applies to."""

    spec: FaultSpec
    remaining: int


class FaultBook:
    """The armed faults, in order. Not thread-safe: callers hold the emulator's lock."""

    def __init__(self, faults: Sequence[FaultSpec] = ()) -> None:
        self._armed: list[ArmedFault] = []
        self.applied = 0
        self.add(faults)

    def add(self, faults: Sequence[FaultSpec]) -> None:
        """Arm faults after those already armed."""
        self._armed.extend(ArmedFault(f, f.times) for f in faults)

    def clear(self) -> None:
        """Disarm every fault."""
        self._armed.clear()

    def take(self, operation: str, pipeline: str | None) -> FaultSpec | None:
        """The first armed fault matching this request, used up by one; None if none."""
        for armed in self._armed:
            if armed.remaining != 0 and armed.spec.matches(operation, pipeline):
                if armed.remaining > 0:
                    armed.remaining -= 1
                self.applied += 1
                return armed.spec
        return None

    def to_json(self) -> list[dict[str, Any]]:
        """Every fault with its ``remaining`` count (-1: forever, 0: used up)."""
        return [{**a.spec.to_json(), "remaining": a.remaining} for a in self._armed]


def fault_response(fault: FaultSpec, operation: str) -> Response:
    """The answer of a ``status`` fault: Azure AD's error shape for tokens, ARM's otherwise.

    Inferred: ARM's envelope; TooManyRequests for 429 is ARM's documented throttling code;
    the other codes and every default message are a guess. So is Azure AD's answer:
    temporarily_unavailable with AADSTS90033 for 429/5xx, invalid_request else."""
    status = fault.status or 500
    text = fault.message or f"{_phrase(status)}."
    if operation != "token":
        code = fault.code or _ARM_CODES.get(status) or _camel(status)
        text = fault.message or _ARM_MESSAGES.get(status) or text
        return arm_error(status, code, text, **fault.headers())
    if status == 429 or status >= 500:
        error = fault.code or "temporarily_unavailable"
        text = fault.message or "A transient error has occurred. Please try again."
        return aad_error(status, error, 90033, text, **fault.headers())
    return aad_error(status, fault.code or "invalid_request", 90000, text, **fault.headers())


_ARM_CODES = {429: "TooManyRequests", 500: "InternalServerError", 503: "ServiceUnavailable"}
_ARM_MESSAGES = {
    429: "The request is being throttled as the limit has been reached for this operation. "
    "Retry after the time the Retry-After header gives.",
    500: "An internal server error occurred. Please retry the request.",
    502: "The gateway did not receive a response from the service. Please retry the request.",
    503: "The service is temporarily unavailable. Please retry the request.",
    504: "The gateway timed out waiting for the service. Please retry the request.",
}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _camel(status: int) -> str:
    return "".join(word[:1].upper() + word[1:] for word in _phrase(status).split() if word)


def _optional_int(body: Mapping[str, Any], key: str, minimum: int | None = None) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key}: must be an integer")
    if minimum is not None and value < minimum:
        raise ValueError(f"{key}: must be at least {minimum}")
    return value
