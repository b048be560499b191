"""The emulator's Databricks Jobs API over plain HTTP: bodies and status codes as Databricks'."""

from __future__ import annotations

import base64
import dataclasses
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_adf_trigger.emulator import ScenarioError
from testbed.emulator import SCENARIOS, EmulatorServer, Scenario
from tests.clock import FakeClock

TOKEN = "dapi-test-token-7c1e"
NOTEBOOK = {
    "task_key": "prepare",
    "notebook_task": {"notebook_path": "/etl/prepare", "base_parameters": {"date": "2026-11-26"}},
    "existing_cluster_id": "0101-120000-etl00001",
}


def scenario_json(**databricks: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "token": TOKEN,
        "submit": {
            "pending_seconds": 1,
            "duration_seconds": 2,
            "notebook_output": {"result": "abfss://lake/prepared/{date}/{unknown}"},
        },
        "jobs": {
            "4242": {
                "name": "publish_sales",
                "task_key": "publish",
                "duration_seconds": 2,
                "parameters": {"input_path": "", "mode": "full"},
                "notebook_output": {"result": "published {input_path} ({mode})"},
            },
            "13": {
                "name": "broken",
                "duration_seconds": 1,
                "outcome": "FAILED",
                "state_message": "Workload failed, see run output for details",
                "error": "ValueError: no rows",
                "cancel_seconds": 0,
            },
        },
    }
    section.update(databricks)
    return {
        "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "subscription_id": "12345678-1234-1234-1234-123456789abc",
        "resource_group": "rg-analytics",
        "factory_name": "adf-demo",
        "service_principals": [{"client_id": "c", "client_secret": "s"}],
        "pipelines": {"copy_sales": {}},
        "databricks": section,
    }


class Workspace:
    """Requests as the Databricks provider's hook sends them."""

    def __init__(self, server: EmulatorServer, version: str = "2.2") -> None:
        self.api = f"{server.url}/api/{version}/jobs"
        self.headers = {"Authorization": f"Bearer {TOKEN}"}
        self.verify: str | bool = server.ca_file or True

    def get(self, path: str, **params: Any) -> requests.Response:
        return requests.get(
            f"{self.api}/{path}", params=params, headers=self.headers, timeout=5, verify=self.verify
        )

    def post(self, path: str, body: object) -> requests.Response:
        return requests.post(
            f"{self.api}/{path}", json=body, headers=self.headers, timeout=5, verify=self.verify
        )

    def ok(self, answer: requests.Response) -> dict[str, Any]:
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def submit(self, **body: Any) -> int:
        return int(self.ok(self.post("runs/submit", {"run_name": "prep", **body}))["run_id"])

    def run_now(self, **body: Any) -> int:
        return int(self.ok(self.post("run-now", body))["run_id"])

    def run(self, run_id: int) -> dict[str, Any]:
        return self.ok(self.get("runs/get", run_id=run_id))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=500.0)


@pytest.fixture
def server(clock: FakeClock) -> Iterator[EmulatorServer]:
    with EmulatorServer(Scenario.from_json(scenario_json()), clock=clock) as emulator:
        yield emulator


@pytest.fixture
def dbx(server: EmulatorServer) -> Workspace:
    return Workspace(server)


def lifecycle(run: dict[str, Any]) -> tuple[str, str | None]:
    return run["state"]["life_cycle_state"], run["state"].get("result_state")


# ---------------------------------------------------------------------- auth


def test_no_credential_is_401_and_a_wrong_token_403(server: EmulatorServer) -> None:
    url = f"{server.url}/api/2.2/jobs/runs/get?run_id=1001"
    missing = requests.get(url, timeout=5)
    assert missing.status_code == 401
    assert missing.json() == {
        "error_code": 401,
        "message": "Credential was not sent or was of an unsupported type for this API.",
    }
    wrong = requests.get(url, headers={"Authorization": "Bearer dapi-wrong"}, timeout=5)
    assert wrong.status_code == 403
    assert wrong.json() == {"error_code": 403, "message": "Invalid access token."}
    assert TOKEN not in wrong.text
    basic = base64.b64encode(f"token:{TOKEN}".encode()).decode()
    answer = requests.get(url, headers={"Authorization": f"Basic {basic}"}, timeout=5)
    assert answer.status_code == 400  # authenticated: the run just does not exist
    assert server.stats()["requests"]["databricks runs get"] == 3


