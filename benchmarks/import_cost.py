"""What importing the operator and sensor costs a DAG file, ours beside the official provider's.

``python import_cost.py [--repeats 7] [--out result.json]``

Each measurement is a fresh interpreter that times, with ``time.perf_counter``, first the
Airflow Task SDK base classes every provider needs (*base*), then the provider's operator and
sensor (*added*). Variants: base only, base + ours, base + the official provider. One warm-up
interpreter per variant runs first (so bytecode exists), then the variants take turns; the
median of the repeats is reported. ``-X importtime`` (the cumulative time of the modules
imported after the base) is reported as a cross-check.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from common import bench_environment, median, workdir

BASE = "from airflow.sdk import BaseOperator, BaseSensorOperator, BaseHook, BaseOperatorLink"
VARIANTS = {
    "base": "",
    "ours": (
        "from airflow_adf_trigger.operators.adf import AdfRunPipelineOperator\n"
        "from airflow_adf_trigger.sensors.adf import AdfPipelineRunSensor"
    ),
    "official": (
        "from airflow.providers.microsoft.azure.operators.data_factory import "
        "AzureDataFactoryRunPipelineOperator\n"
        "from airflow.providers.microsoft.azure.sensors.data_factory import "
        "AzureDataFactoryPipelineRunStatusSensor"
    ),
}
MARKER = "_bench_import_marker"
"""An empty module imported between base and added: -X importtime's boundary."""

PROGRAM = """\
import json, sys, time
t0 = time.perf_counter()
{base}
t1 = time.perf_counter()
import {marker}
t2 = time.perf_counter()
{added}
t3 = time.perf_counter()
import airflow_adf_trigger
print(json.dumps({{
    "base": t1 - t0,
    "added": t3 - t2,
    "package_file": airflow_adf_trigger.__file__,
    "editable_finders": [str(f) for f in sys.meta_path if "editable" in repr(f).lower()],
}}))
"""


def program(variant: str) -> str:
    return PROGRAM.format(base=BASE, marker=MARKER, added=VARIANTS[variant])


def run_once(variant: str, cwd: Path, env: dict[str, str], importtime: bool = False) -> Any:
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c"]
    done = subprocess.run(
        [*command, program(variant)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{variant} import failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if importtime:
        result["importtime_added_us"] = importtime_after_marker(done.stderr)
    return result


def importtime_after_marker(stderr: str) -> int:
    """Sum of the cumulative times of top-level imports after the marker module, microseconds."""
    total = 0
    after = False
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if name.strip() == MARKER:
            after = True
            continue
        depth = len(name) - len(name.lstrip(" ")) - 1
        if after and depth == 0 and cumulative.strip().isdigit():
            total += int(cumulative)
    return total


def measure(repeats: int) -> dict[str, Any]:
    cwd = workdir("adf-bench-imports-")
    (cwd / f"{MARKER}.py").write_text("", encoding="utf-8")
    env = bench_environment(cwd / "airflow-home")
    for variant in VARIANTS:  # warm-up: caches, bytecode, Airflow's first-run files
        run_once(variant, cwd, env)
    samples: dict[str, list[dict[str, Any]]] = {variant: [] for variant in VARIANTS}
    for _ in range(repeats):
        for variant in VARIANTS:
            samples[variant].append(run_once(variant, cwd, env))
    importtime = {variant: run_once(variant, cwd, env, importtime=True) for variant in VARIANTS}
    first = samples["ours"][0]
    bases = [s["base"] for runs in samples.values() for s in runs]
    ours = [s["added"] for s in samples["ours"]]
    official = [s["added"] for s in samples["official"]]
    return {
        "repeats": repeats,
        "base_ms": round(1000 * median(bases), 1),
        "ours_added_ms": round(1000 * median(ours), 1),
        "official_added_ms": round(1000 * median(official), 1),
        "ours_added_ms_range": [round(1000 * min(ours), 1), round(1000 * max(ours), 1)],
        "official_added_ms_range": [
            round(1000 * min(official), 1),
            round(1000 * max(official), 1),
        ],
        "importtime_ours_ms": round(importtime["ours"]["importtime_added_us"] / 1000, 1),
        "importtime_official_ms": round(importtime["official"]["importtime_added_us"] / 1000, 1),
        "package_file": first["package_file"],
        "editable_finders": first["editable_finders"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    result = measure(args.repeats)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
