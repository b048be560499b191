"""Extensions: more services served beside Azure AD and ADF, on the same host and port.

Whoever starts the emulator may register extensions (``EmulatorServer(scenario,
extensions=[...])``); the emulator itself knows nothing of what they emulate. An extension

- claims the requests it answers (e.g. every path under ``/api/``); claims are checked after
  Azure AD's and the admin routes, before ADF's, in the order the extensions were given;
- answers them from state of its own, holding the emulator's ``state.lock`` while it reads or
  changes it (the handler is called without the lock);
- names each request's operation, counted in ``GET /_emulator/stats`` like ADF's;
- may add read-only admin endpoints, ``GET /_emulator/{name}/{path}``, and entries to the
  stats (both called with the lock held);
- is not hit by armed faults unless ``faultable`` (a fault answers in Azure's error shapes).

Example, a health endpoint that counts its calls::

    def health(state: EmulatorState, request: Request) -> Response:
        return Response(200, {"status": "ok"})

    probe = Extension(
        name="probe",
        claims=lambda request: request.segments[:1] == ("health",),
        handle=health,
        operation=lambda request: "health",
    )
    with EmulatorServer(scenario, extensions=[probe]) as server:
        ...  # GET {server.url}/health; server.stats()["requests"]["health"]

This repository's tests plug the Databricks Jobs API in this way (its ``testbed`` package,
which no distribution ships).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_adf_trigger.emulator.wire import Request, Response

if TYPE_CHECKING:
    from airflow_adf_trigger.emulator.state import EmulatorState

__all__ = ["Extension", "Handler"]

Handler = Callable[["EmulatorState", Request], Response]
"""Answers one request: given the emulator's state (lock not held) and the request."""


def _not_counted(request: Request) -> str | None:
    return None


@dataclass(frozen=True, slots=True)
class Extension:
    """Routes, admin endpoints and stats that the caller adds to an emulator.

    :param name: names the extension in logs and in its admin paths,
        ``/_emulator/{name}/...``; unique among an emulator's extensions.
    :param claims: whether a request is this extension's to answer.
    :param handle: answers a claimed request (see :data:`Handler`).
    :param operation: the operation name a claimed request is counted under in the stats
        (and matched by faults when ``faultable``); ``None`` leaves it uncounted.
    :param admin: path after ``/_emulator/{name}/`` -> what a ``GET`` there answers, as JSON,
        computed from the state (the lock held).
    :param stats: entries added to ``GET /_emulator/stats`` (the lock held).
    :param describe: given the emulator's base URL, one line that
        ``python -m airflow_adf_trigger.emulator`` prints at start.
    :param faultable: whether armed faults may hit its requests.
    """

    name: str
    claims: Callable[[Request], bool]
    handle: Handler
    operation: Callable[[Request], str | None] = _not_counted
    admin: Mapping[str, Callable[[EmulatorState], Any]] = field(default_factory=dict)
    stats: Callable[[EmulatorState], Mapping[str, Any]] | None = None
    describe: Callable[[str], str] | None = None
    faultable: bool = False
