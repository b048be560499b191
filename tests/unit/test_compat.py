"""compat.py: the official provider's argument names, and the task state store before 3.3."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from airflow_adf_trigger import DEFAULT_CONN_ID, compat
from airflow_adf_trigger.compat import VariableTaskStateStore, official_arguments
from airflow_adf_trigger.operators.adf import AdfRunPipelineOperator
from airflow_adf_trigger.sensors.adf import AdfPipelineRunSensor
from tests.fresh import fresh_python, loaded_by

# ------------------------------------------------------------ the official argument names


def test_the_official_names_are_aliases_of_ours() -> None:
    task = AdfRunPipelineOperator(
        task_id="t",
        pipeline_name="p",
        azure_data_factory_conn_id="azure_data_factory",
        resource_group_name="rg",
    )
    assert (task.adf_conn_id, task.resource_group) == ("azure_data_factory", "rg")
    sensor = AdfPipelineRunSensor(
        task_id="s", run_id="r", azure_data_factory_conn_id="c", resource_group_name="rg"
    )
    assert (sensor.adf_conn_id, sensor.resource_group) == ("c", "rg")


def test_the_official_names_work_from_default_args() -> None:
    from airflow.sdk import DAG

    defaults = {"azure_data_factory_conn_id": "azure_data_factory", "resource_group_name": "rg"}
    with DAG(
        "official_style", schedule=None, start_date=datetime(2026, 1, 1), default_args=defaults
    ):
        task = AdfRunPipelineOperator(task_id="t", pipeline_name="p")
        sensor = AdfPipelineRunSensor(task_id="s", run_id="r")
    assert (task.adf_conn_id, task.resource_group, task.wait_for_termination) == (
        "azure_data_factory",
        "rg",
        True,
    )
    assert (sensor.adf_conn_id, sensor.resource_group) == ("azure_data_factory", "rg")


@pytest.mark.parametrize(
    ("arguments", "waits"),
    [
        ({}, False),
        ({"adf_conn_id": "c", "resource_group": "rg"}, False),
        ({"resource_group_name": "rg"}, True),
        ({"azure_data_factory_conn_id": "c"}, True),
        ({"resource_group_name": "rg", "wait_for_termination": False}, False),
        ({"wait_for_termination": True}, True),
    ],
)
def test_a_task_written_for_the_official_operator_waits_as_it_did(
    arguments: dict[str, Any], waits: bool
) -> None:
    task = AdfRunPipelineOperator(task_id="t", pipeline_name="p", **arguments)
    assert task.wait_for_termination is waits


def test_a_name_and_its_alias_with_two_values_is_an_error() -> None:
    with pytest.raises(ValueError, match="adf_conn_id='a' and azure_data_factory_conn_id='b'"):
        AdfRunPipelineOperator(
            task_id="t", pipeline_name="p", adf_conn_id="a", azure_data_factory_conn_id="b"
        )
    with pytest.raises(ValueError, match="resource_group='a' and resource_group_name='b'"):
        AdfPipelineRunSensor(task_id="s", run_id="r", resource_group="a", resource_group_name="b")


def test_without_any_name_the_default_connection_is_used() -> None:
    assert official_arguments(
        None,
        None,
        azure_data_factory_conn_id=None,
        resource_group_name=None,
        default_conn_id=DEFAULT_CONN_ID,
    ) == (DEFAULT_CONN_ID, None, False)


def test_the_connection_id_is_templated() -> None:
    assert "adf_conn_id" in AdfRunPipelineOperator.template_fields
    assert "adf_conn_id" in AdfPipelineRunSensor.template_fields


# ------------------------------------------------------------ the Variable-backed store


class FakeVariables:
    """Airflow's Variable API over a dict, counting reads."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.descriptions: dict[str, str | None] = {}
        self.reads = 0

    def get(self, key: str, default: Any = None) -> Any:
        self.reads += 1
        return self.values.get(key, default)

    def set(self, key: str, value: str, description: str | None = None) -> None:
        self.values[key] = value
        self.descriptions[key] = description

    def delete(self, key: str) -> None:
        del self.values[key]


