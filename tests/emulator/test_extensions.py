"""The emulator's extension seam: routes, admin summaries and stats a caller registers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import requests

from airflow_adf_trigger.emulator import (
    EmulatorServer,
    EmulatorState,
    Extension,
    Request,
    Response,
    Scenario,
)


class Echo:
    """A toy service under ``/echo/``: answers its path back and counts what it saw."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()

    def handle(self, state: EmulatorState, request: Request) -> Response:
        with state.lock:
            self.seen[request.method] += 1
        return Response(200, {"path": "/".join(request.segments[1:])})

    def extension(self, **overrides: object) -> Extension:
        options: dict[str, object] = {
            "name": "echo",
            "claims": lambda request: request.segments[:1] == ("echo",),
            "handle": self.handle,
            "operation": lambda request: f"echo {request.method.lower()}",
            "admin": {"seen": lambda state: dict(self.seen)},
            "stats": lambda state: {"echo_requests": sum(self.seen.values())},
            **overrides,
        }
        return Extension(**options)


@pytest.fixture
def echo() -> Echo:
    return Echo()


@pytest.fixture
def server(demo_scenario: Scenario, echo: Echo) -> Iterator[EmulatorServer]:
    with EmulatorServer(demo_scenario, extensions=[echo.extension()]) as emulator:
        yield emulator


def test_an_extension_answers_its_paths_and_is_counted(server: EmulatorServer, echo: Echo) -> None:
    answer = requests.get(f"{server.url}/echo/a/b", timeout=5)
    assert answer.status_code == 200
    assert answer.json() == {"path": "a/b"}
    assert answer.headers["x-ms-request-id"]  # written by the emulator, as for every answer
    requests.post(f"{server.url}/echo/c", timeout=5)
    stats = requests.get(f"{server.url}/_emulator/stats", timeout=5).json()
    assert stats["requests"] == {"echo get": 1, "echo post": 1}
    assert stats["echo_requests"] == 2
    assert stats["runs_created"] == 0
    seen = requests.get(f"{server.url}/_emulator/echo/seen", timeout=5)
    assert seen.json() == {"GET": 1, "POST": 1}


def test_the_emulators_own_routes_are_untouched(server: EmulatorServer) -> None:
    assert requests.get(f"{server.url}/_emulator/echo/other", timeout=5).status_code == 404
    unknown = requests.get(f"{server.url}/nowhere", timeout=5)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "NotFound"
    assert server.stats()["requests"] == {}


def test_faults_hit_an_extension_only_when_it_allows_it(
    demo_scenario: Scenario, echo: Echo
) -> None:
    fault = {"operation": "*", "action": "status", "status": 503, "times": -1}
    with EmulatorServer(demo_scenario, extensions=[echo.extension()]) as spared:
        spared.add_fault(**fault)
        assert requests.get(f"{spared.url}/echo/x", timeout=5).status_code == 200
        assert spared.faults_applied == 0
    with EmulatorServer(demo_scenario, extensions=[echo.extension(faultable=True)]) as hit:
        hit.add_fault(**fault)
        assert requests.get(f"{hit.url}/echo/x", timeout=5).status_code == 503
        assert hit.faults_applied == 1
    assert sum(echo.seen.values()) == 1


def test_extension_names_are_unique(demo_scenario: Scenario, echo: Echo) -> None:
    with pytest.raises(ValueError, match="unique"):
        EmulatorServer(demo_scenario, extensions=[echo.extension(), echo.extension()])
