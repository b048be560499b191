"""Sans-IO protocol of Azure AD and the ADF REST API (api-version 2018-06-01).

Pure functions: build a :class:`HttpRequest`, interpret a :class:`HttpResponse`, decide
whether and when to retry. No sockets here; the sync and async clients are the transports.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypedDict, TypeVar, Unpack
from urllib.parse import quote, urlencode

from airflow_adf_trigger.core.config.settings import AdfSettings, FactoryRef, RetryPolicy
from airflow_adf_trigger.core.config.validation import check_pipeline, check_run_id
from airflow_adf_trigger.core.errors import (
    AdfAuthenticationError,
    AdfAuthorizationError,
    AdfBadRequestError,
    AdfConfigurationError,
    AdfConflictError,
    AdfNotFoundError,
    AdfRequestError,
    AdfRunOutcomeUnknownError,
    AdfServiceError,
    AdfThrottledError,
)
from airflow_adf_trigger.core.runs.models import (
    ActivityRun,
    CancelResult,
    Page,
    PipelineRun,
    RunQuery,
    RunStatus,
    UnreadableRun,
)
from airflow_adf_trigger.core.wire.auth import HEADER_SAFE_TOKEN, AccessToken

log = logging.getLogger(__name__)

API_VERSION = "2018-06-01"
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
_JSON = "application/json"


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A request ready to send. ``idempotent`` tells the transport whether it may resend it."""

    method: str
    url: str
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    body: bytes | None = field(default=None, repr=False)
    idempotent: bool = True
    operation: str = ""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """What came back; header names are lower-cased."""

    status: int
    headers: Mapping[str, str]
    body: bytes = field(repr=False)
    sent_at: float = 0.0
    """When the request that got this answer was sent (the client's clock)."""
    received_at: float = 0.0
    """When the answer had fully arrived (the client's clock)."""

    @classmethod
    def create(cls, status: int, headers: Mapping[str, str], body: bytes) -> HttpResponse:
        """A response with its header names lower-cased."""
        return cls(status, {k.lower(): v for k, v in headers.items()}, body)

    def json(self) -> Any:
        """The body as JSON (``None`` for an empty body)."""
        return json.loads(self.body) if self.body else None

    @property
    def request_id(self) -> str | None:
        """Azure's request id (or correlation id), for error messages."""
        return self.headers.get("x-ms-request-id") or self.headers.get(
            "x-ms-correlation-request-id"
        )


@dataclass(frozen=True, slots=True)
class Target:
    """What a request was about, so errors can say which thing was missing or forbidden."""

    factory: FactoryRef
    pipeline_name: str | None = None
    run_id: str | None = None
    principal: str = "caller"
    """Who signed in, e.g. ``service principal <client id>``."""


_E = TypeVar("_E", bound=AdfRequestError)


def _answer_error(kind: type[_E], message: str, response: HttpResponse) -> _E:
    """An error about ``response``, with its HTTP status and Azure's request id."""
    return kind(message, status=response.status, request_id=response.request_id)


# --------------------------------------------------------------------------- Azure AD tokens


def build_token_request(settings: AdfSettings) -> HttpRequest:
    """Client-credentials grant on the v2 endpoint (``scope``) or the v1 one (``resource``)."""
    if settings.client_secret is None or settings.client_id is None:
        raise AdfConfigurationError(
            "client_secret", "is missing", "set the client id and secret value of the app"
        )
    if settings.tenant_id is None:  # AdfSettings.create requires it with a secret
        raise AdfConfigurationError("tenant_id", "is missing", "set the Directory (tenant) ID")
    tenant = quote(settings.tenant_id, safe="")
    form = {
        "grant_type": "client_credentials",
        "client_id": settings.client_id,
        "client_secret": settings.client_secret.reveal(),
    }
    if settings.token_api == "v1":
        path = f"/{tenant}/oauth2/token"
        form["resource"] = settings.cloud.resource
    else:
        path = f"/{tenant}/oauth2/v2.0/token"
        form["scope"] = settings.cloud.scope
    return HttpRequest(
        method="POST",
        url=settings.cloud.authority_host + path,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": _JSON},
        body=urlencode(form).encode(),
        operation="get an Azure AD token",
    )


