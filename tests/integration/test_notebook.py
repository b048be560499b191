"""The Databricks notebook example, run locally as a plain script against the emulator."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

from airflow_adf_trigger.core.config.environment import (
    CONNECTION_URI_VARIABLE,
    ENVIRONMENT,
    SETTING_VARIABLES,
)
from airflow_adf_trigger.emulator import EmulatorServer, Scenario
from tests.fresh import BLOCK_AIRFLOW
from tests.integration.fast_scenario import CLIENT_ID, fast_scenario

NOTEBOOK = (
    Path(__file__).resolve().parents[2] / "dags_examples" / "databricks_notebook_trigger_adf.py"
)
SECRET = "notebook-secret-Pw4"
FAILURE_MESSAGE = "Operation on target Copy sales to lake failed: the required blob is missing"
SCENARIO = fast_scenario(SECRET, FAILURE_MESSAGE)
RUN_ID = re.compile(r"run id ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")
WITHOUT_AIRFLOW = BLOCK_AIRFLOW + (
    "import runpy\n"
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
    result = run_notebook(server, sys.executable, "-c", WITHOUT_AIRFLOW)
    assert result.returncode == 0, result.stderr
    assert "Final status: Succeeded" in result.stdout


def test_the_notebook_names_no_setting_variable_of_its_own() -> None:
    """Its settings come through the core's settings_from_environment, as the CLI's do."""
    code = "\n".join(
        line for line in NOTEBOOK.read_text().splitlines() if not line.lstrip().startswith("#")
    )
    assert set(re.findall(r"\b(?:AZURE|ADF)_[A-Z_]+\b", code)) == {
        "ADF_PIPELINE_NAME",
        "ADF_PIPELINE_PARAMETERS",
    }
    documented = set(re.findall(r"\b(?:AZURE|ADF)_[A-Z_]+\b", NOTEBOOK.read_text()))
    assert documented - {"ADF_PIPELINE_NAME", "ADF_PIPELINE_PARAMETERS"} <= {
        CONNECTION_URI_VARIABLE,
        *ENVIRONMENT.values(),
    }


def test_the_notebook_takes_every_setting_from_a_connection_uri(server: EmulatorServer) -> None:
    query = urlencode(
        {
            "tenant_id": SCENARIO["tenant_id"],
            "subscription_id": SCENARIO["subscription_id"],
            "resource_group": "rg-analytics",
            "factory_name": "adf-demo",
            "authority_host": server.url,
            "management_endpoint": server.url,
        }
    )
    uri = f"adf://{quote(CLIENT_ID, safe='')}:{quote(SECRET, safe='')}@/?{query}"
    only_the_uri = {name: "" for name in SETTING_VARIABLES.values()}
    result = run_notebook(server, ADF_CONNECTION_URI=uri, **only_the_uri)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("Final status: Succeeded")
    assert SECRET not in result.stdout + result.stderr


ON_DATABRICKS = """\
import json, runpy, sys

widgets, secret = json.loads(sys.argv[2]), sys.argv[3]

class Widgets:
    def text(self, name, default):
        widgets.setdefault(name, default)
    def get(self, name):
        return widgets[name]

class Secrets:
    def get(self, scope, key):
        assert (scope, key) == ("adf", "client-secret"), (scope, key)
        return secret

class Notebook:
    def exit(self, value):
        print("EXIT " + value)

class DbUtils:
    widgets, secrets, notebook = Widgets(), Secrets(), Notebook()

runpy.run_path(sys.argv[1], init_globals={"dbutils": DbUtils()}, run_name="__main__")
print("WIDGETS " + json.dumps(sorted(widgets)))
"""


def run_on_databricks(server: EmulatorServer, **widgets: str) -> subprocess.CompletedProcess[str]:
    """The notebook as Databricks runs it: widgets, the secret scope, dbutils.notebook.exit."""
    values = {
        "tenant_id": SCENARIO["tenant_id"],
        "client_id": CLIENT_ID,
        "subscription_id": SCENARIO["subscription_id"],
        "resource_group": "rg-analytics",
        "factory_name": "adf-demo",
        "authority_host": server.url,
        "management_endpoint": server.url,
        "poll_interval": "0.1",
        **widgets,
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "ADF_", "AIRFLOW"))}
    return subprocess.run(
        [sys.executable, "-c", ON_DATABRICKS, str(NOTEBOOK), json.dumps(values), SECRET],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_on_databricks_the_notebook_reads_its_widgets_and_the_secret_scope(
    server: EmulatorServer,
) -> None:
    result = run_on_databricks(server, pipeline_parameters='{"region": "apac"}')
    assert result.returncode == 0, result.stderr
    exit_line = next(line for line in result.stdout.splitlines() if line.startswith("EXIT "))
    outcome = json.loads(exit_line.removeprefix("EXIT "))
    assert outcome["status"] == "Succeeded"
    assert outcome["pipeline"] == "copy_sales"
    run = next(r for r in server.run_summaries() if r["runId"] == outcome["run_id"])
    assert run["parameters"] == {"region": "apac"}
    widgets = json.loads(result.stdout.rstrip().splitlines()[-1].removeprefix("WIDGETS "))
    expected = {name for name in ENVIRONMENT if name != "client_secret"}
    assert set(widgets) == expected | {"pipeline_name", "pipeline_parameters"}
    assert SECRET not in result.stdout + result.stderr


def test_on_databricks_a_bad_widget_is_named_before_any_run(server: EmulatorServer) -> None:
    before = server.runs_created
    result = run_on_databricks(server, timeout="-5")
    assert result.returncode != 0
    assert "AdfConfigurationError: timeout: '-5'" in result.stderr
    assert "(given by widget timeout)" in result.stderr
    assert server.runs_created == before
    assert SECRET not in result.stdout + result.stderr


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
