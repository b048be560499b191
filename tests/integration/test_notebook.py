"""The Databricks notebook example, run locally as a plain script against the emulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_adf_trigger.cli import ENVIRONMENT
from airflow_adf_trigger.emulator import EmulatorServer, Scenario
from tests.integration.fast_scenario import CLIENT_ID, fast_scenario

pytestmark = pytest.mark.integration

NOTEBOOK = (
    Path(__file__).resolve().parents[2] / "dags_examples" / "databricks_notebook_trigger_adf.py"
)
SECRET = "notebook-secret-Pw4"
FAILURE_MESSAGE = "Operation on target Copy sales to lake failed: the required blob is missing"
SCENARIO = fast_scenario(SECRET, FAILURE_MESSAGE)
RUN_ID = re.compile(r"run id ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")
BLOCK_AIRFLOW = (
    "import runpy, sys\n"
    "class Block:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name == 'airflow' or name.startswith('airflow.'):\n"
    "            raise ImportError('airflow is blocked in this test')\n"
    "sys.meta_path.insert(0, Block())\n"
    "runpy.run_path(sys.argv[1], run_name='__main__')\n"
    "assert not any(m == 'airflow' or m.startswith('airflow.') for m in sys.modules)\n"
)


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(Scenario.from_json(SCENARIO)) as emulator:
        yield emulator


def notebook_env(server: EmulatorServer, **overrides: str) -> dict[str, str]:
    """What a user exports to try the notebook locally, pointed at the emulator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "ADF_", "AIRFLOW"))}
    env.update(
        AZURE_TENANT_ID=SCENARIO["tenant_id"],
        AZURE_CLIENT_ID=CLIENT_ID,
        AZURE_CLIENT_SECRET=SECRET,
        ADF_SUBSCRIPTION_ID=SCENARIO["subscription_id"],
        ADF_RESOURCE_GROUP="rg-analytics",
        ADF_FACTORY_NAME="adf-demo",
        ADF_AUTHORITY_HOST=server.url,
        ADF_MANAGEMENT_ENDPOINT=server.url,
        ADF_PIPELINE_NAME="copy_sales",
        ADF_PIPELINE_PARAMETERS='{"region": "emea", "date": "2026-11-26"}',
        ADF_POLL_INTERVAL="0.1",
    )
    env.update(overrides)
    return env


def run_notebook(
    server: EmulatorServer, *command: str, **overrides: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*(command or (sys.executable,)), str(NOTEBOOK)],
        env=notebook_env(server, **overrides),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_notebook_runs_a_pipeline_to_success(server: EmulatorServer) -> None:
    result = run_notebook(server)
    assert result.returncode == 0, result.stderr
    match = RUN_ID.search(result.stdout)
    assert match, result.stdout
    run = next(r for r in server.run_summaries() if r["runId"] == match.group(1))
    assert run["parameters"] == {"region": "emea", "date": "2026-11-26"}
    assert "Succeeded" in result.stdout
    assert result.stdout.rstrip().endswith("Final status: Succeeded")
    assert SECRET not in result.stdout + result.stderr


def test_a_failed_pipeline_fails_the_notebook_with_the_activity_error(
    server: EmulatorServer,
) -> None:
    result = run_notebook(server, ADF_PIPELINE_NAME="broken", ADF_PIPELINE_PARAMETERS="")
    assert result.returncode != 0
    assert RUN_ID.search(result.stdout)
    assert "Final status: Failed" in result.stdout
    expected = f"activity 'Copy sales to lake' (Copy) failed: [2200] {FAILURE_MESSAGE}"
    assert expected in result.stdout
    assert "AdfPipelineRunError" in result.stderr  # raised, so a Databricks job task fails
    assert expected in result.stderr
    assert SECRET not in result.stdout + result.stderr


def test_the_notebook_needs_no_airflow(server: EmulatorServer) -> None:
    result = run_notebook(server, sys.executable, "-c", BLOCK_AIRFLOW)
    assert result.returncode == 0, result.stderr
    assert "Final status: Succeeded" in result.stdout


def test_the_notebook_reads_the_environment_variables_of_the_cli() -> None:
    source = NOTEBOOK.read_text()
    named = set(re.findall(r"\b(?:AZURE|ADF)_[A-Z_]+\b", source))
    own = {"ADF_PIPELINE_NAME", "ADF_PIPELINE_PARAMETERS"}
    assert named - own <= set(ENVIRONMENT.values()), named - own - set(ENVIRONMENT.values())
    assert "ADF_POLL_INTERVAL" in named
    assert "ADF_OUTAGE_BUDGET" in named


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("ADF_POLL_INTERVAL", "nan", "poll_interval"),
        ("ADF_TIMEOUT", "-5", "timeout"),
        ("ADF_OUTAGE_BUDGET", "inf", "outage_budget"),
        ("ADF_REQUEST_TIMEOUT", "0", "request_timeout"),
        ("ADF_RETRY_MAX_ATTEMPTS", "inf", "retry_max_attempts"),
        ("ADF_TOKEN_API", "v3", "token_api"),
    ],
)
def test_a_bad_number_stops_the_notebook_before_any_run(
    server: EmulatorServer, variable: str, value: str, field: str
) -> None:
    before = server.runs_created
    result = run_notebook(server, **{variable: value})
    assert result.returncode != 0
    assert f"AdfConfigurationError: {field}: {value!r}" in result.stderr
    assert server.runs_created == before
    assert SECRET not in result.stdout + result.stderr


def test_the_notebook_waits_through_an_outage(server: EmulatorServer) -> None:
    server.add_fault(operation="get run", action="status", status=503, times=2)
    try:
        result = run_notebook(server, ADF_RETRY_MAX_ATTEMPTS="1", ADF_OUTAGE_BUDGET="60")
    finally:
        server.clear_faults()
    assert result.returncode == 0, result.stderr
    outages = [line for line in result.stdout.splitlines() if "could not be read" in line]
    assert len(outages) == 2, result.stdout
    assert "(of 60 s)" in outages[0]
    assert result.stdout.rstrip().endswith("Final status: Succeeded")
