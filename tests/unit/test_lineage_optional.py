"""The openlineage extra is optional: without it the tasks import and run as before."""

from __future__ import annotations

import sys

import pytest
import requests_mock

from airflow_adf_trigger.operators.adf import AdfRunPipelineOperator
from airflow_adf_trigger.sensors.adf import AdfPipelineRunSensor
from tests.fresh import loaded_by

from .helpers import RUN_ID


def test_without_the_provider_the_lineage_methods_return_none_and_send_nothing(
    monkeypatch: pytest.MonkeyPatch, requests_mock: requests_mock.Mocker
) -> None:
    # Without the extra this import fails by itself; with it, this makes it fail.
    monkeypatch.setitem(sys.modules, "airflow.providers.openlineage.extractors", None)
    operator = AdfRunPipelineOperator(
        task_id="run", pipeline_name="copy_sales", wait_for_termination=True
    )
    operator.run_id = RUN_ID
    sensor = AdfPipelineRunSensor(task_id="sense", run_id=RUN_ID)
    for task in (operator, sensor):
        assert task.get_openlineage_facets_on_complete(object()) is None
        assert task.get_openlineage_facets_on_failure(object()) is None
    assert requests_mock.call_count == 0


def test_importing_the_operator_and_sensor_loads_no_lineage_code() -> None:
    """DAG files import these at every parse: neither the client nor the provider's listener."""
    provider = "airflow.providers.openlineage."
    heavy = ("openlineage", *(provider + m for m in ("plugins", "extractors", "api")))
    imports = "import airflow_adf_trigger.operators.adf, airflow_adf_trigger.sensors.adf"
    assert loaded_by(imports, heavy) == []
