"""AsyncAdfClient: the same operations and retry rules as AdfClient, over ``httpx``.

For Airflow's triggerer and any asyncio program. Only the transport differs from the sync
client: requests, parsing, retry decisions and paging come from the shared sans-IO modules.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar, Unpack

import httpx

from airflow_adf_trigger.core.config.settings import AdfSettings
from airflow_adf_trigger.core.runs.models import (
    ActivityRun,
    CancelResult,
    PipelineRun,
    RunChanges,
    RunQuery,
)
from airflow_adf_trigger.core.wire import driver, operations
from airflow_adf_trigger.core.wire.auth import (
    SHARED_TOKEN_CACHE,
    AccessToken,
    TokenCache,
    TokenCredential,
)
from airflow_adf_trigger.core.wire.driver import ClientBase, Clock
from airflow_adf_trigger.core.wire.exchange import Flow
from airflow_adf_trigger.core.wire.operations import WaitKeywords
from airflow_adf_trigger.core.wire.protocol import (
    HttpRequest,
    HttpResponse,
    RerunOptions,
    TransportFailure,
)

T = TypeVar("T")

AsyncTransport = Callable[[HttpRequest, float], Awaitable[HttpResponse | TransportFailure]]
"""Sends one request within a timeout (seconds): the async client's only contact with HTTP."""


class AsyncAdfClient(ClientBase):
    """Create, follow and cancel ADF pipeline runs of one factory, with asyncio.

    ``http_client`` (an ``httpx.AsyncClient``), ``clock`` and ``sleep`` can be injected;
    ``transport`` replaces HTTP altogether (an async callable, as for the sync client).
    """

    def __init__(
        self,
        settings: AdfSettings,
        *,
        http_client: httpx.AsyncClient | None = None,
        token_cache: TokenCache = SHARED_TOKEN_CACHE,
        clock: Clock = time.time,
        sleep: Callable[[float], Any] = asyncio.sleep,
        credential: TokenCredential | None = None,
        transport: AsyncTransport | None = None,
    ) -> None:
        super().__init__(settings, token_cache=token_cache, clock=clock, credential=credential)
        self._http = http_client or httpx.AsyncClient(timeout=settings.request_timeout)
        self._owns_http = http_client is None
        self._transport: AsyncTransport = transport or HttpxTransport(self._http)
        self._sleep = sleep

    async def __aenter__(self) -> AsyncAdfClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client, if this client made it."""
        if self._owns_http:
            await self._http.aclose()

    # ------------------------------------------------------------------ operations

    async def get_factory(self) -> dict[str, Any]:
        """Read the factory's ARM resource; proves the credentials, the role and the names."""
        return await self.drive(operations.get_factory(self.settings))

    async def create_run(
        self,
        pipeline_name: str,
        parameters: Mapping[str, Any] | None = None,
        **options: Unpack[RerunOptions],
    ) -> str:
        """Start a run of ``pipeline_name``; its run id (never sent twice: see AdfClient)."""
        flow = operations.create_run(self.settings, pipeline_name, parameters, **options)
        return await self.drive(flow)

    async def get_run(self, run_id: str) -> PipelineRun:
        """The run as ADF describes it now."""
        return await self.drive(operations.get_run(self.settings, run_id))

    async def cancel_run(self, run_id: str, *, is_recursive: bool = True) -> CancelResult:
        """Cancel a run (and, by default, the child pipelines it started)."""
        flow = operations.cancel_run(self.settings, run_id, is_recursive=is_recursive)
        return await self.drive(flow)

    async def query_pipeline_runs(self, query: RunQuery) -> list[PipelineRun]:
        """Every run matching ``query``, all pages."""
        return await self.drive(operations.query_pipeline_runs(self.settings, query))

    async def query_run_changes(self, query: RunQuery) -> RunChanges:
        """Every run matching ``query``, with the server's time (for change feeds)."""
        return await self.drive(operations.query_run_changes(self.settings, query))

    async def query_activity_runs(self, run_id: str, query: RunQuery) -> list[ActivityRun]:
        """Every activity run of ``run_id`` matching ``query``, all pages."""
        return await self.drive(operations.query_activity_runs(self.settings, run_id, query))

    async def failure_details(
        self, run: PipelineRun | str, now: datetime | None = None
    ) -> list[ActivityRun]:
        """The failed activities of a run, with ADF's own error code and message."""
        return await self.drive(operations.failure_details(self.settings, run, now))

    async def wait_for_run(self, run_id: str, **options: Unpack[WaitKeywords]) -> PipelineRun:
        """Poll until the run is Succeeded, Failed or Cancelled, and return it.

        Transient errors are waited out for up to ``outage_budget`` seconds; the options are
        those of :class:`~airflow_adf_trigger.core.wire.operations.WaitKeywords`.
        """
        flow = operations.wait_for_run(self.settings, run_id, clock=self._clock, **options)
        return await self.drive(flow)

    async def sign_in(self) -> AccessToken:
        """A token for these settings (from the cache when it holds a fresh one)."""
        return await self._token(None)

    async def drive(self, flow: Flow[T]) -> T:
        """Carry out any flow of :mod:`.operations` (e.g. ``send``)."""
        return await self._run(flow)

    # ------------------------------------------------------------------ driver primitives

    async def _send(self, request: HttpRequest, timeout: float) -> HttpResponse | TransportFailure:
        return await self._transport(request, timeout)

    async def _pause(self, seconds: float) -> None:
        await self._sleep(seconds)

    def _fetch_lock(self) -> asyncio.Lock:
        return self._cache.async_fetch_lock(self._cache_key)

    async def _identity_token(self) -> AccessToken:
        return await asyncio.to_thread(self._token_from_identity)


class HttpxTransport:
    """Send one request with ``httpx``; the whole exchange ends within the timeout."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def __call__(
        self, request: HttpRequest, timeout: float
    ) -> HttpResponse | TransportFailure:
        try:
            async with asyncio.timeout(timeout):
                raw = await self._http.request(
                    request.method,
                    request.url,
                    params=dict(request.params),
                    headers=dict(request.headers),
                    content=request.body,
                    timeout=timeout,
                    follow_redirects=False,
                )
        except TimeoutError:
            return driver.too_slow(timeout)
        except httpx.HTTPError as error:
            return classify_httpx_error(error)
        return HttpResponse.create(raw.status_code, dict(raw.headers), raw.content)


def classify_httpx_error(error: httpx.HTTPError) -> TransportFailure:
    """Was the request sent? httpx tells by the exception type."""
    if isinstance(error, httpx.ConnectTimeout):
        return driver.CONNECT_TIMED_OUT
    if isinstance(error, httpx.ConnectError):
        text = str(error).lower()
        return driver.TLS_FAILED if "ssl" in text or "certificate" in text else driver.UNREACHABLE
    if isinstance(error, httpx.PoolTimeout):
        return TransportFailure("no free connection in the pool", never_sent=True)
    if isinstance(error, httpx.ReadTimeout | httpx.WriteTimeout):
        return driver.READ_TIMED_OUT
    return driver.broken(error)
