"""OpenLineage facets and events of the ADF operator and sensor (mocked HTTP, no listener)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
import requests_mock

from airflow_adf_trigger.core.runs.models import PipelineRun
from airflow_adf_trigger.operators.adf import AdfRunPipelineOperator
from airflow_adf_trigger.sensors.adf import AdfPipelineRunSensor

from .helpers import FACTORY_URL, RUN_ID, SECRET, SUBSCRIPTION, TOKEN_URL, adf_connection_json

pytest.importorskip("airflow.providers.openlineage", reason="needs the openlineage extra")

from openlineage.client.facet_v2 import parent_run
from openlineage.client.serde import Serde

from airflow_adf_trigger.lineage import (
    PRODUCER,
    READ_TIMEOUT,
    AdfRunFacts,
    pipeline_run_events,
    pipeline_run_facets,
    task_parent_facet,
)

TOKEN = "eyJ0eXAi.unit-test-access-token.XYZ"
PARAMETER_SECRET = "p@ram-secret-value"
RESOURCE_ID = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-analytics"
    "/providers/Microsoft.DataFactory/factories/adf-demo"
)
STUDIO_URL = f"https://adf.azure.com/en-us/monitoring/pipelineruns/{RUN_ID}?factory={RESOURCE_ID}"
RUN_URL = f"{FACTORY_URL}/pipelineruns/{RUN_ID}"
PARENT = parent_run.ParentRunFacet(
    run=parent_run.Run(runId="01932f1e-0000-7000-8000-000000000001"),
    job=parent_run.Job(namespace="airflow-ns", name="dag.task"),
)


def run_body(status: str = "Succeeded", **fields: Any) -> dict[str, Any]:
    return {
        "runId": RUN_ID,
        "pipelineName": "copy_sales",
        "status": status,
        "message": "",
        "runStart": "2026-11-27T10:00:00.1234567Z",
        "runEnd": "2026-11-27T10:01:30.5Z",
        "durationInMs": 90377,
        "parameters": {"token": PARAMETER_SECRET},
        **fields,
    }


def facts(status: str = "Succeeded", **fields: Any) -> AdfRunFacts:
    return AdfRunFacts(
        run_id=RUN_ID,
        factory_name="adf-demo",
        factory_resource_id=RESOURCE_ID,
        monitoring_url=STUDIO_URL,
        pipeline_name="copy_sales",
        run=PipelineRun.from_json(run_body(status, **fields)),
    )


def as_json(value: Any) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(Serde.to_json(value))
    return result


# ------------------------------------------------------------------ facets


def test_the_facet_describes_the_run_as_adf_reported_it() -> None:
    facets = pipeline_run_facets(facts())
    assert as_json(facets["adfPipelineRun"]) == {
        "_producer": PRODUCER,
        "_schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunFacet",
        "runId": RUN_ID,
        "pipelineName": "copy_sales",
        "factoryResourceId": RESOURCE_ID,
        "status": "Succeeded",
        "runStart": "2026-11-27T10:00:00.123456+00:00",
        "runEnd": "2026-11-27T10:01:30.500000+00:00",
        "durationMs": 90377,
        "monitoringUrl": STUDIO_URL,
    }
    assert as_json(facets["externalQuery"]) == {
        "_producer": PRODUCER,
        "_schemaURL": (
            "https://openlineage.io/spec/facets/1-0-2/ExternalQueryRunFacet.json"
            "#/$defs/ExternalQueryRunFacet"
        ),
        "externalQueryId": RUN_ID,
        "source": "adf://adf-demo",
    }


def test_without_adfs_duration_it_is_the_time_between_start_and_end() -> None:
    facet = pipeline_run_facets(facts(durationInMs=None))["adfPipelineRun"]
    assert as_json(facet)["durationMs"] == 90377


def test_a_run_that_could_not_be_read_is_described_by_what_the_task_knows() -> None:
    unread = AdfRunFacts(
        run_id=RUN_ID,
        factory_name="adf-demo",
        factory_resource_id=RESOURCE_ID,
        monitoring_url=STUDIO_URL,
        pipeline_name="copy_sales",
    )
    facet = as_json(pipeline_run_facets(unread)["adfPipelineRun"])
    assert facet["pipelineName"] == "copy_sales"
    assert "status" not in facet and "durationMs" not in facet  # unknown: left out
    assert pipeline_run_events(unread, parent=PARENT, namespace="ns", job_name="j") == []


def test_the_pipelines_parameters_are_never_in_a_facet() -> None:
    text = Serde.to_json(pipeline_run_facets(facts()))
    assert PARAMETER_SECRET not in text and "parameters" not in text


# ------------------------------------------------------------------ the child run


@pytest.mark.parametrize(
    ("status", "end"), [("Succeeded", "COMPLETE"), ("Failed", "FAIL"), ("Cancelled", "ABORT")]
)
def test_a_finished_run_is_a_start_and_an_end_event_under_the_parent(status: str, end: str) -> None:
    events = [
        as_json(e)
        for e in pipeline_run_events(
            facts(status), parent=PARENT, namespace="airflow-ns", job_name="dag.task.copy_sales"
        )
    ]
    assert [e["eventType"] for e in events] == ["START", end]
    assert [e["eventTime"] for e in events] == [
        "2026-11-27T10:00:00.123456+00:00",
        "2026-11-27T10:01:30.500000+00:00",
    ]
    first, last = events
    assert first["run"]["runId"] == last["run"]["runId"]
    assert uuid.UUID(first["run"]["runId"]).version == 7
    assert first["job"]["namespace"] == "airflow-ns"
    assert first["job"]["name"] == "dag.task.copy_sales"
    assert first["job"]["facets"]["jobType"]["jobType"] == "JOB"
    assert first["producer"] == PRODUCER
    for event in events:
        assert event["run"]["facets"]["parent"] == as_json(PARENT)
        assert event["run"]["facets"]["adfPipelineRun"]["status"] == status


@pytest.mark.parametrize("status", ["Queued", "InProgress", "Canceling"])
def test_an_unfinished_run_gives_no_child_events(status: str) -> None:
    assert pipeline_run_events(facts(status), parent=PARENT, namespace="n", job_name="j") == []


def test_the_failed_runs_end_event_carries_adfs_message() -> None:
    message = "Operation on target Copy failed: ErrorCode=UserErrorSourceBlobNotExists"
    start, end = pipeline_run_events(
        facts("Failed", message=message), parent=PARENT, namespace="n", job_name="j"
    )
    assert "errorMessage" not in as_json(start)["run"]["facets"]
    error = as_json(end)["run"]["facets"]["errorMessage"]
    assert (error["message"], error["programmingLanguage"]) == (message, "ADF")


def test_a_run_without_adfs_times_starts_and_ends_now() -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    start, end = pipeline_run_events(
        facts(runStart=None, runEnd=None, durationInMs=None),
        parent=PARENT,
        namespace="n",
        job_name="j",
        now=now,
    )
    assert start.eventTime == end.eventTime == now.isoformat()


# ------------------------------------------------------------------ the tasks


class FakeTaskInstance:
    """What the provider's lineage macros read from a task instance."""

    def __init__(self, task_id: str) -> None:
        self.dag_id = "sales"
        self.task_id = task_id
        self.try_number = 2
        self.map_index = -1
        self.dag_run = SimpleNamespace(
            logical_date=datetime(2026, 11, 27, tzinfo=UTC),
            run_after=datetime(2026, 11, 27, tzinfo=UTC),
            clear_number=0,
            conf={},
        )

    def get_template_context(self) -> dict[str, Any]:
        return {"dag_run": self.dag_run}