def test_a_scenario_without_databricks_and_unknown_paths_answer_endpoint_not_found(
    server: EmulatorServer, demo_scenario: Scenario, dbx: Workspace
) -> None:
    unknown = dbx.get("runs/list")
    assert unknown.status_code == 404
    assert unknown.json() == {
        "error_code": "ENDPOINT_NOT_FOUND",
        "message": "No API found for 'GET /2.2/jobs/runs/list'",
    }
    with EmulatorServer(demo_scenario) as adf_only:
        answer = Workspace(adf_only).post("runs/submit", {"tasks": [NOTEBOOK]})
        assert answer.status_code == 404
        assert answer.json()["error_code"] == "ENDPOINT_NOT_FOUND"
        assert adf_only.databricks_runs_created == 0


# ---------------------------------------------------------------------- runs/submit


def test_a_submitted_run_goes_pending_running_terminated_with_its_tasks(
    dbx: Workspace, clock: FakeClock, server: EmulatorServer
) -> None:
    run_id = dbx.submit(tasks=[NOTEBOOK])
    run = dbx.run(run_id)
    assert lifecycle(run) == ("PENDING", None)
    assert run["status"] == {"state": "PENDING"}
    assert (run["run_id"], run["run_type"], run["run_name"]) == (run_id, "SUBMIT_RUN", "prep")
    assert run["run_page_url"] == f"{server.url}/#job/{run['job_id']}/run/{run_id}"
    assert run["end_time"] == 0
    (task,) = run["tasks"]
    assert task["task_key"] == "prepare" and task["run_id"] != run_id
    assert task["notebook_task"] == NOTEBOOK["notebook_task"]
    assert task["existing_cluster_id"] == NOTEBOOK["existing_cluster_id"]

    clock.advance(1)
    assert lifecycle(dbx.run(run_id)) == ("RUNNING", None)
    clock.advance(2)
    run = dbx.run(run_id)
    assert lifecycle(run) == ("TERMINATED", "SUCCESS")
    assert run["state"]["state_message"] == ""
    assert run["status"] == {
        "state": "TERMINATED",
        "termination_details": {"code": "SUCCESS", "type": "SUCCESS", "message": ""},
    }
    assert run["end_time"] - run["start_time"] == run["run_duration"] == 3000
    assert run["tasks"][0]["execution_duration"] == 2000
    assert run["tasks"][0]["setup_duration"] == 1000
    # A task run can be read by its own id too.
    task_run = dbx.run(task["run_id"])
    assert (task_run["run_id"], task_run["task_key"]) == (task["run_id"], "prepare")
    assert lifecycle(task_run) == ("TERMINATED", "SUCCESS")
    assert server.stats()["databricks_runs_created"] == 1
    assert server.run_summaries() == []  # the ADF runs list stays ADF's


def test_get_output_is_per_task_and_carries_the_notebook_result(
    dbx: Workspace, clock: FakeClock
) -> None:
    run_id = dbx.submit(tasks=[NOTEBOOK])
    task_run_id = dbx.run(run_id)["tasks"][0]["run_id"]
    parent = dbx.get("runs/get-output", run_id=run_id)
    assert parent.status_code == 400
    assert parent.json() == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": "Retrieving the output of runs with multiple tasks is not supported. "
        "Please retrieve the output of each individual task run instead.",
    }
    early = dbx.ok(dbx.get("runs/get-output", run_id=task_run_id))
    assert early["notebook_output"] == {}
    assert early["metadata"]["state"]["life_cycle_state"] == "PENDING"
    clock.advance(3)
    output = dbx.ok(dbx.get("runs/get-output", run_id=task_run_id))
    # Placeholders take the task's base_parameters; unknown ones stay as they are.
    assert output["notebook_output"] == {
        "result": "abfss://lake/prepared/2026-11-26/{unknown}",
        "truncated": False,
    }
    assert output["metadata"]["run_id"] == task_run_id
    assert "error" not in output


