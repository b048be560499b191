"""AdfClient: the ADF REST API over ``requests``, with token caching and safe retries."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from airflow_adf_trigger.core import protocol
from airflow_adf_trigger.core.auth import SHARED_TOKEN_CACHE, AccessToken, CacheKey, TokenCache
from airflow_adf_trigger.core.errors import (
    AdfConnectionError,
    AdfError,
    AdfRunOutcomeUnknownError,
)
from airflow_adf_trigger.core.models import PipelineRun
from airflow_adf_trigger.core.protocol import HttpRequest, HttpResponse, RetryPolicy, Target
from airflow_adf_trigger.core.settings import AdfSettings

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class AdfWaitTimeoutError(AdfError):
    """A run was still going when the caller's wait ran out; the run itself was not touched."""

    def __init__(self, run: PipelineRun, waited: float) -> None:
        self.run = run
        super().__init__(
            f"Pipeline {run.pipeline_name!r} run {run.run_id} was still {run.status.value} "
            f"after waiting {waited:.0f} s"
        )


class AdfClient:
    """Create and follow ADF pipeline runs for one factory.

    ``session``, ``clock`` and ``sleep`` can be injected (proxies, tests without waiting).
    """

    def __init__(
        self,
        settings: AdfSettings,
        *,
        session: requests.Session | None = None,
        retry_policy: RetryPolicy | None = None,
        token_cache: TokenCache = SHARED_TOKEN_CACHE,
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.settings = settings
        self.retry_policy = retry_policy or RetryPolicy()
        self._session = session or requests.Session()
        self._owns_session = session is None
        self._cache = token_cache
        self._clock = clock
        self._sleep = sleep
        cloud = settings.cloud
        self._cache_key: CacheKey = (
            cloud.authority_host,
            settings.tenant_id,
            settings.client_id,
            cloud.resource if settings.token_api == "v1" else cloud.scope,
            settings.client_secret.fingerprint(),
        )

    def __repr__(self) -> str:
        return (
            f"AdfClient(factory={self.settings.factory.resource_id!r}, "
            f"tenant_id={self.settings.tenant_id!r}, client_id={self.settings.client_id!r})"
        )

    def __enter__(self) -> AdfClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    # ------------------------------------------------------------------ operations

    def create_run(
        self,
        pipeline_name: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        reference_pipeline_run_id: str | None = None,
        is_recovery: bool | None = None,
        start_activity_name: str | None = None,
        start_from_failure: bool | None = None,
    ) -> str:
        """Start a run of ``pipeline_name`` and return its run id.

        Never sent twice: if the request may have reached ADF but no answer came back,
        :class:`AdfRunOutcomeUnknownError` says where to look instead.
        """
        request = protocol.build_create_run(
            self.settings,
            pipeline_name,
            parameters,
            reference_pipeline_run_id=reference_pipeline_run_id,
            is_recovery=is_recovery,
            start_activity_name=start_activity_name,
            start_from_failure=start_from_failure,
        )
        target = self._target(pipeline_name=pipeline_name)
        run_id = protocol.parse_create_run(self._send(request, pipeline_name), target)
        log.debug("Started pipeline %r: run id %s", pipeline_name, run_id)
        return run_id

    def get_factory(self) -> dict[str, Any]:
        """Read the factory's ARM resource; proves the credentials, the role and the names."""
        request = protocol.build_get_factory(self.settings)
        return protocol.parse_factory(self._send(request), self._target())

    def get_run(self, run_id: str) -> PipelineRun:
        request = protocol.build_get_run(self.settings, run_id)
        return protocol.parse_run(self._send(request), self._target(run_id=run_id))

    def wait_for_run(
        self,
        run_id: str,
        *,
        poll_interval: float = 15.0,
        timeout: float | None = None,
        on_poll: Callable[[PipelineRun], None] | None = None,
    ) -> PipelineRun:
        """Poll until the run is Succeeded, Failed or Cancelled, and return it."""
        started = self._clock()
        while True:
            run = self.get_run(run_id)
            if on_poll is not None:
                on_poll(run)
            if run.status.is_terminal:
                return run
            waited = self._clock() - started
            if timeout is not None and waited + poll_interval > timeout:
                if waited >= timeout:
                    raise AdfWaitTimeoutError(run, waited)
                self._sleep(max(0.0, timeout - waited))
                continue
            self._sleep(poll_interval)

    # ------------------------------------------------------------------ plumbing

    def _target(self, *, pipeline_name: str | None = None, run_id: str | None = None) -> Target:
        return Target(
            factory=self.settings.factory,
            pipeline_name=pipeline_name,
            run_id=run_id,
            client_id=self.settings.client_id,
        )

    def _token(self) -> AccessToken:
        now = self._clock()
        token = self._cache.get(self._cache_key, now)
        if token is not None:
            return token
        with self._cache.fetch_lock(self._cache_key):
            token = self._cache.get(self._cache_key, self._clock())
            if token is not None:
                return token
            request = protocol.build_token_request(self.settings)
            response = self._send_with_retries(request, authenticated=False)
            token = protocol.parse_token_response(response, self._clock(), self.settings)
            self._cache.put(self._cache_key, token)
            log.debug(
                "Got an Azure AD token for client %s, valid for %.0f s",
                self.settings.client_id,
                token.expires_at - self._clock(),
            )
            return token

    def _send(self, request: HttpRequest, pipeline_name: str | None = None) -> HttpResponse:
        return self._send_with_retries(request, authenticated=True, pipeline_name=pipeline_name)

    def _send_with_retries(
        self,
        request: HttpRequest,
        *,
        authenticated: bool,
        pipeline_name: str | None = None,
    ) -> HttpResponse:
        policy = self.retry_policy
        started = self._clock()
        sent_at = datetime.now(UTC)
        refreshed_token = False
        attempt = 0
        while True:
            attempt += 1
            token = self._token() if authenticated else None
            try:
                response = self._transmit(request, token)
            except requests.exceptions.RequestException as error:
                never_sent = _never_sent(error)
                if not request.idempotent and not never_sent:
                    raise AdfRunOutcomeUnknownError(
                        pipeline_name or request.url,
                        sent_at,
                        datetime.now(UTC),
                        _describe(error),
                    ) from None
                if isinstance(error, requests.exceptions.SSLError) or not self._may_retry(
                    attempt, started, 0.0
                ):
                    raise AdfConnectionError(
                        f"Could not {request.operation or 'reach Azure'} at "
                        f"{_host(request.url)}: {_describe(error)}"
                    ) from None
                delay = protocol.backoff_delay(policy, attempt, None)
                log.warning(
                    "Retrying %s in %.1f s after a connection error: %s (attempt %d of %d)",
                    request.operation,
                    delay,
                    _describe(error),
                    attempt + 1,
                    policy.max_attempts,
                )
                self._sleep(delay)
                continue

            if response.status == 401 and token is not None and not refreshed_token:
                # ARM refused the token before doing anything: drop it and try once more.
                self._cache.discard(self._cache_key, token)
                refreshed_token = True
                attempt -= 1
                continue
            if protocol.should_retry_status(request, response.status):
                hint = protocol.retry_after_seconds(response.headers, self._clock())
                delay = protocol.backoff_delay(policy, attempt, hint)
                if self._may_retry(attempt, started, delay):
                    log.warning(
                        "Retrying %s in %.1f s after HTTP %d (attempt %d of %d)",
                        request.operation,
                        delay,
                        response.status,
                        attempt + 1,
                        policy.max_attempts,
                    )
                    self._sleep(delay)
                    continue
            elif not request.idempotent and response.status >= 500:
                raise AdfRunOutcomeUnknownError(
                    pipeline_name or request.url,
                    sent_at,
                    datetime.now(UTC),
                    f"HTTP {response.status} from ADF after the request was sent",
                )
            return response

    def _may_retry(self, attempt: int, started: float, delay: float) -> bool:
        policy = self.retry_policy
        within_time = self._clock() - started + delay <= policy.max_total_seconds
        return attempt < policy.max_attempts and within_time

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


def _never_sent(error: requests.exceptions.RequestException) -> bool:
    """True when the request provably never reached the server (no connection was made)."""
    if isinstance(error, requests.exceptions.ConnectTimeout | requests.exceptions.SSLError):
        return True
    reason: object = error.args[0] if error.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


def _describe(error: BaseException) -> str:
    """A short cause without URLs' query strings or anything from the request body."""
    if isinstance(error, requests.exceptions.ReadTimeout):
        return "no answer within the request timeout"
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return "the connection attempt timed out"
    if isinstance(error, requests.exceptions.SSLError):
        return "the TLS handshake failed (check the endpoint's certificate)"
    reason: object = error.args[0] if error.args else error
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    if isinstance(reason, NewConnectionError):
        return "the connection was refused or the host name did not resolve"
    return f"the connection broke ({type(reason).__name__})"


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc
