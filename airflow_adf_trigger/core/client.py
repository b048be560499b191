"""AdfClient: the ADF REST API over ``requests``, with token caching and safe retries."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar, Unpack

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from airflow_adf_trigger.core import operations, protocol
from airflow_adf_trigger.core.auth import (
    SHARED_TOKEN_CACHE,
    AccessToken,
    TokenCache,
    TokenCredential,
    cache_key,
    credential_token,
    identity_credential,
)
from airflow_adf_trigger.core.errors import AdfError
from airflow_adf_trigger.core.models import ActivityRun, CancelResult, PipelineRun, RunQuery
from airflow_adf_trigger.core.operations import Flow, Sleep
from airflow_adf_trigger.core.protocol import (
    HttpRequest,
    HttpResponse,
    RerunOptions,
    RetryLoop,
    TransportFailure,
)
from airflow_adf_trigger.core.settings import AdfSettings

log = logging.getLogger(__name__)

Clock = Callable[[], float]
T = TypeVar("T")


class ClientBase:
    """What the sync and async clients share: settings, clock, token cache, credential."""

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
        return (
            f"{type(self).__name__}(factory={self.settings.factory.resource_id!r}, "
            f"tenant_id={self.settings.tenant_id!r}, client_id={self.settings.client_id!r})"
        )

    @property
    def uses_secret(self) -> bool:
        return self._credential is None and self.settings.client_secret is not None

    def _identity(self) -> TokenCredential:
        if self._credential is None:
            self._credential = identity_credential(self.settings)
        return self._credential

    def _token_from_identity(self) -> AccessToken:
        # azure-identity always speaks v2: the scope, whatever token_api says.
        return credential_token(self._identity(), self.settings.cloud.scope, self._clock())

    def _parse_token(self, response: HttpResponse) -> AccessToken:
        now = self._clock()
        token = protocol.parse_token_response(response, now, self.settings)
        log.debug(
            "Got an Azure AD token for %s, valid for %.0f s",
            self.settings.credential_label,
            token.expires_at - now,
        )
        return AccessToken(token.token, token.expires_at, obtained_at=now)

    def _retry_loop(self, request: HttpRequest, subject: str | None = None) -> RetryLoop:
        return RetryLoop(request, self.settings.retry, self._clock, subject=subject)


class AdfClient(ClientBase):
    """Create, follow and cancel ADF pipeline runs of one factory, synchronously.

    ``session``, ``clock`` and ``sleep`` can be injected (proxies, tests without waiting);
    ``credential`` takes any azure-identity credential instead of the client secret.
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
    ) -> None:
        super().__init__(settings, token_cache=token_cache, clock=clock, credential=credential)
        self._session = session or requests.Session()
        self._owns_session = session is None
        self._sleep = sleep

    def __enter__(self) -> AdfClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    # ------------------------------------------------------------------ operations

    def get_factory(self) -> dict[str, Any]:
        """Read the factory's ARM resource; proves the credentials, the role and the names."""
        return self._drive(operations.get_factory(self.settings))

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
        return self._drive(flow, subject=pipeline_name)

    def get_run(self, run_id: str) -> PipelineRun:
        return self._drive(operations.get_run(self.settings, run_id))

    def cancel_run(self, run_id: str, *, is_recursive: bool = True) -> CancelResult:
        """Cancel a run (and, by default, the child pipelines it started)."""
        return self._drive(operations.cancel_run(self.settings, run_id, is_recursive=is_recursive))

    def query_pipeline_runs(self, query: RunQuery) -> list[PipelineRun]:
        return self._drive(operations.query_pipeline_runs(self.settings, query))

    def query_activity_runs(self, run_id: str, query: RunQuery) -> list[ActivityRun]:
        return self._drive(operations.query_activity_runs(self.settings, run_id, query))

    def failure_details(
        self, run: PipelineRun | str, now: datetime | None = None
    ) -> list[ActivityRun]:
        """The failed activities of a run, with ADF's own error code and message."""
        if isinstance(run, str):
            run = self.get_run(run)
        return self._drive(operations.failure_details(self.settings, run, now))

    def wait_for_run(
        self,
        run_id: str,
        *,
        poll_interval: float = 15.0,
        timeout: float | None = None,
        on_poll: Callable[[PipelineRun], None] | None = None,
        outage_budget: float = operations.DEFAULT_OUTAGE_BUDGET,
        on_outage: Callable[[AdfError, float], None] | None = None,
    ) -> PipelineRun:
        """Poll until the run is Succeeded, Failed or Cancelled, and return it."""
        flow = operations.wait_for_run(
            self.settings,
            run_id,
            poll_interval=poll_interval,
            timeout=timeout,
            clock=self._clock,
            on_poll=on_poll,
            outage_budget=outage_budget,
            on_outage=on_outage,
        )
        return self._drive(flow)

    # ------------------------------------------------------------------ the driver

    def _drive(self, flow: Flow[T], subject: str | None = None) -> T:
        try:
            step = next(flow)
            while True:
                if isinstance(step, Sleep):
                    self._sleep(step.seconds)
                    step = flow.send(None)
                else:
                    try:
                        response = self._send(step, subject)
                    except AdfError as error:
                        step = flow.throw(error)  # the flow decides: give up or go on
                    else:
                        step = flow.send(response)
        except StopIteration as done:
            result: T = done.value
            return result

    def _token(self) -> AccessToken:
        token = self._cache.get(self._cache_key, self._clock())
        if token is not None:
            return token
        with self._cache.fetch_lock(self._cache_key):
            token = self._cache.get(self._cache_key, self._clock())
            if token is None:
                if self.uses_secret:
                    request = protocol.build_token_request(self.settings)
                    token = self._parse_token(self._send(request, authenticated=False))
                else:
                    token = self._token_from_identity()
                self._cache.put(self._cache_key, token)
            return token

    def _send(
        self, request: HttpRequest, subject: str | None = None, *, authenticated: bool = True
    ) -> HttpResponse:
        loop = self._retry_loop(request, subject)
        while True:
            token = self._token() if authenticated else None
            try:
                response = self._transmit(request, token)
            except requests.exceptions.RequestException as error:
                self._sleep(loop.after_failure(classify_requests_error(error)))
                continue
            if token is not None and loop.refresh_token_after(response):
                self._cache.discard(self._cache_key, token)
                continue
            delay = loop.after_response(response)
            if delay is None:
                return response
            self._sleep(delay)

    def _transmit(self, request: HttpRequest, token: AccessToken | None) -> HttpResponse:
        headers = dict(request.headers)
        if token is not None:
            headers["Authorization"] = f"Bearer {token.token}"
        raw = self._session.request(
            request.method,
            request.url,
            params=dict(request.params),
            headers=headers,
            data=request.body,
            timeout=self.settings.request_timeout,
            allow_redirects=False,
        )
        return HttpResponse.create(raw.status_code, dict(raw.headers), raw.content)


def classify_requests_error(error: requests.exceptions.RequestException) -> TransportFailure:
    """Was the request sent? ``requests`` tells by the exception type and its cause."""
    if isinstance(error, requests.exceptions.SSLError):
        return TransportFailure(
            "the TLS handshake failed (check the endpoint's certificate)",
            never_sent=True,
            fatal=True,
        )
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return TransportFailure("the connection attempt timed out", never_sent=True)
    if isinstance(error, requests.exceptions.ReadTimeout):
        return TransportFailure("no answer within the request timeout", never_sent=False)
    reason: object = error.args[0] if error.args else error
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    if isinstance(reason, NewConnectionError | ConnectTimeoutError):
        return TransportFailure(
            "the connection was refused or the host name did not resolve", never_sent=True
        )
    return TransportFailure(f"the connection broke ({type(reason).__name__})", never_sent=False)


__all__ = ["AdfClient", "ClientBase", "classify_requests_error"]
