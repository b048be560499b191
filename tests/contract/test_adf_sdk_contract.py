"""azure-mgmt-datafactory and azure-identity drive the emulator through every ADF call the
product makes, over HTTPS, and must read every answer (and see every refusal)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.mgmt.datafactory import DataFactoryManagementClient
from azure.mgmt.datafactory.models import (
    ActivityRun,
    PipelineRun,
    RunFilterParameters,
    RunQueryFilter,
    RunQueryOrderBy,
)

from airflow_adf_trigger.emulator import EmulatorServer
from tests.clock import FakeClock
from tests.contract.conftest import (
    CLIENT_ID,
    FACTORY,
    RESOURCE_GROUP,
    SCENARIO,
    SECRET,
    SUBSCRIPTION,
    TENANT,
)
from tests.emulator_fixtures import Emulators

TERMINAL = ("Succeeded", "Failed", "Cancelled")


@pytest.fixture(scope="module")
def adf_clock() -> FakeClock:
    """The emulator's clock for this module: it moves only when a test waits for a run."""
    return FakeClock()


@pytest.fixture(scope="module")
def https_emulator(module_emulator_for: Emulators, adf_clock: FakeClock) -> EmulatorServer:
    """This module's own HTTPS emulator (the suite's scenario) on ``adf_clock``."""
    return module_emulator_for(SCENARIO, clock=adf_clock, tls=True)


@pytest.fixture(scope="module")
def adf(https_emulator: EmulatorServer) -> Iterator[DataFactoryManagementClient]:
    ca_file = https_emulator.ca_file
    credential = ClientSecretCredential(
        TENANT,
        CLIENT_ID,
        SECRET,
        authority=https_emulator.url,
        disable_instance_discovery=True,
        connection_verify=ca_file,
    )
    client = DataFactoryManagementClient(
        credential,
        SUBSCRIPTION,
        base_url=https_emulator.url,
        connection_verify=ca_file,
        retry_total=0,  # a refusal must reach the test, not be retried away
    )
    with client:
        yield client
    credential.close()


def window(**extra: Any) -> RunFilterParameters:
    now = datetime.now(UTC)
    return RunFilterParameters(
        last_updated_after=now - timedelta(hours=1),
        last_updated_before=now + timedelta(hours=1),
        **extra,
    )


@pytest.fixture
def wait(adf: DataFactoryManagementClient, adf_clock: FakeClock) -> Callable[[str], PipelineRun]:
    """Read a run, moving the emulator's clock a second at a time, until it has ended."""

    def until_ended(run_id: str) -> PipelineRun:
        for _ in range(120):
            run = adf.pipeline_runs.get(RESOURCE_GROUP, FACTORY, run_id)
            if run.status in TERMINAL:
                return run
            adf_clock.advance(1)
        raise AssertionError(f"run {run_id} still {run.status} after 120 s of emulator time")

    return until_ended


def start(adf: DataFactoryManagementClient, pipeline: str, **options: Any) -> str:
    run_id = adf.pipelines.create_run(RESOURCE_GROUP, FACTORY, pipeline, **options).run_id
    assert isinstance(run_id, str)
    return run_id


def activities(adf: DataFactoryManagementClient, run_id: str) -> list[ActivityRun]:
    order = [RunQueryOrderBy(order_by="ActivityRunStart", order="ASC")]
    answer = adf.activity_runs.query_by_pipeline_run(
        RESOURCE_GROUP, FACTORY, run_id, window(order_by=order)
    )
    assert answer.continuation_token is None
    return list(answer.value)


# ---------------------------------------------------------------------- reads


def test_get_factory(adf: DataFactoryManagementClient) -> None:
    factory = adf.factories.get(RESOURCE_GROUP, FACTORY)
    assert factory.name == FACTORY
    assert factory.id == (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}"
        f"/providers/Microsoft.DataFactory/factories/{FACTORY}"
    )
    assert factory.type == "Microsoft.DataFactory/factories"
    assert factory.location and factory.e_tag and factory.tags == {}
    assert factory.properties.provisioning_state == "Succeeded"
    assert isinstance(factory.properties.create_time, datetime)
    assert factory.properties.create_time.tzinfo is not None
    assert factory.identity.type == "SystemAssigned"
    assert str(factory.identity.tenant_id) == TENANT
    assert factory.identity.principal_id


def test_get_pipeline(adf: DataFactoryManagementClient) -> None:
    """What ``adf-trigger doctor`` reads to prove a pipeline is published."""
    pipeline = adf.pipelines.get(RESOURCE_GROUP, FACTORY, "copy_sales")
    assert pipeline.name == "copy_sales"
    assert pipeline.type == "Microsoft.DataFactory/factories/pipelines"
    assert pipeline.id.endswith("/pipelines/copy_sales")
    assert [activity.name for activity in pipeline.activities]
    assert sorted(pipeline.parameters) == ["date", "region"]