@pytest.fixture
def adf(monkeypatch: pytest.MonkeyPatch, requests_mock: requests_mock.Mocker) -> Any:
    monkeypatch.setenv("AIRFLOW_CONN_ADF_DEFAULT", adf_connection_json())
    requests_mock.post(
        TOKEN_URL, json={"token_type": "Bearer", "expires_in": 3599, "access_token": TOKEN}
    )
    return requests_mock


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What would go to the OpenLineage transport through the provider's public ``emit``."""
    import airflow.providers.openlineage.api as api

    events: list[Any] = []
    monkeypatch.setattr(api, "emit", events.append)
    return events


def operator(**kwargs: Any) -> AdfRunPipelineOperator:
    task = AdfRunPipelineOperator(
        task_id="run", pipeline_name="copy_sales", parameters={"token": PARAMETER_SECRET}, **kwargs
    )
    task.run_id = RUN_ID
    return task


def test_an_operator_that_waited_reports_the_run_and_emits_it_as_a_child_run(
    adf: requests_mock.Mocker, emitted: list[Any]
) -> None:
    from airflow.providers.openlineage.plugins.macros import lineage_run_id

    get = adf.get(RUN_URL, json=run_body())
    ti = FakeTaskInstance("run")

    lineage = operator(wait_for_termination=True).get_openlineage_facets_on_complete(ti)

    assert get.call_count == 1
    assert set(lineage.run_facets) == {"adfPipelineRun", "externalQuery"}
    assert lineage.run_facets["adfPipelineRun"].status == "Succeeded"
    start, end = (as_json(e) for e in emitted)
    assert (start["eventType"], end["eventType"]) == ("START", "COMPLETE")
    assert end["job"]["name"] == "sales.run.copy_sales"
    parent = end["run"]["facets"]["parent"]
    assert parent["run"]["runId"] == lineage_run_id(ti)
    assert (parent["job"]["name"], parent["root"]["job"]["name"]) == ("sales.run", "sales")


