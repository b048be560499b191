"""The part of the Databricks Jobs API (2.1 and 2.2) that Airflow's Databricks operators call.

Served by the emulator, on the same host and port as Azure AD and ADF, as an extension that
this repository's :class:`testbed.emulator.EmulatorServer` registers; it answers from the
scenario's ``databricks`` section (without one, ``/api/...`` answers 404
``ENDPOINT_NOT_FOUND``). Under ``/api/2.2/`` and ``/api/2.1/``:

- ``POST jobs/runs/submit`` (operation ``databricks runs submit``): ``{"run_id"}``;
- ``POST jobs/run-now`` (``databricks run now``): ``{"run_id", "number_in_job"}``;
- ``GET jobs/runs/get`` (``databricks runs get``): the Run, ``tasks`` included;
- ``GET jobs/runs/get-output`` (``databricks runs get output``): ``metadata``,
  ``notebook_output``, and ``error``/``error_trace`` for a failed task;
- ``POST jobs/runs/cancel`` (``databricks runs cancel``): ``{}``;
- ``GET jobs/get`` (``databricks jobs get``): the Job;
- ``GET jobs/list`` (``databricks jobs list``): ``{"jobs"}``, filtered on ``name``.

The operation names count in the stats' ``requests``; ``databricks_runs_created`` counts the
runs, ``GET /_emulator/databricks/runs`` lists them (``created_at``/``ended_at`` in seconds
of the emulator's clock). GET parameters are read from the query string or, as the
provider's async hook sends them, from a JSON body. How it answers, as Databricks does:

- Every request needs ``Authorization: Bearer <token>`` (or Basic with the token as
  password): none gives 401, a wrong token 403 ``{"error_code": 403, "message": "Invalid
  access token."}`` (Source: databricks-sdk-go issue 873 log; the 401 wording is a
  guess). Tokens are never logged.
- A run and each task run have their own ids. ``runs/get`` shows ``state``
  (``life_cycle_state`` PENDING -> RUNNING -> TERMINATED, ``result_state`` SUCCESS/FAILED/
  CANCELED once terminated, ``state_message``) and the 2.2 ``status`` (``state``,
  ``termination_details.code``/``type``/``message``). Every task plays the run's script.
- ``runs/get-output`` takes a *task* run id (from the run's ``tasks``); the run's own id gets
  400 ``INVALID_PARAMETER_VALUE`` as with Databricks, even for a one-task run (Source:
  databricks-sdk-py issue 375; the one-task case is inferred). A successful
  task answers ``notebook_output.result`` as scripted; a failed one ``error``/``error_trace``.
- ``runs/cancel`` of an active run: TERMINATING, then TERMINATED/CANCELED after
  ``cancel_seconds``; of a finished run: nothing (200) (inferred from the Jobs API
  reference: cancel is asynchronous and returns an empty object).
- An unknown job: 400 ``INVALID_PARAMETER_VALUE`` ``Job N does not exist.``; an unknown run
  (runs/get, runs/get-output, runs/cancel): 400 ``INVALID_PARAMETER_VALUE`` ``Run N does not
  exist.`` Source: databricks-sdk-py ``errors/overrides.py``, which maps exactly these 400
  answers of jobs/get and jobs/runs/get* to ResourceDoesNotExist; for runs/cancel inferred.
- ``run_page_url`` uses the scheme the emulator serves (https with TLS); the path is a guess.
- ``idempotency_token`` on submit/run-now returns the run it created the first time
  (Source: the Jobs API reference for ``idempotency_token``).

Faults (``/_emulator/faults``) do not apply to Databricks requests.

The scenario's ``databricks`` section::

    "databricks": {
      "token": "dapi-emulator-token",
      "submit": {"duration_seconds": 1, "outcome": "SUCCESS",
                 "notebook_output": {"result": "abfss://lake/sales/{date}/"}},
      "jobs": {
        "1234": {"name": "publish_sales", "task_key": "publish", "duration_seconds": 1,
                 "parameters": {"input_path": ""}, "outcome": "FAILED",
                 "state_message": "...", "error": "ValueError: ..."}
      }
    }

``token`` (required) is the personal access token callers must send. ``submit`` scripts every
runs/submit run, ``jobs`` (by numeric id) the runs of run-now. Each takes:

- ``pending_seconds`` (0.2), ``duration_seconds`` (1), ``cancel_seconds`` (0.2);
- ``outcome``: ``SUCCESS`` (default) or ``FAILED``; ``state_message`` (a FAILED run's
  message, default ``Workload failed, see run output for details``) and ``error`` (get-output's
  ``error`` of a failed task, default ``Exception: <state message>``);
- ``notebook_output``: ``{"result": "..."}``, the notebook's exit value; ``{name}`` in it is
  replaced by that task parameter (submit: ``notebook_task.base_parameters``; run-now: the
  job's ``parameters`` defaults, then ``job_parameters``, ``notebook_params``).

A job also has ``name`` (for jobs/list and jobs/get), ``task_key`` (``main``) and
``parameters`` (job parameters with their defaults). A submitted run without ``tasks`` (the
single-task format, e.g. a top-level ``notebook_task``) gets one task keyed by its
``run_name`` (``main`` if it is not a valid key).

The matching Airflow connection is ``testbed.emulator.Scenario.databricks_connection(url)``::

    {"conn_type": "databricks", "host": "127.0.0.1", "port": 8765, "schema": "http",
     "password": "<token>"}

(the provider builds ``{schema or https}://{host}{:port}/api/...`` and drops any port written
into ``host``).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_adf_trigger.emulator.state import EmulatorState
from airflow_adf_trigger.emulator.wire import Request, Response
from testbed.databricks.runs import (
    CREATOR,
    DatabricksRun,
    DatabricksRuns,
    DatabricksTaskRun,
)
from testbed.databricks.scenario import (
    DEFAULT_TASK_KEY,
    DatabricksJobSpec,
    DatabricksSpec,
)

API_VERSIONS = ("2.1", "2.2")
ENDPOINTS: Mapping[tuple[str, str], str] = {
    ("POST", "jobs/runs/submit"): "databricks runs submit",
    ("POST", "jobs/run-now"): "databricks run now",
    ("GET", "jobs/runs/get"): "databricks runs get",
    ("GET", "jobs/runs/get-output"): "databricks runs get output",
    ("POST", "jobs/runs/cancel"): "databricks runs cancel",
    ("GET", "jobs/get"): "databricks jobs get",
    ("GET", "jobs/list"): "databricks jobs list",
}
"""(method, path after ``/api/<version>/``) -> operation name, as counted in the stats."""
OPERATIONS = tuple(ENDPOINTS.values())
MULTI_TASK_OUTPUT_MESSAGE = (
    "Retrieving the output of runs with multiple tasks is not supported. "
    "Please retrieve the output of each individual task run instead."
)
TASK_TYPES = (
    "notebook_task",
    "spark_jar_task",
    "spark_python_task",
    "spark_submit_task",
    "pipeline_task",
    "python_wheel_task",
    "sql_task",
    "dbt_task",
    "run_job_task",
    "condition_task",
    "for_each_task",
)
RUN_NOW_OVERRIDES = (
    "notebook_params",
    "python_params",
    "jar_params",
    "spark_submit_params",
    "python_named_params",
    "sql_params",
    "dbt_commands",
)
_TASK_KEY = re.compile(r"^[\w\-.]{1,100}$")


class InvalidParameter(ValueError):
    """A request Databricks refuses with 400 ``INVALID_PARAMETER_VALUE``."""


@dataclass(frozen=True, slots=True)
class Call:
    """One authenticated request: its parameters, the workspace and the URL it was sent to."""

    params: Mapping[str, Any]
    spec: DatabricksSpec
    runs: DatabricksRuns
    base_url: str
    version: str


def is_databricks_request(request: Request) -> bool:
    """Whether the path is under ``/api/``."""
    return request.segments[:1] == ("api",)


def classify(request: Request) -> str | None:
    """The operation name of a Databricks request (None when it is not one served)."""
    segments = request.segments
    if len(segments) < 3 or segments[0] != "api" or segments[1] not in API_VERSIONS:
        return None
    return ENDPOINTS.get((request.method, "/".join(segments[2:])))


def databricks_error(status: int, code: str | int, message: str) -> Response:
    """Databricks' error body: ``{"error_code", "message"}``."""
    return Response(status, {"error_code": code, "message": message})