def test_a_run_and_its_activities_are_read_in_full(
    wait: Callable[[str], PipelineRun],
    adf: DataFactoryManagementClient,
    https_emulator: EmulatorServer,
) -> None:
    before = https_emulator.request_counts()
    run_id = start(adf, "copy_sales", parameters={"region": "emea", "date": "2026-11-26"})
    first = adf.pipeline_runs.get(RESOURCE_GROUP, FACTORY, run_id)
    assert first.status == "Queued"
    assert first.run_start is None and first.run_end is None and first.duration_in_ms is None

    run = wait(run_id)

    assert (run.run_id, run.run_group_id, run.pipeline_name) == (run_id, run_id, "copy_sales")
    assert run.status == "Succeeded" and run.message == ""
    assert run.is_latest is True
    assert run.parameters == {"region": "emea", "date": "2026-11-26"}
    assert run.invoked_by.name == "Manual" and run.invoked_by.invoked_by_type == "Manual"
    assert run.invoked_by.id
    for moment in (run.last_updated, run.run_start, run.run_end):
        assert isinstance(moment, datetime) and moment.tzinfo is not None
    assert run.run_start < run.run_end == run.last_updated
    assert run.duration_in_ms == 200  # the scenario's 0.2 s, from the emulator's clock
    assert run["id"].endswith(f"/pipelineruns/{run_id}")  # not a field of the model
    assert run["runDimension"] == {} and run.run_dimensions is None  # the spelling differs
    lookup, copy = activities(adf, run_id)
    assert [(a.activity_name, a.activity_type, a.status) for a in (lookup, copy)] == [
        ("Lookup files", "Lookup", "Succeeded"),
        ("Copy sales to lake", "Copy", "Succeeded"),
    ]
    for activity in (lookup, copy):
        assert activity.activity_run_id and activity.pipeline_run_id == run_id
        assert activity.pipeline_name == "copy_sales"
        assert isinstance(activity.activity_run_start, datetime)
        assert isinstance(activity.activity_run_end, datetime)
        assert isinstance(activity.duration_in_ms, int)
        assert activity.error["errorCode"] == ""
    counts = https_emulator.request_counts()
    read = {op: counts[op] - before.get(op, 0) for op in ("get run", "query activity runs")}
    assert read == {"get run": 3, "query activity runs": 1}  # Queued, Queued, then Succeeded


# ---------------------------------------------------------------------- reruns


def test_a_recovery_rerun_from_the_failed_activity(
    wait: Callable[[str], PipelineRun], adf: DataFactoryManagementClient
) -> None:
    first_id = start(adf, "etl", parameters={"date": "2026-11-26"})
    first = wait(first_id)
    assert first.status == "Failed"
    assert first.message == "Operation on target Copy sales to lake failed"
    failed = [a for a in activities(adf, first_id) if a.status == "Failed"]
    assert [(a.activity_name, a.error["errorCode"]) for a in failed] == [
        ("Copy sales to lake", "2200")
    ]

    rerun_id = start(
        adf,
        "etl",
        parameters={"date": "ignored on a rerun"},
        reference_pipeline_run_id=first_id,
        is_recovery=True,
        start_from_failure=True,
    )
    rerun = wait(rerun_id)

    assert rerun.status == "Succeeded"
    assert rerun.run_group_id == first_id
    assert rerun.parameters == {"date": "2026-11-26"}
    assert adf.pipeline_runs.get(RESOURCE_GROUP, FACTORY, first_id).is_latest is False
    assert [a.activity_name for a in activities(adf, rerun_id)] == [
        "Copy sales to lake",
        "Notify",
    ]
    latest = RunQueryFilter(operand="LatestOnly", operator="Equals", values_property=["true"])
    group = RunQueryFilter(operand="RunGroupId", operator="Equals", values_property=[first_id])
    answer = adf.pipeline_runs.query_by_factory(
        RESOURCE_GROUP, FACTORY, window(filters=[group, latest])
    )
    assert [run.run_id for run in answer.value] == [rerun_id]


def test_a_rerun_from_a_named_activity(
    wait: Callable[[str], PipelineRun], adf: DataFactoryManagementClient
) -> None:
    first_id = start(adf, "etl")
    wait(first_id)
    rerun_id = start(
        adf,
        "etl",
        reference_pipeline_run_id=first_id,
        is_recovery=True,
        start_activity_name="Notify",
    )
    wait(rerun_id)
    assert [a.activity_name for a in activities(adf, rerun_id)] == ["Notify"]


# ---------------------------------------------------------------------- cancel


def test_cancel_a_run_and_its_children(
    wait: Callable[[str], PipelineRun], adf: DataFactoryManagementClient
) -> None:
    run_id = start(adf, "slow")
    assert adf.pipeline_runs.cancel(RESOURCE_GROUP, FACTORY, run_id, is_recursive=True) is None
    assert adf.pipeline_runs.get(RESOURCE_GROUP, FACTORY, run_id).status == "Canceling"
    cancelled = wait(run_id)
    assert cancelled.status == "Cancelled"
    assert (cancelled.message, cancelled.run_end, cancelled.duration_in_ms) == ("", None, None)
    assert isinstance(cancelled.last_updated, datetime)


