"""The emulator as this repository's tests, examples and demo use it: with Databricks.

:class:`Scenario` reads the ``databricks`` section of a scenario file too, and
:class:`EmulatorServer` serves that workspace's Jobs API on the emulator's port (see
:mod:`testbed.databricks.api`). Everything else is the shipped emulator's. From the
repository's root::

    python -m testbed.emulator --port 8765 --scenario testbed/scenarios/databricks_chain.json
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from airflow_adf_trigger.emulator import EmulatorServer as AdfEmulatorServer
from airflow_adf_trigger.emulator import Extension, ScenarioError
from airflow_adf_trigger.emulator import Scenario as AdfScenario
from airflow_adf_trigger.emulator.__main__ import main as emulator_main
from testbed.databricks import DatabricksSpec, DatabricksWorkspace

__all__ = ["SCENARIOS", "EmulatorServer", "Scenario", "main"]

SCENARIOS = Path(__file__).with_name("scenarios")
"""The scenarios of the Databricks examples (the ADF-only ones ship with the emulator)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Scenario(AdfScenario):
    """The emulator's scenario, with the Databricks workspace of its ``databricks`` section."""

    databricks: DatabricksSpec | None = None
    """The workspace also served; see :mod:`testbed.databricks.api` for the section's fields."""

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Scenario:
        """Build a scenario from its parsed JSON; raises ScenarioError naming the bad field.

        :param body: the scenario file's object; ``databricks`` is optional.
        """
        adf = AdfScenario.from_json(body)
        databricks = None
        if body.get("databricks") is not None:
            try:
                databricks = DatabricksSpec.from_json(body["databricks"])
            except ValueError as error:
                raise ScenarioError(str(error)) from None
        fields = {f.name: getattr(adf, f.name) for f in dataclasses.fields(AdfScenario)}
        return cls(**fields, databricks=databricks)

    def databricks_connection(self, base_url: str) -> dict[str, Any]:
        """A ``databricks`` Airflow connection (JSON form) for the emulator at base_url.

        The provider builds ``{schema}://{host}:{port}/api/...`` and strips a scheme and port
        written into ``host``, so they go in ``schema`` and ``port``; the token is the password.

        :param base_url: the emulator's :attr:`~EmulatorServer.url`.
        :raises ValueError: the scenario has no ``databricks`` section.
        """
        if self.databricks is None:
            raise ValueError('the scenario has no "databricks" section')
        url = urlsplit(base_url)
        return {
            "conn_type": "databricks",
            "host": url.hostname,
            "port": url.port,
            "schema": url.scheme,
            "password": self.databricks.token,
        }


class EmulatorServer(AdfEmulatorServer):
    """The emulator, serving the scenario's Databricks workspace too.

    Takes what the shipped :class:`~airflow_adf_trigger.emulator.EmulatorServer` takes; a
    scenario without a ``databricks`` section (or a plain ADF one) answers ``/api/...`` as a
    workspace-less Databricks would (404 ``ENDPOINT_NOT_FOUND``).

    :param scenario: the scenario; its ``databricks`` section, if any, is served.
    :param extensions: more extensions, served after the Databricks one.
    :param options: as for the shipped emulator (``host``, ``port``, ``clock``, ``tls``).
    """

    def __init__(
        self, scenario: AdfScenario, *, extensions: Sequence[Extension] = (), **options: Any
    ) -> None:
        self.workspace = DatabricksWorkspace(getattr(scenario, "databricks", None))
        super().__init__(scenario, extensions=[self.workspace.extension(), *extensions], **options)

    @property
    def databricks_runs_created(self) -> int:
        """How many Databricks runs were created (runs/submit and run-now)."""
        with self.state.lock:
            return len(self.workspace.runs.runs)

    def databricks_run_summaries(self) -> list[dict[str, Any]]:
        """What ``GET /_emulator/databricks/runs`` answers: one line per Databricks run."""
        with self.state.lock:
            return self.workspace.summaries(self.state)


def main(argv: list[str] | None = None) -> int:
    """``python -m testbed.emulator``: the shipped emulator's command, with Databricks.

    :param argv: the arguments (default: the command line); ``--help`` lists them.
    """
    return emulator_main(
        argv, prog="python -m testbed.emulator", load=Scenario.load, serve=EmulatorServer
    )


if __name__ == "__main__":
    sys.exit(main())
