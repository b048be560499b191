"""DAGs written for the official Azure provider, moved by their imports alone, run through real
Airflow against the emulator: they behave as they did there, whichever connection shape."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow_adf_trigger.emulator import EmulatorServer
from tests.e2e.conftest import task_states, xcom_values

DagGetter = Callable[[str], Any]
E2E = Path(__file__).resolve().parent


def changed_lines(official: str, migrated: str) -> list[str]:
    """The lines that differ below the imports (from ``PIPELINE =`` on)."""

    def body(name: str, folder: str) -> list[str]:
        lines = (E2E / folder / name).read_text().splitlines()
        return lines[next(i for i, line in enumerate(lines) if line.startswith("PIPELINE =")) :]

    return [
        line
        for line in difflib.unified_diff(
            body(official, "official"), body(migrated, "dags"), lineterm="", n=0
        )
        if not line.startswith(("---", "+++", "@@"))
    ]


def test_the_credential_only_example_differs_from_the_official_one_only_in_imports() -> None:
    name = "adf_official_credentials_only.py"
    assert changed_lines(name, name) == []
    migrated = (E2E / "dags" / name).read_text()
    assert "from airflow_adf_trigger.operators.adf import (" in migrated
    assert "airflow.providers.microsoft" not in migrated


def test_a_moved_dag_on_a_credential_only_connection_names_the_factory_in_default_args(
    behaviour_dag: DagGetter, e2e_emulator: EmulatorServer
) -> None:
    dag_run = behaviour_dag("e2e_official_credentials_only").test()
    assert set(task_states(dag_run).values()) == {"success"}, task_states(dag_run)
    runs = e2e_emulator.run_summaries()
    assert [s["status"] for s in runs] == ["Succeeded"] * 4
    xcoms = xcom_values(dag_run.dag_id, dag_run.run_id)
    started = {
        xcoms[(task, "run_id")] for task in ("run_pipeline1", "run_pipeline2", "run_pipeline3")
    }
    assert len(started) == 3 and started < {s["runId"] for s in runs}
    # The Python task's own run, through the official hook's methods.
    assert xcoms[("run_with_the_hook", "return_value")] == "Succeeded"
