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

# Defined beside the state they are handed (one import direction: state <- extensions).
from airflow_adf_trigger.emulator.state import Extension, Handler

__all__ = ["Extension", "Handler"]
