"""A real Airflow deployment for tests: one process per component, driven over REST only.

A throwaway ``AIRFLOW_HOME`` (SQLite, LocalExecutor), the api-server on a free port of
127.0.0.1, and the scheduler, dag-processor and triggerer as separate processes, each in its
own process group so that stopping it stops its children (the executor's workers, the
triggerer's runner). Every wait is bounded; every component's output goes to a log file that
is copied to the artifacts folder when the deployment stops.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

AIRFLOW = Path(sys.executable).with_name("airflow")
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
T = TypeVar("T")


class DeploymentError(AssertionError):
    """A component did not start, or a wait ran out of time (with what was seen last)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    what: str, check: Callable[[], T | None], *, timeout: float, interval: float = 0.5
) -> T:
    """Call ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            value = check()
        except (httpx.HTTPError, OSError) as error:  # the server may be restarting
            value, last = None, error
        if value:
            return value
        if value is not None:
            last = value
        if time.monotonic() >= deadline:
            raise DeploymentError(
                f"timed out after {timeout:g} s waiting for {what}; last: {last!r}"
            )
        time.sleep(interval)


@dataclass
class Component:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to the component's process group; SIGKILL to the group if it lingers."""
        if self.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        # Children (task supervisors, log servers) may outlive the leader: end the group.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(5)