def handle(
    spec: DatabricksSpec | None, runs: DatabricksRuns, state: EmulatorState, request: Request
) -> Response:
    """Authenticate, then answer one Jobs API request.

    :param spec: the scenario's ``databricks`` section; ``None`` answers every request 404.
    :param runs: the workspace's runs (read and changed under ``state.lock``).
    :param state: the emulator's state: its lock, clock and scheme.
    :param request: the request, under ``/api/``.
    """
    if spec is None:
        return databricks_error(
            404, "ENDPOINT_NOT_FOUND", 'The emulator\'s scenario has no "databricks" section.'
        )
    refusal = _authenticate(spec, request)
    if refusal is not None:
        return refusal
    operation = classify(request)
    if operation is None:
        path = "/".join(request.segments[1:])
        return databricks_error(
            404, "ENDPOINT_NOT_FOUND", f"No API found for '{request.method} /{path}'"
        )
    try:
        params = _params(request)
    except ValueError:
        return databricks_error(
            400,
            "MALFORMED_REQUEST",
            "Invalid JSON given in the body of the request - expected a map",
        )
    host = request.headers.get("host") or "127.0.0.1"
    call = Call(params, spec, runs, f"{state.scheme}://{host}", request.segments[1])
    try:
        return _HANDLERS[operation](state, call)
    except InvalidParameter as error:
        return databricks_error(400, "INVALID_PARAMETER_VALUE", str(error))


