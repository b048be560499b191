"""The example DAG, run for real by Airflow (dag.test()) against the emulator."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_adf_trigger.emulator import EmulatorServer, Scenario
from tests.conftest import REPO
from tests.e2e.conftest import task_states, xcom_values

DAG_ID = "adf_trigger_then_sense"
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def test_trigger_then_sense_succeeds_and_shares_the_run_id(
    example_dag: Callable[[str], Any],
    emulator: EmulatorServer,
    adf_connection_env: dict[str, Any],
    capfd: pytest.CaptureFixture[str],
) -> None:
    dag_run = example_dag(DAG_ID).test()

    assert str(dag_run.state) == "success"
    assert emulator.runs_created == 1
    (emulator_run_id,) = emulator.state.runs
    xcom = xcom_values(DAG_ID, dag_run.run_id)
    assert xcom[("trigger_copy_sales", "run_id")] == emulator_run_id
    assert xcom[("report", "return_value")] == emulator_run_id
    (run,) = emulator.state.runs.values()
    assert run.parameters["region"] == "emea"
    assert run.parameters["date"] == dag_run.logical_date.strftime("%Y-%m-%d")

    with emulator.state.lock:
        tokens = list(emulator.state.tokens)
    secrets = [adf_connection_env["password"], *tokens]
    output = capfd.readouterr()
    stored = repr(xcom) + repr(rendered_fields(DAG_ID, dag_run.run_id))
    assert "'region': 'emea'" in stored  # the rendered parameters are really in there
    for secret in secrets:  # not in logs, XCom or rendered template fields
        assert secret not in output.out + output.err + stored


def rendered_fields(dag_id: str, run_id: str) -> list[Any]:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(RenderedTaskInstanceFields)
            .filter(
                RenderedTaskInstanceFields.dag_id == dag_id,
                RenderedTaskInstanceFields.run_id == run_id,
            )
            .all()
        )
        assert rows, "Airflow stored no rendered fields"
        return [row.rendered_fields for row in rows]


def test_failed_pipeline_fails_the_dag_with_the_pipelines_message(
    example_dag: Callable[[str], Any],
    failing_scenario: Scenario,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    with EmulatorServer(failing_scenario) as emulator:
        connection = failing_scenario.airflow_connection(emulator.url)
        monkeypatch.setenv("AIRFLOW_CONN_ADF_DEFAULT", json.dumps(connection))
        dag_run = example_dag(DAG_ID).test()
        assert emulator.runs_created == 1
        (run_id,) = emulator.state.runs

    assert str(dag_run.state) == "failed"
    assert task_states(dag_run) == {
        "trigger_copy_sales": "success",
        "wait_for_copy_sales": "failed",
        "report": "upstream_failed",
    }
    output = capfd.readouterr().out
    error_lines = [line for line in output.splitlines() if "AirflowFailException" in line]
    assert any(
        f"run {run_id} ended Failed: Operation on target Copy sales to lake failed" in line
        and "UserErrorSourceBlobNotExists" in line
        for line in error_lines
    ), error_lines


def test_wrong_secret_fails_the_trigger_with_aadsts7000215_and_no_secret(
    example_dag: Callable[[str], Any],
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    wrong = "wrong-secret-3f9c1d"
    connection = emulator.state.scenario.airflow_connection(emulator.url)
    connection["password"] = wrong
    monkeypatch.setenv("AIRFLOW_CONN_ADF_DEFAULT", json.dumps(connection))

    dag_run = example_dag(DAG_ID).test()

    assert str(dag_run.state) == "failed"
    assert task_states(dag_run)["trigger_copy_sales"] == "failed"
    assert emulator.runs_created == 0
    output = capfd.readouterr()
    assert "AADSTS7000215" in output.out
    assert "check the connection holds the secret's value" in output.out
    assert wrong not in output.out + output.err


def run_demo(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "testbed.demo", "--work-dir", str(tmp_path)],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_demo_prints_the_run_id_and_succeeded(tmp_path: Path, demo_scenario: Scenario) -> None:
    result = run_demo(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    run_id_line = next(line for line in result.stdout.splitlines() if "Pipeline run id:" in line)
    assert GUID.search(run_id_line)
    assert re.search(r"^Final status:\s+Succeeded$", result.stdout, re.MULTILINE)
    secret = demo_scenario.service_principals[0].client_secret
    full_log = (tmp_path / "airflow-dags-test.log").read_text()
    assert secret not in result.stdout + result.stderr + full_log


def test_demo_with_a_wrong_secret_gives_one_line_naming_aadsts7000215(tmp_path: Path) -> None:
    result = run_demo(tmp_path, ADF_DEMO_CLIENT_SECRET="typo-in-the-secret")
    assert result.returncode == 1
    (line,) = [line for line in result.stdout.splitlines() if "AADSTS" in line]
    assert "AADSTS7000215" in line and "secret's value" in line
    assert "typo-in-the-secret" not in result.stdout + result.stderr
