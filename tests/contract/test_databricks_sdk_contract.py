"""databricks-sdk drives the emulator's Jobs API over HTTPS: every call the product's
Databricks steps make, every answer read, every refusal seen as the SDK's own error."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config
from databricks.sdk.errors import (
    InvalidParameterValue,
    PermissionDenied,
    ResourceDoesNotExist,
)
from databricks.sdk.service.jobs import (
    RunLifeCycleState,
    RunResultState,
    RunType,
    SubmitTask,
    TerminationCodeCode,
)

from testbed.emulator import EmulatorServer
from tests.contract.conftest import DATABRICKS_TOKEN

NOTEBOOK = {
    "task_key": "prepare",
    "notebook_task": {"notebook_path": "/etl/prepare", "base_parameters": {"date": "2026-11-26"}},
    "existing_cluster_id": "0101-120000-etl00001",
}
WAIT = timedelta(seconds=15)


def workspace(emulator: EmulatorServer, token: str) -> WorkspaceClient:
    # The SDK first asks /.well-known/databricks-config, which the emulator does not serve;
    # it logs that and goes on with the explicit settings.
    logging.getLogger("databricks.sdk").setLevel(logging.ERROR)
    config = Config(host=emulator.url, token=token, auth_type="pat", retry_timeout_seconds=5)
    return WorkspaceClient(config=config)


@pytest.fixture(scope="module")
def dbx(https_emulator: EmulatorServer) -> Iterator[WorkspaceClient]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REQUESTS_CA_BUNDLE", str(https_emulator.ca_file))  # the SDK's requests
        yield workspace(https_emulator, DATABRICKS_TOKEN)


def test_submit_get_and_read_the_notebooks_output(
    dbx: WorkspaceClient, https_emulator: EmulatorServer
) -> None:
    waiter = dbx.jobs.submit(run_name="prepare", tasks=[SubmitTask.from_dict(NOTEBOOK)])
    run_id = waiter.response.run_id
    assert isinstance(run_id, int)
    first = dbx.jobs.get_run(run_id)
    assert first.state.life_cycle_state in (RunLifeCycleState.PENDING, RunLifeCycleState.RUNNING)

    run = waiter.result(timeout=WAIT)

    assert run.run_id == run_id and run.run_type is RunType.SUBMIT_RUN
    assert run.state.life_cycle_state is RunLifeCycleState.TERMINATED
    assert run.state.result_state is RunResultState.SUCCESS
    assert run.status.termination_details.code is TerminationCodeCode.SUCCESS
    assert run.run_page_url.startswith(f"{https_emulator.url}/#job/")
    assert isinstance(run.start_time, int) and run.end_time >= run.start_time
    (task,) = run.tasks
    assert task.task_key == "prepare" and task.notebook_task.notebook_path == "/etl/prepare"
    assert task.state.result_state is RunResultState.SUCCESS
    output = dbx.jobs.get_run_output(task.run_id)
    assert output.notebook_output.result == "abfss://lake/prepared/2026-11-26/"
    assert output.metadata.run_id == task.run_id
    assert output.metadata.state.result_state is RunResultState.SUCCESS


def test_run_now_with_job_parameters(dbx: WorkspaceClient) -> None:
    job = dbx.jobs.get(4242)
    assert job.settings.name == "publish_sales"
    assert [p.name for p in job.settings.parameters] == ["input_path"]
    waiter = dbx.jobs.run_now(job_id=4242, job_parameters={"input_path": "abfss://lake/x/"})
    run = waiter.result(timeout=WAIT)
    assert run.job_id == 4242 and run.run_type is RunType.JOB_RUN
    assert {p.name: p.value for p in run.job_parameters} == {"input_path": "abfss://lake/x/"}
    (task,) = run.tasks
    output = dbx.jobs.get_run_output(task.run_id)
    assert output.notebook_output.result == "published abfss://lake/x/"


def test_a_failed_job_run(dbx: WorkspaceClient) -> None:
    run = dbx.jobs.run_now(job_id=13).result(timeout=WAIT)  # TERMINATED is the end it waits for
    assert run.state.life_cycle_state is RunLifeCycleState.TERMINATED
    assert run.state.result_state is RunResultState.FAILED
    assert run.state.state_message
    assert run.status.termination_details.code is TerminationCodeCode.RUN_EXECUTION_ERROR
    (task,) = run.tasks
    output = dbx.jobs.get_run_output(task.run_id)
    assert output.error == "ValueError: no rows"
    assert output.error_trace


def test_cancel_a_run(dbx: WorkspaceClient) -> None:
    run_id = dbx.jobs.run_now(job_id=77).response.run_id
    cancelled = dbx.jobs.cancel_run(run_id).result(timeout=WAIT)
    assert cancelled.state.life_cycle_state is RunLifeCycleState.TERMINATED
    assert cancelled.state.result_state is RunResultState.CANCELED
    assert cancelled.state.user_cancelled_or_timedout is True
    assert cancelled.status.termination_details.code is TerminationCodeCode.USER_CANCELED


def test_unknown_runs_and_jobs_are_the_sdks_resource_does_not_exist(
    dbx: WorkspaceClient,
) -> None:
    with pytest.raises(ResourceDoesNotExist, match=r"^Run 777 does not exist\.$"):
        dbx.jobs.get_run(777)
    with pytest.raises(ResourceDoesNotExist, match=r"^Run 777 does not exist\.$"):
        dbx.jobs.get_run_output(777)
    with pytest.raises(ResourceDoesNotExist, match=r"^Job 999 does not exist\.$"):
        dbx.jobs.get(999)
    # cancel is a POST: no override, so the plain 400 error class.
    with pytest.raises(InvalidParameterValue, match=r"^Run 777 does not exist\.$"):
        dbx.jobs.cancel_run(777)


def test_the_output_of_a_parent_run_is_refused(dbx: WorkspaceClient) -> None:
    run_id = dbx.jobs.submit(run_name="two", tasks=[SubmitTask.from_dict(NOTEBOOK)]).response
    with pytest.raises(InvalidParameterValue, match="multiple tasks"):
        dbx.jobs.get_run_output(run_id.run_id)


def test_a_wrong_token_is_permission_denied(https_emulator: EmulatorServer) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REQUESTS_CA_BUNDLE", str(https_emulator.ca_file))
        wrong = workspace(https_emulator, "dapi-wrong")
        with pytest.raises(PermissionDenied, match="Invalid access token"):
            wrong.jobs.get(4242)