# ---------------------------------------------------------------------- operations


def _submit(state: EmulatorState, call: Call) -> Response:
    body = call.params
    tasks = _submitted_tasks(body)
    run_name = str(body.get("run_name") or "Untitled")
    token = _idempotency_token(body)
    with state.lock:
        book = call.runs
        if token is not None and token in book.idempotency:
            return Response(200, {"run_id": book.idempotency[token]})
        now = state.clock()
        run_id = book.new_run_id()
        task_runs = tuple(
            DatabricksTaskRun(key, book.new_run_id(), settings, _task_parameters(settings))
            for key, settings in tasks
        )
        run = DatabricksRun(
            run_id=run_id,
            job_id=book.new_one_time_job_id(),
            run_name=run_name,
            run_type="SUBMIT_RUN",
            spec=call.spec.submit,
            tasks=task_runs,
            created_at=now,
            created_wall=state.wall(now),
        )
        book.add(run, token)
    return Response(200, {"run_id": run_id})


def _run_now(state: EmulatorState, call: Call) -> Response:
    body = call.params
    job = _job(call.spec, body)
    job_parameters = {**job.parameters, **_string_map(body, "job_parameters")}
    overrides = {key: body[key] for key in RUN_NOW_OVERRIDES if body.get(key) is not None}
    parameters = {
        **job_parameters,
        **_string_map(body, "notebook_params"),
        **_string_map(body, "python_named_params"),
    }
    token = _idempotency_token(body)
    with state.lock:
        book = call.runs
        if token is not None and token in book.idempotency:
            existing = book.idempotency[token]
            return Response(200, {"run_id": existing, "number_in_job": existing})
        now = state.clock()
        run_id = book.new_run_id()
        task = DatabricksTaskRun(job.task_key, book.new_run_id(), _job_task(job), parameters)
        run = DatabricksRun(
            run_id=run_id,
            job_id=job.job_id,
            run_name=job.name,
            run_type="JOB_RUN",
            spec=job.run,
            tasks=(task,),
            created_at=now,
            created_wall=state.wall(now),
            job_parameters=job_parameters,
            job_parameter_defaults=dict(job.parameters),
            overriding_parameters=overrides,
        )
        book.add(run, token)
    return Response(200, {"run_id": run_id, "number_in_job": run_id})


