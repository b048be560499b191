"""AdfClient: the ADF REST API over ``requests``, with token caching and safe retries."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar, Unpack

import requests
import requests.adapters
import urllib3
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from airflow_adf_trigger.core.config.settings import AdfSettings
from airflow_adf_trigger.core.runs.models import (
    ActivityRun,
    CancelResult,
    PipelineRun,
    RunChanges,
    RunQuery,
)
from airflow_adf_trigger.core.runs.reconcile import PipelineDeclaration
from airflow_adf_trigger.core.wire import driver, operations
from airflow_adf_trigger.core.wire.auth import (
    SHARED_TOKEN_CACHE,
    AccessToken,
    TokenCache,
    TokenCredential,
)
from airflow_adf_trigger.core.wire.driver import ClientBase, Clock, HeldThreadLock, run_to_end
from airflow_adf_trigger.core.wire.exchange import Flow
from airflow_adf_trigger.core.wire.operations import WaitKeywords
from airflow_adf_trigger.core.wire.protocol import (
    HttpRequest,
    HttpResponse,
    RerunOptions,
    TransportFailure,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

Transport = Callable[[HttpRequest, float], HttpResponse | TransportFailure]
"""Sends one request within a timeout (seconds): the sync client's only contact with HTTP."""

POOL_SIZE = 64
"""Connections kept per host: enough for many threads sharing one client without warnings."""


class AdfClient(ClientBase):
    """Create, follow and cancel ADF pipeline runs of one factory, synchronously.

    ``session``, ``clock`` and ``sleep`` can be injected (proxies, tests without waiting);
    ``credential`` takes any azure-identity credential instead of the client secret.
    ``transport`` replaces HTTP altogether: a callable that sends one request within a
    timeout and returns the response or a :class:`TransportFailure` (tests, other libraries).
    """

    def __init__(
        self,
        settings: AdfSettings,
        *,
        session: requests.Session | None = None,
        token_cache: TokenCache = SHARED_TOKEN_CACHE,
        clock: Clock = time.time,
        sleep: Callable[[float], None] = time.sleep,
        credential: TokenCredential | None = None,
        transport: Transport | None = None,
    ) -> None:
        super().__init__(settings, token_cache=token_cache, clock=clock, credential=credential)
        self._session = session or new_session()
        self._owns_session = session is None
        self._transport: Transport = transport or RequestsTransport(self._session)
        self._sleep = sleep

    def __enter__(self) -> AdfClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP session, if this client made it."""
        if self._owns_session:
            self._session.close()

    # ------------------------------------------------------------------ operations

    def get_factory(self) -> dict[str, Any]:
        """Read the factory's ARM resource; proves the credentials, the role and the names."""
        return self.drive(operations.get_factory(self.settings))

    def read_pipeline(self, pipeline_name: str) -> PipelineDeclaration:
        """The pipeline's declared parameters, and Azure's clock on the answer."""
        return self.drive(operations.read_pipeline(self.settings, pipeline_name))

    def create_run(
        self,
        pipeline_name: str,
        parameters: Mapping[str, Any] | None = None,
        **options: Unpack[RerunOptions],
    ) -> str:
        """Start a run of ``pipeline_name`` and return its run id.

        Never sent twice: if the request may have reached ADF but no answer came back,
        :class:`~airflow_adf_trigger.core.errors.AdfRunOutcomeUnknownError` says where to look.
        """
        flow = operations.create_run(self.settings, pipeline_name, parameters, **options)
        return self.drive(flow)

    def get_run(self, run_id: str) -> PipelineRun:
        """The run as ADF describes it now."""
        return self.drive(operations.get_run(self.settings, run_id))

    def cancel_run(self, run_id: str, *, is_recursive: bool = True) -> CancelResult:
        """Cancel a run (and, by default, the child pipelines it started)."""
        return self.drive(operations.cancel_run(self.settings, run_id, is_recursive=is_recursive))

    def query_pipeline_runs(self, query: RunQuery) -> list[PipelineRun]:
        """Every run matching ``query``, following ``continuationToken`` to the last page."""
        return self.drive(operations.query_pipeline_runs(self.settings, query))

    def query_run_changes(self, query: RunQuery) -> RunChanges:
        """Every run matching ``query``, with the server's time (for change feeds)."""
        return self.drive(operations.query_run_changes(self.settings, query))

    def query_activity_runs(self, run_id: str, query: RunQuery) -> list[ActivityRun]:
        """Every activity run of ``run_id`` matching ``query``, all pages."""
        return self.drive(operations.query_activity_runs(self.settings, run_id, query))

    def failure_details(
        self, run: PipelineRun | str, now: datetime | None = None
    ) -> list[ActivityRun]:
        """The failed activities of a run, with ADF's own error code and message."""
        return self.drive(operations.failure_details(self.settings, run, now))

    def wait_for_run(self, run_id: str, **options: Unpack[WaitKeywords]) -> PipelineRun:
        """Poll until the run is Succeeded, Failed or Cancelled, and return it.

        Transient errors are waited out for up to ``outage_budget`` seconds; the options are
        those of :class:`~airflow_adf_trigger.core.wire.operations.WaitKeywords`.
        """
        flow = operations.wait_for_run(self.settings, run_id, clock=self._clock, **options)
        return self.drive(flow)

    def sign_in(self) -> AccessToken:
        """A token for these settings (from the cache when it holds a fresh one)."""
        return run_to_end(self._token(None))

    def drive(self, flow: Flow[T]) -> T:
        """Carry out any flow of :mod:`.operations` (e.g. ``send``)."""
        return run_to_end(self._run(flow))

    # ------------------------------------------------------------------ driver primitives

    async def _send(self, request: HttpRequest, timeout: float) -> HttpResponse | TransportFailure:
        return self._transport(request, timeout)

    async def _pause(self, seconds: float) -> None:
        self._sleep(seconds)

    def _fetch_lock(self) -> HeldThreadLock:
        return HeldThreadLock(self._cache.fetch_lock(self._cache_key))

    async def _identity_token(self) -> AccessToken:
        return self._token_from_identity()


