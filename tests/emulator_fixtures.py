"""Emulators for tests: one factory fixture that starts them and stops them all afterwards.

``emulator_for(scenario, clock=None, **options)`` serves a scenario (a ``Scenario``, the JSON
body of one, or a scenario file) on 127.0.0.1 and returns the running
:class:`~airflow_adf_trigger.emulator.EmulatorServer`; ``options`` go to the server (``tls``).
On a :class:`~tests.clock.FakeClock` the emulator's runs move only when the test moves the
clock, so a status is a fact of the test, not of how busy the machine was.
``module_emulator_for`` is the same for fixtures shared by a whole module.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_adf_trigger.emulator import EmulatorServer, Scenario


class Emulators:
    """Starts emulators on demand and stops every one it started, last first."""

    def __init__(self) -> None:
        self._running: list[EmulatorServer] = []

    def __call__(
        self,
        scenario: Scenario | Mapping[str, Any] | Path,
        clock: Callable[[], float] | None = None,
        **options: Any,
    ) -> EmulatorServer:
        from airflow_adf_trigger.emulator import EmulatorServer

        server = EmulatorServer(
            as_scenario(scenario), clock=clock or time.monotonic, **options
        ).start()
        self._running.append(server)
        return server

    def stop_all(self) -> None:
        while self._running:
            self._running.pop().stop()


def as_scenario(source: Scenario | Mapping[str, Any] | Path) -> Scenario:
    """A scenario from itself, its JSON body or its file."""
    from airflow_adf_trigger.emulator import Scenario

    if isinstance(source, Scenario):
        return source
    if isinstance(source, Path):
        return Scenario.load(source)
    return Scenario.from_json(source)


@pytest.fixture
def emulator_for() -> Iterator[Emulators]:
    """Start emulators for this test: ``emulator_for(scenario, clock=FakeClock())``."""
    emulators = Emulators()
    yield emulators
    emulators.stop_all()


@pytest.fixture(scope="module")
def module_emulator_for() -> Iterator[Emulators]:
    """Start emulators that every test of the module shares."""
    emulators = Emulators()
    yield emulators
    emulators.stop_all()


def states(emulator: EmulatorServer, *run_ids: str) -> list[str]:
    """The status of each of ``run_ids`` (default: every run, oldest first) as of the
    emulator's clock."""
    summaries = {summary["runId"]: summary for summary in emulator.run_summaries()}
    return [summaries[run_id]["status"] for run_id in run_ids or summaries]


def summary_of(emulator: EmulatorServer, run_id: str) -> dict[str, Any]:
    """What the emulator's ``/_emulator/runs`` says of one run."""
    return next(summary for summary in emulator.run_summaries() if summary["runId"] == run_id)