@pytest.fixture
def variables(monkeypatch: pytest.MonkeyPatch) -> FakeVariables:
    import airflow.sdk

    fake = FakeVariables()
    monkeypatch.setattr(airflow.sdk, "Variable", fake)
    return fake


def test_the_store_keeps_a_task_instances_values_in_one_variable(
    variables: FakeVariables,
) -> None:
    store = VariableTaskStateStore("a_dag", "manual__1", "trigger", 3)
    store.set("adf_pipeline_run_id", "run-1")
    store.set("attempt", {"sent_at": "x"})
    (name,) = variables.values
    assert name.startswith("airflow_adf_trigger.task_state.") and len(name) < 250
    body = json.loads(variables.values[name])
    assert body["dag_id"] == "a_dag" and body["task_id"] == "trigger" and body["map_index"] == 3
    assert "'trigger'" in (variables.descriptions[name] or "")
    # A later try reads what an earlier one wrote.
    retry = VariableTaskStateStore("a_dag", "manual__1", "trigger", 3)
    assert retry.get("adf_pipeline_run_id") == "run-1"
    assert retry.get("missing", "default") == "default"
    retry.delete("attempt")
    assert VariableTaskStateStore("a_dag", "manual__1", "trigger", 3).get("attempt") is None
    retry.clear()
    assert variables.values == {}


def test_other_task_instances_have_their_own_variable(variables: FakeVariables) -> None:
    for map_index in (-1, 0):
        VariableTaskStateStore("d", "r", "t", map_index).set("k", map_index)
    VariableTaskStateStore("d", "r2", "t").set("k", "other run")
    assert len(variables.values) == 3
    assert VariableTaskStateStore("d", "r", "t", 0).get("k") == 0


def test_the_store_reads_its_variable_once_per_try(variables: FakeVariables) -> None:
    store = VariableTaskStateStore("d", "r", "t")
    for _ in range(5):
        store.get("k")
    store.set("k", 1)
    assert store.get("k") == 1 and variables.reads == 1


def test_an_unreadable_variable_counts_as_empty(variables: FakeVariables) -> None:
    store = VariableTaskStateStore("d", "r", "t")
    variables.values[store.variable] = "not json"
    assert store.get("k") is None


# ------------------------------------------------------------ the mixin before Airflow 3.3


class TI:
    dag_id, run_id, task_id, map_index = "d", "r", "t", -1


class Job(compat._ResumableJobMixin):
    """A job with scripted statuses, over the mixin that stands in for Airflow 3.3's."""

    external_id_key = "job_id"

    def __init__(self, status: str = "RUNNING", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.status = status
        self.submitted: list[str] = []
        self.polled: list[str] = []
        self.log = _Log()

    def submit_job(self, context: Any) -> str:
        self.submitted.append(f"job-{len(self.submitted) + 1}")
        return self.submitted[-1]

    def get_job_status(self, external_id: Any, context: Any) -> str:
        return self.status

    def is_job_active(self, status: str) -> bool:
        return status == "RUNNING"

    def is_job_succeeded(self, status: str) -> bool:
        return status == "DONE"

    def poll_until_complete(self, external_id: Any, context: Any) -> None:
        self.polled.append(str(external_id))

    def get_job_result(self, external_id: Any, context: Any) -> Any:
        return external_id


class _Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str, *args: Any) -> None:
        self.lines.append(message % args)

    warning = info


def test_a_first_try_submits_and_a_success_removes_the_variable(
    variables: FakeVariables,
) -> None:
    context: dict[str, Any] = {"ti": TI()}
    assert Job().execute_resumable(context) == "job-1"
    assert isinstance(context["task_state_store"], VariableTaskStateStore)
    assert variables.values == {}