def parse_token_response(
    response: HttpResponse, now: float, settings: AdfSettings | None = None
) -> AccessToken:
    """Read a v2 body (integers) or a v1 body (numbers as strings) into an AccessToken."""
    if response.status == 429 or response.status >= 500:
        # Azure AD is throttling or failing, not refusing: a wait may go on (transient).
        raise _answer_error(
            AdfThrottledError if response.status == 429 else AdfServiceError,
            f"Azure AD could not issue a token now (HTTP {response.status}); retries ran out",
            response,
        )
    if response.status != 200:
        raise token_error(response, settings)
    try:
        body = _json_object(response)
    except ValueError as error:
        message = f"Azure AD answered with an unreadable token response: {error}"
        raise _answer_error(AdfAuthenticationError, message, response) from None
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise AdfAuthenticationError(
            "Azure AD answered without an access token", status=response.status
        )
    check_token_text(token, "Azure AD")
    expires_at: float
    if body.get("expires_in") not in (None, ""):
        expires_at = now + _token_seconds(body["expires_in"], "expires_in", response)
    elif body.get("expires_on") not in (None, ""):
        expires_at = _token_seconds(body["expires_on"], "expires_on", response)
    else:
        expires_at = now + 3599.0
    return AccessToken(token=token, expires_at=expires_at)


def check_token_text(token: str, issuer: str) -> None:
    """A token goes into an HTTP header: refuse one with spaces or control characters.

    The error never quotes the token.
    """
    if not HEADER_SAFE_TOKEN.match(token):
        raise AdfAuthenticationError(
            f"{issuer} issued an access token with characters that cannot be sent in an HTTP "
            "header (spaces, line breaks or other control characters); it was not used. The "
            "token endpoint is broken or is not Azure AD: check authority_host"
        )


def _token_seconds(value: object, name: str, response: HttpResponse) -> float:
    try:
        number = float(value) if isinstance(value, int | float | str) else math.nan
    except ValueError:
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number):
        message = f"Azure AD answered with an unreadable token response: {name} is not a number"
        raise _answer_error(AdfAuthenticationError, message, response)
    return number


_AADSTS_ADVICE = {
    7000215: "Azure AD rejected the client secret (AADSTS7000215): check the connection holds "
    "the secret's value, not its secret ID, and that it belongs to this application",
    7000222: "the client secret has expired (AADSTS7000222): create a new secret for the app "
    "registration and put its value in the connection",
    700016: "application {client_id} was not found in the tenant (AADSTS700016): check the "
    "client ID and the tenant ID, and that the app is registered in that tenant",
    90002: "tenant {tenant} was not found (AADSTS90002): check the tenant ID",
    900023: "tenant {tenant} is not a valid tenant (AADSTS900023): check the tenant ID",
}


def token_error(
    response: HttpResponse, settings: AdfSettings | None = None
) -> AdfAuthenticationError:
    """Turn an Azure AD error body into one readable line, keeping the AADSTS code; the
    settings name the client and tenant in the advice."""
    try:
        body = _json_object(response)
    except ValueError:
        body = {}
    codes = body.get("error_codes") or []
    description = str(body.get("error_description") or "").splitlines()
    first_line = description[0].strip() if description else ""
    code = next((c for c in codes if isinstance(c, int)), None)
    if code is None and first_line.startswith("AADSTS"):
        digits = first_line[6:].split(":", 1)[0]
        code = int(digits) if digits.isdigit() else None
    advice = _AADSTS_ADVICE.get(code) if code is not None else None
    if advice:
        client_id = settings.client_id if settings else None
        tenant = settings.tenant_id if settings else None
        message = advice.format(client_id=client_id or "(client id)", tenant=tenant or "")
    elif first_line:
        message = f"Azure AD refused to issue a token: {cap_text(first_line)}"
    else:
        message = f"Azure AD refused to issue a token (HTTP {response.status})"
    if response.status == 404 and (settings is None or settings.token_api != "v1"):
        message += (
            ". A 404 from the token endpoint can mean the authority only serves the v1 "
            "endpoint: set token_api=v1 (connection extra), --token-api v1 or ADF_TOKEN_API=v1"
        )
    return AdfAuthenticationError(
        message,
        status=response.status,
        code=str(body.get("error") or "") or None,
        request_id=str(body.get("trace_id") or "") or response.request_id,
    )


# --------------------------------------------------------------------------- ADF REST


def factory_url(settings: AdfSettings) -> str:
    """The ARM URL of the factory, each path segment quoted."""
    ref = settings.factory
    group = ("resourceGroups", ref.resource_group)
    return _arm_url(settings, ref.subscription_id, *group, *_FACTORIES, ref.factory_name)


