"""The one driver both clients share: it carries out a flow's steps, caches tokens, and
knows nothing of HTTP libraries or of whether it runs under asyncio.

A client supplies four primitives: send one request (:meth:`ClientBase._send`), wait
(:meth:`ClientBase._pause`), the token-fetch lock (:meth:`ClientBase._fetch_lock`) and an
azure-identity token (:meth:`ClientBase._identity_token`). The driver itself is written once,
as a coroutine: the async client awaits it; the sync client's primitives never suspend, so it
runs the same coroutine to its end in one step with :func:`run_to_end`, without an event loop.
Neither HTTP library is imported here, so the async client does not load ``requests``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from airflow_adf_trigger.core.config.settings import AdfSettings
from airflow_adf_trigger.core.errors import AdfError
from airflow_adf_trigger.core.wire.auth import (
    AccessToken,
    TokenCache,
    TokenCredential,
    cache_key,
    credential_token,
    identity_credential,
)
from airflow_adf_trigger.core.wire.exchange import (
    Answered,
    Flow,
    NeedToken,
    Sleep,
    Step,
    fetch_token,
)
from airflow_adf_trigger.core.wire.protocol import HttpRequest, HttpResponse, TransportFailure

T = TypeVar("T")

Clock = Callable[[], float]

# What a transport reports, in the same words whichever HTTP library failed.
TLS_FAILED = TransportFailure(
    "the TLS handshake failed (check the endpoint's certificate)", never_sent=True, fatal=True
)
CONNECT_TIMED_OUT = TransportFailure("the connection attempt timed out", never_sent=True)
UNREACHABLE = TransportFailure(
    "the connection was refused or the host name did not resolve", never_sent=True
)
READ_TIMED_OUT = TransportFailure("no answer within the request timeout", never_sent=False)


def too_slow(timeout: float) -> TransportFailure:
    """The whole exchange did not end within ``timeout`` seconds."""
    message = f"no complete answer within the request timeout ({timeout:g} s)"
    return TransportFailure(message, never_sent=False)


def broken(cause: object) -> TransportFailure:
    """The connection broke after the request may have left; ``cause`` names only its type."""
    return TransportFailure(f"the connection broke ({type(cause).__name__})", never_sent=False)


class ClientBase:
    """Settings, clock, token cache and credential of one client, and the driver of its flows."""

    def __init__(
        self,
        settings: AdfSettings,
        *,
        token_cache: TokenCache,
        clock: Clock,
        credential: TokenCredential | None,
    ) -> None:
        self.settings = settings
        self._cache = token_cache
        self._clock = clock
        self._cache_key = cache_key(settings)
        self._credential = credential

    def __repr__(self) -> str:
        ref = self.settings.factory_ref
        where = ref.resource_id if ref else f"/subscriptions/{self.settings.subscription_id}"
        return (
            f"{type(self).__name__}(factory={where!r}, "
            f"tenant_id={self.settings.tenant_id!r}, client_id={self.settings.client_id!r})"
        )

    def now(self) -> float:
        """This client's clock (the one its answers are timed with)."""
        return self._clock()

    @property
    def uses_secret(self) -> bool:
        """Whether tokens come from the client secret (else from azure-identity)."""
        return self._credential is None and self.settings.client_secret is not None

    # ------------------------------------------------------------------ the driver

    async def _run(self, flow: Flow[T]) -> T:
        """Carry out the flow's steps until it returns; errors met are thrown into it."""
        reply: object = None
        failure: AdfError | None = None
        while True:
            try:
                step = flow.send(reply) if failure is None else flow.throw(failure)
            except StopIteration as done:
                result: T = done.value
                return result
            try:
                reply, failure = await self._perform(step), None
            except AdfError as error:
                reply, failure = None, error

    async def _perform(self, step: Step) -> object:
        if isinstance(step, Sleep):
            await self._pause(step.seconds)
            return None
        if isinstance(step, NeedToken):
            return await self._token(step.refused)
        started = self._clock()
        outcome = await self._send(step.request, step.timeout)
        return Answered(outcome, started, self._clock())

    async def _token(self, refused: AccessToken | None) -> AccessToken:
        """The cached token (after dropping one ARM refused), else one fetched once for every
        client of the same credential, under the cache's lock."""
        if refused is not None:
            self._cache.discard(self._cache_key, refused)
        token = self._cache.get(self._cache_key, self._clock())
        if token is not None:
            return token
        async with self._fetch_lock():
            token = self._cache.get(self._cache_key, self._clock())
            if token is None:
                if self.uses_secret:
                    token = await self._run(fetch_token(self.settings))
                else:
                    token = await self._identity_token()
                self._cache.put(self._cache_key, token)
            return token

    def _token_from_identity(self) -> AccessToken:
        """A token from the azure-identity credential (blocking); always v2: the scope,
        whatever ``token_api`` says."""
        if self._credential is None:
            self._credential = identity_credential(self.settings)
        return credential_token(
            self._credential, self.settings.cloud.scope, self._clock(), self.settings
        )

    # ------------------------------------------------------------------ what a client supplies

    async def _send(self, request: HttpRequest, timeout: float) -> HttpResponse | TransportFailure:
        """Send one request within ``timeout`` seconds through the client's transport."""
        raise NotImplementedError

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds`` with the client's injectable sleep."""
        raise NotImplementedError

    def _fetch_lock(self) -> AbstractAsyncContextManager[object]:
        """The lock that makes concurrent callers of one credential fetch a token once."""
        raise NotImplementedError

    async def _identity_token(self) -> AccessToken:
        """A token from azure-identity, without blocking an event loop if there is one."""
        raise NotImplementedError


class HeldThreadLock(AbstractAsyncContextManager[None]):
    """A :class:`threading.Lock` behind ``async with``, for the sync client's driver (which
    never suspends, so holding a thread lock across its awaits is safe)."""

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock

    async def __aenter__(self) -> None:
        self._lock.acquire()

    async def __aexit__(self, *exc_info: object) -> None:
        self._lock.release()


def run_to_end(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (the sync client's driver) and return its result.

    Raises :class:`RuntimeError` if it suspends after all: a primitive awaited real I/O.
    """
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coroutine.close()
    raise RuntimeError("the sync driver suspended: one of its primitives awaited real I/O")