@dataclass
class AirflowDeployment:
    """Airflow 3 with its four components, a dags folder and extra environment."""

    home: Path
    dags_folder: Path
    artifacts: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    parallelism: int = 4
    port: int = field(default_factory=free_port)
    components: dict[str, Component] = field(default_factory=dict)
    _token: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AIRFLOW", "PYTEST")) and key != "_AIRFLOW_PARSING_CONTEXT"
        }
        env.update(
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__DAGS_FOLDER=str(self.dags_folder),
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{self.home}/airflow.db",
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__CORE__PARALLELISM=str(self.parallelism),
            AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG="64",
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            # Airflow can mark a task that succeeded UP_FOR_RETRY when the executor's report
            # beats the task's own (seen under load with fast mapped runs); the examples'
            # retry then reattaches to the finished run at once, after this delay, not 5 min.
            AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY="5",
            AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
            AIRFLOW__CORE__TEST_CONNECTION="Enabled",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{self.url}/execution/",
            AIRFLOW__API__BASE_URL=self.url,
            AIRFLOW__API__PORT=str(self.port),
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__WORKERS="1",
            AIRFLOW__API__SECRET_KEY="deployment-tests-only",
            AIRFLOW__API_AUTH__JWT_SECRET="deployment-tests-only-jwt-secret-0123456789",
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
            AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="600",
            AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="1",
            AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT="20",
            AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL="2",
            AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC="1",
            # A task's supervisor reports its process's end up to this long after it exits (5 s
            # by default). A deferring task's end must reach the scheduler before the trigger's
            # event makes it queued again, or Airflow 3.3.2 fails it as "state changed
            # externally" (apache/airflow#67287, #72716): seen when a short ADF run ended
            # within a second of the deferral on a loaded machine.
            AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL="1",
            AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD="6",
            AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    # ---------------------------------------------------------------- lifecycle

    def migrate(self) -> None:
        log = self.home / "db-migrate.log"
        with log.open("wb") as out:
            done = subprocess.run(
                [str(AIRFLOW), "db", "migrate"],
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=240,
                check=False,
            )
        if done.returncode != 0:
            raise DeploymentError(f"airflow db migrate failed:\n{log.read_text()[-3000:]}")

    def start(self, name: str) -> Component:
        args = {
            "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(self.port)],
            "scheduler": ["scheduler", "--skip-serve-logs"],
            "dag-processor": ["dag-processor"],
            "triggerer": ["triggerer", "--skip-serve-logs"],
        }[name]
        logs = self.home / "component-logs"
        logs.mkdir(exist_ok=True)
        index = sum(1 for _ in logs.glob(f"{name}*.log"))
        log_path = logs / (f"{name}.log" if index == 0 else f"{name}.{index}.log")
        out = log_path.open("wb")
        process = subprocess.Popen(
            [str(AIRFLOW), *args],
            env=self.env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopped with its children
        )
        out.close()
        component = Component(name, process, log_path)
        self.components[name] = component
        return component

    def start_all(self, timeout: float = 180.0) -> None:
        self.migrate()
        for name in COMPONENTS:
            self.start(name)
        wait_until("the api-server", self._api_ready, timeout=timeout)
        wait_until(
            "the scheduler, dag-processor and triggerer to report healthy",
            self._healthy,
            timeout=timeout,
        )

    def stop_all(self) -> None:
        for component in list(self.components.values()):
            component.stop()
        self.save_artifacts()

    def restart(self, name: str) -> Component:
        self.components[name].stop()
        return self.start(name)

    def save_artifacts(self) -> None:
        """Component logs and task logs, kept for a look after a failure."""
        self.artifacts.mkdir(parents=True, exist_ok=True)
        for source in ("component-logs", "logs", "db-migrate.log"):
            path = self.home / source
            target = self.artifacts / source
            if path.is_dir():
                shutil.copytree(path, target, dirs_exist_ok=True)
            elif path.exists():
                shutil.copy(path, target)

    def check_alive(self) -> None:
        for component in self.components.values():
            code = component.process.poll()
            if code is not None:
                tail = component.log_path.read_text(errors="replace")[-3000:]
                raise DeploymentError(f"{component.name} exited with {code}:\n{tail}")

    def _api_ready(self) -> bool:
        self.check_alive()
        return httpx.get(f"{self.url}/api/v2/monitor/health", timeout=5).status_code == 200

    def _healthy(self) -> bool:
        self.check_alive()
        health = httpx.get(f"{self.url}/api/v2/monitor/health", timeout=5).json()
        return all(
            (health.get(part) or {}).get("status") == "healthy"
            for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
        )

    # ---------------------------------------------------------------- REST API

    @property
    def token(self) -> str:
        """A JWT from the api-server (SimpleAuthManager, every user an admin)."""
        if self._token is None:
            answer = httpx.get(f"{self.url}/auth/token", timeout=10)
            answer.raise_for_status()
            self._token = str(answer.json()["access_token"])
        return self._token

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return httpx.request(
            method, f"{self.url}/api/v2/{path.lstrip('/')}", headers=headers, timeout=30, **kwargs
        )

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.request(method, path, **kwargs)
        if answer.status_code >= 400:
            raise DeploymentError(f"{method} {path} -> {answer.status_code}: {answer.text}")
        return answer.json() if answer.content else None

    def wait_for_dag(self, dag_id: str, timeout: float = 120.0) -> None:
        def parsed() -> bool:
            self.check_alive()
            errors = self.api("GET", "importErrors")["import_errors"]
            if errors:
                raise DeploymentError(f"DAG import errors: {json.dumps(errors)[:3000]}")
            return self.request("GET", f"dags/{dag_id}").status_code == 200

        wait_until(f"DAG {dag_id} to be parsed", parsed, timeout=timeout)

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """A manual run with no logical date (Airflow 3's default for manual runs)."""
        self.wait_for_dag(dag_id)
        body: dict[str, Any] = {"logical_date": None}
        if conf:
            body["conf"] = conf
        run = self.api("POST", f"dags/{dag_id}/dagRuns", json=body)
        return str(run["dag_run_id"])

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.api("GET", f"dags/{dag_id}/dagRuns/{run_id}")
        return result

    def wait_for_dag_run(self, dag_id: str, run_id: str, timeout: float = 180.0) -> str:
        def finished() -> str | None:
            self.check_alive()
            state = str(self.dag_run(dag_id, run_id)["state"])
            return state if state in ("success", "failed") else None

        return wait_until(f"DAG run {dag_id}/{run_id} to finish", finished, timeout=timeout)

    def task_instance(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1
    ) -> dict[str, Any]:
        path = f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        if map_index >= 0:
            path += f"/{map_index}"
        result: dict[str, Any] = self.api("GET", path)
        return result

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        answer = self.api(
            "GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 500}
        )
        return list(answer["task_instances"])

    def wait_for_task_state(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        states: tuple[str, ...],
        *,
        timeout: float = 120.0,
        try_number: int | None = None,
    ) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            self.check_alive()
            ti = self.task_instance(dag_id, run_id, task_id)
            if try_number is not None and ti["try_number"] != try_number:
                return None
            return ti if ti["state"] in states else None

        return wait_until(
            f"{dag_id}/{run_id}/{task_id} to be {' or '.join(states)}"
            + (f" in try {try_number}" if try_number else ""),
            reached,
            timeout=timeout,
        )

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str, map_index: int = -1) -> Any:
        answer = self.api(
            "GET",
            f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
            params={"map_index": map_index, "deserialize": True},
        )
        return answer["value"]

    def clear(self, dag_id: str, run_id: str, task_id: str) -> None:
        self.api(
            "POST",
            f"dags/{dag_id}/clearTaskInstances",
            json={
                "dry_run": False,
                "dag_run_id": run_id,
                "task_ids": [task_id],
                "only_failed": False,
                "reset_dag_runs": True,
            },
        )

    def set_task_state(self, dag_id: str, run_id: str, task_id: str, state: str) -> None:
        self.api(
            "PATCH",
            f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}",
            json={"new_state": state},
        )

    def links(self, dag_id: str, run_id: str, task_id: str) -> dict[str, str | None]:
        answer = self.api("GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/links")
        return dict(answer["extra_links"])

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        answer = self.request(
            "GET",
            f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"full_content": True},
        )
        answer.raise_for_status()
        return answer.text  # JSON: every record, error details included


@contextmanager
def running_deployment(deployment: AirflowDeployment) -> Iterator[AirflowDeployment]:
    """Start every component; stop each by its process group however the block ends."""
    try:
        deployment.start_all()
        yield deployment
    finally:
        deployment.stop_all()