_FACTORIES = ("providers", "Microsoft.DataFactory", "factories")


def _arm_url(settings: AdfSettings, subscription_id: str, *segments: str) -> str:
    path = ("subscriptions", subscription_id, *segments)
    return settings.cloud.management_endpoint + "".join(f"/{quote(p, safe='')}" for p in path)


def _arm_request(
    method: str,
    url: str,
    operation: str,
    *,
    params: Mapping[str, str] | None = None,
    body: bytes | None = None,
    idempotent: bool = True,
) -> HttpRequest:
    """A request to Resource Manager: its API version, JSON accepted (and sent, with a body)."""
    query = {"api-version": API_VERSION, **(params or {})}
    headers = {"Accept": _JSON, **({"Content-Type": _JSON} if body is not None else {})}
    return HttpRequest(method, url, query, headers, body, idempotent, operation)


def build_get_factory(settings: AdfSettings) -> HttpRequest:
    """``GET`` the factory itself: the cheapest authenticated check that everything is right."""
    return _arm_request("GET", factory_url(settings), "read the factory")


def build_list_factories(settings: AdfSettings) -> HttpRequest:
    """``GET`` the subscription's data factories (Factories_List): the check of a connection
    that names no factory, as it needs only the subscription."""
    url = _arm_url(settings, settings.subscription_id, *_FACTORIES)
    return _arm_request("GET", url, "list the subscription's data factories")


def build_get_pipeline(settings: AdfSettings, pipeline_name: str) -> HttpRequest:
    """``GET .../pipelines/{name}``: proves the pipeline is published, starts nothing."""
    pipeline = check_pipeline(pipeline_name)
    url = f"{factory_url(settings)}/pipelines/{quote(pipeline, safe='')}"
    return _arm_request("GET", url, "read the pipeline")


def parse_factory(response: HttpResponse, target: Target) -> dict[str, Any]:
    """The body of an ARM resource read (factory, pipeline), or the error it means."""
    if response.status != 200:
        raise arm_error(response, target, "read")
    return _json_object(response)


class RerunOptions(TypedDict, total=False):
    """createRun's query options for reruns, taken as keyword arguments by every layer."""

    reference_pipeline_run_id: str | None
    """The run to rerun."""
    is_recovery: bool | None
    """Recovery mode: the rerun joins the reference run's group."""
    start_activity_name: str | None
    """Rerun from this activity."""
    start_from_failure: bool | None
    """Rerun from the activities that failed."""


def build_create_run(
    settings: AdfSettings,
    pipeline_name: str,
    parameters: Mapping[str, Any] | None = None,
    **options: Unpack[RerunOptions],
) -> HttpRequest:
    """``POST .../pipelines/{name}/createRun``; no body when there are no parameters."""
    pipeline = check_pipeline(pipeline_name)
    unknown = set(options) - RerunOptions.__optional_keys__
    if unknown:
        raise TypeError(f"unknown create-run option(s): {', '.join(sorted(unknown))}")
    params: dict[str, str] = {}
    if reference := options.get("reference_pipeline_run_id"):
        params["referencePipelineRunId"] = check_run_id(reference, "reference_pipeline_run_id")
    if (is_recovery := options.get("is_recovery")) is not None:
        params["isRecovery"] = _bool(is_recovery)
    if start_activity_name := options.get("start_activity_name"):
        params["startActivityName"] = start_activity_name
    if (start_from_failure := options.get("start_from_failure")) is not None:
        params["startFromFailure"] = _bool(start_from_failure)
    body: bytes | None = None
    if parameters:
        if not isinstance(parameters, Mapping):
            raise AdfConfigurationError(
                "parameters",
                f"must be a mapping of parameter names to values, not {type(parameters).__name__}",
                "pass a dict such as {'date': '2026-01-31'}",
            )
        try:
            body = json.dumps(dict(parameters), allow_nan=False).encode()
        except (TypeError, ValueError) as error:
            raise AdfConfigurationError(
                "parameters",
                f"cannot be sent as JSON ({error})",
                "use only strings, numbers, booleans, lists, dicts and None as values",
            ) from None
    return _arm_request(
        "POST",
        f"{factory_url(settings)}/pipelines/{quote(pipeline, safe='')}/createRun",
        "create run",
        params=params,
        body=body,
        idempotent=False,
    )