def test_an_operator_that_did_not_wait_reports_the_run_on_its_own_event_only(
    adf: requests_mock.Mocker, emitted: list[Any]
) -> None:
    adf.get(RUN_URL, json=run_body("InProgress", runEnd=None, durationInMs=None))

    lineage = operator().get_openlineage_facets_on_complete(FakeTaskInstance("run"))

    assert emitted == []
    assert lineage.run_facets["adfPipelineRun"].status == "InProgress"


def test_a_waiting_operator_whose_run_is_still_going_emits_no_child_run(
    adf: requests_mock.Mocker, emitted: list[Any]
) -> None:
    """E.g. a timeout: the task failed while ADF was still cancelling the run."""
    adf.get(RUN_URL, json=run_body("Canceling", runEnd=None))

    lineage = operator(wait_for_termination=True).get_openlineage_facets_on_failure(
        FakeTaskInstance("run")
    )

    assert emitted == []
    assert lineage.run_facets["adfPipelineRun"].status == "Canceling"


def test_the_sensor_emits_the_run_it_watched_when_it_fails(
    adf: requests_mock.Mocker, emitted: list[Any]
) -> None:
    adf.get(RUN_URL, json=run_body("Failed", message="Copy failed"))
    sensor = AdfPipelineRunSensor(task_id="sense", run_id=RUN_ID)

    lineage = sensor.get_openlineage_facets_on_failure(FakeTaskInstance("sense"))

    assert [as_json(e)["eventType"] for e in emitted] == ["START", "FAIL"]
    assert as_json(emitted[1])["job"]["name"] == "sales.sense.copy_sales"
    assert lineage.run_facets["adfPipelineRun"].pipelineName == "copy_sales"


def test_a_task_without_a_run_reports_nothing_and_sends_no_request(
    adf: requests_mock.Mocker, emitted: list[Any]
) -> None:
    task = AdfRunPipelineOperator(task_id="run", pipeline_name="copy_sales")  # failed early

    lineage = task.get_openlineage_facets_on_failure(FakeTaskInstance("run"))

    assert (lineage.run_facets, lineage.inputs, lineage.outputs) == ({}, [], [])
    assert emitted == [] and adf.call_count == 0


