"""``/_emulator/...``: plain-JSON endpoints to inspect and steer the emulator (no auth).

Extensions add their own read-only ones under ``/_emulator/{name}/`` (see :mod:`.extensions`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_adf_trigger.emulator.faults import parse_faults
from airflow_adf_trigger.emulator.scenario import is_count, is_seconds
from airflow_adf_trigger.emulator.schedules import UnknownTrigger, fire
from airflow_adf_trigger.emulator.state import EmulatorState
from airflow_adf_trigger.emulator.wire import Request, Response

SETTINGS = ("token_lifetime_seconds", "page_size", "monitoring_lag_seconds")


def handle(state: EmulatorState, request: Request) -> Response:
    """Serve stats, runs, triggers, faults and settings, and the extensions' own views."""
    path = "/".join(request.segments[1:])
    try:
        view = _view(state, request)
        if view is not None:
            with state.lock:
                return Response(200, view(state))
        if (
            request.method == "POST"
            and len(request.segments) == 4
            and request.segments[1] == "triggers"
            and request.segments[3] == "fire"
        ):
            return _fire(state, request.segments[2], request)
        if path == "faults" and request.method in ("GET", "POST", "DELETE"):
            return _faults(state, request)
        if path == "settings" and request.method in ("GET", "POST"):
            return _settings(state, request)
    except ValueError as error:
        return _error(400, "BadRequest", str(error))
    return _error(404, "NotFound", "Unknown admin path")


def _triggers(state: EmulatorState) -> list[dict[str, Any]]:
    return [
        {
            "name": t.name,
            "type": t.type,
            "pipeline": t.pipeline,
            "every_seconds": t.every_seconds,
            "runs_started": state.trigger_runs[t.name],
        }
        for t in state.scenario.triggers
    ]


_VIEWS: dict[str, Callable[[EmulatorState], Any]] = {
    "stats": EmulatorState.stats,
    "runs": EmulatorState.run_summaries,
    "triggers": _triggers,
}


def _view(state: EmulatorState, request: Request) -> Callable[[EmulatorState], Any] | None:
    """What a ``GET /_emulator/{path}`` or an extension's ``GET /_emulator/{name}/{path}``
    answers (computed with the lock held), if anything does."""
    if request.method != "GET" or len(request.segments) < 2:
        return None
    if len(request.segments) == 2:
        return _VIEWS.get(request.segments[1])
    name, path = request.segments[1], "/".join(request.segments[2:])
    for extension in state.extensions:
        if extension.name == name and path in extension.admin:
            return extension.admin[path]
    return None


def _fire(state: EmulatorState, name: str, request: Request) -> Response:
    """Start a run as the factory's trigger ``name`` would; body ``{"parameters": {...}}``."""
    body = request.json_body() if request.body else {}
    if not isinstance(body, dict) or not isinstance(body.get("parameters") or {}, dict):
        raise ValueError('the body must be {"parameters": {...}} or empty')
    try:
        with state.lock:
            run_id = fire(state, name, body.get("parameters"))
    except UnknownTrigger:
        return _error(404, "NotFound", f"No trigger {name!r}")
    return Response(200, {"runId": run_id})


def _faults(state: EmulatorState, request: Request) -> Response:
    faults = parse_faults(request.json_body()) if request.method == "POST" else ()
    with state.lock:
        state.faults.add(faults)
        if request.method == "DELETE":
            state.faults.clear()
        return Response(200, state.faults.to_json())


def _settings(state: EmulatorState, request: Request) -> Response:
    if request.method == "POST":
        body = request.json_body()
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        apply_settings(state, body)
    with state.lock:
        return Response(200, state.settings.to_json())


def apply_settings(state: EmulatorState, changes: dict[str, Any]) -> None:
    """Validate and apply setting changes; raises ValueError naming a bad one."""
    unknown = sorted(set(changes) - set(SETTINGS))
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)}; known: {SETTINGS}")
    for key, value in changes.items():
        if key == "monitoring_lag_seconds":
            if not is_seconds(value):
                raise ValueError(f"{key}: must be a number of seconds, 0 or more")
        elif not is_count(value):
            raise ValueError(f"{key}: must be a positive integer")
    with state.lock:
        for key, value in changes.items():
            setattr(state.settings, key, value)


def _error(status: int, code: str, message: str) -> Response:
    return Response(status, {"error": {"code": code, "message": message}})
