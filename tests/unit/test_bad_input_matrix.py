"""Bad input, wherever it enters, fails before any request: naming the field, never the secret.

Every case runs with the network cut at the socket layer (name resolution and connect, for
``requests``, ``httpx`` and anything else): a case passes only if its error names the field
(and the flag or variable that gave it), no connection was even attempted, and the secret
appears neither in the error nor in anything printed or logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import pytest

from airflow_adf_trigger.cli import main
from airflow_adf_trigger.core.config.environment import ENVIRONMENT

SECRET = "matrix-Secret-7Qz!w9+Kp"
"""Distinctive, so that any echo of it is found."""
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT_ID = "0d3c4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"
SUBSCRIPTION = "12345678-1234-1234-1234-123456789abc"
RUN_ID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
NAN = float("nan")
INF = math.inf


class RequestAttempted(BaseException):
    """Raised at the socket layer; a BaseException so that no retry loop swallows it."""


@dataclass
class NetworkGuard:
    """Every connection and name lookup attempted while a case ran."""

    attempts: list[str] = field(default_factory=list)

    def refuse(self, what: str) -> RequestAttempted:
        self.attempts.append(what)
        return RequestAttempted(f"a request was attempted: {what}")


@pytest.fixture(autouse=True)
def network(monkeypatch: pytest.MonkeyPatch) -> NetworkGuard:
    """Cut the network below every HTTP client: lookups and connects both fail the case."""
    guard = NetworkGuard()

    def getaddrinfo(host: object, port: object, *args: object, **kwargs: object) -> Any:
        raise guard.refuse(f"getaddrinfo({host!r}, {port!r})")

    def connect(self: socket.socket, address: object) -> None:
        raise guard.refuse(f"connect({address!r})")

    def connect_ex(self: socket.socket, address: object) -> int:
        raise guard.refuse(f"connect_ex({address!r})")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    return guard


@pytest.fixture(autouse=True)
def _only_the_case_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ADF_CONNECTION_URI", *ENVIRONMENT.values()):
        monkeypatch.delenv(name, raising=False)


def names(text: str, name: str) -> bool:
    """``name`` appears as a whole word (``timeout`` is not found in ``request_timeout``)."""
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) is not None


def assert_refused_locally(
    error_text: str,
    expected_names: tuple[str, ...],
    network: NetworkGuard,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    captured = capsys.readouterr()
    everything = "\n".join([error_text, captured.out, captured.err, caplog.text])
    assert network.attempts == [], f"requests were attempted: {network.attempts}"
    for name in expected_names:
        assert names(error_text, name), f"{name!r} is not named in: {error_text}"
    assert SECRET not in everything
    assert SECRET.replace("+", "%2B").replace("!", "%21") not in everything


def error_of(action: Callable[[], object]) -> str:
    """The text of the error ``action`` raises; a case that raises nothing fails."""
    try:
        result = action()
    except RequestAttempted as attempted:
        pytest.fail(f"went to the network instead of failing first: {attempted}")
    except Exception as error:
        return f"{error}\n{error!r}"
    pytest.fail(f"no error was raised; got {result!r}")


# --------------------------------------------------------------------------- connections

GOOD_EXTRA: dict[str, Any] = {
    "tenant_id": TENANT,
    "subscription_id": SUBSCRIPTION,
    "resource_group": "rg-analytics",
    "factory_name": "adf-prod",
}


def set_connection(
    monkeypatch: pytest.MonkeyPatch,
    *,
    login: str | None = CLIENT_ID,
    password: str | None = SECRET,
    **extra: Any,
) -> None:
    """``adf_default`` as an environment variable, the good extras overridden by ``extra``
    (``None`` removes one)."""
    merged = {**GOOD_EXTRA, **extra}
    connection = {
        "conn_type": "adf",
        "login": login,
        "password": password,
        "extra": {key: value for key, value in merged.items() if value is not None},
    }
    monkeypatch.setenv("AIRFLOW_CONN_ADF_DEFAULT", json.dumps(connection))


@dataclass(frozen=True)
class ConnectionCase:
    field: str
    extra: dict[str, Any] = field(default_factory=dict)
    login: str | None = CLIENT_ID
    password: str | None = SECRET


CONNECTION_CASES = {
    "tenant-missing": ConnectionCase("tenant_id", {"tenant_id": None}),
    "tenant-not-guid-or-domain": ConnectionCase("tenant_id", {"tenant_id": "my tenant!"}),
    "client-id-missing": ConnectionCase("client_id", login=None),
    "subscription-missing": ConnectionCase("subscription_id", {"subscription_id": None}),
    "subscription-not-guid": ConnectionCase("subscription_id", {"subscription_id": "sub-1"}),
    "resource-group-missing": ConnectionCase("resource_group", {"resource_group": None}),
    "resource-group-slash": ConnectionCase("resource_group", {"resource_group": "rg/../x"}),
    "resource-group-trailing-dot": ConnectionCase("resource_group", {"resource_group": "rg."}),
    "factory-missing": ConnectionCase("factory_name", {"factory_name": None}),
    "factory-too-short": ConnectionCase("factory_name", {"factory_name": "x"}),
    "factory-bad-characters": ConnectionCase("factory_name", {"factory_name": "adf_prod!"}),
    "authority-clear-text": ConnectionCase(
        "authority_host", {"authority_host": "http://login.example.com"}
    ),
    "authority-not-url": ConnectionCase("authority_host", {"authority_host": "ftp://login"}),
    "management-not-url": ConnectionCase(
        "management_endpoint", {"management_endpoint": "management.azure.com"}
    ),
    "management-clear-text": ConnectionCase(
        "management_endpoint", {"management_endpoint": "http://10.0.0.4"}
    ),
    "cloud-unknown": ConnectionCase("cloud", {"cloud": "mars"}),
    "token-api-unknown": ConnectionCase("token_api", {"token_api": "v3"}),
    "request-timeout-text": ConnectionCase("request_timeout", {"request_timeout": "soon"}),
    "request-timeout-negative": ConnectionCase("request_timeout", {"request_timeout": "-5"}),
    "request-timeout-zero": ConnectionCase("request_timeout", {"request_timeout": 0}),
    "request-timeout-nan": ConnectionCase("request_timeout", {"request_timeout": "nan"}),
    "request-timeout-inf": ConnectionCase("request_timeout", {"request_timeout": "inf"}),
    "retry-attempts-text": ConnectionCase("retry_max_attempts", {"retry_max_attempts": "lots"}),
    "retry-attempts-zero": ConnectionCase("retry_max_attempts", {"retry_max_attempts": 0}),
    "retry-attempts-negative": ConnectionCase("retry_max_attempts", {"retry_max_attempts": -1}),
    "retry-attempts-nan": ConnectionCase("retry_max_attempts", {"retry_max_attempts": "NaN"}),
    "retry-attempts-inf": ConnectionCase("retry_max_attempts", {"retry_max_attempts": "inf"}),
    "retry-seconds-text": ConnectionCase("retry_max_seconds", {"retry_max_seconds": "forever"}),
    "retry-seconds-negative": ConnectionCase("retry_max_seconds", {"retry_max_seconds": -1}),
    "retry-seconds-nan": ConnectionCase("retry_max_seconds", {"retry_max_seconds": "nan"}),
    "retry-seconds-inf": ConnectionCase("retry_max_seconds", {"retry_max_seconds": "inf"}),
    "identity-unknown": ConnectionCase("identity", {"identity": "kerberos"}, password=None),
    "identity-with-secret": ConnectionCase("identity", {"identity": "managed_identity"}),
}


@pytest.mark.parametrize("case", CONNECTION_CASES.values(), ids=CONNECTION_CASES.keys())
def test_a_bad_connection_field(
    case: ConnectionCase,
    monkeypatch: pytest.MonkeyPatch,
    network: NetworkGuard,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from airflow_adf_trigger.hooks.adf import AdfHook

    set_connection(monkeypatch, login=case.login, password=case.password, **case.extra)
    caplog.set_level(logging.DEBUG)
    text = error_of(lambda: AdfHook().get_conn())
    assert_refused_locally(text, (case.field,), network, capsys, caplog)


# --------------------------------------------------------------------------- operator


def operator_context() -> dict[str, Any]:
    return {"ti": mock.MagicMock(), "task_state_store": None}


OPERATOR_CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "check-interval-zero": ("check_interval", {"check_interval": 0}),
    "check-interval-negative": ("check_interval", {"check_interval": -15}),
    "check-interval-nan": ("check_interval", {"check_interval": NAN}),
    "check-interval-inf": ("check_interval", {"check_interval": INF}),
    "timeout-negative": ("timeout", {"timeout": -1}),
    "timeout-zero": ("timeout", {"timeout": 0}),
    "timeout-nan": ("timeout", {"timeout": NAN}),
    "timeout-inf": ("timeout", {"timeout": INF}),
    "reference-run-rendered-none": (
        "reference_pipeline_run_id",
        {"reference_pipeline_run_id": "None", "is_recovery": True},
    ),
    "reference-run-not-guid": (
        "reference_pipeline_run_id",
        {"reference_pipeline_run_id": "last-failed-run"},
    ),
    "pipeline-name-slash": ("pipeline_name", {"pipeline_name": "sales/copy"}),
    "pipeline-name-empty": ("pipeline_name", {"pipeline_name": " "}),
    "parameters-nan": ("parameters", {"parameters": {"ratio": NAN}}),
    "resource-group-override": ("resource_group", {"resource_group": "rg/x"}),
    "factory-override": ("factory_name", {"factory_name": "x"}),
}


@pytest.mark.parametrize(("name", "arguments"), OPERATOR_CASES.values(), ids=OPERATOR_CASES.keys())
def test_a_bad_operator_argument(
    name: str,
    arguments: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    network: NetworkGuard,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from airflow_adf_trigger.operators.adf import AdfRunPipelineOperator

    set_connection(monkeypatch)
    caplog.set_level(logging.DEBUG)

    def start() -> object:
        # Waiting, so that the interval and the timeout are used; run as a worker would.
        values = {"pipeline_name": "copy_sales", "wait_for_termination": True, **arguments}
        operator = AdfRunPipelineOperator(task_id="trigger", deferrable=False, **values)
        return operator.execute(operator_context())  # type: ignore[arg-type]

    assert_refused_locally(error_of(start), (name,), network, capsys, caplog)


# --------------------------------------------------------------------------- sensor

SENSOR_CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "poke-interval-zero": ("poke_interval", {"poke_interval": 0}),
    "poke-interval-negative": ("poke_interval", {"poke_interval": -5}),
    "poke-interval-nan": ("poke_interval", {"poke_interval": NAN}),
    "poke-interval-inf": ("poke_interval", {"poke_interval": INF}),
    "timeout-negative": ("timeout", {"timeout": -1}),
    "timeout-nan": ("timeout", {"timeout": NAN}),
    "timeout-inf": ("timeout", {"timeout": INF}),
    "run-id-rendered-none": ("run_id", {"run_id": "None"}),
    "run-id-rendered-empty": ("run_id", {"run_id": ""}),
    "run-id-not-guid": ("run_id", {"run_id": "../../factories/other"}),
    "factory-override": ("factory_name", {"factory_name": "a"}),
}


@pytest.mark.parametrize(("name", "arguments"), SENSOR_CASES.values(), ids=SENSOR_CASES.keys())
def test_a_bad_sensor_argument(
    name: str,
    arguments: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    network: NetworkGuard,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from airflow_adf_trigger.sensors.adf import AdfPipelineRunSensor

    set_connection(monkeypatch)
    caplog.set_level(logging.DEBUG)

    def watch() -> object:
        values = {"run_id": RUN_ID, **arguments}
        sensor = AdfPipelineRunSensor(task_id="wait", mode="poke", deferrable=False, **values)
        return sensor.execute(operator_context())  # type: ignore[arg-type]

    assert_refused_locally(error_of(watch), (name,), network, capsys, caplog)


# --------------------------------------------------------------------------- trigger


HANG_GUARD_SECONDS = 10.0
"""Bad input is refused at once, with no network to wait for; a trigger that has given no
event by then is stuck (e.g. retrying a local error every tick) and fails the case."""


def first_event(trigger: Any, network: NetworkGuard) -> dict[str, Any]:
    """Run the trigger as a triggerer would, up to its first event, or until it tries the
    network (a poller may retry a failed request forever)."""

    async def run() -> dict[str, Any]:
        events = trigger.run()
        next_event = asyncio.ensure_future(anext(events))
        deadline = asyncio.get_running_loop().time() + HANG_GUARD_SECONDS
        while not next_event.done() and not network.attempts:
            if asyncio.get_running_loop().time() > deadline:
                next_event.cancel()
                pytest.fail(f"the trigger gave no event in {HANG_GUARD_SECONDS:g} s, and no error")
            await asyncio.sleep(0.01)
        if not next_event.done():
            next_event.cancel()
            raise RequestAttempted(f"the trigger tried the network: {network.attempts[0]}")
        await events.aclose()
        payload: dict[str, Any] = next_event.result().payload
        return payload

    return asyncio.run(run())


def trigger_error(arguments: dict[str, Any], network: NetworkGuard) -> str:
    """The trigger's error: raised when built, or its first event when that is an error."""
    from airflow_adf_trigger.triggers.adf import AdfPipelineRunTrigger

    def follow() -> object:
        trigger = AdfPipelineRunTrigger(**{"run_id": RUN_ID, **arguments})
        event = first_event(trigger, network)
        if event.get("status") == "error":
            raise RuntimeError(event.get("message"))
        return event

    return error_of(follow)


