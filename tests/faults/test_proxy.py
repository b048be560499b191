"""The fault proxy does what the matrix relies on: each fault is seen by a plain HTTP client
the way the matrix names it, and a forwarded create-run really creates the run."""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator

import pytest

from airflow_adf_trigger.emulator import EmulatorServer, Scenario
from tests.faults.cells import SCENARIO, SUBSCRIPTION
from tests.faults.proxy import FaultProxy, ProxyFault, stage_of

FACTORY = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-analytics"
    "/providers/Microsoft.DataFactory/factories/adf-demo"
)
CREATE_RUN = f"{FACTORY}/pipelines/copy_sales/createRun?api-version=2018-06-01"


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(Scenario.from_json(SCENARIO)) as server:
        yield server


@pytest.fixture
def proxy(emulator: EmulatorServer) -> Iterator[FaultProxy]:
    with FaultProxy(emulator.url, hold_cap=1.5) as fault_proxy:
        yield fault_proxy


def post(url: str, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request("POST", path, body=b"", headers={"Authorization": "Bearer x"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_stages_are_told_apart_by_method_and_path() -> None:
    assert stage_of("POST", "/t/oauth2/v2.0/token") == "token"
    assert stage_of("POST", "/t/oauth2/token") == "token"
    assert stage_of("POST", CREATE_RUN) == "create-run"
    assert stage_of("GET", f"{FACTORY}/pipelineruns/r1?api-version=1") == "get-run"
    assert stage_of("POST", f"{FACTORY}/queryPipelineRuns") == "query-runs"
    assert stage_of("POST", f"{FACTORY}/pipelineruns/r1/cancel?isRecursive=true") == "cancel"
    assert stage_of("POST", f"{FACTORY}/pipelineruns/r1/queryActivityruns") == "query-activities"
    assert stage_of("GET", FACTORY) is None


def test_unarmed_requests_pass_through(emulator: EmulatorServer, proxy: FaultProxy) -> None:
    status, _ = post(proxy.management_url, CREATE_RUN)
    assert status == 401  # the emulator's own answer to a bad token
    assert proxy.received["create-run"] == 1


def test_reset_before_response_is_a_tcp_reset_after_forwarding(
    emulator: EmulatorServer, proxy: FaultProxy
) -> None:
    proxy.arm("create-run", ProxyFault("reset_before_response"))
    with pytest.raises(ConnectionResetError):
        post(proxy.management_url, CREATE_RUN)
    assert len(proxy.forwarded["create-run"]) == 1
    assert emulator.request_counts()["create run"] == 1


def test_a_fault_applies_only_as_many_times_as_armed(proxy: FaultProxy) -> None:
    proxy.arm("create-run", ProxyFault("answer", forward=False, status=503, body=b"{}"))
    assert post(proxy.management_url, CREATE_RUN)[0] == 503
    assert post(proxy.management_url, CREATE_RUN)[0] == 401


def test_taken_down_listener_refuses_then_listens_again(proxy: FaultProxy) -> None:
    proxy.take_down("create-run", 0.3)
    with pytest.raises(ConnectionRefusedError):
        post(proxy.management_url, CREATE_RUN)
    assert post(proxy.authority_url, "/t/oauth2/v2.0/token")[0] != 0  # the other one is up
    assert proxy.wait_up(timeout=5.0)
    assert post(proxy.management_url, CREATE_RUN)[0] == 401


def test_a_client_that_gives_up_in_time_is_not_at_the_cap(proxy: FaultProxy) -> None:
    proxy.arm("create-run", ProxyFault("no_answer"))
    with pytest.raises(TimeoutError):
        post(proxy.management_url, CREATE_RUN, timeout=0.5)
    deadline = time.monotonic() + 5
    while proxy.exchanges[0].held_seconds is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proxy.exchanges[0].held_seconds is not None
    assert not proxy.exchanges[0].cap_reached


def test_an_unanswered_client_is_recorded_at_the_cap(proxy: FaultProxy) -> None:
    proxy.arm("create-run", ProxyFault("no_answer"))
    with pytest.raises(http.client.RemoteDisconnected):  # closed at the 1.5 s cap
        post(proxy.management_url, CREATE_RUN, timeout=3.0)
    deadline = time.monotonic() + 5
    while proxy.exchanges[0].held_seconds is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proxy.exchanges[0].cap_reached


def test_a_trickled_body_arrives_a_byte_at_a_time(proxy: FaultProxy) -> None:
    proxy.arm("create-run", ProxyFault("trickle"))
    host, port = proxy.management_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5.0)
    try:
        connection.request("POST", CREATE_RUN, body=b"")
        response = connection.getresponse()
        started = time.monotonic()
        first = response.read(2)
        assert len(first) == 2
        assert time.monotonic() - started >= 0.4  # the second byte came half a second later
    finally:
        connection.close()


def test_a_rewritten_token_is_remembered_as_issued(proxy: FaultProxy) -> None:
    proxy.arm("token", ProxyFault("rewrite", rewrite=lambda _body: b'{"access_token": "t0k3n"}'))
    assert post(proxy.authority_url, "/t/oauth2/v2.0/token")[1] == b'{"access_token": "t0k3n"}'
    assert "t0k3n" in proxy.tokens_seen