def parse_create_run(response: HttpResponse, target: Target) -> str:
    """The new run's id; an answer that cannot be read leaves the outcome unknown.

    A 2xx whose body is not ``{"runId": "<guid>"}`` (an HTML page from a proxy, truncated
    JSON, an odd shape) may still mean ADF started the run, so it is
    :class:`AdfRunOutcomeUnknownError`, never a plain parse error.
    """
    if response.status not in (200, 201, 202):
        raise arm_error(response, target, "create a run of")
    try:
        run_id = _json_object(response).get("runId")
    except ValueError as error:
        problem = f"with {error}"
    else:
        if not isinstance(run_id, str) or not run_id:
            problem = "without a runId"
        elif _RUN_ID.match(run_id):
            return run_id.lower()
        else:
            problem = "with a runId that is not a GUID"
    cause = f"HTTP {response.status} {problem}"
    subject = target.pipeline_name or "(unknown pipeline)"
    raise outcome_unknown(subject, response.sent_at, response.received_at, cause)


_RUN_ID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def outcome_unknown(
    subject: str, sent_at: float, gave_up_at: float, cause: str
) -> AdfRunOutcomeUnknownError:
    """The error of a create-run that may have started a run, between two readings of the
    client's clock (seconds since the epoch)."""
    return AdfRunOutcomeUnknownError(
        subject,
        datetime.fromtimestamp(sent_at, UTC),
        datetime.fromtimestamp(gave_up_at, UTC),
        cause,
    )


def _run_url(settings: AdfSettings, run_id: str) -> str:
    return f"{factory_url(settings)}/pipelineruns/{quote(check_run_id(run_id), safe='')}"


def build_get_run(settings: AdfSettings, run_id: str) -> HttpRequest:
    """``GET .../pipelineruns/{runId}``; the run id must be a GUID."""
    return _arm_request("GET", _run_url(settings, run_id), "get run")


def parse_run(response: HttpResponse, target: Target) -> PipelineRun:
    """The run of a get-run answer, or the error it means."""
    if response.status != 200:
        raise arm_error(response, target, "read")
    try:
        return PipelineRun.from_json(_json_object(response))
    except (KeyError, ValueError, TypeError) as error:
        message = f"ADF returned a pipeline run this client cannot read: {error}"
        raise _answer_error(AdfServiceError, message, response) from None


def build_cancel_run(settings: AdfSettings, run_id: str, *, is_recursive: bool) -> HttpRequest:
    """``POST .../pipelineruns/{runId}/cancel``; recursive by default so child pipelines stop."""
    return _arm_request(
        "POST",
        f"{_run_url(settings, run_id)}/cancel",
        "cancel run",
        params={"isRecursive": _bool(is_recursive)},
    )


_FINISHED_STATUS = re.compile(r"status\s+'([A-Za-z]+)'")


def parse_cancel(response: HttpResponse, target: Target) -> CancelResult:
    """200 means the cancel was accepted; ``PipelineRunNotRunning`` means the run had ended."""
    run_id = target.run_id or ""
    if response.status == 200:
        return CancelResult(run_id=run_id, cancel_requested=True)
    error = arm_error(response, target, "cancel")
    if 400 <= response.status < 500 and error.code == "PipelineRunNotRunning":
        status = None
        if match := _FINISHED_STATUS.search(error.message):
            with suppress(ValueError):  # a status this client does not know
                status = RunStatus.parse(match.group(1))
        return CancelResult(run_id=run_id, cancel_requested=False, finished_status=status)
    raise error


def build_query_pipeline_runs(
    settings: AdfSettings, query: RunQuery, continuation_token: str | None = None
) -> HttpRequest:
    """``POST .../queryPipelineRuns``: a read, so it may be retried."""
    url = f"{factory_url(settings)}/queryPipelineRuns"
    body = _query_body(query, continuation_token)
    return _arm_request("POST", url, "query pipeline runs", body=body)


def build_query_activity_runs(
    settings: AdfSettings, run_id: str, query: RunQuery, continuation_token: str | None = None
) -> HttpRequest:
    """``POST .../pipelineruns/{runId}/queryActivityruns``: a read, so it may be retried."""
    run = quote(check_run_id(run_id), safe="")  # the run id is checked before the factory
    url = f"{factory_url(settings)}/pipelineruns/{run}/queryActivityruns"
    body = _query_body(query, continuation_token)
    return _arm_request("POST", url, "query activity runs", body=body)