def test_the_single_task_format_and_bad_bodies(dbx: Workspace, clock: FakeClock) -> None:
    run_id = dbx.submit(run_name="nightly", notebook_task=NOTEBOOK["notebook_task"])
    (task,) = dbx.run(run_id)["tasks"]
    assert task["task_key"] == "nightly"
    assert task["notebook_task"]["notebook_path"] == "/etl/prepare"
    for body, message in [
        ({"run_name": "empty"}, "At least one task is required."),
        ({"tasks": [{"notebook_task": {}}]}, "tasks[0].task_key is required."),
        ({"tasks": [NOTEBOOK, NOTEBOOK]}, "Task key prepare is not unique."),
        ({"tasks": [{"task_key": "x"}]}, "Task x must have one of the task types set."),
    ]:
        answer = dbx.post("runs/submit", body)
        assert answer.status_code == 400, body
        assert answer.json() == {"error_code": "INVALID_PARAMETER_VALUE", "message": message}
    garbled = requests.post(
        f"{dbx.api}/runs/submit", data=b"[1, 2]", headers=dbx.headers, timeout=5
    )
    assert garbled.status_code == 400
    assert garbled.json()["error_code"] == "MALFORMED_REQUEST"


def test_an_idempotency_token_returns_the_first_run(dbx: Workspace, server: EmulatorServer) -> None:
    first = dbx.submit(tasks=[NOTEBOOK], idempotency_token="prep-2026-11-26")
    again = dbx.submit(tasks=[NOTEBOOK], idempotency_token="prep-2026-11-26")
    assert first == again
    assert server.databricks_runs_created == 1


# ---------------------------------------------------------------------- run-now, jobs


def test_run_now_merges_job_parameters_and_fails_as_scripted(
    dbx: Workspace, clock: FakeClock, server: EmulatorServer
) -> None:
    # The provider sends every number as a string: "4242".
    answer = dbx.ok(dbx.post("run-now", {"job_id": "4242", "job_parameters": {"input_path": "p"}}))
    run_id = int(answer["run_id"])
    assert answer["number_in_job"] == run_id
    run = dbx.run(run_id)
    assert (run["job_id"], run["run_type"], run["run_name"]) == (4242, "JOB_RUN", "publish_sales")
    assert run["job_parameters"] == [
        {"name": "input_path", "default": "", "value": "p"},
        {"name": "mode", "default": "full", "value": "full"},
    ]
    clock.advance(2.2)
    run = dbx.run(run_id)
    assert lifecycle(run) == ("TERMINATED", "SUCCESS")
    output = dbx.ok(dbx.get("runs/get-output", run_id=run["tasks"][0]["run_id"]))
    assert output["notebook_output"]["result"] == "published p (full)"

    failing = dbx.run_now(job_id=13, notebook_params={"day": "x"})
    clock.advance(1.2)
    run = dbx.run(failing)
    assert lifecycle(run) == ("TERMINATED", "FAILED")
    assert run["overriding_parameters"] == {"notebook_params": {"day": "x"}}
    (task,) = run["tasks"]
    assert task["task_key"] == "main"
    assert task["state"]["state_message"] == "Workload failed, see run output for details"
    assert run["state"]["state_message"] == (
        "Task main failed with message: Workload failed, see run output for details."
    )
    assert run["status"]["termination_details"]["code"] == "RUN_EXECUTION_ERROR"
    output = dbx.ok(dbx.get("runs/get-output", run_id=task["run_id"]))
    assert output["error"] == "ValueError: no rows"
    assert output["notebook_output"] == {}
    assert [s["result_state"] for s in server.databricks_run_summaries()] == ["SUCCESS", "FAILED"]


