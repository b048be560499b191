"""``adf-trigger`` against the emulator on 127.0.0.1: in-process and as a console script."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import requests
from pytest_mock import MockerFixture

from airflow_adf_trigger.cli import main
from airflow_adf_trigger.core.config.connection import settings_from_connection
from airflow_adf_trigger.core.config.environment import ENVIRONMENT
from airflow_adf_trigger.core.wire.client import AdfClient
from airflow_adf_trigger.emulator import EmulatorServer
from tests.clock import FakeClock
from tests.emulator_fixtures import Emulators, states, summary_of
from tests.faults.proxy import FaultProxy, ProxyFault
from tests.fresh import fresh_python, loaded_by
from tests.integration.fast_scenario import CLIENT_ID, SUBSCRIPTION, TENANT, fast_scenario

SECRET = "cli-secret-Zq9+/value=="
"""Has characters that must be URL-quoted in a connection URI."""
WRONG_SECRET = "wrong-secret-Kx7"
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
FAILURE_MESSAGE = (
    "Operation on target Copy sales to lake failed: ErrorCode=UserErrorSourceBlobNotExists,"
    "'The required blob is missing: sales/2026-11-26.csv'"
)
SCENARIO = fast_scenario(
    SECRET,
    FAILURE_MESSAGE,
    slow={"queued_seconds": 0.1, "duration_seconds": 60, "cancel_seconds": 0.1},
    # Running from the moment it exists: the first status a waiting CLI sees is certain.
    running={"queued_seconds": 0, "duration_seconds": 0.3},
)
SETTINGS_ENV = ("ADF_CONNECTION_URI", *ENVIRONMENT.values())


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture(scope="module")
def server(module_emulator_for: Emulators) -> EmulatorServer:
    return module_emulator_for(SCENARIO)


@pytest.fixture
def frozen(
    emulator_for: Emulators, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> EmulatorServer:
    """The same scenario on a clock nobody moves (a run stays Queued, or Canceling once
    cancelled), given to the CLI through ADF_CONNECTION_URI."""
    emulator = emulator_for(SCENARIO, clock=clock)
    monkeypatch.setenv("ADF_CONNECTION_URI", connection_uri(emulator))
    return emulator


@pytest.fixture
def faults(server: EmulatorServer) -> Iterator[EmulatorServer]:
    """The emulator, its faults disarmed after the test, whatever happened."""
    try:
        yield server
    finally:
        server.clear_faults()


@pytest.fixture(autouse=True)
def _no_settings_from_the_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets counts: nothing from the developer's shell."""
    for name in SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)


def connection_uri(server: EmulatorServer, secret: str = SECRET, **extra: str) -> str:
    query = {
        "tenant_id": TENANT,
        "subscription_id": SUBSCRIPTION,
        "resource_group": "rg-analytics",
        "factory_name": "adf-demo",
        "authority_host": server.url,
        "management_endpoint": server.url,
        **extra,
    }
    return f"adf://{quote(CLIENT_ID, safe='')}:{quote(secret, safe='')}@/?{urlencode(query)}"


@pytest.fixture
def conn(server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """Settings from ADF_CONNECTION_URI, as most users give them."""
    monkeypatch.setenv("ADF_CONNECTION_URI", connection_uri(server))
    return server


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    code = main(list(args))
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def finished_run(server: EmulatorServer, pipeline: str) -> str:
    """Start a run with the core client and wait for its end; return its id."""
    connection = server.state.scenario.airflow_connection(server.url)
    settings = settings_from_connection(
        connection["login"], connection["password"], connection["extra"]
    )
    with AdfClient(settings) as client:
        run_id = client.create_run(pipeline)
        client.wait_for_run(run_id, poll_interval=0.05)
    return run_id


@pytest.fixture(scope="module")
def succeeded_run(server: EmulatorServer) -> str:
    return finished_run(server, "copy_sales")


@pytest.fixture(scope="module")
def failed_run(server: EmulatorServer) -> str:
    return finished_run(server, "broken")


# --------------------------------------------------------------------------- run


def test_run_prints_the_run_id_and_exits_0(
    conn: EmulatorServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"region": "emea", "date": "2026-11-26"}))
    result = cli(
        capsys, "run", "copy_sales", "--params-json", str(params), "--param", "region=apac"
    )
    assert result.code == 0, result.err
    run_id = result.out.strip()
    assert GUID.match(run_id), result.out
    assert "https://adf.azure.com/en-us/monitoring/pipelineruns/" + run_id in result.err
    assert summary_of(conn, run_id)["parameters"] == {"region": "apac", "date": "2026-11-26"}