class RequestsTransport:
    """Send one request with ``requests``; the whole exchange ends within the timeout.

    ``requests`` bounds each socket read, not the request: the body is read in pieces and
    abandoned once the deadline passes, so a server trickling bytes cannot hold a call.
    """

    def __init__(self, session: requests.Session) -> None:
        self._session = session

    def __call__(self, request: HttpRequest, timeout: float) -> HttpResponse | TransportFailure:
        deadline = time.monotonic() + timeout
        try:
            raw = self._session.request(
                request.method,
                request.url,
                params=dict(request.params),
                headers=dict(request.headers),
                data=request.body,
                timeout=timeout,
                allow_redirects=False,
                stream=True,
            )
        except requests.exceptions.RequestException as error:
            return classify_requests_error(error)
        try:
            body = _read_body(raw, deadline)
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raw.close()
            return classify_requests_error(error)
        if body is None:
            raw.close()  # the connection still carries the rest of a trickled body: drop it
            return driver.too_slow(timeout)
        release = getattr(raw.raw, "release_conn", None)
        if release is not None:
            release()  # fully read: the connection goes back to the pool
        return HttpResponse.create(raw.status_code, dict(raw.headers), body)


def _read_body(raw: requests.Response, deadline: float) -> bytes | None:
    """The whole body, or ``None`` when the deadline passed first."""
    chunks: list[bytes] = []
    stream = raw.raw
    if not hasattr(stream, "read1"):  # an adapter that answers from memory (tests, mocks)
        return raw.content
    while True:
        if time.monotonic() > deadline:
            return None
        chunk = stream.read1(65536, decode_content=True)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def new_session() -> requests.Session:
    """A session whose pool serves :data:`POOL_SIZE` concurrent requests per host."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def classify_requests_error(error: Exception) -> TransportFailure:
    """Was the request sent? ``requests`` tells by the exception type and its cause."""
    if isinstance(error, requests.exceptions.SSLError | urllib3.exceptions.SSLError):
        return driver.TLS_FAILED
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return driver.CONNECT_TIMED_OUT
    if isinstance(error, requests.exceptions.ReadTimeout | urllib3.exceptions.ReadTimeoutError):
        return driver.READ_TIMED_OUT
    reason: object = error.args[0] if error.args else error
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    if isinstance(reason, NewConnectionError | ConnectTimeoutError):
        return driver.UNREACHABLE
    return driver.broken(reason)


__all__ = ["AdfClient", "RequestsTransport", "Transport", "classify_requests_error"]