def test_a_sensor_whose_run_id_rendered_to_nothing_reports_nothing(
    adf: requests_mock.Mocker, emitted: list[Any]
) -> None:
    sensor = AdfPipelineRunSensor(task_id="sense", run_id="None")  # an empty XCom pull

    lineage = sensor.get_openlineage_facets_on_failure(FakeTaskInstance("sense"))

    assert lineage.run_facets == {}
    assert emitted == [] and adf.call_count == 0


def test_a_run_that_cannot_be_read_is_reported_with_what_the_task_knows(
    adf: requests_mock.Mocker, emitted: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    adf.get(RUN_URL, status_code=404, json={"error": {"code": "NotFound", "message": "gone"}})

    lineage = operator(wait_for_termination=True).get_openlineage_facets_on_complete(
        FakeTaskInstance("run")
    )

    facet = lineage.run_facets["adfPipelineRun"]
    assert (facet.runId, facet.pipelineName, facet.status) == (RUN_ID, "copy_sales", None)
    assert facet.monitoringUrl == STUDIO_URL
    assert emitted == []
    assert f"OpenLineage: could not read run {RUN_ID}" in caplog.text


def test_the_read_is_one_short_request_that_an_outage_does_not_prolong(
    adf: requests_mock.Mocker, emitted: list[Any]
) -> None:
    """The listener drops the task's own event when extraction outlasts its timeout."""
    get = adf.get(RUN_URL, status_code=503, json={})

    lineage = operator(wait_for_termination=True).get_openlineage_facets_on_complete(
        FakeTaskInstance("run")
    )

    assert get.call_count == 1
    assert get.last_request.timeout == READ_TIMEOUT
    assert adf.request_history[0].timeout == READ_TIMEOUT  # the sign-in too
    assert lineage.run_facets["adfPipelineRun"].status is None
    assert emitted == []


def test_no_secret_token_or_parameter_reaches_a_facet_or_an_event(
    adf: requests_mock.Mocker, emitted: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    adf.get(RUN_URL, json=run_body("Failed", message="Copy failed"))

    lineage = operator(wait_for_termination=True).get_openlineage_facets_on_failure(
        FakeTaskInstance("run")
    )

    text = Serde.to_json(lineage.run_facets) + "".join(Serde.to_json(e) for e in emitted)
    assert len(emitted) == 2 and RUN_ID in text
    for secret in (SECRET, TOKEN, PARAMETER_SECRET):
        assert secret not in text
        assert secret not in caplog.text


def test_the_parent_is_the_task_run_the_listener_reports(adf: requests_mock.Mocker) -> None:
    from airflow.providers.openlineage.plugins.adapter import OpenLineageAdapter

    ti = FakeTaskInstance("run")
    facet = as_json(task_parent_facet(ti))
    assert facet["run"]["runId"] == OpenLineageAdapter.build_task_instance_run_id(
        dag_id="sales",
        task_id="run",
        try_number=2,
        logical_date=ti.dag_run.logical_date,
        map_index=-1,
    )
    assert facet["root"]["run"]["runId"] == OpenLineageAdapter.build_dag_run_id(
        dag_id="sales", logical_date=ti.dag_run.logical_date, clear_number=0
    )


def test_lineage_of_a_task_naming_the_factory_of_a_credential_only_connection(
    adf: requests_mock.Mocker, emitted: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials_only = json.loads(adf_connection_json())
    del credentials_only["extra"]["resource_group"], credentials_only["extra"]["factory_name"]
    monkeypatch.setenv("AIRFLOW_CONN_ADF_CREDS", json.dumps(credentials_only))
    get = adf.get(RUN_URL, json=run_body())
    task = operator(
        azure_data_factory_conn_id="adf_creds",
        resource_group_name="rg-analytics",
        factory_name="adf-demo",
        wait_for_termination=True,
    )

    lineage = task.get_openlineage_facets_on_complete(FakeTaskInstance("run"))

    assert get.call_count == 1
    facet = lineage.run_facets["adfPipelineRun"]
    assert facet.factoryResourceId == FACTORY_URL.removeprefix("https://management.azure.com")
