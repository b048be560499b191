"""AdfPipelineRunSensor: argument checks, the poll floor, and transient errors as "not yet"."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_adf_trigger.compat import AirflowFailException
from airflow_adf_trigger.core.errors import (
    AdfConfigurationError,
    AdfConnectionError,
    AdfNotFoundError,
    AdfThrottledError,
)
from airflow_adf_trigger.core.runs.models import PipelineRun, RunStatus
from airflow_adf_trigger.hooks.adf import AdfHook
from airflow_adf_trigger.sensors.adf import AdfPipelineRunSensor
from tests.unit.helpers import RUN_ID, make_settings


class Client:
    def __init__(self, *answers: RunStatus | Exception) -> None:
        self.answers = list(answers)

    def get_run(self, run_id: str) -> PipelineRun:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return PipelineRun(run_id=run_id, pipeline_name="copy_sales", status=answer)


class Hook(AdfHook):
    """The real hook over a stub client and settings (no connection is read)."""

    def __init__(self, client: Client, *, local: bool) -> None:
        super().__init__()
        endpoints = {
            "authority_host": "http://127.0.0.1:9",
            "management_endpoint": "http://127.0.0.1:9",
        }
        self.__dict__["client"] = client
        self.__dict__["settings"] = make_settings(**(endpoints if local else {}))


def sensor(client: Client, *, local: bool = True, **options: Any) -> AdfPipelineRunSensor:
    task = AdfPipelineRunSensor(task_id="wait", run_id=RUN_ID, **options)
    task.__dict__["hook"] = Hook(client, local=local)
    return task


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("poke_interval", 0),
        ("poke_interval", float("nan")),
        ("poke_interval", float("inf")),
        ("timeout", 0),
        ("timeout", float("nan")),
        ("timeout", float("inf")),
    ],
)
def test_a_bad_interval_or_timeout_is_rejected_naming_it(argument: str, value: Any) -> None:
    with pytest.raises(AdfConfigurationError, match=f"^{argument}: "):
        AdfPipelineRunSensor(task_id="wait", run_id=RUN_ID, **{argument: value})


@pytest.mark.parametrize(
    "error", [AdfConnectionError("connection reset"), AdfThrottledError("throttled", status=429)]
)
def test_a_transient_error_counts_as_not_yet(
    error: Exception, capfd: pytest.CaptureFixture[str]
) -> None:
    watching = sensor(Client(error, RunStatus.SUCCEEDED), poke_interval=5)
    assert watching.poke({}) is False  # type: ignore[arg-type]
    assert f"Could not read run {RUN_ID}" in capfd.readouterr().out
    assert watching.poke({}) is True  # type: ignore[arg-type]


def test_an_unknown_run_still_fails() -> None:
    watching = sensor(Client(AdfNotFoundError("no such run", status=404)))
    with pytest.raises(AdfNotFoundError):
        watching.poke({})  # type: ignore[arg-type]


def test_the_one_second_floor_applies_against_azure_at_execute_time() -> None:
    client = Client(RunStatus.SUCCEEDED)
    watching = sensor(client, local=False, poke_interval=0.5)
    with pytest.raises(AirflowFailException, match=r"^poke_interval: 0\.5 is below the 1 s"):
        watching.execute({})  # type: ignore[arg-type]
    assert client.answers == [RunStatus.SUCCEEDED]  # nothing was read


def test_a_short_interval_is_fine_against_a_local_emulator() -> None:
    client = Client(RunStatus.SUCCEEDED)
    sensor(client, poke_interval=0.2).execute({"ti": None})  # type: ignore[arg-type]
    assert client.answers == []