TRIGGER_CASES: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "poll-interval-zero": ("poll_interval", {"poll_interval": 0}, {}),
    "poll-interval-negative": ("poll_interval", {"poll_interval": -1}, {}),
    "poll-interval-nan": ("poll_interval", {"poll_interval": NAN}, {}),
    "poll-interval-inf": ("poll_interval", {"poll_interval": INF}, {}),
    "poll-interval-text": ("poll_interval", {"poll_interval": "fast"}, {}),
    "poll-interval-nan-direct": (
        "poll_interval",
        {"poll_interval": NAN, "shared_poller": False},
        {},
    ),
    "run-id-rendered-none": ("run_id", {"run_id": "None"}, {}),
    "run-id-not-guid": ("run_id", {"run_id": "x/../y", "shared_poller": False}, {}),
    "connection-subscription": ("subscription_id", {}, {"subscription_id": "sub-1"}),
    "connection-request-timeout-nan": ("request_timeout", {}, {"request_timeout": "nan"}),
    "factory-override": ("factory_name", {"factory_name": "!"}, {}),
}


@pytest.mark.parametrize(
    ("name", "arguments", "extra"), TRIGGER_CASES.values(), ids=TRIGGER_CASES.keys()
)
def test_a_bad_trigger_argument(
    name: str,
    arguments: dict[str, Any],
    extra: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    network: NetworkGuard,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    set_connection(monkeypatch, **extra)
    caplog.set_level(logging.DEBUG)
    assert_refused_locally(trigger_error(arguments, network), (name,), network, capsys, caplog)


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def cli_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Complete, good settings for Azure itself, from the environment."""
    for name, value in {
        "AZURE_TENANT_ID": TENANT,
        "AZURE_CLIENT_ID": CLIENT_ID,
        "AZURE_CLIENT_SECRET": SECRET,
        "ADF_SUBSCRIPTION_ID": SUBSCRIPTION,
        "ADF_RESOURCE_GROUP": "rg-analytics",
        "ADF_FACTORY_NAME": "adf-prod",
    }.items():
        monkeypatch.setenv(name, value)


def cli_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI; it must exit 2 (usage), and its stderr is the error text."""
    try:
        code = main(args)
    except RequestAttempted as attempted:
        pytest.fail(f"went to the network instead of failing first: {attempted}")
    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert captured.err.startswith("adf-trigger: error: "), captured.err
    # Put back what was read, for the secret check that follows.
    print(captured.out, end="")
    print(captured.err, end="", file=__import__("sys").stderr)
    return captured.err


WAIT = ["wait", RUN_ID]
RUN = ["run", "copy_sales", "--wait"]
STATUS = ["status", RUN_ID]

CLI_FLAG_CASES: dict[str, tuple[tuple[str, ...], list[str]]] = {
    "poll-interval-text": (("poll_interval", "--poll-interval"), [*WAIT, "--poll-interval", "x"]),
    "poll-interval-nan": (("poll_interval", "--poll-interval"), [*WAIT, "--poll-interval", "nan"]),
    "poll-interval-inf": (("poll_interval", "--poll-interval"), [*RUN, "--poll-interval", "inf"]),
    "poll-interval-zero": (("poll_interval", "--poll-interval"), [*WAIT, "--poll-interval", "0"]),
    "poll-interval-negative": (
        ("poll_interval", "--poll-interval"),
        [*WAIT, "--poll-interval=-1"],
    ),
    "poll-interval-below-floor": (
        ("poll_interval", "--poll-interval"),
        [*RUN, "--poll-interval", "0.5"],
    ),
    "timeout-text": (("timeout", "--timeout"), [*WAIT, "--timeout", "1h"]),
    "timeout-nan": (("timeout", "--timeout"), [*WAIT, "--timeout", "NaN"]),
    "timeout-inf": (("timeout", "--timeout"), [*RUN, "--timeout", "Infinity"]),
    "timeout-zero": (("timeout", "--timeout"), [*WAIT, "--timeout", "0"]),
    "timeout-negative": (("timeout", "--timeout"), [*WAIT, "--timeout=-60"]),
    "outage-budget-text": (("outage_budget", "--outage-budget"), [*WAIT, "--outage-budget", "?"]),
    "outage-budget-nan": (("outage_budget", "--outage-budget"), [*RUN, "--outage-budget", "nan"]),
    "outage-budget-inf": (("outage_budget", "--outage-budget"), [*WAIT, "--outage-budget", "inf"]),
    "outage-budget-negative": (
        ("outage_budget", "--outage-budget"),
        [*WAIT, "--outage-budget=-1"],
    ),
    "request-timeout-text": (
        ("request_timeout", "--request-timeout"),
        [*STATUS, "--request-timeout", "long"],
    ),
    "request-timeout-nan": (
        ("request_timeout", "--request-timeout"),
        [*RUN, "--request-timeout", "nan"],
    ),
    "request-timeout-inf": (
        ("request_timeout", "--request-timeout"),
        [*STATUS, "--request-timeout", "inf"],
    ),
    "request-timeout-zero": (
        ("request_timeout", "--request-timeout"),
        [*WAIT, "--request-timeout", "0"],
    ),
    "retry-attempts-text": (
        ("retry_max_attempts", "--retry-max-attempts"),
        [*STATUS, "--retry-max-attempts", "many"],
    ),
    "retry-attempts-nan": (
        ("retry_max_attempts", "--retry-max-attempts"),
        [*RUN, "--retry-max-attempts", "nan"],
    ),
    "retry-attempts-inf": (
        ("retry_max_attempts", "--retry-max-attempts"),
        [*WAIT, "--retry-max-attempts", "inf"],
    ),
    "retry-attempts-zero": (
        ("retry_max_attempts", "--retry-max-attempts"),
        [*STATUS, "--retry-max-attempts", "0"],
    ),
    "retry-attempts-fraction": (
        ("retry_max_attempts", "--retry-max-attempts"),
        [*STATUS, "--retry-max-attempts", "2.5"],
    ),
    "retry-seconds-text": (
        ("retry_max_seconds", "--retry-max-seconds"),
        [*STATUS, "--retry-max-seconds", "a while"],
    ),
    "retry-seconds-nan": (
        ("retry_max_seconds", "--retry-max-seconds"),
        [*RUN, "--retry-max-seconds", "nan"],
    ),
    "retry-seconds-inf": (
        ("retry_max_seconds", "--retry-max-seconds"),
        [*WAIT, "--retry-max-seconds", "inf"],
    ),
    "retry-seconds-negative": (
        ("retry_max_seconds", "--retry-max-seconds"),
        [*STATUS, "--retry-max-seconds=-1"],
    ),
    "token-api": (("token_api", "--token-api"), [*STATUS, "--token-api", "v3"]),
    "cloud": (("cloud", "--cloud"), [*STATUS, "--cloud", "mars"]),
    "subscription": (("subscription_id", "--subscription-id"), [*RUN, "--subscription-id", "1"]),
    "tenant": (("tenant_id", "--tenant-id"), [*STATUS, "--tenant-id", "not a tenant"]),
    "factory": (("factory_name", "--factory-name"), [*RUN, "--factory-name=-x-"]),
    "resource-group": (("resource_group", "--resource-group"), [*RUN, "--resource-group", "a/b"]),
    "authority-host": (
        ("authority_host", "--authority-host"),
        [*STATUS, "--authority-host", "http://login.example.com"],
    ),
    "management-endpoint": (
        ("management_endpoint", "--management-endpoint"),
        [*STATUS, "--management-endpoint", "management"],
    ),
    "identity-unknown": (("identity", "--identity"), [*STATUS, "--identity", "kerberos"]),
    "run-id": (("run_id",), ["wait", "None"]),
    "pipeline": (("pipeline_name",), ["run", "sales/copy"]),
}


@pytest.mark.usefixtures("cli_environment")
@pytest.mark.parametrize(("expected", "args"), CLI_FLAG_CASES.values(), ids=CLI_FLAG_CASES.keys())
def test_a_bad_cli_flag(
    expected: tuple[str, ...],
    args: list[str],
    network: NetworkGuard,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    text = cli_error(args, capsys)
    assert_refused_locally(text, expected, network, capsys, caplog)


CLI_ENV_CASES: dict[str, tuple[str, str, str, list[str]]] = {
    "poll-interval-nan": ("poll_interval", "ADF_POLL_INTERVAL", "nan", WAIT),
    "poll-interval-below-floor": ("poll_interval", "ADF_POLL_INTERVAL", "0.2", RUN),
    "timeout-negative": ("timeout", "ADF_TIMEOUT", "-1", WAIT),
    "timeout-text": ("timeout", "ADF_TIMEOUT", "soon", RUN),
    "outage-budget-inf": ("outage_budget", "ADF_OUTAGE_BUDGET", "inf", WAIT),
    "outage-budget-text": ("outage_budget", "ADF_OUTAGE_BUDGET", "15m", RUN),
    "request-timeout-zero": ("request_timeout", "ADF_REQUEST_TIMEOUT", "0", STATUS),
    "request-timeout-nan": ("request_timeout", "ADF_REQUEST_TIMEOUT", "nan", WAIT),
    "retry-attempts-nan": ("retry_max_attempts", "ADF_RETRY_MAX_ATTEMPTS", "nan", STATUS),
    "retry-attempts-negative": ("retry_max_attempts", "ADF_RETRY_MAX_ATTEMPTS", "-2", RUN),
    "retry-seconds-inf": ("retry_max_seconds", "ADF_RETRY_MAX_SECONDS", "inf", STATUS),
    "retry-seconds-text": ("retry_max_seconds", "ADF_RETRY_MAX_SECONDS", "2m", WAIT),
    "token-api": ("token_api", "ADF_TOKEN_API", "v9", STATUS),
    "cloud": ("cloud", "ADF_CLOUD", "azureprivate", RUN),
    "subscription": ("subscription_id", "ADF_SUBSCRIPTION_ID", "my-subscription", STATUS),
    "tenant": ("tenant_id", "AZURE_TENANT_ID", "tenant one", WAIT),
    "factory": ("factory_name", "ADF_FACTORY_NAME", "f", RUN),
    "management-endpoint": (
        "management_endpoint",
        "ADF_MANAGEMENT_ENDPOINT",
        "http://management.example.com",
        STATUS,
    ),
}


@pytest.mark.usefixtures("cli_environment")
@pytest.mark.parametrize(
    ("name", "variable", "value", "args"), CLI_ENV_CASES.values(), ids=CLI_ENV_CASES.keys()
)
def test_a_bad_cli_environment_variable(
    name: str,
    variable: str,
    value: str,
    args: list[str],
    monkeypatch: pytest.MonkeyPatch,
    network: NetworkGuard,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(variable, value)
    caplog.set_level(logging.DEBUG)
    text = cli_error(args, capsys)
    assert_refused_locally(text, (name, variable), network, capsys, caplog)


CLI_CONNECTION_CASES: dict[str, tuple[str, dict[str, str]]] = {
    "request-timeout-nan": ("request_timeout", {"request_timeout": "nan"}),
    "retry-attempts-inf": ("retry_max_attempts", {"retry_max_attempts": "inf"}),
    "retry-seconds-negative": ("retry_max_seconds", {"retry_max_seconds": "-3"}),
    "token-api": ("token_api", {"token_api": "v0"}),
    "factory": ("factory_name", {"factory_name": "no"}),
}


@pytest.mark.parametrize(
    ("name", "extra"), CLI_CONNECTION_CASES.values(), ids=CLI_CONNECTION_CASES.keys()
)
def test_a_bad_field_in_the_cli_connection(
    name: str,
    extra: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    network: NetworkGuard,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    connection = {
        "conn_type": "adf",
        "login": CLIENT_ID,
        "password": SECRET,
        "extra": {**GOOD_EXTRA, **extra},
    }
    monkeypatch.setenv("ADF_CONNECTION_URI", json.dumps(connection))
    caplog.set_level(logging.DEBUG)
    text = cli_error([*RUN, "--poll-interval", "5"], capsys)
    assert_refused_locally(text, (name, "ADF_CONNECTION_URI"), network, capsys, caplog)


# --------------------------------------------------------------------------- the guard itself


def test_the_guard_sees_a_request_from_requests(network: NetworkGuard) -> None:
    import requests

    with pytest.raises(RequestAttempted):
        requests.get("https://management.azure.com/", timeout=5)
    assert network.attempts


def test_the_guard_sees_a_request_from_httpx(network: NetworkGuard) -> None:
    import httpx

    async def fetch() -> None:
        async with httpx.AsyncClient() as client:
            await client.get("https://management.azure.com/", timeout=5)

    with pytest.raises(RequestAttempted):
        asyncio.run(fetch())
    assert network.attempts


def test_the_guard_sees_a_connection_to_an_address(network: NetworkGuard) -> None:
    with pytest.raises(RequestAttempted), socket.socket() as raw:
        raw.connect(("127.0.0.1", 9))
    assert network.attempts == ["connect(('127.0.0.1', 9))"]
