"""``/_emulator/...``: plain-JSON endpoints to inspect and steer the emulator (no auth).

Extensions add their own read-only ones under ``/_emulator/{name}/`` (see :mod:`.extensions`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

from airflow_adf_trigger.emulator.faults import parse_faults
from airflow_adf_trigger.emulator.scenario import check_settings
from airflow_adf_trigger.emulator.schedules import UnknownTrigger, fire
from airflow_adf_trigger.emulator.state import EmulatorSettings, EmulatorState
from airflow_adf_trigger.emulator.wire import Request, Response

SETTINGS = tuple(f.name for f in fields(EmulatorSettings))


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
    "faults": lambda state: state.faults.to_json(),
    "settings": lambda state: state.settings.to_json(),
}
"""What ``GET /_emulator/{path}`` answers (the lock held); a POST or DELETE there answers it
too, after acting."""


def handle(state: EmulatorState, request: Request) -> Response:
    """Serve stats, runs and triggers; fire a trigger; arm, clear and list faults; settings;
    and the extensions' own views."""
    method, segments = request.method, request.segments
    path = "/".join(segments[1:])
    try:
        if method == "POST" and len(segments) == 4 and segments[1::2] == ("triggers", "fire"):
            return _fire(state, segments[2], request)
        if method == "POST" and path == "faults":
            faults = parse_faults(request.json_body())
            with state.lock:
                state.faults.add(faults)
        elif method == "DELETE" and path == "faults":
            with state.lock:
                state.faults.clear()
        elif method == "POST" and path == "settings":
            body = request.json_body()
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            apply_settings(state, body)
        elif method != "GET":
            return _error(404, "NotFound", "Unknown admin path")
        view = _VIEWS.get(path) or _extension_view(state, segments)
        if view is not None:
            with state.lock:
                return Response(200, view(state))
    except ValueError as error:
        return _error(400, "BadRequest", str(error))
    return _error(404, "NotFound", "Unknown admin path")


def _extension_view(
    state: EmulatorState, segments: tuple[str, ...]
) -> Callable[[EmulatorState], Any] | None:
    """What an extension's ``GET /_emulator/{name}/{path}`` answers, if one does."""
    if len(segments) < 3:
        return None
    name, path = segments[1], "/".join(segments[2:])
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


def apply_settings(state: EmulatorState, changes: dict[str, Any]) -> None:
    """Validate and apply setting changes; raises ValueError naming a bad one."""
    unknown = sorted(set(changes) - set(SETTINGS))
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)}; known: {SETTINGS}")
    check_settings(changes)  # a ScenarioError is a ValueError
    with state.lock:
        for key, value in changes.items():
            setattr(state.settings, key, value)


def _error(status: int, code: str, message: str) -> Response:
    return Response(status, {"error": {"code": code, "message": message}})