@pytest.mark.parametrize(
    ("status", "submitted", "polled", "log"),
    [
        ("RUNNING", [], ["job-0"], "Reconnecting to existing job job_id=job-0"),
        ("DONE", [], [], "Job already completed successfully"),
        ("FAILED", ["job-1"], ["job-1"], "Prior job in terminal state, resubmitting fresh"),
    ],
)
def test_a_retry_follows_the_stored_job_as_airflow_3_3_does(
    variables: FakeVariables, status: str, submitted: list[str], polled: list[str], log: str
) -> None:
    VariableTaskStateStore("d", "r", "t").set("job_id", "job-0")
    job = Job(status)
    job.execute_resumable({"ti": TI()})
    assert (job.submitted, job.polled) == (submitted, polled)
    assert any(line.startswith(log) for line in job.log.lines), job.log.lines
    assert variables.values == {}  # the task succeeded


def test_a_try_that_fails_while_waiting_leaves_the_job_id_for_the_retry(
    variables: FakeVariables,
) -> None:
    job = Job()

    def crash(external_id: Any, context: Any) -> None:
        raise RuntimeError("worker lost")

    job.poll_until_complete = crash  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        job.execute_resumable({"ti": TI()})
    assert VariableTaskStateStore("d", "r", "t").get("job_id") == "job-1"


def test_a_store_airflow_gives_is_used_and_kept(variables: FakeVariables) -> None:
    given_store: dict[str, Any] = {}  # Airflow's store: used, and not ours to remove

    class Store:
        def get(self, key: str, default: Any = None) -> Any:
            return given_store.get(key, default)

        def set(self, key: str, value: Any, **_: Any) -> None:
            given_store[key] = value

    Job().execute_resumable({"ti": TI(), "task_state_store": Store()})
    assert given_store == {"job_id": "job-1"} and variables.values == {}


def test_not_durable_submits_every_time(variables: FakeVariables) -> None:
    VariableTaskStateStore("d", "r", "t").set("job_id", "job-0")
    job = Job(durable=False)
    assert job.execute_resumable({"ti": TI()}) == "job-1"


def test_the_mixin_in_use_is_airflows_from_3_3() -> None:
    import airflow.sdk

    assert compat.HAS_TASK_STATE_STORE is hasattr(airflow.sdk, "ResumableJobMixin")
    if compat.HAS_TASK_STATE_STORE:
        assert compat.ResumableJobMixin is airflow.sdk.ResumableJobMixin
    else:
        assert compat.ResumableJobMixin is compat._ResumableJobMixin


@pytest.mark.asyncio
async def test_a_connection_is_read_without_blocking_the_event_loop() -> None:
    class Conn:
        login, password, extra_dejson = "id", "secret", {"tenant_id": "t"}

        async def aextra_dejson(self) -> dict[str, str]:
            return {"tenant_id": "t"}

    class Hook:
        def get_connection(self, conn_id: str) -> Conn:
            assert conn_id == "adf_default"
            return Conn()

        async def aget_connection(self, conn_id: str) -> Conn:
            return self.get_connection(conn_id)

    assert await compat.read_connection_async(Hook(), "adf_default") == (
        "id",
        "secret",
        {"tenant_id": "t"},
    )


def test_importing_the_operator_leaves_the_hook_and_trigger_bases_unimported() -> None:
    """DAG files import the operator at every parse: compat.py resolves those on first use."""

    heavy = ("airflow.triggers", "airflow.hooks.base", "airflow.sdk.bases.hook")
    # airflow.sdk first: some Airflow versions import these themselves.
    loaded = loaded_by(
        "import airflow_adf_trigger.operators.adf",
        (*heavy, "airflow.sdk.bases.sensor"),
        after="import airflow.sdk",
    )
    assert loaded == []
    code = (
        "from airflow_adf_trigger.compat import BaseHook, BaseTrigger, TaskDeferred\n"
        "print(BaseHook.__name__, BaseTrigger.__name__, TaskDeferred.__name__)\n"
    )
    result = fresh_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "BaseHook BaseTrigger TaskDeferred"


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        compat.Nope  # noqa: B018