def test_unknown_jobs_and_runs(dbx: Workspace) -> None:
    unknown_job = dbx.post("run-now", {"job_id": 999})
    assert unknown_job.status_code == 400
    assert unknown_job.json() == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": "Job 999 does not exist.",
    }
    assert dbx.get("get", job_id=999).json()["message"] == "Job 999 does not exist."
    missing = dbx.post("run-now", {})
    assert missing.json()["message"] == "Missing required field: job_id"
    # 400 INVALID_PARAMETER_VALUE, as databricks-sdk-py's errors/overrides.py expects.
    for answer in (
        dbx.get("runs/get", run_id=777),
        dbx.get("runs/get-output", run_id=777),
        dbx.post("runs/cancel", {"run_id": 777}),
    ):
        assert answer.status_code == 400
        assert answer.json() == {
            "error_code": "INVALID_PARAMETER_VALUE",
            "message": "Run 777 does not exist.",
        }
    assert dbx.get("runs/get", run_id="abc").json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_run_page_urls_use_https_when_the_emulator_serves_tls() -> None:
    with EmulatorServer(Scenario.from_json(scenario_json()), tls=True) as emulator:
        dbx = Workspace(emulator)
        run_id = dbx.submit(tasks=[NOTEBOOK])
        run = dbx.run(run_id)
    assert emulator.url.startswith("https://127.0.0.1:")
    assert run["run_page_url"] == f"{emulator.url}/#job/{run['job_id']}/run/{run_id}"
    (task,) = run["tasks"]
    assert task["run_page_url"].startswith(f"{emulator.url}/#job/")


def test_jobs_get_and_list(server: EmulatorServer, dbx: Workspace) -> None:
    job = dbx.ok(dbx.get("get", job_id=4242))
    assert job["job_id"] == 4242
    assert job["settings"]["name"] == "publish_sales"
    assert job["settings"]["tasks"][0]["task_key"] == "publish"
    assert job["settings"]["parameters"] == [
        {"name": "input_path", "default": ""},
        {"name": "mode", "default": "full"},
    ]
    listed = dbx.ok(dbx.get("list", name="PUBLISH_SALES", limit=25, expand_tasks="false"))
    assert [j["job_id"] for j in listed["jobs"]] == [4242]
    assert "tasks" not in listed["jobs"][0]["settings"]
    assert "has_more" not in listed  # 2.2 dropped it
    assert dbx.ok(dbx.get("list", name="nope")) == {}
    old = Workspace(server, "2.1").ok(Workspace(server, "2.1").get("list"))
    assert (len(old["jobs"]), old["has_more"]) == (2, False)


# ---------------------------------------------------------------------- cancel


def test_cancel_terminates_an_active_run_and_is_a_no_op_on_a_finished_one(
    dbx: Workspace, clock: FakeClock, server: EmulatorServer
) -> None:
    run_id = dbx.run_now(job_id=4242)
    clock.advance(0.5)
    assert dbx.ok(dbx.post("runs/cancel", {"run_id": run_id})) == {}
    run = dbx.run(run_id)
    assert lifecycle(run) == ("TERMINATING", None)
    assert run["state"]["user_cancelled_or_timedout"] is True
    clock.advance(0.2)  # the default cancel_seconds
    run = dbx.run(run_id)
    assert lifecycle(run) == ("TERMINATED", "CANCELED")
    assert run["state"]["state_message"] == "Run was cancelled by a user."
    assert run["status"]["termination_details"]["code"] == "USER_CANCELED"
    assert lifecycle(run["tasks"][0]) == ("TERMINATED", "CANCELED")

    finished = dbx.run_now(job_id=13)
    clock.advance(5)
    assert dbx.post("runs/cancel", {"run_id": finished}).status_code == 200
    assert lifecycle(dbx.run(finished)) == ("TERMINATED", "FAILED")
    summaries = server.databricks_run_summaries()
    assert [s["cancelled"] for s in summaries] == [True, False]


# ---------------------------------------------------------------------- plumbing