# ---------------------------------------------------------------------- queries


def test_query_pipeline_runs_pages_and_filters(
    wait: Callable[[str], PipelineRun], adf: DataFactoryManagementClient
) -> None:
    created = [start(adf, "paged") for _ in range(5)]
    for run_id in created:
        wait(run_id)
    by_name = RunQueryFilter(operand="PipelineName", operator="Equals", values_property=["paged"])
    order = [RunQueryOrderBy(order_by="RunStart", order="ASC")]
    query = window(filters=[by_name], order_by=order)  # every page asks the same query
    seen: list[str] = []
    pages = 0
    while True:
        answer = adf.pipeline_runs.query_by_factory(RESOURCE_GROUP, FACTORY, query)
        pages += 1
        assert len(answer.value) <= 2  # the scenario's page size
        seen += [run.run_id for run in answer.value]
        query.continuation_token = answer.continuation_token
        if query.continuation_token is None:
            break
    assert (seen, pages) == (created, 3)

    statuses = RunQueryFilter(
        operand="Status", operator="In", values_property=["Succeeded", "Failed"]
    )
    not_paged = RunQueryFilter(
        operand="PipelineName", operator="NotEquals", values_property=["paged"]
    )
    answer = adf.pipeline_runs.query_by_factory(
        RESOURCE_GROUP, FACTORY, window(filters=[statuses, not_paged])
    )
    assert all(run.pipeline_name != "paged" for run in answer.value)
    assert all(run.status in ("Succeeded", "Failed") for run in answer.value)


def test_query_activity_runs_filters(
    wait: Callable[[str], PipelineRun], adf: DataFactoryManagementClient
) -> None:
    run_id = start(adf, "copy_sales", parameters={"region": "apac"})
    wait(run_id)
    copy_only = RunQueryFilter(operand="ActivityType", operator="Equals", values_property=["Copy"])
    answer = adf.activity_runs.query_by_pipeline_run(
        RESOURCE_GROUP, FACTORY, run_id, window(filters=[copy_only])
    )
    assert [a.activity_name for a in answer.value] == ["Copy sales to lake"]


# ---------------------------------------------------------------------- refusals


def refusal(error: pytest.ExceptionInfo[HttpResponseError]) -> tuple[int | None, str, str]:
    assert error.value.error is not None
    return error.value.status_code, error.value.error.code, error.value.error.message


def test_the_sdk_sees_a_run_group_filter_with_two_values_refused(
    adf: DataFactoryManagementClient,
) -> None:
    two = RunQueryFilter(operand="RunGroupId", operator="In", values_property=["a", "b"])
    with pytest.raises(HttpResponseError) as raised:
        adf.pipeline_runs.query_by_factory(RESOURCE_GROUP, FACTORY, window(filters=[two]))
    status, _code, message = refusal(raised)
    assert status == 400
    assert message == (
        "Filter operand 'RunGroupId' does not support and array of values. Make sure to "
        "provide only one."
    )


def test_the_sdk_sees_a_run_id_operand_refused(adf: DataFactoryManagementClient) -> None:
    by_id = RunQueryFilter(operand="PipelineRunId", operator="Equals", values_property=["x"])
    with pytest.raises(HttpResponseError) as raised:
        adf.pipeline_runs.query_by_factory(RESOURCE_GROUP, FACTORY, window(filters=[by_id]))
    assert refusal(raised)[0] == 400


def test_the_sdk_sees_an_unknown_reference_run_refused(
    adf: DataFactoryManagementClient, https_emulator: EmulatorServer
) -> None:
    unknown = "00000000-0000-0000-0000-000000000000"
    before = https_emulator.runs_created
    with pytest.raises(HttpResponseError) as raised:
        start(adf, "etl", reference_pipeline_run_id=unknown, is_recovery=True)
    assert refusal(raised) == (
        400,
        "ReferencedPipelineRunNotValid",
        f"Referenced pipeline run id {unknown} is not a valid run id.",
    )
    assert raised.value.error.target == "pipeline/etl/"
    assert https_emulator.runs_created == before


def test_the_sdk_sees_a_finished_run_refuse_cancel(
    wait: Callable[[str], PipelineRun], adf: DataFactoryManagementClient
) -> None:
    run_id = start(adf, "paged")
    wait(run_id)
    with pytest.raises(HttpResponseError) as raised:
        adf.pipeline_runs.cancel(RESOURCE_GROUP, FACTORY, run_id)
    status, code, message = refusal(raised)
    assert (status, code) == (400, "PipelineRunNotRunning")
    assert "already completed with status 'Succeeded'" in message


def test_an_unknown_run_and_pipeline_are_not_found(adf: DataFactoryManagementClient) -> None:
    with pytest.raises(ResourceNotFoundError):
        adf.pipeline_runs.get(RESOURCE_GROUP, FACTORY, "00000000-0000-0000-0000-000000000000")
    with pytest.raises(ResourceNotFoundError):
        start(adf, "no_such_pipeline")
