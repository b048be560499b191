"""The ADF REST API (api-version 2018-06-01) under Azure Resource Manager's factory path.

Every behaviour names its public source in a "Source:" note, or says it is a guess; the
table of all of them is docs/emulator-fidelity.md.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, replace
from typing import Any

from airflow_adf_trigger.emulator.queries import (
    ACTIVITY_RUNS,
    PIPELINE_RUNS,
    parse_query,
    run_query,
)
from airflow_adf_trigger.emulator.runs import CANCELLABLE, TERMINAL, EmulatedRun
from airflow_adf_trigger.emulator.scenario import PipelineSpec
from airflow_adf_trigger.emulator.state import READS, WRITES, EmulatorState
from airflow_adf_trigger.emulator.wire import (
    BadRequest,
    Request,
    Response,
    arm_error,
    parse_bool,
    timestamp,
)

log = logging.getLogger("airflow_adf_trigger.emulator")

API_VERSION = "2018-06-01"
_PROVIDER = ("providers", "microsoft.datafactory", "factories")
_RUN_ID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


@dataclass(frozen=True, slots=True)
class ArmCall:
    """Which ADF operation a request asks for, read from its method and path alone."""

    operation: str | None
    pipeline: str | None = None
    run_id: str | None = None


_OPERATIONS = {
    ("GET", ()): "get factory",
    ("GET", ("pipelines", "*")): "get pipeline",
    ("POST", ("pipelines", "*", "createrun")): "create run",
    ("POST", ("querypipelineruns",)): "query pipeline runs",
    ("GET", ("pipelineruns", "*")): "get run",
    ("POST", ("pipelineruns", "*", "cancel")): "cancel run",
    ("POST", ("pipelineruns", "*", "queryactivityruns")): "query activity runs",
}
"""(method, the lower-cased path after the factory, ``*`` for a name) -> the operation."""


def classify(request: Request) -> ArmCall:
    """Name the operation of a ``/subscriptions/...`` request (None when there is no such)."""
    if len(request.segments) < 8:
        return ArmCall(None)
    raw = request.segments[8:]
    shape = tuple("*" if i == 1 else s.lower() for i, s in enumerate(raw))
    operation = _OPERATIONS.get((request.method, shape))
    name = raw[1] if operation is not None and len(raw) > 1 else None
    if shape[:1] == ("pipelines",):
        return ArmCall(operation, pipeline=name)
    return ArmCall(operation, run_id=name)


def handle(state: EmulatorState, request: Request) -> Response:
    """Authenticate, check api-version and the factory path, then run the operation.

    An authenticated answer carries ARM's remaining request budget: Source: every
    2018-06-01 example file (``x-ms-ratelimit-remaining-subscription-reads`` on GET and the
    query POSTs, ``-writes`` on createRun and cancel).
    """
    refusal = _authorize(state, request)
    if refusal is not None:
        return refusal
    call = classify(request)
    if call.operation is None:
        return _check_factory(state, request) or _no_route(request)
    header = WRITES if call.operation in ("create run", "cancel run") else READS
    with state.lock:
        remaining, wait = state.rate_limits.take(header, state.clock())
    if wait is not None:
        # Throttled before any processing (the token-bucket model only; wording a guess).
        seconds = str(max(1, math.ceil(wait)))
        kind = "read" if header == READS else "write"
        return arm_error(
            429,
            "TooManyRequests",
            f"The request is being throttled as the limit has been reached for operation "
            f"type {kind}. Retry after {seconds} seconds.",
            **remaining,
            **{"Retry-After": seconds},
        )
    response = _check_factory(state, request) or _operate(state, request, call)
    return replace(response, headers={**response.headers, **remaining})


def _operate(state: EmulatorState, request: Request, call: ArmCall) -> Response:
    try:
        if call.operation == "get factory":
            return Response(200, _factory_json(state))
        if call.operation == "query pipeline runs":
            return _query_runs(state, request, None)
        if call.pipeline is not None:  # get pipeline or create run
            spec = state.scenario.pipelines.get(call.pipeline)
            if spec is None:
                # Source: the code is the one the azure-facts list gives (a 404
                # PipelineNotFound); the wording is a guess.
                return arm_error(
                    404,
                    "PipelineNotFound",
                    f"Pipeline '{call.pipeline}' was not found in factory "
                    f"'{state.scenario.factory_name}'.",
                )
            if call.operation == "get pipeline":
                return _get_pipeline(state, spec)
            return _create_run(state, spec, request)
        with state.lock:  # get run, cancel run or query activity runs: call.run_id is set
            run = state.runs.get((call.run_id or "").lower())
        if run is None:  # a guess: the code name of an unknown run is not documented
            return arm_error(
                404, "PipelineRunNotFound", f"Pipeline run '{call.run_id}' was not found."
            )
        if call.operation == "get run":
            with state.lock:
                return Response(200, state.run_json(run, state.clock()))
        if call.operation == "cancel run":
            return _cancel_run(state, run, request)
        return _query_runs(state, request, run)
    except BadRequest as error:
        return arm_error(400, error.code, error.message, error.target)


def _no_route(request: Request) -> Response:
    if request.method not in ("GET", "POST"):
        # Source: ARM's answer to a method a resource does not serve (azure-powershell
        # issue 9709 log: 405, code MethodNotAllowed). The wording for ADF is inferred.
        return arm_error(
            405,
            "MethodNotAllowed",
            f"The HTTP method '{request.method}' is not supported on the resource "
            f"'/{'/'.join(request.segments)}'.",
        )
    rest = "/".join(request.segments[8:])
    return arm_error(404, "NotFound", f"No route for {request.method} {rest}")


# ---------------------------------------------------------------------- operations


def _create_run(state: EmulatorState, spec: PipelineSpec, request: Request) -> Response:
    """Start a run, or a rerun of ``referencePipelineRunId``.

    A rerun keeps the reference run's parameters and ignores (and does not check) the body.
    Source: datafactory.json Pipelines_CreateRun, ``parameters``: "used only if the runId is
    not specified". Recovery joins the reference run's group (isLatest moves to the rerun):
    Source: datafactory.json ``isRecovery``; the group bookkeeping is inferred.
    """
    pipeline = spec.name
    query = request.query
    reference_id = query.get("referencePipelineRunId") or None
    parameters = _body(request)
    if spec.parameters is not None and reference_id is None:
        unknown = sorted(set(parameters) - set(spec.parameters))
        if unknown:
            # A guess: ADF refuses undeclared parameters with a 400; the wording is ours.
            raise BadRequest(
                f"The parameters {', '.join(unknown)} are not defined in pipeline '{pipeline}'."
            )
    is_recovery = parse_bool(query, "isRecovery")
    start_from_failure = parse_bool(query, "startFromFailure")
    start_activity = query.get("startActivityName") or None
    if is_recovery and reference_id is None:
        # A guess: no public source shows ADF's answer to isRecovery without a reference.
        raise BadRequest(
            "Recovery mode (isRecovery=true) needs a referencePipelineRunId.",
            "referencePipelineRunId",
        )
    activity_names = [activity.name for activity, _ in spec.activity_plan()]
    if is_recovery and start_activity is not None and start_activity not in activity_names:
        # A guess, as above.
        raise BadRequest(
            f"The start activity '{start_activity}' was not found in pipeline '{pipeline}'.",
            "startActivityName",
        )
    with state.lock:
        now = state.clock()
        reference = None if reference_id is None else _reference_run(state, pipeline, reference_id)
        recovered = reference if is_recovery else None  # never None when is_recovery (above)
        start_at = None
        if recovered is not None:
            failed = recovered.failed_activity_name(now) if start_from_failure else None
            start_at = start_activity or failed
        run = state.start_run(
            spec,
            parameters if reference is None else reference.parameters,
            now,
            start_activity=start_at,
            run_group_id=None if recovered is None else recovered.run_group_id,
        )
    log.debug("created run %s of pipeline %s (outcome %s)", run.run_id, pipeline, run.plan.outcome)
    return Response(200, {"runId": run.run_id})


def _reference_run(state: EmulatorState, pipeline: str, reference_id: str) -> EmulatedRun:
    """The run a rerun refers to (the caller holds the lock); BadRequest when there is none.

    Source: MicrosoftDocs/azure-docs issue 38179 (code ReferencedPipelineRunNotValid, its
    message, target ``pipeline/{name}/``; the id there was not even a GUID). The 400 status
    is inferred (the SDK's CloudError shows no status). A run of another pipeline gets the
    same answer: a guess.
    """
    reference = state.runs.get(reference_id.lower()) if _RUN_ID.match(reference_id) else None
    if reference is None or reference.pipeline_name != pipeline:
        raise BadRequest(
            f"Referenced pipeline run id {reference_id} is not a valid run id.",
            f"pipeline/{pipeline}/",
            code="ReferencedPipelineRunNotValid",
        )
    return reference


def _cancel_run(state: EmulatorState, run: EmulatedRun, request: Request) -> Response:
    """Cancel a Queued or InProgress run: 200 with an empty body [PipelineRuns_Cancel.json].

    Cancel of a finished run: no public source gives ADF's answer. With the scenario's
    ``cancel_finished`` at ``error`` (the default) the emulator answers 400
    PipelineRunNotRunning, as an Airflow issue's log shows (Source: apache/airflow PR 56350);
    at ``ok`` a plain 200, as for a running run. A Canceling run accepts it again: a guess.
    """
    recursive = parse_bool(request.query, "isRecursive")
    with state.lock:
        now = state.clock()
        status = run.status_at(now)
        if status in TERMINAL and state.scenario.cancel_finished == "error":
            return arm_error(
                400,
                "PipelineRunNotRunning",
                f"Pipeline run has already completed with status '{status}'.Only pipeline runs "
                "that are in progress or queued can be canceled.",
            )
        if status in CANCELLABLE:
            run.cancel_at = now
            run.cancelled_recursive = recursive
    return Response(200)


def _query_runs(state: EmulatorState, request: Request, run: EmulatedRun | None) -> Response:
    """queryPipelineRuns, or (given ``run``) queryActivityruns of that run."""
    kind = PIPELINE_RUNS if run is None else ACTIVITY_RUNS
    scope = "pipelineRuns" if run is None else f"activityRuns/{run.run_id}"
    query = parse_query(_body(request), kind, scope)
    with state.lock:
        if run is not None:
            records = [(a.last_updated, a.body) for a in run.activity_runs(state.clock())]
        else:
            # Monitoring lag (a guess: no public source bounds it): the query answers from
            # the runs as they were `monitoring_lag_seconds` ago; a run created since is not
            # there yet. Get-run reads the run itself and shows it now.
            seen = state.clock() - state.settings.monitoring_lag_seconds
            records = [
                (r.last_updated_at(seen), state.run_json(r, seen))
                for r in state.runs.values()
                if r.created_at <= seen
            ]
        page_size = state.settings.page_size
    return Response(200, run_query(records, query, kind, page_size))


# ---------------------------------------------------------------------- checks


def _authorize(state: EmulatorState, request: Request) -> Response | None:
    """401 for a missing, unknown or expired bearer token.

    Inferred: the codes are ARM's well-known ones (AuthenticationFailed,
    InvalidAuthenticationToken, ExpiredAuthenticationToken, quoted in many public issue
    logs); the emulator checks its own tokens, not JWT signatures.
    """
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return arm_error(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        )
    with state.lock:
        entry = state.tokens.get(token)
        now = state.clock()
    if entry is None:
        return arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.")
    if now >= entry[1]:
        return arm_error(
            401,
            "ExpiredAuthenticationToken",
            "The access token expiry UTC time is earlier than current UTC time.",
        )
    return None


def _check_factory(state: EmulatorState, request: Request) -> Response | None:
    """api-version, subscription, resource group and factory, in ARM's order.

    Source for the 404 codes: the azure-facts list (SubscriptionNotFound,
    ResourceGroupNotFound, ResourceNotFound); InvalidApiVersionParameter and every wording
    here are inferred from ARM's public error logs.
    """
    api_version = request.query.get("api-version", "")
    if api_version != API_VERSION:
        return arm_error(
            400,
            "InvalidApiVersionParameter",
            f"The api-version '{api_version}' is invalid. "
            f"The supported version is '{API_VERSION}'.",
        )
    scenario = state.scenario
    s = (*request.segments, *[""] * 8)  # a missing segment reads as ""
    if s[1].lower() != scenario.subscription_id:
        return arm_error(
            404, "SubscriptionNotFound", f"The subscription '{s[1]}' could not be found."
        )
    # ``resourcegroups`` works as well as ``resourceGroups``: inferred from ARM treating
    # resource ids case-insensitively (learn.microsoft.com, "Naming rules and restrictions
    # for Azure resources": names are case-insensitive) and from lower-cased ids in the wild.
    if s[2].lower() != "resourcegroups" or s[3].lower() != scenario.resource_group.lower():
        return arm_error(
            404, "ResourceGroupNotFound", f"Resource group '{s[3]}' could not be found."
        )
    if tuple(x.lower() for x in s[4:8]) != (*_PROVIDER, scenario.factory_name.lower()):
        return arm_error(
            404,
            "ResourceNotFound",
            f"The Resource 'Microsoft.DataFactory/factories/{s[7]}' under resource group "
            f"'{s[3]}' was not found.",
        )
    return None


def _body(request: Request) -> dict[str, Any]:
    """The body as a JSON object (an empty body is ``{}``), or BadRequest."""
    try:
        value = request.json_body()
    except ValueError:
        raise BadRequest("The request body is not valid JSON.") from None
    if value is not None and not isinstance(value, dict):
        raise BadRequest("The request body must be a JSON object.")
    return value or {}


def _get_pipeline(state: EmulatorState, spec: PipelineSpec) -> Response:
    """The pipeline resource. Source: Pipelines_Get.json (id, name, type, etag, properties
    with activities and parameters); the activities' type properties are left out (a guess
    that no reader of ours needs them). An unknown pipeline gets the 404 of create-run."""
    return Response(
        200,
        {
            "id": f"{state.scenario.factory_id}/pipelines/{spec.name}",
            "name": spec.name,
            "type": "Microsoft.DataFactory/factories/pipelines",
            "properties": {
                "activities": [
                    {"name": activity.name, "type": activity.type, "dependsOn": []}
                    for activity, _seconds in spec.activity_plan()
                ],
                "parameters": {name: {"type": "String"} for name in spec.parameters or ()},
            },
            "etag": f'"{state.factory_etag}"',
        },
    )


def _factory_json(state: EmulatorState) -> dict[str, Any]:
    """The Factory body. Source: Factories_Get.json (eTag, properties.createTime, tags) and
    the REST quickstart's real output (identity with principalId and tenantId)."""
    s = state.scenario
    return {
        "name": s.factory_name,
        "identity": {
            "type": "SystemAssigned",
            "principalId": state.factory_principal_id,
            "tenantId": s.tenant_id,
        },
        "id": s.factory_id,
        "type": "Microsoft.DataFactory/factories",
        "properties": {
            "provisioningState": "Succeeded",
            "createTime": timestamp(state.wall_origin),
            "version": "2018-06-01",
        },
        "eTag": f'"{state.factory_etag}"',
        "location": "westeurope",
        "tags": {},
    }
