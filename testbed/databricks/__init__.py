"""The Databricks Jobs API the example DAGs' Databricks operators call, emulated.

It plugs into the emulator as an :class:`~airflow_adf_trigger.emulator.Extension` and
serves, on the emulator's port, what :mod:`testbed.databricks.api` describes.
"""

from __future__ import annotations

from typing import Any

from airflow_adf_trigger.emulator import EmulatorState, Extension, Request, Response
from testbed.databricks import api
from testbed.databricks.runs import DatabricksRuns
from testbed.databricks.scenario import DatabricksJobSpec, DatabricksRunSpec, DatabricksSpec

__all__ = [
    "DatabricksJobSpec",
    "DatabricksRunSpec",
    "DatabricksSpec",
    "DatabricksWorkspace",
]


class DatabricksWorkspace:
    """One emulated workspace: the scenario's ``databricks`` section and the runs made.

    :param spec: the section; ``None`` makes every ``/api/...`` request 404
        ``ENDPOINT_NOT_FOUND``, as a scenario without one does.
    """

    def __init__(self, spec: DatabricksSpec | None) -> None:
        self.spec = spec
        self.runs = DatabricksRuns()

    def extension(self) -> Extension:
        """The routes, admin summary (``/_emulator/databricks/runs``) and stats to register."""
        return Extension(
            name="databricks",
            claims=api.is_databricks_request,
            handle=self.handle,
            operation=api.classify,
            admin={"runs": self.summaries},
            stats=self.stats,
            describe=None if self.spec is None else self.describe,
        )

    def handle(self, state: EmulatorState, request: Request) -> Response:
        """Answer one Jobs API request (see :mod:`testbed.databricks.api`)."""
        return api.handle(self.spec, self.runs, state, request)

    def summaries(self, state: EmulatorState) -> list[dict[str, Any]]:
        """One line per run, in creation order (the caller holds the emulator's lock)."""
        return self.runs.summaries(state.clock())

    def stats(self, state: EmulatorState) -> dict[str, Any]:
        """``databricks_runs_created`` for ``GET /_emulator/stats`` (the lock held)."""
        return {"databricks_runs_created": len(self.runs.runs)}

    def describe(self, url: str) -> str:
        """The line printed when the emulator starts from the command line."""
        jobs = ", ".join(str(job_id) for job_id in self.spec.jobs) if self.spec else ""
        jobs = jobs or "none"
        return f"Databricks Jobs API on {url}/api/2.2 (job ids: {jobs})"
