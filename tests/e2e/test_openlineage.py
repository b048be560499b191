"""OpenLineage through real Airflow: the events of tests/e2e/dags/adf_lineage.py, written by
the provider's file transport.

The DAG runs in a fresh ``airflow dags test`` process: the OpenLineage provider decides when its
plugin module is first imported whether to register its listener (``conf.is_disabled()``,
cached), and Airflow builds its listener manager once per process. In this test session other
DAGs have already run with OpenLineage off, so configuring it here would not attach the
listener; a new process configured for it does, and runs the DAG through ``dag.test()``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_adf_trigger.emulator import EmulatorServer, Scenario
from tests.conftest import ALL_DAGS
from tests.e2e.conftest import E2E

pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("airflow.providers.openlineage") is None,
        reason="needs the openlineage extra",
    ),
]

DAG_ID = "e2e_lineage"
NAMESPACE = "e2e-lineage"
SECRET = "e2e-secret-4b1d"  # tests/e2e/scenario.json
FACTORY = (
    "/subscriptions/12345678-1234-1234-1234-123456789abc/resourceGroups/rg-analytics"
    "/providers/Microsoft.DataFactory/factories/adf-demo"
)


class Events:
    """The emitted events, by job name and event type."""

    def __init__(self, lines: list[dict[str, Any]]) -> None:
        self.all = lines

    def of(self, job: str) -> list[dict[str, Any]]:
        return [e for e in self.all if e["job"]["name"] == job]

    def one(self, job: str, event_type: str) -> dict[str, Any]:
        (event,) = [e for e in self.of(job) if e["eventType"] == event_type]
        return event

    def children_of(self, task: str) -> list[dict[str, Any]]:
        return [e for e in self.all if e["job"]["name"].startswith(f"{DAG_ID}.{task}.")]


def named(job: dict[str, Any]) -> tuple[str, str]:
    return job["namespace"], job["name"]


class Lineage:
    """One run of the DAG: its events, the raw file, and the emulator it ran against."""

    def __init__(self, events: Events, text: str, emulator: EmulatorServer) -> None:
        self.events = events
        self.text = text
        self.emulator = emulator

    def adf_run(self, run_id: str) -> dict[str, Any]:
        (summary,) = [s for s in self.emulator.run_summaries() if s["runId"] == run_id]
        return summary


@pytest.fixture(scope="module")
def lineage(airflow_db: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lineage]:
    """Run the DAG once with the file transport (about 15 s); every test reads its events."""
    from airflow.configuration import conf

    path = tmp_path_factory.mktemp("openlineage") / "events.jsonl"
    scenario = Scenario.load(E2E / "scenario.json")
    with EmulatorServer(scenario) as emulator:
        env = {
            **os.environ,  # AIRFLOW_HOME and the test database (tests/conftest.py)
            # Airflow's unit-test mode draws a Fernet key per process: share this one, which
            # encrypted what the earlier tests stored (the asset watcher's trigger arguments).
            "AIRFLOW__CORE__FERNET_KEY": conf.get("core", "fernet_key"),
            "AIRFLOW_CONN_ADF_DEFAULT": json.dumps(scenario.airflow_connection(emulator.url)),
            "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
                {"type": "file", "log_file_path": str(path), "append": True}
            ),
            "AIRFLOW__OPENLINEAGE__NAMESPACE": NAMESPACE,
        }
        command = [sys.executable, "-m", "airflow", "dags", "test", DAG_ID]
        done = subprocess.run(
            [*command, "--dagfile-path", str(ALL_DAGS / "adf_lineage.py")],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert path.exists(), done.stdout[-3000:] + done.stderr[-3000:]
        text = path.read_text()
        events = Events([json.loads(line) for line in text.splitlines() if line.strip()])
        yield Lineage(events, text, emulator)


def test_adf_runs_are_child_runs_of_the_task_runs_that_waited(lineage: Lineage) -> None:
    events = lineage.events
    for task in ("run", "deferred", "sense"):
        task_run = events.one(f"{DAG_ID}.{task}", "COMPLETE")
        start, end = events.children_of(task)
        assert (start["eventType"], end["eventType"]) == ("START", "COMPLETE")
        assert start["job"] == end["job"]
        assert start["job"]["namespace"] == NAMESPACE
        assert start["job"]["name"] == f"{DAG_ID}.{task}.copy_sales"
        assert start["run"]["runId"] == end["run"]["runId"] != task_run["run"]["runId"]
        parent = end["run"]["facets"]["parent"]
        assert parent["run"]["runId"] == task_run["run"]["runId"]
        assert named(parent["job"]) == (NAMESPACE, f"{DAG_ID}.{task}")
        # The root is the DAG run, as in the task run's own parent facet.
        root = parent["root"]
        assert root["run"]["runId"] == task_run["run"]["facets"]["parent"]["run"]["runId"]
        assert named(root["job"]) == (NAMESPACE, DAG_ID)
        adf = end["run"]["facets"]["adfPipelineRun"]
        assert lineage.adf_run(adf["runId"])["status"] == adf["status"] == "Succeeded"
        assert adf["pipelineName"] == "copy_sales"
        assert adf["factoryResourceId"] == FACTORY
        assert adf["durationMs"] > 0
        assert adf["monitoringUrl"] == (
            f"https://adf.azure.com/en-us/monitoring/pipelineruns/{adf['runId']}?factory={FACTORY}"
        )
        assert end["run"]["facets"]["externalQuery"]["externalQueryId"] == adf["runId"]
        assert end["run"]["facets"]["externalQuery"]["source"] == "adf://adf-demo"
        # The task run's own event carries the same facet.
        assert task_run["run"]["facets"]["adfPipelineRun"] == adf


def test_the_sensor_reports_the_run_the_trigger_started(lineage: Lineage) -> None:
    events = lineage.events
    trigger = events.one(f"{DAG_ID}.trigger", "COMPLETE")["run"]["facets"]["adfPipelineRun"]
    sensed = events.children_of("sense")[-1]["run"]["facets"]["adfPipelineRun"]
    waited = events.children_of("run")[-1]["run"]["facets"]["adfPipelineRun"]
    assert sensed["runId"] == trigger["runId"] != waited["runId"]
    assert len(lineage.emulator.run_summaries()) == 4  # run, deferred, trigger, broken


def test_the_child_run_spans_adfs_own_start_and_end(lineage: Lineage) -> None:
    start, end = lineage.events.children_of("run")
    adf = end["run"]["facets"]["adfPipelineRun"]
    assert adf["runStart"] == start["eventTime"]
    assert adf["runEnd"] == end["eventTime"]
    assert start["eventTime"] < end["eventTime"]


def test_an_operator_that_does_not_wait_reports_the_run_on_its_own_event_only(
    lineage: Lineage,
) -> None:
    events = lineage.events
    assert events.children_of("trigger") == []
    facets = events.one(f"{DAG_ID}.trigger", "COMPLETE")["run"]["facets"]
    assert facets["adfPipelineRun"]["status"] in ("Queued", "InProgress")
    assert facets["adfPipelineRun"]["pipelineName"] == "copy_sales"
    assert facets["externalQuery"]["externalQueryId"] == facets["adfPipelineRun"]["runId"]


def test_a_failed_run_is_a_failed_child_run_with_adfs_message(lineage: Lineage) -> None:
    events = lineage.events
    task_run = events.one(f"{DAG_ID}.broken", "FAIL")
    start, end = events.children_of("broken")
    assert (start["eventType"], end["eventType"]) == ("START", "FAIL")
    assert end["run"]["facets"]["parent"]["run"]["runId"] == task_run["run"]["runId"]
    assert end["run"]["facets"]["adfPipelineRun"]["status"] == "Failed"
    assert "UserErrorSourceBlobNotExists" in end["run"]["facets"]["errorMessage"]["message"]
    assert task_run["run"]["facets"]["adfPipelineRun"]["status"] == "Failed"


def test_no_secret_or_token_is_in_any_event(lineage: Lineage) -> None:
    tokens = list(lineage.emulator.state.tokens)
    assert tokens, "the DAG signed in"
    assert len(lineage.events.all) >= 12
    assert SECRET not in lineage.text
    for token in tokens:
        assert token not in lineage.text
