"""One real Airflow deployment (four components) and one emulator, shared by the layer's tests.

Airflow starts once per test session, only when a deployment test runs; its components'
logs and the task logs are copied to ``.artifacts/deployment/`` when it stops.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DAGS_FOLDER, REPO
from tests.deployment.airflow_deployment import AirflowDeployment, running_deployment

HERE = Path(__file__).resolve().parent
ARTIFACTS = REPO / ".artifacts"
EXAMPLE_DAG_FILES = sorted(
    path
    for path in DAGS_FOLDER.glob("*.py")
    if path.name not in (DAGS_FOLDER / ".airflowignore").read_text().replace("\\.", ".").split()
)
EVENT_EXAMPLE = "adf_scheduled_ingest_to_databricks.py"
WATCHER_POLL_INTERVAL = 2
"""The event example's watcher reads ADF's change feed once a minute, right for a nightly
pipeline; the deployment's copy reads it every 2 s, so test_events.py waits seconds for the
read that sees the run's end instead of up to a minute. Nothing else in the copy changes."""


def copy_dag(source: Path, dags: Path) -> None:
    """Copy a DAG file into the deployment's dags folder, the event example's watcher reading
    the feed every ``WATCHER_POLL_INTERVAL`` seconds (it must name its interval exactly once)."""
    text = source.read_text()
    if source.name == EVENT_EXAMPLE:
        text, found = re.subn(
            r"\bpoll_interval=[0-9.]+", f"poll_interval={WATCHER_POLL_INTERVAL}", text
        )
        assert found == 1, f"{source.name}: {found} poll_interval= arguments, expected one"
    (dags / source.name).write_text(text)


@pytest.fixture(scope="session")
def deployment_emulator() -> Iterator[Any]:
    from testbed.emulator import EmulatorServer, Scenario

    with EmulatorServer(Scenario.load(HERE / "scenario.json")) as server:
        yield server


class Interruptible:
    """While active, Ctrl-C or a SIGTERM (a cancelled CI job; ``make test`` stopping this
    session) ends the session with KeyboardInterrupt, so pytest tears the fixtures down and
    every Airflow component is stopped instead of outliving the session.

    Each signal interrupts (code that swallows one, as Playwright's event loop may, gets the
    next) until :meth:`stopping` is called: the teardown itself is never cut short. Ctrl-C works
    even when this session runs as a background job (``make test`` starts it so), which POSIX
    shells start with SIGINT ignored.
    """

    def __init__(self) -> None:
        self._stopping = False
        self._previous: dict[int, Any] = {}

    def stopping(self) -> None:
        self._stopping = True

    def _interrupt(self, signum: int, frame: Any) -> None:
        if not self._stopping:
            raise KeyboardInterrupt(f"signal {signum}: stopping the Airflow deployment")

    def __enter__(self) -> Interruptible:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._interrupt)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


@pytest.fixture(scope="session")
def airflow_deployment(deployment_emulator: Any) -> Iterator[AirflowDeployment]:
    home = Path(tempfile.mkdtemp(prefix="adf-trigger-deployment-"))
    dags = home / "dags"
    dags.mkdir()
    for path in [*EXAMPLE_DAG_FILES, *(HERE / "dags").glob("*.py")]:
        copy_dag(path, dags)
    artifacts = ARTIFACTS / "deployment"
    shutil.rmtree(artifacts, ignore_errors=True)
    deployment = AirflowDeployment(home=home, dags_folder=dags, artifacts=artifacts)
    started = time.monotonic()
    with Interruptible() as interruptible, running_deployment(deployment):
        deployment.started_in = time.monotonic() - started  # type: ignore[attr-defined]
        scenario = deployment_emulator.state.scenario
        adf = scenario.airflow_connection(deployment_emulator.url)
        deployment.api(
            "POST",
            "connections",
            json={
                "connection_id": "adf_default",
                "conn_type": adf["conn_type"],
                "login": adf["login"],
                "password": adf["password"],
                "extra": json.dumps(adf["extra"]),
            },
        )
        databricks = scenario.databricks_connection(deployment_emulator.url)
        deployment.api(
            "POST",
            "connections",
            json={
                "connection_id": "databricks_default",
                "conn_type": databricks["conn_type"],
                "host": databricks["host"],
                "port": databricks["port"],
                "schema": databricks["schema"],
                "password": databricks["password"],
            },
        )
        yield deployment
        interruptible.stopping()
    shutil.rmtree(home, ignore_errors=True)


def runs_of(emulator: Any, dag_run_id: str) -> list[dict[str, Any]]:
    """The emulator's ADF runs started by one DAG run (their parameters name it)."""
    with emulator.state.lock:
        summaries = emulator.state.run_summaries()
    return [run for run in summaries if run["parameters"].get("dag_run") == dag_run_id]
