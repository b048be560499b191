"""Helpers shared by the benchmark scripts: settings from the environment, /proc readers,
the emulator in a subprocess, and small statistics.

Nothing here prints a client secret or a token: connections travel in environment variables
and scenario files only.
"""

from __future__ import annotations

import json
import math
import os
import random
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from http.client import HTTPSConnection
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT_ID = "0d3c4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"


# ---------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class BenchConfig:
    """What to run, from the environment: BENCH_QUICK, BENCH_RUNS and friends."""

    quick: bool
    runs: int
    official_runs: int
    poll_interval: float
    min_duration: float
    max_duration: float
    import_repeats: int

    @classmethod
    def from_env(cls) -> BenchConfig:
        quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
        runs = int(os.environ.get("BENCH_RUNS", 200 if quick else 1000))
        return cls(
            quick=quick,
            runs=runs,
            official_runs=int(os.environ.get("BENCH_OFFICIAL_RUNS", runs)),
            poll_interval=float(os.environ.get("BENCH_POLL_INTERVAL", 5)),
            min_duration=float(os.environ.get("BENCH_MIN_DURATION", 10 if quick else 20)),
            max_duration=float(os.environ.get("BENCH_MAX_DURATION", 40 if quick else 150)),
            import_repeats=int(os.environ.get("BENCH_IMPORT_REPEATS", 5 if quick else 7)),
        )


def bench_environment(home: Path) -> dict[str, str]:
    """The environment of every child process: a throwaway AIRFLOW_HOME, no examples."""
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
    )
    return env


# ---------------------------------------------------------------------- /proc


def rss_kib(pid: int | str = "self") -> int:
    """Resident set size (VmRSS) of a process, KiB."""
    return _status_field(pid, "VmRSS")


def peak_rss_kib(pid: int | str = "self") -> int:
    """High-water mark of the resident set (VmHWM), KiB."""
    return _status_field(pid, "VmHWM")


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux >= 4.0); False if not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _status_field(pid: int | str, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise KeyError(name)


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU time a process has used so far (threads included), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3; utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


# ---------------------------------------------------------------------- the emulator


def bench_scenario(runs: int, min_duration: float, max_duration: float, seed: int = 6) -> dict:
    """One pipeline per run, durations uniform in [min, max] s, queued 1 s, ADF's page size."""
    rng = random.Random(seed)
    pipelines = {
        f"bench_{index:04d}": {
            "queued_seconds": 1,
            "duration_seconds": round(rng.uniform(min_duration, max_duration), 3),
        }
        for index in range(runs)
    }
    return {
        "tenant_id": TENANT_ID,
        "subscription_id": "12345678-1234-1234-1234-123456789abc",
        "resource_group": "rg-bench",
        "factory_name": "adf-bench",
        "service_principals": [{"client_id": CLIENT_ID, "client_secret": "bench-only-secret"}],
        "token_lifetime_seconds": 86_400,
        "page_size": 100,
        "pipelines": pipelines,
    }


class EmulatorProcess:
    """``python -m airflow_adf_trigger.emulator --tls`` in its own process (its own CPU)."""

    def __init__(self, scenario: dict, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        scenario_file = workdir / "scenario.json"
        scenario_file.write_text(json.dumps(scenario), encoding="utf-8")
        port_file = workdir / "emulator.port"
        self.ca_file = str(workdir / "emulator-ca.pem")
        self._log = (workdir / "emulator.log").open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "airflow_adf_trigger.emulator",
                "--port",
                "0",
                "--port-file",
                str(port_file),
                "--tls",
                "--ca-file",
                self.ca_file,
                "--scenario",
                str(scenario_file),
            ],
            cwd=workdir,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the emulator did not start; see {workdir / 'emulator.log'}")
            time.sleep(0.05)
        self.port = int(port_file.read_text())
        self.url = f"https://127.0.0.1:{self.port}"
        self._admin = HTTPSConnection(
            "127.0.0.1",
            self.port,
            timeout=30,
            context=ssl.create_default_context(cafile=self.ca_file),
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def stats(self) -> dict[str, Any]:
        """``GET /_emulator/stats`` on a kept-alive connection (admin calls are not counted)."""
        for attempt in range(2):
            try:
                self._admin.request("GET", "/_emulator/stats")
                return dict(json.loads(self._admin.getresponse().read()))
            except OSError:
                self._admin.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        self._admin.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


def arm_requests(requests: dict[str, int]) -> int:
    """Resource Manager requests: every counted operation except the AAD token endpoint.

    The emulator also counts refused requests under "<operation> refused"; those were already
    counted under their operation.
    """
    return sum(
        count
        for operation, count in requests.items()
        if operation != "token" and not operation.endswith(" refused")
    )


# ---------------------------------------------------------------------- statistics


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (fraction in 0..1) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return statistics.median(values)


def workdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
