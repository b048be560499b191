"""Clear versus retry, a kill ending the worker wait, and the link's fallback per cloud."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from airflow_adf_trigger.links.adf import studio_url
from airflow_adf_trigger.operators.adf import (
    KILL_CHECK_SECONDS,
    AdfRunPipelineOperator,
    WaitInterrupted,
    is_first_try_of_series,
)
from tests.clock import FakeClock


def ctx(try_number: int, max_tries: int) -> Any:
    return {"ti": SimpleNamespace(try_number=try_number, max_tries=max_tries)}


@pytest.mark.parametrize(
    ("try_number", "max_tries", "retries", "first"),
    [
        (1, 2, 2, True),  # a new DAG run's first try
        (2, 2, 2, False),  # its first retry
        (3, 2, 2, False),  # its second retry
        (4, 5, 2, True),  # cleared after try 3: max_tries = 3 + 2
        (5, 5, 2, False),  # the retry of that try
        (2, 1, 0, True),  # no retries, cleared after try 1
    ],
)
def test_first_try_of_series(try_number: int, max_tries: int, retries: int, first: bool) -> None:
    assert is_first_try_of_series(ctx(try_number, max_tries), retries) is first


def test_unknown_try_numbers_keep_the_retry_behaviour() -> None:
    assert is_first_try_of_series({}, 1) is False


def waiting_operator(clock: FakeClock, **arguments: Any) -> AdfRunPipelineOperator:
    operator = AdfRunPipelineOperator(
        task_id="t", pipeline_name="p", wait_for_termination=True, **arguments
    )
    operator._monotonic = clock  # type: ignore[method-assign]
    operator._nap = clock.sleep  # type: ignore[method-assign]
    return operator


def test_on_kill_ends_the_wait_sleep_before_it_sleeps() -> None:
    clock = FakeClock()
    operator = waiting_operator(clock, cancel_on_kill=False)
    operator.on_kill()
    with pytest.raises(WaitInterrupted):
        operator._sleep_unless_killed(30)
    assert clock.sleeps == []


def test_on_kill_during_the_wait_ends_it_after_the_current_slice() -> None:
    clock = FakeClock()
    operator = waiting_operator(clock, cancel_on_kill=False)

    def nap(seconds: float) -> None:
        clock.sleep(seconds)
        operator.on_kill()  # SIGTERM arrives during the first slice

    operator._nap = nap  # type: ignore[method-assign]
    with pytest.raises(WaitInterrupted):
        operator._sleep_unless_killed(30)
    assert clock.sleeps == [KILL_CHECK_SECONDS]


def test_the_wait_sleep_sleeps_the_whole_time_in_slices_when_not_killed() -> None:
    clock = FakeClock()
    operator = waiting_operator(clock)
    operator._sleep_unless_killed(0.6)
    assert clock.sleeps == pytest.approx([0.25, 0.25, 0.1])


@pytest.mark.parametrize(
    ("cloud", "host"),
    [(None, "adf.azure.com"), ("china", "adf.azure.cn"), ("AzureUSGovernment", "adf.azure.us")],
)
def test_fallback_link_uses_the_clouds_studio_and_the_factory(cloud: Any, host: str) -> None:
    url = studio_url(
        cloud=cloud,
        subscription_id="sub",
        resource_group="rg",
        factory_name="adf-prod",
        run_id="11111111-2222-3333-4444-555555555555",
    )
    assert url == (
        f"https://{host}/en-us/monitoring/pipelineruns/11111111-2222-3333-4444-555555555555"
        "?factory=/subscriptions/sub/resourceGroups/rg/providers/Microsoft.DataFactory"
        "/factories/adf-prod"
    )


def test_fallback_link_without_a_factory_is_the_clouds_run_list() -> None:
    assert studio_url(cloud="china") == "https://adf.azure.cn/en-us/monitoring/pipelineruns"
