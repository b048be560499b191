"""The version matrix: Airflow 3.0 to 3.3 on Python 3.11 and 3.12, each cell in its own venv.

    python .ci/matrix.py lock            pin each cell into requirements/matrix/ (uv pip compile)
    python .ci/matrix.py run [-j 2] [CELL ...]
                                         build both wheels (from their sdists), install them into
                                         each cell's venv with its pinned constraints, and run the
                                         cell's tests against the installed wheels

A cell is named like ``airflow-3.1-py3.12``. Its tests (``CELL_TESTS``) are those that prove the
claims of the compatibility table: the provider registers with Airflow, importing the operator
stays cheap, the Airflow classes behave, and real DAGs run through ``dag.test()`` against the
emulator, retries and the migration from the official provider included. The main environment
(``make test``) runs the whole suite on Airflow 3.3 and Python 3.11.

Run with the main environment's Python (``.venv/bin/python``): it uses that venv's ``uv``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOCKS = REPO / "requirements" / "matrix"
WORK = REPO / "build" / "matrix"
VENVS = REPO / ".matrix"
UV = Path(sys.executable).with_name("uv")

AIRFLOW = {"3.0": "3.0.6", "3.1": "3.1.8", "3.2": "3.2.2", "3.3": "3.3.2"}
"""The latest patch release of each minor version on the package index."""
RELEASED = {
    "3.0": "2025-08-30T00:00:00Z",
    "3.1": "2026-03-12T00:00:00Z",
    "3.2": "2026-05-30T00:00:00Z",
    "3.3": "2026-09-18T00:00:00Z",
}
"""The day after each of those releases reached the index (its files' ``upload-time``).

Airflow pins its dependencies in constraints files made at release time, which cannot be
fetched here; a cell's lock takes each package as it was on that day instead (uv's
``--exclude-newer``). Without that, Airflow 3.0.6 gets a FastAPI that refuses its own task
runner's requests (422 on every task start).
"""
PYTHONS = ("3.11", "3.12")

CELL_TESTS = (
    "tests/unit/test_provider.py",
    "tests/unit/test_compat.py",
    "tests/unit/test_operator_reconcile.py",
    "tests/adversary/test_matrix.py",
    "tests/unit/test_sensor_outage_and_arguments.py",
    "tests/unit/test_trigger_outage_and_arguments.py",
    "tests/integration/test_hook_against_emulator.py",
    "tests/integration/test_trigger_against_emulator.py",
    "tests/e2e/test_compat_dags.py",
    "tests/e2e/test_behaviours.py::test_trigger_only_pushes_the_run_id_and_does_not_wait",
    "tests/e2e/test_behaviours.py::test_sensors_in_every_mode_see_success",
)
CELL_DESELECTED = (
    # Its failing twin runs the same DAG (waits in the worker and in the triggerer, sensors
    # poking and deferred) and proves more: that it still waits.
    "tests/e2e/test_compat_dags.py::test_a_dag_moved_from_the_official_provider_runs_unchanged",
)
"""The e2e tests here assert outcomes (task states, XCom, Variables, the emulator's counts), not
log lines: Airflow 3.0's ``dag.test()`` prints neither a failed task's exception nor its task
log. The other e2e tests, which also read the log or need a run still going at a given moment
(which two cells sharing two cores cannot promise), run in the main environment."""


@dataclass(frozen=True)
class Cell:
    airflow: str
    python: str

    @property
    def name(self) -> str:
        return f"airflow-{self.airflow}-py{self.python}"

    @property
    def lock(self) -> Path:
        return LOCKS / f"{self.name}.txt"

    @property
    def venv(self) -> Path:
        return VENVS / self.name


CELLS = tuple(Cell(airflow, python) for airflow in AIRFLOW for python in PYTHONS)


@dataclass
class Outcome:
    cell: Cell
    ok: bool = False
    install_seconds: float = 0.0
    test_seconds: float = 0.0
    summary: str = ""
    log: Path = field(default_factory=Path)


def find_python(version: str) -> str:
    """An interpreter of ``version``: on PATH, or installed by pyenv beside the default one."""
    candidates = [shutil.which(f"python{version}") or ""]
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True).stdout.strip()
        found = sorted(Path(root, "versions").glob(f"{version}.*/bin/python{version}"))
        candidates += [str(path) for path in reversed(found)]
    for candidate in candidates:
        if candidate and _runs(candidate, version):
            return candidate
    raise SystemExit(f"No Python {version} found (on PATH or under pyenv): the matrix needs it.")


def _runs(python: str, version: str) -> bool:
    result = subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
    )
    return result.returncode == 0 and result.stdout.strip() == version


def lock(cells: Sequence[Cell]) -> None:
    """Pin each cell: its Airflow, both distributions' declared dependencies, the test tools."""
    LOCKS.mkdir(parents=True, exist_ok=True)
    for cell in cells:
        wanted = (
            f"apache-airflow=={AIRFLOW[cell.airflow]}\n./distributions/core[emulator]\n.[test]\n"
        )
        subprocess.run(
            [
                str(UV),
                "pip",
                "compile",
                "--quiet",
                "--python-version",
                cell.python,
                "--no-header",
                "--exclude-newer",
                RELEASED[cell.airflow],
                "--no-emit-package",
                "airflow-adf-trigger",
                "--no-emit-package",
                "airflow-adf-trigger-core",
                "-o",
                str(cell.lock.relative_to(REPO)),
                "-",
            ],
            input=wanted,
            text=True,
            check=True,
            cwd=REPO,
        )
        print(f"locked {cell.lock.relative_to(REPO)}")


def build_wheels() -> list[Path]:
    """Both wheels, each built from its sdist (as ``python -m build`` does by default)."""
    dist = WORK / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    for project in (REPO / "distributions" / "core", REPO):
        subprocess.run(
            [sys.executable, "-P", "-m", "build", "--outdir", str(dist), str(project)],
            check=True,
            capture_output=True,
        )
    return sorted(dist.glob("*.whl"))


def run_cell(cell: Cell, wheels: Sequence[Path], python: str) -> Outcome:
    outcome = Outcome(cell, log=WORK / f"{cell.name}.log")
    env = {**os.environ, "VIRTUAL_ENV": str(cell.venv)}
    # Each process writes the bytecode of what it imports, for the next one: cheaper than
    # compiling the whole of Airflow at install time.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONSAFEPATH"] = "1"  # never import the package from the repository: the wheel only
    provider = next(w for w in wheels if w.name.startswith("airflow_adf_trigger-"))
    core = next(w for w in wheels if w.name.startswith("airflow_adf_trigger_core-"))
    with outcome.log.open("w") as log:
        started = time.monotonic()
        steps = [
            [str(UV), "venv", "--quiet", "--clear", "--python", python, str(cell.venv)],
            [
                str(UV),
                "pip",
                "install",
                "--quiet",
                "--python",
                str(cell.venv / "bin" / "python"),
                "--reinstall-package",
                "airflow-adf-trigger",
                "--reinstall-package",
                "airflow-adf-trigger-core",
                "-c",
                str(cell.lock),
                f"{core}[emulator]",
                f"{provider}[test]",
            ],
        ]
        for step in steps:
            if subprocess.run(step, stdout=log, stderr=subprocess.STDOUT, env=env).returncode:
                outcome.summary = "install failed"
                return outcome
        outcome.install_seconds = time.monotonic() - started
        started = time.monotonic()
        tests = subprocess.run(
            [
                str(cell.venv / "bin" / "pytest"),
                "-q",
                "-p",
                "no:cacheprovider",
                "--import-mode=append",
                *CELL_TESTS,
                *(f"--deselect={test}" for test in CELL_DESELECTED),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
        )
        outcome.test_seconds = time.monotonic() - started
    outcome.ok = tests.returncode == 0
    outcome.summary = _pytest_summary(outcome.log.read_text())
    return outcome


def _pytest_summary(text: str) -> str:
    lines = [line for line in text.splitlines() if re.search(r"\d+ (passed|failed|error)", line)]
    return lines[-1].strip("= ") if lines else "no pytest summary"


def run(cells: Sequence[Cell], jobs: int) -> int:
    WORK.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    pythons = {version: find_python(version) for version in {cell.python for cell in cells}}
    wheels = build_wheels()
    built = ", ".join(wheel.name for wheel in wheels)
    print(f"matrix: built {built} in {time.monotonic() - started:.0f} s")
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        outcomes = list(pool.map(lambda cell: run_cell(cell, wheels, pythons[cell.python]), cells))
    print(f"\n{'cell':<22} {'result':<6} {'install':>8} {'tests':>8}  pytest")
    for outcome in outcomes:
        print(
            f"{outcome.cell.name:<22} {'ok' if outcome.ok else 'FAIL':<6} "
            f"{outcome.install_seconds:>7.0f}s {outcome.test_seconds:>7.0f}s  {outcome.summary}"
        )
    print(f"matrix: {len(cells)} cells, {jobs} at a time, {time.monotonic() - started:.0f} s")
    failed = [outcome for outcome in outcomes if not outcome.ok]
    for outcome in failed:
        print(f"\n---- {outcome.cell.name}: last lines of {outcome.log.relative_to(REPO)}")
        print("\n".join(outcome.log.read_text().splitlines()[-60:]))
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("lock", "run"))
    parser.add_argument("cells", nargs="*", help="cell names (default: all)")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="cells run at once")
    args = parser.parse_intermixed_args(argv)
    by_name = {cell.name: cell for cell in CELLS}
    unknown = [name for name in args.cells if name not in by_name]
    if unknown:
        parser.error(f"unknown cells {unknown}; known: {', '.join(by_name)}")
    cells = [by_name[name] for name in args.cells] or list(CELLS)
    if args.command == "lock":
        lock(cells)
        return 0
    return run(cells, max(1, args.jobs))


if __name__ == "__main__":
    sys.exit(main())
