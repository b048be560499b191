"""``make demo``: run an example DAG end to end against the emulator, offline.

Starts the emulator on a free port, points the ``adf_default`` connection at it (an
environment-variable connection), checks the connection, runs the DAG with
``airflow dags test`` in a throwaway AIRFLOW_HOME, and reports the pipeline run id and its
final status as ADF (here: the emulator) reports it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from airflow_adf_trigger.emulator.scenario import Scenario
from airflow_adf_trigger.emulator.server import EmulatorServer

REPO = Path(__file__).resolve().parent.parent
BUNDLED = REPO / "airflow_adf_trigger" / "emulator" / "scenarios"
"""The scenarios shipped with the emulator."""
_OUR_LINE = re.compile(
    r"\[(?:info|warning|error)\s*\] (.*?)\s+\[(?:airflow\.task\.operators\.)?airflow_adf_trigger"
)


def main(argv: list[str] | None = None) -> int:
    """Run the demo; the exit code is the DAG run's (0: success).

    :param argv: the arguments (default: the command line); ``--help`` lists them.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dag-id", default="adf_trigger_then_sense")
    parser.add_argument("--dags-folder", type=Path, default=REPO / "dags_examples")
    parser.add_argument("--scenario", type=Path, default=BUNDLED / "demo.json")
    parser.add_argument("--work-dir", type=Path, default=REPO / ".demo")
    args = parser.parse_args(argv)

    scenario = Scenario.load(args.scenario)
    work = args.work_dir.resolve()
    home = work / "airflow-home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)

    with EmulatorServer(scenario) as emulator:
        say(f"ADF emulator listening on {emulator.url} (factory {scenario.factory_name})")
        connection = scenario.airflow_connection(emulator.url)
        # Lets a user see what a wrong secret looks like: ADF_DEMO_CLIENT_SECRET=... make demo
        if os.environ.get("ADF_DEMO_CLIENT_SECRET"):
            connection["password"] = os.environ["ADF_DEMO_CLIENT_SECRET"]
        env = dict(os.environ)
        env.update(
            AIRFLOW_HOME=str(home),
            AIRFLOW__CORE__DAGS_FOLDER=str(args.dags_folder.resolve()),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
            AIRFLOW_CONN_ADF_DEFAULT=json.dumps(connection),
        )
        os.environ.update(env)

        ok, message = check_connection()
        say(f"connection adf_default: {message}")
        if not ok:
            return 1

        airflow = str(Path(sys.executable).with_name("airflow"))
        log_path = work / "airflow-dags-test.log"
        say(f"running `airflow dags test {args.dag_id}` (full log: {log_path})")
        subprocess.run(
            [airflow, "db", "migrate"], env=env, check=True, capture_output=True, cwd=home
        )
        exit_code = run_and_echo([airflow, "dags", "test", args.dag_id], env, log_path, home)

        with emulator.state.lock:
            runs = list(emulator.state.runs.values())
        if not runs:
            say("no pipeline run was created; see the log above")
            return 1
        from airflow_adf_trigger.core.config.connection import settings_from_connection
        from airflow_adf_trigger.core.wire.client import AdfClient

        settings = settings_from_connection(
            connection["login"], connection["password"], connection["extra"]
        )
        with AdfClient(settings) as client:
            for run in runs:
                final = client.get_run(run.run_id)
                print(f"Pipeline:        {final.pipeline_name}")
                print(f"Pipeline run id: {final.run_id}")
                print(f"Final status:    {final.status.value}")
                if final.message:
                    print(f"Message:         {final.message}")
        print(f"DAG run:         {'success' if exit_code == 0 else 'failed'}")
        return exit_code


def check_connection() -> tuple[bool, str]:
    """What the UI's Test button does, from the same hook."""
    from airflow_adf_trigger.hooks.adf import AdfHook

    try:
        return AdfHook().test_connection()
    except ValueError as error:  # a malformed field, found before any request
        return False, str(error)


def run_and_echo(command: list[str], env: dict[str, str], log_path: Path, cwd: Path) -> int:
    """Run a command, keep its whole output in a file, echo this provider's own lines."""
    with log_path.open("w", encoding="utf-8") as log_file:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        last_error = ""
        for line in process.stdout:
            log_file.write(line)
            match = _OUR_LINE.search(line)
            if match:
                say(f"  {match.group(1)}")
            elif re.match(r"^[\w.]*(Error|Exception): ", line):
                last_error = line.strip()
        exit_code = process.wait()
    if exit_code and last_error:
        say(f"  task error: {last_error}")
    return exit_code


def say(message: str) -> None:
    """Print one of the demo's own lines, marked so they stand out among Airflow's."""
    print(f"==> {message}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
