"""Selecting and bounding activity outputs; the operator's checks of its arguments."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_adf_trigger.core.errors import AdfConfigurationError
from airflow_adf_trigger.core.runs.models import ActivityRun
from airflow_adf_trigger.core.runs.outputs import bounded, select_outputs
from airflow_adf_trigger.operators.adf import AdfRunPipelineOperator


def body(name: str, status: str, output: Any, end: str) -> ActivityRun:
    return ActivityRun.from_json(
        {
            "activityRunId": f"{name}-{end}",
            "activityName": name,
            "status": status,
            "output": output,
            "activityRunEnd": end,
        }
    )


def test_the_last_succeeded_run_of_each_named_activity_is_kept() -> None:
    bodies = [
        body("Copy", "Succeeded", {"rowsCopied": 2}, "2026-01-01T00:00:02Z"),
        body("Copy", "Succeeded", {"rowsCopied": 1}, "2026-01-01T00:00:01Z"),
        body("Copy", "Failed", {"rowsCopied": 9}, "2026-01-01T00:00:03Z"),
        body("Other", "Succeeded", {"x": 1}, "2026-01-01T00:00:01Z"),
    ]
    assert select_outputs(bodies, ["Copy", "Missing"], 1000) == {
        "Copy": {"rowsCopied": 2},
        "Missing": None,
    }


def test_an_output_above_the_bound_is_replaced_by_a_note() -> None:
    big = {"value": ["x" * 100]}
    note = bounded(big, 50)
    assert note == {
        "truncated": True,
        "size_bytes": len('{"value":["' + "x" * 100 + '"]}'),
        "max_bytes": 50,
    }
    assert bounded(big, 10_000) == big


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"activity_outputs": ["Copy"]}, "wait_for_termination"),
        ({"activity_outputs": [], "wait_for_termination": True}, "activity_outputs"),
        (
            {
                "activity_outputs": ["Copy"],
                "wait_for_termination": True,
                "activity_output_max_bytes": 0,
            },
            "activity_output_max_bytes",
        ),
    ],
)
def test_bad_output_arguments_fail_at_parse_time(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(AdfConfigurationError, match=field):
        AdfRunPipelineOperator(task_id="t", pipeline_name="p", **kwargs)