def test_a_get_with_a_json_body_as_the_async_hook_sends_it(dbx: Workspace) -> None:
    run_id = dbx.submit(tasks=[NOTEBOOK])
    answer = requests.get(
        f"{dbx.api}/runs/get", json={"run_id": run_id}, headers=dbx.headers, timeout=5
    )
    assert dbx.ok(answer)["run_id"] == run_id


def test_requests_are_counted_listed_and_never_faulted(
    dbx: Workspace, server: EmulatorServer
) -> None:
    server.add_fault(operation="*", action="status", status=503, times=-1)
    run_id = dbx.submit(tasks=[NOTEBOOK])
    dbx.run(run_id)
    dbx.post("runs/cancel", {"run_id": run_id})
    stats = requests.get(f"{server.url}/_emulator/stats", timeout=5).json()
    assert stats["faults_applied"] == 0
    assert stats["databricks_runs_created"] == 1
    assert stats["requests"] == {
        "databricks runs submit": 1,
        "databricks runs get": 1,
        "databricks runs cancel": 1,
    }
    (listed,) = requests.get(f"{server.url}/_emulator/databricks/runs", timeout=5).json()
    assert (listed["run_id"], listed["run_type"]) == (run_id, "SUBMIT_RUN")
    assert listed["parameters"] == {"prepare": {"date": "2026-11-26"}}


def test_the_scenario_section_is_checked_and_gives_the_connection() -> None:
    scenario = Scenario.load(SCENARIOS / "databricks_chain.json")
    assert scenario.databricks is not None
    assert scenario.databricks_connection("http://127.0.0.1:8765") == {
        "conn_type": "databricks",
        "host": "127.0.0.1",
        "port": 8765,
        "schema": "http",
        "password": "dapi-emulator-token",
    }
    assert TOKEN not in repr(Scenario.from_json(scenario_json()))
    without = dataclasses.replace(scenario, databricks=None)
    with pytest.raises(ValueError, match='no "databricks" section'):
        without.databricks_connection("http://127.0.0.1:8765")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"token": ""}, "databricks.token"),
        ({"tokn": "x", "token": "x"}, "databricks.tokn: unknown field"),
        ({"jobs": {"abc": {}}}, "databricks.jobs.abc: a job id must be a positive integer"),
        ({"jobs": {"1": {"outcome": "OK"}}}, "databricks.jobs.1.outcome: 'OK' is not one of"),
        ({"submit": {"notebook_output": "x"}}, "databricks.submit.notebook_output"),
        ({"submit": {"duration_seconds": -1}}, "databricks.submit.duration_seconds"),
    ]
    for section, message in cases:
        with pytest.raises(ScenarioError, match=message):
            Scenario.from_json(scenario_json(**section))


def test_the_cli_serves_adf_and_databricks_on_one_port(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    command = [sys.executable, "-m", "testbed.emulator", "--port", "0"]
    command += ["--scenario", str(SCENARIOS / "databricks_chain.json")]
    command += ["--port-file", str(port_file)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while not port_file.exists() or not port_file.read_text():
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        url = f"http://127.0.0.1:{port_file.read_text()}"
        headers = {"Authorization": "Bearer dapi-emulator-token"}
        body = {"job_id": 4242}
        answer = requests.post(f"{url}/api/2.2/jobs/run-now", json=body, headers=headers, timeout=5)
        assert answer.status_code == 200, answer.text
        form = {
            "grant_type": "client_credentials",
            "client_id": "0d3c4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f",
            "client_secret": "emulator-only-secret",
            "scope": "https://management.azure.com/.default",
        }
        tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
        token = requests.post(f"{url}/{tenant}/oauth2/v2.0/token", data=form, timeout=5)
        assert token.status_code == 200
    finally:
        process.terminate()
        stdout, stderr = process.communicate(timeout=5)
    assert "Databricks Jobs API on http://127.0.0.1:" in stdout
    assert "job ids: 4242" in stdout
    assert "dapi-emulator-token" not in stdout + stderr