def test_run_json_describes_the_new_run(
    frozen: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    result = cli(capsys, "run", "copy_sales", "--param", "region=emea", "--json")
    assert result.code == 0, result.err
    document = result.json()
    assert GUID.match(document["runId"])
    assert document["pipelineName"] == "copy_sales"
    assert document["status"] == "Queued"
    assert document["parameters"] == {"region": "emea"}
    assert document["monitoringUrl"].endswith("/providers/Microsoft.DataFactory/factories/adf-demo")
    assert result.err == ""


def test_run_wait_follows_a_run_to_success(
    conn: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    result = cli(capsys, "run", "running", "--wait", "--poll-interval", "0.1")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert GUID.match(lines[0])
    assert "\r" not in result.out  # not a terminal: a plain line per status change
    changes = [line for line in lines if line.startswith("[")]
    assert [line.split()[1] for line in changes] == ["InProgress", "Succeeded"]  # one each
    assert re.match(r"^\[00:0\d\] InProgress +pipeline 'running', run " + lines[0], changes[0])
    assert "Status:     Succeeded" in result.out
    assert "Monitor:    https://adf.azure.com/" in result.out


def test_run_wait_of_a_failing_pipeline_exits_1_with_the_activity_error(
    conn: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    result = cli(capsys, "run", "broken", "--wait", "--poll-interval", "0.1")
    assert result.code == 1
    assert "Status:     Failed" in result.out
    assert (
        f"  - activity 'Copy sales to lake' (Copy) failed: [2200] {FAILURE_MESSAGE}" in result.out
    )


def test_run_wait_json_of_a_failing_pipeline(
    conn: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    result = cli(capsys, "run", "broken", "--wait", "--json", "--poll-interval", "0.1")
    assert result.code == 1
    document = result.json()
    assert document["status"] == "Failed"
    assert document["message"] == FAILURE_MESSAGE
    assert document["runStart"] and document["runEnd"]
    assert document["durationInMs"] == 300
    assert document["failures"] == [
        {
            "activityName": "Copy sales to lake",
            "activityType": "Copy",
            "errorCode": "2200",
            "message": FAILURE_MESSAGE,
        }
    ]


# --------------------------------------------------------------------------- status, wait


def test_status_of_a_failed_run_reports_and_exits_0(
    conn: EmulatorServer, failed_run: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = cli(capsys, "status", failed_run)
    assert result.code == 0, result.err
    for expected in (
        f"Run:        {failed_run}",
        "Pipeline:   broken",
        "Status:     Failed",
        "Duration:   300ms",
        f"Message:    {FAILURE_MESSAGE}",
        "(Copy) failed: [2200]",
        f"pipelineruns/{failed_run}?factory=",
    ):
        assert expected in result.out
    assert re.search(r"Started: +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", result.out)


def test_status_json(
    conn: EmulatorServer, succeeded_run: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = cli(capsys, "status", succeeded_run, "--json")
    assert result.code == 0, result.err
    document = result.json()
    assert set(document) == {
        "runId",
        "pipelineName",
        "status",
        "message",
        "runStart",
        "runEnd",
        "durationInMs",
        "parameters",
        "failures",
        "monitoringUrl",
    }
    assert document["runId"] == succeeded_run
    assert document["status"] == "Succeeded"
    assert document["failures"] == []
    assert document["durationInMs"] == 300


def test_wait_for_finished_runs(
    conn: EmulatorServer,
    succeeded_run: str,
    failed_run: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ok = cli(capsys, "wait", succeeded_run, "--poll-interval", "0.1")
    assert ok.code == 0, ok.err
    assert "Status:     Succeeded" in ok.out
    failed = cli(capsys, "wait", failed_run, "--json")
    assert failed.code == 1
    assert failed.json()["failures"][0]["errorCode"] == "2200"


def test_wait_timeout_exits_1_and_says_so(
    frozen: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = cli(capsys, "run", "slow").out.strip()
    result = cli(capsys, "wait", run_id, "--poll-interval", "0.1", "--timeout", "0.3", "--json")
    assert result.code == 1
    document = result.json()
    assert document["timedOut"] is True
    assert document["status"] == "Queued"
    assert "timed out" in result.err
    assert f"adf-trigger cancel {run_id}" in result.err
    assert frozen.request_counts().get("cancel run", 0) == 0  # waiting never cancels
    assert states(frozen, run_id) == ["Queued"]


def test_a_terminal_gets_one_live_line(
    conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    assert main(["run", "running", "--wait", "--poll-interval", "0.1"]) == 0
    output = terminal.getvalue()
    live = output.split("\n")[1]
    assert re.match(r"\r\[00:00\] InProgress ", live)
    assert live.count("\r") >= 2
    assert re.search(r"\r\[00:0\d\] Succeeded +pipeline 'running', run ", live)
    assert "Status:     Succeeded" in output


# --------------------------------------------------------------------------- cancel, activities


def test_cancel_a_running_run(conn: EmulatorServer, capsys: pytest.CaptureFixture[str]) -> None:
    recursive = cli(capsys, "run", "slow").out.strip()
    result = cli(capsys, "cancel", recursive)
    assert result.code == 0, result.err
    assert f"cancel requested for run {recursive} (with its child pipelines)" in result.out
    assert summary_of(conn, recursive)["cancelled_recursive"] is True

    flat = cli(capsys, "run", "slow").out.strip()
    result = cli(capsys, "cancel", flat, "--no-recursive", "--json")
    assert result.code == 0, result.err
    assert result.json() == {"runId": flat, "cancelRequested": True, "finishedStatus": None}
    assert summary_of(conn, flat)["cancelled_recursive"] is False

    cancelled = cli(capsys, "wait", flat, "--poll-interval", "0.1")
    assert cancelled.code == 1  # a Cancelled run is not a success
    assert "Status:     Cancelled" in cancelled.out


def test_cancel_a_finished_run_is_not_an_error(
    conn: EmulatorServer, succeeded_run: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = cli(capsys, "cancel", succeeded_run)
    assert result.code == 0, result.err
    assert result.out.strip() == f"run {succeeded_run} already finished with status Succeeded"
    document = cli(capsys, "cancel", succeeded_run, "--json").json()
    assert document == {
        "runId": succeeded_run,
        "cancelRequested": False,
        "finishedStatus": "Succeeded",
    }


def test_activities(
    conn: EmulatorServer, failed_run: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = cli(capsys, "activities", failed_run)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == f"Pipeline 'broken' run {failed_run}: Failed"
    assert re.match(r"^Lookup files +Lookup +Succeeded +100ms$", lines[1])
    assert re.match(
        r"^Copy sales to lake +Copy +Failed +200ms +\[2200\] Operation on target", lines[2]
    )

    document = cli(capsys, "activities", failed_run, "--json").json()
    assert [a["activityName"] for a in document] == ["Lookup files", "Copy sales to lake"]
    assert [a["status"] for a in document] == ["Succeeded", "Failed"]
    assert document[0]["error"] is None
    assert document[1]["error"]["errorCode"] == "2200"
    assert document[1]["error"]["message"] == FAILURE_MESSAGE
    assert document[1]["durationInMs"] == 200


# --------------------------------------------------------------------------- settings


def test_settings_from_flags_and_client_secret_env(
    server: EmulatorServer,
    succeeded_run: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MY_ADF_SECRET", SECRET)
    result = cli(
        capsys,
        "status",
        succeeded_run,
        "--tenant-id",
        TENANT,
        "--client-id",
        CLIENT_ID,
        "--client-secret-env",
        "MY_ADF_SECRET",
        "--subscription-id",
        SUBSCRIPTION,
        "--resource-group",
        "rg-analytics",
        "--factory-name",
        "adf-demo",
        "--authority-host",
        server.url,
        "--management-endpoint",
        server.url,
    )
    assert result.code == 0, result.err
    assert "Status:     Succeeded" in result.out


def test_settings_from_the_connection_uri_flag_and_json_form(
    server: EmulatorServer,
    succeeded_run: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = cli(capsys, "status", succeeded_run, "--connection-uri", connection_uri(server))
    assert result.code == 0, result.err

    monkeypatch.setenv(
        "ADF_CONNECTION_URI", json.dumps(server.state.scenario.airflow_connection(server.url))
    )
    result = cli(capsys, "status", succeeded_run, "--json")
    assert result.code == 0, result.err
    assert result.json()["status"] == "Succeeded"


def test_settings_from_azure_and_adf_environment_variables(
    server: EmulatorServer,
    succeeded_run: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in {
        "AZURE_TENANT_ID": TENANT,
        "AZURE_CLIENT_ID": CLIENT_ID,
        "AZURE_CLIENT_SECRET": SECRET,
        "ADF_SUBSCRIPTION_ID": SUBSCRIPTION,
        "ADF_RESOURCE_GROUP": "rg-analytics",
        "ADF_FACTORY_NAME": "adf-demo",
        "ADF_AUTHORITY_HOST": server.url,
        "ADF_MANAGEMENT_ENDPOINT": server.url,
    }.items():
        monkeypatch.setenv(name, value)
    result = cli(capsys, "status", succeeded_run)
    assert result.code == 0, result.err
    assert "Status:     Succeeded" in result.out


def test_flags_beat_the_connection_which_beats_the_environment(
    server: EmulatorServer,
    succeeded_run: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The environment names another factory and a wrong secret; the connection overrides both.
    monkeypatch.setenv("ADF_FACTORY_NAME", "adf-other")
    monkeypatch.setenv("AZURE_CLIENT_SECRET", WRONG_SECRET)
    monkeypatch.setenv("ADF_CONNECTION_URI", connection_uri(server, factory_name="adf-wrong"))
    # ...and the connection's factory is wrong too, until a flag fixes it.
    assert cli(capsys, "status", succeeded_run).code == 3
    result = cli(capsys, "--factory-name", "adf-demo", "status", succeeded_run)
    assert result.code == 0, result.err
    result = cli(capsys, "status", succeeded_run, "--factory-name", "adf-demo")
    assert result.code == 0, result.err


# --------------------------------------------------------------------------- errors


def test_missing_settings_exit_2_and_say_how_to_give_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = cli(capsys, "status", "586bd440-7d70-4a5c-9cb1-424a7d2bcbf0")
    assert result.code == 2
    assert result.out == ""
    assert result.err.startswith("adf-trigger: error: missing settings: tenant_id (--tenant-id")
    for hint in ("$AZURE_CLIENT_SECRET", "--client-secret-env", "$ADF_FACTORY_NAME"):
        assert hint in result.err
    assert "ADF_CONNECTION_URI" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_a_secret_env_that_is_not_set_exits_2(
    conn: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    result = cli(
        capsys, "status", "586bd440-7d70-4a5c-9cb1-424a7d2bcbf0", "--client-secret-env", "NOPE"
    )
    assert result.code == 2
    assert "environment variable NOPE" in result.err


def test_malformed_values_exit_2_naming_the_field(
    conn: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    bad_run = cli(capsys, "status", "not-a-guid")
    assert bad_run.code == 2
    assert bad_run.err.startswith("adf-trigger: error: run_id: 'not-a-guid' is not a GUID")

    bad_subscription = cli(capsys, "cancel", "not-a-guid-either", "--subscription-id", "sub-1")
    assert bad_subscription.code == 2
    assert "subscription_id: 'sub-1' is not a GUID" in bad_subscription.err
    assert "(given by --subscription-id)" in bad_subscription.err

    bad_uri = cli(capsys, "status", "not-a-guid", "--connection-uri", "postgres://u:p@db/x")
    assert bad_uri.code == 2
    assert "connection type 'postgres'" in bad_uri.err


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["run"],
        ["status"],
        ["frobnicate"],
        ["wait", "586bd440-7d70-4a5c-9cb1-424a7d2bcbf0", "--poll-interval", "0"],
        ["run", "copy_sales", "--param", "no-equals-sign"],
        ["run", "copy_sales", "--params-json", "/does/not/exist.json"],
    ],
)
def test_bad_usage_exits_2(
    conn: EmulatorServer, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    before = conn.runs_created
    result = cli(capsys, *args)
    assert result.code == 2
    assert re.search(r"^adf-trigger( \w+)?: error: ", result.err, re.MULTILINE)
    assert conn.runs_created == before


def test_a_wrong_secret_exits_3_naming_aadsts7000215(
    server: EmulatorServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ADF_CONNECTION_URI", connection_uri(server, secret=WRONG_SECRET))
    before = server.runs_created
    result = cli(capsys, "run", "copy_sales")
    assert result.code == 3
    assert result.out == ""
    assert result.err.startswith("adf-trigger: error: Azure AD rejected the client secret")
    assert "AADSTS7000215" in result.err
    assert WRONG_SECRET not in result.out + result.err
    assert server.runs_created == before


def test_an_unknown_pipeline_exits_3(
    conn: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    result = cli(capsys, "run", "no_such_pipeline")
    assert result.code == 3
    assert "Pipeline 'no_such_pipeline' was not found" in result.err
    assert "HTTP 404" in result.err


def test_an_unknown_run_exits_3(conn: EmulatorServer, capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "status", "00000000-0000-0000-0000-000000000000")
    assert result.code == 3
    assert "HTTP 404" in result.err


def test_the_secret_never_appears_in_any_output(
    server: EmulatorServer,
    succeeded_run: str,
    failed_run: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ADF_CONNECTION_URI", connection_uri(server))
    monkeypatch.setenv("AZURE_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("MY_ADF_SECRET", SECRET)
    invocations = [
        ["--help"],
        *([command, "--help"] for command in ("run", "status", "wait", "cancel", "activities")),
        ["run", "copy_sales", "--wait", "--poll-interval", "0.1"],
        ["run", "broken", "--wait", "--json", "--poll-interval", "0.1"],
        ["status", failed_run, "--json"],
        ["wait", succeeded_run],
        ["cancel", succeeded_run, "--json"],
        ["activities", failed_run, "--json"],
        ["status", "not-a-guid"],
        ["status", succeeded_run, "--client-secret-env", "MY_ADF_SECRET", "--factory-name", "x"],
        ["status", succeeded_run, "--connection-uri", connection_uri(server, factory_name="x!")],
        ["status", succeeded_run, "--connection-uri", '{"login": "x", "password": "' + SECRET],
    ]
    for args in invocations:
        result = cli(capsys, *args)
        assert SECRET not in result.out + result.err, args
        assert quote(SECRET, safe="") not in result.out + result.err, args


# --------------------------------------------------------------------------- exactly one run

WINDOW = re.compile(
    r"Look in ADF monitoring for runs of 'copy_sales' started between "
    r"(\d{4}-\d\d-\d\dT[\d:.]+\+00:00) and (\d{4}-\d\d-\d\dT[\d:.]+\+00:00)"
)


def assert_outcome_unknown(result: Result) -> None:
    """Exit 3 (not 1: no run failed), a time window to look in, no traceback, no run id."""
    assert result.code == 3, result.err
    assert result.out == ""
    assert result.err.startswith("adf-trigger: error: The create-run request for pipeline")
    assert "the run may have started. It was not sent again" in result.err
    window = WINDOW.search(result.err)
    assert window, result.err
    assert window.group(1) <= window.group(2)
    assert len(result.err.strip().splitlines()) == 1
    assert SECRET not in result.err


@pytest.mark.parametrize("wait", [[], ["--wait", "--poll-interval", "0.05"]], ids=["run", "wait"])
@pytest.mark.parametrize(
    ("fault", "runs_started"),
    [
        ({"action": "lose_response"}, 1),
        ({"action": "drop"}, 0),
        ({"action": "status", "status": 500}, 0),
        ({"action": "status", "status": 503}, 0),
    ],
    ids=["lost-response", "dropped", "http-500", "http-503"],
)
def test_a_create_run_without_a_usable_answer_exits_3_with_the_window(
    conn: EmulatorServer,
    faults: EmulatorServer,
    fault: dict[str, Any],
    runs_started: int,
    wait: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    faults.add_fault(operation="create run", **fault)
    before = conn.runs_created
    sent = conn.request_counts().get("create run", 0)
    result = cli(capsys, "run", "copy_sales", *wait)
    assert_outcome_unknown(result)
    assert conn.request_counts()["create run"] == sent + 1  # never sent twice
    assert conn.runs_created == before + runs_started


@pytest.mark.parametrize(
    "body",
    [
        b"<html>Service Unavailable</html>",
        b"[]",
        b"{}",
        b'{"runId": null}',
        b'{"runId": "not-a-guid"}',
        b'{"runId": "586bd440-7d70-4a5c-9cb1-424a7d2bcbf0/../x"}',
    ],
    ids=["not-json", "not-an-object", "no-run-id", "null-run-id", "text-run-id", "path-run-id"],
)
def test_an_unreadable_create_run_answer_exits_3_with_the_window(
    server: EmulatorServer,
    body: bytes,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """ADF processes the create-run (the run exists), but its 200 answer reads as ``body``."""
    with FaultProxy(server.url) as proxy:
        proxy.arm("create-run", ProxyFault(action="answer", forward=True, body=body))
        endpoints = {
            "authority_host": proxy.authority_url,
            "management_endpoint": proxy.management_url,
        }
        monkeypatch.setenv("ADF_CONNECTION_URI", connection_uri(server, **endpoints))
        before = server.runs_created
        result = cli(capsys, "run", "copy_sales", "--wait", "--poll-interval", "0.05")
    assert_outcome_unknown(result)
    assert server.runs_created == before + 1
    assert proxy.received["get-run"] == 0  # nothing to wait for: no run id was believed


def test_ctrl_c_while_create_run_is_in_flight_exits_130_with_the_window(
    conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    send = requests.Session.request

    def request(self: requests.Session, method: str, url: str, **kwargs: Any) -> Any:
        response = send(self, method, url, **kwargs)
        if url.endswith("/createRun"):
            raise KeyboardInterrupt
        return response

    monkeypatch.setattr(requests.Session, "request", request)
    before = conn.runs_created
    result = cli(capsys, "run", "copy_sales", "--wait")
    assert result.code == 130
    assert WINDOW.search(result.err), result.err
    assert "interrupted before the answer came" in result.err
    assert conn.runs_created == before + 1


def test_a_throttled_create_run_is_sent_again_and_starts_one_run(
    conn: EmulatorServer, faults: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    faults.add_fault(operation="create run", action="status", status=429, retry_after_ms=10)
    before = conn.runs_created
    sent = conn.request_counts().get("create run", 0)
    applied = faults.faults_applied
    result = cli(capsys, "run", "copy_sales", "--wait", "--poll-interval", "0.05")
    assert result.code == 0, result.err
    assert conn.runs_created == before + 1
    assert conn.request_counts()["create run"] == sent + 2  # refused once, then sent again
    assert faults.faults_applied == applied + 1


def test_an_unexpected_failure_is_one_line_not_a_traceback(
    conn: EmulatorServer,
    succeeded_run: str,
    mocker: MockerFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    broken = RuntimeError("the transport broke on a get run")
    mocker.patch.object(requests.Session, "request", side_effect=broken)
    result = cli(capsys, "status", succeeded_run)
    assert result.code == 3
    assert result.err.startswith("adf-trigger: error: unexpected RuntimeError: the transport")
    assert len(result.err.strip().splitlines()) == 1


# --------------------------------------------------------------------------- outages


def outage_warnings(result: Result) -> list[str]:
    return [line for line in result.err.splitlines() if "warning: still waiting for run" in line]


@pytest.mark.parametrize(
    "fault",
    [{"action": "status", "status": 503}, {"action": "status", "status": 429}, {"action": "drop"}],
    ids=["http-503", "http-429", "dropped"],
)
def test_wait_goes_on_through_an_outage_longer_than_one_request_retries(
    conn: EmulatorServer,
    faults: EmulatorServer,
    fault: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_id = cli(capsys, "run", "copy_sales").out.strip()
    faults.add_fault(operation="get run", times=3, **fault)
    # One attempt per request: each fault outlasts a request's whole retry budget.
    result = cli(capsys, "wait", run_id, "--poll-interval", "0.05", "--retry-max-attempts", "1")
    assert result.code == 0, result.err
    assert "Status:     Succeeded" in result.out
    warnings = outage_warnings(result)
    assert len(warnings) == 3, result.err
    assert all(f"still waiting for run {run_id}: Azure could not be" in w for w in warnings)
    assert "s of the 900 s outage budget (--outage-budget); last error: " in warnings[-1]
    assert f"warning: Azure answers again: run {run_id} is" in result.err
    assert [fault["remaining"] for fault in faults.faults()] == [0]  # all three were served


def test_run_wait_goes_on_through_an_outage_with_the_retry_budget_from_the_environment(
    conn: EmulatorServer,
    faults: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ADF_RETRY_MAX_SECONDS", "0")  # no time for a retry within a request
    monkeypatch.setenv("ADF_POLL_INTERVAL", "0.05")
    faults.add_fault(operation="get run", action="status", status=502, times=2)
    before = conn.runs_created
    result = cli(capsys, "run", "copy_sales", "--wait", "--json")
    assert result.code == 0, result.err
    assert result.json()["status"] == "Succeeded"
    assert len(outage_warnings(result)) == 2  # on stderr, even with --json
    assert conn.runs_created == before + 1


@pytest.mark.parametrize(
    ("budget", "warned"),
    [("0.2", True), ("0", False)],
    ids=["small-budget", "no-budget"],
)
def test_an_outage_longer_than_the_budget_exits_3(
    conn: EmulatorServer,
    faults: EmulatorServer,
    succeeded_run: str,
    budget: str,
    warned: bool,
    capsys: pytest.CaptureFixture[str],
) -> None:
    faults.add_fault(operation="get run", action="status", status=503, times=-1)
    result = cli(
        capsys,
        "wait",
        succeeded_run,
        "--poll-interval",
        "0.05",
        "--retry-max-attempts",
        "1",
        "--outage-budget",
        budget,
    )
    assert result.code == 3
    assert result.out == ""
    assert bool(outage_warnings(result)) is warned  # none once the budget is spent
    last = result.err.strip().splitlines()[-1]
    assert last.startswith(f"adf-trigger: error: Stopped waiting for run {succeeded_run}: ")
    assert "Azure could not be read for" in last
    assert "HTTP 503" in last
    assert "The run itself was not touched" in last


def test_run_wait_past_its_outage_budget_exits_3_saying_the_run_started(
    conn: EmulatorServer,
    faults: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ADF_OUTAGE_BUDGET", "0.1")
    monkeypatch.setenv("ADF_RETRY_MAX_ATTEMPTS", "1")
    faults.add_fault(operation="get run", action="drop", times=-1)
    result = cli(capsys, "run", "slow", "--wait", "--poll-interval", "0.05")
    assert result.code == 3
    run_id = result.out.splitlines()[0]
    assert GUID.match(run_id)
    assert f"pipeline 'slow' run {run_id} was started, but: Stopped waiting" in result.err
    faults.clear_faults()
    assert summary_of(conn, run_id)["status"] == "InProgress"  # never cancelled
    assert cli(capsys, "cancel", run_id).code == 0


# --------------------------------------------------------------------------- token api


def token_paths(sent: Any) -> list[str]:
    """The path of every token request a spy on ``requests.Session.request`` saw."""
    urls = [call.args[2] for call in sent.call_args_list]  # (session, method, url)
    return [url.split("/", 3)[3] for url in urls if "/oauth2/" in url]


@pytest.mark.parametrize(
    ("flags", "env", "expected"),
    [
        ([], {}, f"{TENANT}/oauth2/v2.0/token"),
        (["--token-api", "v1"], {}, f"{TENANT}/oauth2/token"),
        ([], {"ADF_TOKEN_API": "v1"}, f"{TENANT}/oauth2/token"),
        (["--token-api", "v2"], {"ADF_TOKEN_API": "v1"}, f"{TENANT}/oauth2/v2.0/token"),
    ],
    ids=["default-v2", "flag-v1", "env-v1", "flag-beats-env"],
)
def test_token_api_from_the_flag_or_the_environment(
    conn: EmulatorServer,
    succeeded_run: str,
    flags: list[str],
    env: dict[str, str],
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    mocker: MockerFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    sent = mocker.spy(requests.Session, "request")
    result = cli(capsys, "status", succeeded_run, *flags)
    assert result.code == 0, result.err
    assert token_paths(sent) == [expected]


def test_the_poll_floor_spares_the_local_emulator_only(
    conn: EmulatorServer, succeeded_run: str, capsys: pytest.CaptureFixture[str]
) -> None:
    local = cli(capsys, "wait", succeeded_run, "--poll-interval", "0.01")
    assert local.code == 0, local.err
    remote = cli(
        capsys,
        "wait",
        succeeded_run,
        "--poll-interval",
        "0.01",
        "--management-endpoint",
        "https://management.azure.com",
    )
    assert remote.code == 2
    assert "poll_interval: '0.01' is below the 1 s floor" in remote.err
    assert "(given by --poll-interval)" in remote.err


# --------------------------------------------------------------------------- as a program


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_ENV}
    return {**env, **extra}


def test_the_console_script_runs_a_pipeline(succeeded_run: str, server: EmulatorServer) -> None:
    script = shutil.which("adf-trigger", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "airflow_adf_trigger.cli"]
    result = subprocess.run(
        [
            *command,
            "run",
            "copy_sales",
            "--param",
            "region=emea",
            "--wait",
            "--poll-interval",
            "0.1",
        ],
        env=subprocess_env(ADF_CONNECTION_URI=connection_uri(server)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert GUID.match(result.stdout.splitlines()[0])
    assert "Status:     Succeeded" in result.stdout
    assert "\r" not in result.stdout + result.stderr
    assert SECRET not in result.stdout + result.stderr

    wrong = subprocess.run(
        [sys.executable, "-m", "airflow_adf_trigger.cli", "status", succeeded_run],
        env=subprocess_env(ADF_CONNECTION_URI=connection_uri(server, secret=WRONG_SECRET)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrong.returncode == 3
    assert "AADSTS7000215" in wrong.stderr
    assert "Traceback" not in wrong.stderr
    assert WRONG_SECRET not in wrong.stdout + wrong.stderr


def test_the_cli_works_without_airflow(server: EmulatorServer, succeeded_run: str) -> None:
    code = (
        "from airflow_adf_trigger.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    raise AssertionError('--help must return, not exit')\n"
        f"code = main(['status', {succeeded_run!r}, '--json'])\n"
        "assert not any(m == 'airflow' or m.startswith('airflow.') for m in sys.modules)\n"
        "sys.exit(code)\n"
    )
    result = fresh_python(
        code,
        without_airflow=True,
        env=subprocess_env(ADF_CONNECTION_URI=connection_uri(server)),
    )
    assert result.returncode == 0, result.stderr
    assert "usage: adf-trigger" in result.stdout
    assert '"status": "Succeeded"' in result.stdout


def test_help_is_cheap_to_import() -> None:
    statements = ["from airflow_adf_trigger.cli import main", "main(['--help'])"]
    assert loaded_by(statements, ("requests", "airflow_adf_trigger.core")) == []


def test_a_reader_that_goes_away_stops_it_quietly(frozen: EmulatorServer) -> None:
    """`adf-trigger run slow --wait | head -1`: a real pipe, closed after the first line."""
    read_end, write_end = os.pipe()
    command = ["run", "slow", "--wait", "--poll-interval", "0.05"]
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_adf_trigger.cli", *command],
        env=subprocess_env(ADF_CONNECTION_URI=connection_uri(frozen)),
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        run_id = pipe.readline().strip()
    # The reader is gone. The run stays Queued (nothing to write) until it is cancelled: the
    # CLI's next line, Canceling, goes nowhere.
    assert GUID.match(run_id)
    assert cli_cancel(frozen, run_id) == 0
    _, err = process.communicate(timeout=60)
    assert process.returncode == 141, err
    assert "Traceback" not in err
    assert "BrokenPipeError" not in err
    assert "Exception ignored" not in err
    assert states(frozen, run_id) == ["Canceling"]


def cli_cancel(server: EmulatorServer, run_id: str) -> int:
    connection = server.state.scenario.airflow_connection(server.url)
    settings = settings_from_connection(
        connection["login"], connection["password"], connection["extra"]
    )
    with AdfClient(settings) as client:
        return 0 if client.cancel_run(run_id).cancel_requested else 1


def test_the_cli_defaults_are_the_core_client_defaults() -> None:
    """Declared again in the CLI so that --help imports nothing heavy; they must agree."""
    from airflow_adf_trigger import cli
    from airflow_adf_trigger.core.errors import DEFAULT_OUTAGE_BUDGET

    assert cli.DEFAULT_OUTAGE_BUDGET == DEFAULT_OUTAGE_BUDGET


def test_doctor_checks_a_factory_and_starts_nothing(
    conn: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    before = conn.runs_created
    result = cli(capsys, "doctor", "--pipeline", "copy_sales")
    assert result.code == 0, result.err
    checks = ("sign-in", "factory access", "pipeline", "run key", "query forms", "clock")
    for name in (*checks, "read budget"):
        assert re.search(rf"^OK +{name} ", result.out, re.MULTILINE), result.out
    assert result.out.rstrip().endswith("all checks passed")
    assert conn.runs_created == before
    assert SECRET not in result.out + result.err


def test_doctor_json_and_a_failed_check_exit_3(
    conn: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    result = cli(capsys, "doctor", "--pipeline", "no_such_pipeline", "--json")
    assert result.code == 3
    report = json.loads(result.out)
    assert report["ok"] is False
    assert {c["name"]: c["status"] for c in report["checks"]}["pipeline"] == "fail"


def test_doctor_run_starts_one_run(
    conn: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    before = conn.runs_created
    result = cli(capsys, "doctor", "--run", "copy_sales")
    assert result.code == 0, result.err
    assert conn.runs_created == before + 1
    assert re.search(r"^OK +run +started run [0-9a-f-]{36} of 'copy_sales'", result.out, re.M)


def credentials_only(server: EmulatorServer, subscription: str = SUBSCRIPTION) -> str:
    """An official-format connection (JSON) holding only the credentials and subscription."""
    return json.dumps(
        {
            "conn_type": "azure_data_factory",
            "login": CLIENT_ID,
            "password": SECRET,
            "extra": {
                "tenantId": TENANT,
                "subscriptionId": subscription,
                "authority_host": server.url,
                "management_endpoint": server.url,
            },
        }
    )


def test_a_credential_only_connection_takes_the_factory_from_flags_or_variables(
    server: EmulatorServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ADF_CONNECTION_URI", credentials_only(server))
    missing = cli(capsys, "run", "copy_sales")
    assert missing.code == 2
    assert "resource_group (--resource-group or $ADF_RESOURCE_GROUP)" in missing.err
    assert "factory_name (--factory-name or $ADF_FACTORY_NAME)" in missing.err
    flags = cli(
        capsys,
        "run",
        "copy_sales",
        "--resource-group",
        "rg-analytics",
        "--factory-name",
        "adf-demo",
    )
    assert flags.code == 0, flags.err
    monkeypatch.setenv("ADF_RESOURCE_GROUP", "rg-analytics")
    monkeypatch.setenv("ADF_FACTORY_NAME", "adf-demo")
    variables = cli(capsys, "run", "copy_sales")
    assert variables.code == 0, variables.err
    assert {summary_of(server, r.out.strip())["pipelineName"] for r in (flags, variables)} == {
        "copy_sales"
    }
    assert SECRET not in missing.err + flags.err + variables.err


def test_doctor_on_a_credential_only_connection_checks_sign_in_and_the_subscription(
    server: EmulatorServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ADF_CONNECTION_URI", credentials_only(server))
    result = cli(capsys, "doctor", "--json")
    assert result.code == 0, result.err
    checks = {c["name"]: c["status"] for c in json.loads(result.out)["checks"]}
    # The emulator does not serve Factories_List: the subscription is not confirmed.
    assert checks == {"sign-in": "ok", "subscription": "warn"}
    needs_factory = cli(capsys, "doctor", "--pipeline", "copy_sales")
    assert needs_factory.code == 2
    assert "--pipeline needs the data factory: give --resource-group and --factory-name" in (
        needs_factory.err
    )
    other = "00000000-0000-0000-0000-000000000000"
    monkeypatch.setenv("ADF_CONNECTION_URI", credentials_only(server, other))
    unknown = cli(capsys, "doctor")
    assert unknown.code == 3
    assert f"Subscription {other} was not found" in unknown.out
    assert SECRET not in result.out + needs_factory.err + unknown.out + unknown.err
