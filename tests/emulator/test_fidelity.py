"""What the emulator answers where Azure's public examples and bug reports show the answer.

Each test names its source; docs/emulator-fidelity.md lists them all.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
import requests

from airflow_adf_trigger.emulator import EmulatorServer, Scenario
from airflow_adf_trigger.emulator.scenario import ScenarioError
from tests.clock import FakeClock
from tests.emulator.test_protocol import (
    API,
    CLIENT_ID,
    SECRET,
    SUBSCRIPTION,
    TENANT,
    WINDOW,
    Adf,
    scenario_json,
)
from tests.emulator_fixtures import Emulators

READS = "x-ms-ratelimit-remaining-subscription-reads"
WRITES = "x-ms-ratelimit-remaining-subscription-writes"


@pytest.fixture
def server(emulator_for: Emulators, clock: FakeClock) -> EmulatorServer:
    return emulator_for(scenario_json(), clock=clock)


@pytest.fixture
def adf(server: EmulatorServer) -> Adf:
    return Adf(server)


def token(server: EmulatorServer, *, v1: bool = False, **form: str) -> requests.Response:
    fields = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET}
    path = "oauth2/token" if v1 else "oauth2/v2.0/token"
    return requests.post(
        f"{server.url}/{form.pop('tenant', TENANT)}/{path}", data={**fields, **form}, timeout=5
    )


# ---------------------------------------------------------------------- ARM headers


def test_reads_and_writes_report_a_decreasing_remaining_budget(adf: Adf) -> None:
    """Every 2018-06-01 example: reads on GET and the query POSTs, writes on create/cancel."""
    first = adf.get("")
    second = adf.get("")
    assert int(first.headers[READS]) > int(second.headers[READS]) > 14000
    assert WRITES not in first.headers
    created = adf.post("/pipelines/copy_sales/createRun")
    run_id = created.json()["runId"]
    assert 1000 < int(created.headers[WRITES]) < 1200
    assert READS not in created.headers
    cancel = adf.cancel(run_id)
    assert int(cancel.headers[WRITES]) == int(created.headers[WRITES]) - 1
    for read in (
        adf.get(f"/pipelineruns/{run_id}"),
        adf.query_runs(WINDOW),
        adf.query_activities(run_id, WINDOW),
    ):
        assert int(read.headers[READS]) < int(second.headers[READS])
        assert WRITES not in read.headers


def test_the_budget_refills_with_time(adf: Adf, clock: FakeClock) -> None:
    spent = [int(adf.get("").headers[READS]) for _ in range(3)]
    assert spent == [14999, 14998, 14997]  # the first answer as ARM's: a budget of 15,000
    clock.advance(1800)  # half an hour refills half the hourly budget (tokens last 3599 s)
    assert int(adf.get("").headers[READS]) == 14999


def test_an_unauthenticated_request_reports_no_budget(server: EmulatorServer) -> None:
    factory = (
        f"{server.url}/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-analytics"
        "/providers/Microsoft.DataFactory/factories/adf-demo"
    )
    answer = requests.get(factory, params=API, timeout=5)
    assert answer.status_code == 401
    assert READS not in answer.headers


@pytest.mark.parametrize(
    ("fault", "retry_after"),
    [
        ({}, "1"),
        ({"retry_after_ms": 2500}, "3"),
        ({"retry_after": 9}, "9"),
    ],
)
def test_every_429_carries_retry_after(
    adf: Adf, server: EmulatorServer, fault: dict[str, Any], retry_after: str
) -> None:
    server.add_fault(operation="get factory", action="status", status=429, **fault)
    answer = adf.get("")
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == retry_after


def test_a_429_on_the_token_endpoint_carries_retry_after_too(server: EmulatorServer) -> None:
    server.add_fault(operation="token", action="status", status=429)
    assert token(server).headers["Retry-After"] == "1"


# ---------------------------------------------------------------------- ARM paths and methods


def test_a_lower_case_resourcegroups_segment_works(adf: Adf) -> None:
    lower = adf.factory.replace("/resourceGroups/", "/resourcegroups/").replace(
        "/subscriptions/", "/SUBSCRIPTIONS/"
    )
    answer = requests.get(lower, params=API, headers=adf.headers, timeout=5)
    assert answer.status_code == 200, answer.text
    assert answer.json()["name"] == "adf-demo"
    assert adf.server.request_counts()["get factory"] == 1


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "OPTIONS"])
def test_a_method_no_operation_serves_gets_an_arm_json_error(adf: Adf, method: str) -> None:
    """ARM's 405 MethodNotAllowed envelope (azure-powershell issue 9709), never HTML."""
    answer = requests.request(
        method, f"{adf.factory}/pipelineruns/x", params=API, headers=adf.headers, timeout=5
    )
    assert answer.status_code == 405
    assert answer.headers["Content-Type"].startswith("application/json")
    error = answer.json()["error"]
    assert error["code"] == "MethodNotAllowed"
    assert f"The HTTP method '{method}' is not supported" in error["message"]


def test_an_unknown_method_on_any_path_is_answered_in_json(server: EmulatorServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as connection:
        connection.sendall(
            b"PUT /elsewhere HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
        )
        head = connection.recv(4096).decode()
    assert "501" not in head.splitlines()[0]
    assert "application/json" in head


# ---------------------------------------------------------------------- bodies


def test_the_factory_body_has_the_fields_of_factories_get(adf: Adf) -> None:
    body = adf.get("").json()
    assert body["id"] == (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-analytics"
        "/providers/Microsoft.DataFactory/factories/adf-demo"
    )
    assert body["eTag"].startswith('"') and body["eTag"].endswith('"')
    assert body["properties"]["createTime"].endswith("Z")
    assert body["properties"]["provisioningState"] == "Succeeded"
    assert body["tags"] == {}
    identity = body["identity"]
    assert (identity["type"], identity["tenantId"]) == ("SystemAssigned", TENANT)
    assert identity["principalId"]
    assert adf.get("").json()["eTag"] == body["eTag"]


def test_a_run_body_spells_its_fields_as_the_service_does(adf: Adf) -> None:
    run_id = adf.create_run("copy_sales")
    run = adf.run(run_id)
    assert run["id"].endswith(f"/factories/adf-demo/pipelineruns/{run_id}")
    assert run["debugRunId"] is None
    assert run["runDimension"] == {}
    assert "runDimensions" not in run
    (queried,) = adf.query_runs(WINDOW).json()["value"]
    assert queried == run


# ---------------------------------------------------------------------- cancel of a finished run


def test_cancel_of_a_finished_run_may_be_a_plain_200(
    emulator_for: Emulators, clock: FakeClock
) -> None:
    """No public source shows ADF's answer; the scenario picks one."""
    scenario = Scenario.from_json(scenario_json(cancel_finished="ok"))
    server = emulator_for(scenario, clock=clock)
    adf = Adf(server)
    run_id = adf.create_run("copy_sales")
    clock.advance(60)
    answer = adf.cancel(run_id)
    assert (answer.status_code, answer.content) == (200, b"")
    assert adf.run(run_id)["status"] == "Succeeded"  # nothing changes
    assert server.run_summaries()[0]["cancelled_recursive"] is None


def test_cancel_finished_takes_error_or_ok_only() -> None:
    assert Scenario.from_json(scenario_json()).cancel_finished == "error"
    with pytest.raises(ScenarioError, match="cancel_finished"):
        Scenario.from_json(scenario_json(cancel_finished="maybe"))