def server_time(response: HttpResponse) -> datetime | None:
    """The server's clock from the ``Date`` header, if it sent a readable one."""
    value = response.headers.get("date")
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_pipeline_run_page(response: HttpResponse, target: Target) -> Page:
    """One page of a queryPipelineRuns answer.

    A run this client cannot read (a status it does not know, a malformed field) is left out
    of ``value`` and named in ``unreadable``: one run never fails its page (ADF's prose also
    spells statuses it does not document, e.g. "Canceled")."""
    page = _parse_page(response, target, "query the runs of", _tolerant_run)
    runs = tuple(item for item in page.value if isinstance(item, PipelineRun))
    unreadable = tuple(item for item in page.value if isinstance(item, UnreadableRun))
    return Page(runs, page.continuation_token, unreadable)


def _tolerant_run(item: Any) -> PipelineRun | UnreadableRun:
    try:
        return PipelineRun.from_json(item)
    except (KeyError, ValueError, TypeError, AttributeError) as error:
        run_id = item.get("runId") if isinstance(item, Mapping) else None
        reason = f"missing field {error}" if isinstance(error, KeyError) else str(error)
        return UnreadableRun(run_id if isinstance(run_id, str) else None, reason)


def parse_activity_run_page(response: HttpResponse, target: Target) -> Page:
    """One page of a queryActivityruns answer."""
    return _parse_page(response, target, "query the activity runs of", ActivityRun.from_json)


def _parse_page(
    response: HttpResponse, target: Target, action: str, parse: Callable[[Any], Any]
) -> Page:
    if response.status != 200:
        raise arm_error(response, target, action)
    try:
        body = _json_object(response)
        items = tuple(parse(item) for item in body.get("value") or [])
    except (KeyError, ValueError, TypeError) as error:
        message = f"ADF returned a query page this client cannot read: {error}"
        raise _answer_error(AdfServiceError, message, response) from None
    token = body.get("continuationToken")
    return Page(value=items, continuation_token=str(token) if token else None)


def _query_body(query: RunQuery, continuation_token: str | None) -> bytes:
    if query.last_updated_after >= query.last_updated_before:
        raise AdfConfigurationError(
            "last_updated_after",
            "is not before last_updated_before",
            "give a window that starts before it ends",
        )
    for item in query.filters:
        if item.operator not in _FILTER_OPERATORS:
            raise AdfConfigurationError(
                "filters",
                f"operator {item.operator!r} is not one ADF knows",
                f"use one of {', '.join(_FILTER_OPERATORS)}",
            )
    for _, order in query.order_by:
        if order not in ("ASC", "DESC"):
            raise AdfConfigurationError(
                "order_by", f"order {order!r} is unknown", "use ASC or DESC"
            )
    body: dict[str, Any] = {
        "lastUpdatedAfter": _iso(query.last_updated_after),
        "lastUpdatedBefore": _iso(query.last_updated_before),
    }
    if continuation_token:
        body["continuationToken"] = continuation_token
    if query.filters:
        body["filters"] = [
            {"operand": f.operand, "operator": f.operator, "values": list(f.values)}
            for f in query.filters
        ]
    if query.order_by:
        body["orderBy"] = [{"orderBy": field, "order": order} for field, order in query.order_by]
    return json.dumps(body).encode()


_FILTER_OPERATORS = ("Equals", "NotEquals", "In", "NotIn")


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def arm_error(response: HttpResponse, target: Target, action: str) -> AdfRequestError:
    """Turn an ARM error body into the exception a user can act on."""
    try:
        body = _json_object(response)
    except ValueError:
        body = {}
    nested = body.get("error")
    error: Mapping[str, Any] = nested if isinstance(nested, Mapping) else body
    code = str(error.get("code") or "") or None
    azure_message = cap_text(str(error.get("message") or "").strip())
    status = response.status
    factory = target.factory
    thing = (
        f"pipeline {target.pipeline_name!r}"
        if target.pipeline_name
        else f"run {target.run_id}"
        if target.run_id
        else f"factory {factory.factory_name!r}"
    )
    said = f" Azure said: {azure_message}" if azure_message else ""
    kwargs: dict[str, Any] = {"status": status, "code": code, "request_id": response.request_id}
    if status == 404:
        return AdfNotFoundError(_not_found_message(code, target, thing) + said, **kwargs)
    if status == 429:
        kwargs["retry_after"] = retry_after_seconds(response.headers)
    kind, text = _ARM_ERRORS.get(min(status, 500), (AdfRequestError, "Azure refused to {act}."))
    act = f"{action} {thing}"
    return kind(text.format(act=act, who=target.principal, at=factory.resource_id) + said, **kwargs)