def _get_run(state: EmulatorState, call: Call) -> Response:
    run_id = _positive_int(call.params, "run_id")
    with state.lock:
        found = call.runs.find(run_id)
        if found is None:
            return _run_not_found(run_id)
        run, task = found
        now = state.clock()
        if task is not None:
            return Response(200, run.task_as_run_json(task, now, call.base_url))
        return Response(200, run.to_json(now, call.base_url))


def _get_output(state: EmulatorState, call: Call) -> Response:
    run_id = _positive_int(call.params, "run_id")
    with state.lock:
        found = call.runs.find(run_id)
        if found is None:
            return _run_not_found(run_id)
        run, task = found
        if task is None:
            raise InvalidParameter(MULTI_TASK_OUTPUT_MESSAGE)
        return Response(200, run.output_json(task, state.clock(), call.base_url))


def _cancel(state: EmulatorState, call: Call) -> Response:
    run_id = _positive_int(call.params, "run_id")
    with state.lock:
        found = call.runs.find(run_id)
        if found is None:
            return _run_not_found(run_id)
        run, _task = found
        now = state.clock()
        if run.cancel_at is None and run.is_active(now):
            run.cancel_at = now
    return Response(200, {})


def _get_job(state: EmulatorState, call: Call) -> Response:
    job = _job(call.spec, call.params)
    return Response(200, _job_json(state, job, with_tasks=True))


def _list_jobs(state: EmulatorState, call: Call) -> Response:
    name = call.params.get("name")
    expand = str(call.params.get("expand_tasks", "false")).lower() == "true"
    jobs = [
        _job_json(state, job, with_tasks=expand)
        for job in call.spec.jobs.values()
        if not name or job.name.lower() == str(name).lower()
    ]
    body: dict[str, Any] = {"jobs": jobs} if jobs else {}
    if call.version == "2.1":
        body["has_more"] = False
    return Response(200, body)


_HANDLERS: Mapping[str, Callable[[EmulatorState, Call], Response]] = {
    "databricks runs submit": _submit,
    "databricks run now": _run_now,
    "databricks runs get": _get_run,
    "databricks runs get output": _get_output,
    "databricks runs cancel": _cancel,
    "databricks jobs get": _get_job,
    "databricks jobs list": _list_jobs,
}


# ---------------------------------------------------------------------- helpers


def _authenticate(spec: DatabricksSpec, request: Request) -> Response | None:
    scheme, _, credential = request.headers.get("authorization", "").strip().partition(" ")
    supplied: str | None = None
    if scheme.lower() == "bearer" and credential.strip():
        supplied = credential.strip()
    elif scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credential.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        supplied = decoded.partition(":")[2] or None
    if supplied is None:
        return databricks_error(
            401, 401, "Credential was not sent or was of an unsupported type for this API."
        )
    if not secrets.compare_digest(supplied.encode(), spec.token.encode()):
        return databricks_error(403, 403, "Invalid access token.")
    return None


def _params(request: Request) -> dict[str, Any]:
    """The JSON body (POST, or GET from aiohttp) overlaid with the query string."""
    body = request.json_body()
    if body is not None and not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    return {**(body or {}), **request.query}


def _positive_int(params: Mapping[str, Any], name: str) -> int:
    value = params.get(name)
    if value is None or value == "":
        raise InvalidParameter(f"Missing required field: {name}")
    if isinstance(value, bool):
        raise InvalidParameter(f"Invalid value for {name}: {value!r}")
    text = str(value).strip()
    if not text.isdigit() or int(text) < 1:
        raise InvalidParameter(f"Expected a positive integer for {name} but got '{value}'.")
    return int(text)


