"""One request's whole life as a sans-IO flow: token, send, retry decision, sleep.

A flow is a generator that yields steps and is sent back their answers:

* :class:`Transmit` -> :class:`Answered` (an HTTP response or a :class:`TransportFailure`,
  with the driver's clock readings around it);
* :class:`Sleep` -> ``None``;
* :class:`NeedToken` -> an :class:`~airflow_adf_trigger.core.wire.auth.AccessToken` (the driver
  answers from its cache, under its lock, fetching one with :func:`fetch_token` if needed).

Errors the driver meets while answering (a token that cannot be had) are thrown into the
flow. The drivers (:mod:`.client`, :mod:`.aio`) only carry out steps; every decision is
made here, once, for both.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Generator
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

from airflow_adf_trigger.core.config.settings import AdfSettings, RetryPolicy
from airflow_adf_trigger.core.errors import AdfConnectionError
from airflow_adf_trigger.core.wire import protocol
from airflow_adf_trigger.core.wire.auth import AccessToken
from airflow_adf_trigger.core.wire.protocol import HttpRequest, HttpResponse, TransportFailure

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Sleep:
    """Ask the driver to wait (backoff, polling), with its own injectable sleep."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Transmit:
    """Send ``request`` once; the whole exchange must end within ``timeout`` seconds."""

    request: HttpRequest
    timeout: float


@dataclass(frozen=True, slots=True)
class NeedToken:
    """Ask the driver for a fresh token; ``refused`` is one ARM refused (drop it first)."""

    refused: AccessToken | None = None


@dataclass(frozen=True, slots=True)
class Answered:
    """What a :class:`Transmit` came to, and when (the driver's clock) it started and ended."""

    outcome: HttpResponse | TransportFailure
    started: float
    finished: float


Step = Transmit | Sleep | NeedToken
Flow = Generator[Step, Any, T]

_JITTER = random.Random()


def exchange(
    settings: AdfSettings,
    request: HttpRequest,
    *,
    authenticated: bool = True,
    subject: str | None = None,
    rng: random.Random | None = None,
) -> Flow[HttpResponse]:
    """Send one logical request, retrying as the rules allow, and return the response.

    Reads retry on throttling, 5xx and broken connections within the settings' retry budget.
    A request that is not idempotent (create-run) is sent again only when it provably never
    reached Azure (connection refused, 429); otherwise its outcome is unknown and
    :class:`AdfRunOutcomeUnknownError` says so. A 401 from ARM drops the token and tries once
    more with a new one. ``subject`` names what the request was about in that error.
    """
    policy = settings.retry
    jitter = rng or _JITTER
    attempt = 1
    first_started: float | None = None
    refused: AccessToken | None = None
    token_refreshed = False
    unknown = partial(protocol.outcome_unknown, subject or request.operation)
    while True:
        token: AccessToken | None = None
        if authenticated:
            token = yield NeedToken(refused)
            refused = None
        wire = _with_token(request, token)
        answer: Answered = yield Transmit(wire, settings.request_timeout)
        if first_started is None:
            first_started = answer.started
        elapsed = answer.finished - first_started
        outcome = answer.outcome
        if isinstance(outcome, TransportFailure):
            if not request.idempotent and not outcome.never_sent:
                raise unknown(answer.started, answer.finished, outcome.description)
            delay = protocol.backoff_delay(policy, attempt, None, jitter)
            if outcome.fatal or not _may_retry(policy, attempt, elapsed, delay):
                raise AdfConnectionError(
                    f"Could not {request.operation or 'reach Azure'} at "
                    f"{urlsplit(request.url).netloc}: {outcome.description}"
                )
            attempt = _log_retry(request, policy, attempt, delay, outcome.description)
            yield Sleep(delay)
            continue
        response = replace(outcome, sent_at=answer.started, received_at=answer.finished)
        if token is not None and response.status == 401 and not token_refreshed:
            token_refreshed = True  # ARM did nothing with a refused token: safe to resend
            refused = token
            continue
        if protocol.should_retry_status(request, response.status):
            hint = protocol.retry_after_seconds(response.headers, answer.finished)
            delay = protocol.backoff_delay(policy, attempt, hint, jitter)
            if _may_retry(policy, attempt, elapsed, delay):
                attempt = _log_retry(request, policy, attempt, delay, f"HTTP {response.status}")
                yield Sleep(delay)
                continue
            return response
        if not request.idempotent and response.status >= 500:
            raise unknown(
                answer.started,
                answer.finished,
                f"HTTP {response.status} after the request was sent",
            )
        return response


def fetch_token(settings: AdfSettings) -> Flow[AccessToken]:
    """The client-credentials grant: one token for the settings' client id and secret."""
    request = protocol.build_token_request(settings)
    response = yield from exchange(settings, request, authenticated=False)
    token = protocol.parse_token_response(response, response.received_at, settings)
    log.debug(
        "Got an Azure AD token for %s, valid for %.0f s",
        settings.credential_label,
        token.expires_at - response.received_at,
    )
    return AccessToken(token.token, token.expires_at, obtained_at=response.received_at)


def _with_token(request: HttpRequest, token: AccessToken | None) -> HttpRequest:
    if token is None:
        return request
    return replace(request, headers={**request.headers, "Authorization": f"Bearer {token.token}"})


def _may_retry(policy: RetryPolicy, attempt: int, elapsed: float, delay: float) -> bool:
    return attempt < policy.max_attempts and elapsed + delay <= policy.max_total_seconds


def _log_retry(
    request: HttpRequest, policy: RetryPolicy, attempt: int, delay: float, cause: str
) -> int:
    log.warning(
        "Retrying %s in %.1f s after %s (attempt %d of %d)",
        request.operation,
        delay,
        cause,
        attempt + 1,
        policy.max_attempts,
    )
    return attempt + 1