_ARM_ERRORS: dict[int, tuple[type[AdfRequestError], str]] = {
    400: (AdfBadRequestError, "ADF rejected the request to {act}."),
    401: (AdfAuthenticationError, "Azure Resource Manager refused the access token."),
    403: (
        AdfAuthorizationError,
        "The {who} may not {act}: grant it the 'Data Factory Contributor' role on {at} (or on "
        "its resource group).",
    ),
    409: (AdfConflictError, "ADF could not {act} now."),
    429: (AdfThrottledError, "Azure throttled the request to {act}; retries ran out."),
    500: (AdfServiceError, "Azure failed to {act} (a service error on Azure's side)."),
}
"""The error and message of each ARM status (500: every 5xx; else :class:`AdfRequestError`)."""


def _not_found_message(code: str | None, target: Target, thing: str) -> str:
    factory = target.factory
    if code == "SubscriptionNotFound":
        return (
            f"Subscription {factory.subscription_id} was not found, or the service principal "
            "has no access to it: check subscription_id."
        )
    if code == "ResourceGroupNotFound":
        return (
            f"Resource group {factory.resource_group!r} was not found in subscription "
            f"{factory.subscription_id}: check resource_group."
        )
    if code in ("ResourceNotFound", "FactoryNotFound") and not (
        target.pipeline_name or target.run_id
    ):
        return (
            f"Data factory {factory.factory_name!r} was not found in resource group "
            f"{factory.resource_group!r}: check factory_name."
        )
    if target.pipeline_name:
        return (
            f"Pipeline {target.pipeline_name!r} was not found in data factory "
            f"{factory.factory_name!r} (or the factory itself is missing): check the "
            "pipeline name and factory_name, and that the pipeline is published."
        )
    if target.run_id:
        return (
            f"Run {target.run_id} was not found in data factory {factory.factory_name!r}: "
            "check the run id and that it belongs to this factory."
        )
    return f"{thing} was not found."


# --------------------------------------------------------------------------- retries


@dataclass(frozen=True, slots=True)
class TransportFailure:
    """A request that got no (complete) HTTP answer, as a transport describes it.

    Transports describe the failure in their own words and never pass on the HTTP library's
    exception, whose text may quote request headers (the bearer token).
    """

    description: str
    never_sent: bool
    """True only when the request provably never reached the server."""
    fatal: bool = False
    """True when trying again cannot help (e.g. a TLS certificate problem)."""


def should_retry_status(request: HttpRequest, status: int) -> bool:
    """Reads retry on throttling and 5xx; a create-run only on a 429, sent before processing."""
    if request.idempotent:
        return status in RETRYABLE_STATUSES
    return status == 429


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Azure's wait hint: ``retry-after-ms``, ``x-ms-retry-after-ms``, then ``Retry-After``."""
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        if (value := lowered.get(name)) is not None:
            with suppress(ValueError):
                return max(0.0, float(value) / 1000.0)
    if (value := lowered.get("retry-after")) is None:
        return None
    with suppress(ValueError):
        return max(0.0, float(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if now is None:
        now = time.time()
    return max(0.0, when.timestamp() - now)


def backoff_delay(
    policy: RetryPolicy, attempt: int, hint: float | None, rng: random.Random
) -> float:
    """Delay before retry ``attempt`` (1-based): Azure's hint if given, else jittered backoff."""
    if hint is not None:
        return hint
    ceiling = min(policy.backoff_max, policy.backoff_base * (2 ** (attempt - 1)))
    return rng.uniform(ceiling / 2, ceiling)


def _bool(value: bool) -> str:
    return "true" if value else "false"


MESSAGE_CAP = 2000
"""Characters of an Azure error message kept in an exception; the rest is cut, with a note."""


def cap_text(text: str, limit: int = MESSAGE_CAP) -> str:
    """Keep a message readable in a log: at most ``limit`` characters, saying what was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters cut)"


def _json_object(response: HttpResponse) -> dict[str, Any]:
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"response body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise ValueError("response body is not a JSON object")
    return body
