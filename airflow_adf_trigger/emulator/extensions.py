"""Extensions: more services served beside Azure AD and ADF, on the same host and port.

Whoever starts the emulator may register extensions (``EmulatorServer(scenario,
extensions=[...])``); the emulator itself knows nothing of what they emulate. An extension
(see :class:`Extension` for its fields) answers the requests it claims from state of its
own, holding the emulator's ``state.lock`` while it reads or changes it.

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
