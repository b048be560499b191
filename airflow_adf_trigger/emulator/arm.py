"""The ADF REST API (api-version 2018-06-01) under Azure Resource Manager's factory path."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from airflow_adf_trigger.emulator.queries import (
    ACTIVITY_RUNS,
    PIPELINE_RUNS,
    parse_query,
    run_query,
)
from airflow_adf_trigger.emulator.runs import CANCELLABLE, TERMINAL, EmulatedRun, plan_run
from airflow_adf_trigger.emulator.state import EmulatorState
from airflow_adf_trigger.emulator.wire import (
    BadRequest,
    Request,
    Response,
    arm_error,
    json_object,
    parse_bool,
)

log = logging.getLogger("airflow_adf_trigger.emulator")

API_VERSION = "2018-06-01"
_PROVIDER = ("providers", "microsoft.datafactory", "factories")


@dataclass(frozen=True, slots=True)
class ArmCall:
    """Which ADF operation a request asks for, read from its method and path alone."""

    operation: str | None
    pipeline: str | None = None
    run_id: str | None = None


def classify(request: Request) -> ArmCall:
    """Name the operation of a ``/subscriptions/...`` request (None when there is no such)."""
    rest = tuple(s.lower() for s in request.segments[8:])
    if len(request.segments) < 8:
        return ArmCall(None)
    raw = request.segments[8:]
    method = request.method
    if method == "GET" and not rest:
        return ArmCall("get factory")
    if method == "POST" and len(rest) == 3 and rest[0] == "pipelines" and rest[2] == "createrun":
        return ArmCall("create run", pipeline=raw[1])
    if method == "POST" and rest == ("querypipelineruns",):
        return ArmCall("query pipeline runs")
    if len(rest) >= 2 and rest[0] == "pipelineruns":
        if method == "GET" and len(rest) == 2:
            return ArmCall("get run", run_id=raw[1])
        if method == "POST" and len(rest) == 3 and rest[2] == "cancel":
            return ArmCall("cancel run", run_id=raw[1])
        if method == "POST" and len(rest) == 3 and rest[2] == "queryactivityruns":
            return ArmCall("query activity runs", run_id=raw[1])
    return ArmCall(None)


def handle(state: EmulatorState, request: Request) -> Response:
    """Authenticate, check api-version and the factory path, then run the operation."""
    refusal = _authorize(state, request) or _check_factory(state, request)
    if refusal is not None:
        return refusal
    call = classify(request)
    try:
        if call.operation == "get factory":
            return Response(200, _factory_json(state))
        if call.operation == "create run" and call.pipeline is not None:
            return _create_run(state, call.pipeline, request)
        if call.run_id is not None:
            with state.lock:
                run = state.runs.get(call.run_id.lower())
            if run is None:
                return arm_error(
                    404, "PipelineRunNotFound", f"Pipeline run '{call.run_id}' was not found."
                )
            if call.operation == "get run":
                with state.lock:
                    return Response(200, run.to_json(state.clock(), state.is_latest(run)))
            if call.operation == "cancel run":
                return _cancel_run(state, run, request)
            if call.operation == "query activity runs":
                return _query_activity_runs(state, run, request)
        if call.operation == "query pipeline runs":
            return _query_pipeline_runs(state, request)
    except BadRequest as error:
        return arm_error(400, error.code, error.message, error.target)
    rest = "/".join(request.segments[8:])
    return arm_error(404, "NotFound", f"No route for {request.method} {rest}")


# ---------------------------------------------------------------------- operations


def _create_run(state: EmulatorState, pipeline: str, request: Request) -> Response:
    scenario = state.scenario
    spec = scenario.pipelines.get(pipeline)
    if spec is None:
        return arm_error(
            404,
            "PipelineNotFound",
            f"Pipeline '{pipeline}' was not found in factory '{scenario.factory_name}'.",
        )
    parameters = _body(request)
    if spec.parameters is not None:
        unknown = sorted(set(parameters) - set(spec.parameters))
        if unknown:
            raise BadRequest(
                f"The parameters {', '.join(unknown)} are not defined in pipeline '{pipeline}'."
            )
    query = request.query
    reference_id = query.get("referencePipelineRunId") or None
    is_recovery = parse_bool(query, "isRecovery")
    start_from_failure = parse_bool(query, "startFromFailure")
    start_activity = query.get("startActivityName") or None
    if is_recovery and reference_id is None:
        raise BadRequest(
            "Recovery mode (isRecovery=true) needs a referencePipelineRunId.",
            "referencePipelineRunId",
        )
    activity_names = [activity.name for activity, _ in spec.activity_plan()]
    if is_recovery and start_activity is not None and start_activity not in activity_names:
        raise BadRequest(
            f"The start activity '{start_activity}' was not found in pipeline '{pipeline}'.",
            "startActivityName",
        )
    run_id = str(uuid.uuid4())
    with state.lock:
        now = state.clock()
        reference = None
        if reference_id is not None:
            reference = state.runs.get(reference_id.lower())
            if reference is None:
                raise BadRequest(
                    f"The reference pipeline run id '{reference_id}' was not found.",
                    "referencePipelineRunId",
                )
            if reference.pipeline_name != pipeline:
                raise BadRequest(
                    f"The reference pipeline run '{reference_id}' is a run of pipeline "
                    f"'{reference.pipeline_name}', not of '{pipeline}'.",
                    "referencePipelineRunId",
                )
        start_at = None
        if is_recovery and reference is not None:
            if start_activity is not None:
                start_at = start_activity
            elif start_from_failure:
                start_at = reference.failed_activity_name(now)
        ordinal = state.runs_by_pipeline[pipeline]
        plan = plan_run(
            spec,
            spec.outcome_for(ordinal),
            [str(uuid.uuid4()) for _ in activity_names],
            start_at,
        )
        run = EmulatedRun(
            run_id=run_id,
            spec=spec,
            parameters={
                **(reference.parameters if reference is not None else {}),
                **{k: _as_parameter_string(v) for k, v in parameters.items()},
            },
            created_wall=state.wall(now),
            created_at=now,
            run_group_id=(
                reference.run_group_id if is_recovery and reference is not None else run_id
            ),
            plan=plan,
            ordinal=ordinal,
            invoked_by_id=uuid.uuid4().hex,
            reference_run_id=None if reference is None else reference.run_id,
        )
        state.add_run(run)
    log.debug("created run %s of pipeline %s (outcome %s)", run_id, pipeline, plan.outcome)
    return Response(200, {"runId": run_id})


def _cancel_run(state: EmulatorState, run: EmulatedRun, request: Request) -> Response:
    recursive = parse_bool(request.query, "isRecursive")
    with state.lock:
        now = state.clock()
        status = run.status_at(now)
        if status in TERMINAL:
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


def _query_pipeline_runs(state: EmulatorState, request: Request) -> Response:
    query = parse_query(_body(request), PIPELINE_RUNS, "pipelineRuns")
    with state.lock:
        now = state.clock()
        records = [
            (run.last_updated_at(now), run.to_json(now, state.is_latest(run)))
            for run in state.runs.values()
        ]
        page_size = state.settings.page_size
    return Response(200, run_query(records, query, PIPELINE_RUNS, page_size))


def _query_activity_runs(state: EmulatorState, run: EmulatedRun, request: Request) -> Response:
    query = parse_query(_body(request), ACTIVITY_RUNS, f"activityRuns/{run.run_id}")
    with state.lock:
        records = [(a.last_updated, a.body) for a in run.activity_runs(state.clock())]
        page_size = state.settings.page_size
    return Response(200, run_query(records, query, ACTIVITY_RUNS, page_size))


# ---------------------------------------------------------------------- checks


def _authorize(state: EmulatorState, request: Request) -> Response | None:
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
    api_version = request.query.get("api-version", "")
    if api_version != API_VERSION:
        return arm_error(
            400,
            "InvalidApiVersionParameter",
            f"The api-version '{api_version}' is invalid. "
            f"The supported version is '{API_VERSION}'.",
        )
    scenario = state.scenario
    segments = request.segments
    if len(segments) < 2 or segments[1].lower() != scenario.subscription_id:
        sub = segments[1] if len(segments) > 1 else ""
        return arm_error(
            404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found."
        )
    if (
        len(segments) < 4
        or segments[2] != "resourceGroups"
        or segments[3].lower() != scenario.resource_group.lower()
    ):
        group = segments[3] if len(segments) > 3 else ""
        return arm_error(
            404, "ResourceGroupNotFound", f"Resource group '{group}' could not be found."
        )
    if (
        len(segments) < 8
        or tuple(s.lower() for s in segments[4:7]) != _PROVIDER
        or segments[7].lower() != scenario.factory_name.lower()
    ):
        name = segments[7] if len(segments) > 7 else ""
        return arm_error(
            404,
            "ResourceNotFound",
            f"The Resource 'Microsoft.DataFactory/factories/{name}' under resource group "
            f"'{segments[3]}' was not found.",
        )
    return None


def _body(request: Request) -> dict[str, Any]:
    try:
        return json_object(request.json_body())
    except ValueError as error:
        if isinstance(error, BadRequest):
            raise
        raise BadRequest("The request body is not valid JSON.") from None


def _factory_json(state: EmulatorState) -> dict[str, Any]:
    s = state.scenario
    return {
        "id": f"/subscriptions/{s.subscription_id}/resourceGroups/{s.resource_group}"
        f"/providers/Microsoft.DataFactory/factories/{s.factory_name}",
        "name": s.factory_name,
        "type": "Microsoft.DataFactory/factories",
        "location": "westeurope",
        "properties": {"provisioningState": "Succeeded", "version": "2018-06-01"},
    }


def _as_parameter_string(value: object) -> str:
    """ADF reports run parameters as strings; objects and arrays as their JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    return json.dumps(value) if isinstance(value, dict | list) else str(value)