def _string_map(params: Mapping[str, Any], name: str) -> dict[str, str]:
    value = params.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidParameter(f"{name} must be an object of string values.")
    return {str(k): v if isinstance(v, str) else str(v) for k, v in value.items()}


def _idempotency_token(params: Mapping[str, Any]) -> str | None:
    token = params.get("idempotency_token")
    return None if token in (None, "") else str(token)


def _job(spec: DatabricksSpec, params: Mapping[str, Any]) -> DatabricksJobSpec:
    job_id = _positive_int(params, "job_id")
    job = spec.jobs.get(job_id)
    if job is None:
        raise InvalidParameter(f"Job {job_id} does not exist.")
    return job


def _submitted_tasks(body: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(task_key, settings) of each task of a runs/submit body; InvalidParameter if none."""
    raw_tasks = body.get("tasks")
    if raw_tasks is None:
        settings = {k: v for k, v in body.items() if k in TASK_TYPES}
        if not settings:
            raise InvalidParameter("At least one task is required.")
        for name in ("existing_cluster_id", "new_cluster", "libraries", "timeout_seconds"):
            if name in body:
                settings[name] = body[name]
        run_name = str(body.get("run_name") or "")
        return [(run_name if _TASK_KEY.match(run_name) else DEFAULT_TASK_KEY, settings)]
    if not isinstance(raw_tasks, list) or not raw_tasks:
        raise InvalidParameter("At least one task is required.")
    tasks: list[tuple[str, dict[str, Any]]] = []
    for index, task in enumerate(raw_tasks):
        if not isinstance(task, Mapping):
            raise InvalidParameter(f"tasks[{index}] must be an object.")
        key = task.get("task_key")
        if not isinstance(key, str) or not _TASK_KEY.match(key):
            raise InvalidParameter(f"tasks[{index}].task_key is required.")
        if key in (existing for existing, _ in tasks):
            raise InvalidParameter(f"Task key {key} is not unique.")
        if not any(kind in task for kind in TASK_TYPES):
            raise InvalidParameter(f"Task {key} must have one of the task types set.")
        tasks.append((key, {k: v for k, v in task.items() if k != "task_key"}))
    return tasks


def _task_parameters(settings: Mapping[str, Any]) -> dict[str, str]:
    """The key/value parameters of a submitted task (for ``{name}`` in notebook results)."""
    parameters: dict[str, str] = {}
    for kind, field in (
        ("notebook_task", "base_parameters"),
        ("python_wheel_task", "named_parameters"),
    ):
        task = settings.get(kind)
        values = task.get(field) if isinstance(task, Mapping) else None
        if isinstance(values, Mapping):
            parameters.update({str(k): str(v) for k, v in values.items()})
    return parameters


def _job_task(job: DatabricksJobSpec) -> dict[str, Any]:
    return {
        "notebook_task": {"notebook_path": f"/Workspace/Jobs/{job.name}", "source": "WORKSPACE"}
    }


def _job_json(state: EmulatorState, job: DatabricksJobSpec, *, with_tasks: bool) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "name": job.name,
        "format": "MULTI_TASK",
        "max_concurrent_runs": 1,
        "timeout_seconds": 0,
    }
    if with_tasks:
        settings["tasks"] = [{"task_key": job.task_key, **_job_task(job)}]
    if job.parameters:
        settings["parameters"] = [
            {"name": name, "default": default} for name, default in job.parameters.items()
        ]
    return {
        "job_id": job.job_id,
        "creator_user_name": CREATOR,
        "run_as_user_name": CREATOR,
        "created_time": round(state.wall_origin.timestamp() * 1000),
        "settings": settings,
    }


def _run_not_found(run_id: int) -> Response:
    """Source: databricks-sdk-py errors/overrides.py (400 INVALID_PARAMETER_VALUE)."""
    return databricks_error(400, "INVALID_PARAMETER_VALUE", f"Run {run_id} does not exist.")
