"""``make bench``: import cost and a 1,000-run watch, ours beside the official provider.

Runs ``import_cost.py`` and ``watch_runs.py`` (once per implementation, each in its own
process so memory and CPU figures stay apart) and prints one table with ratios
(official / ours). Nothing passes or fails on time: these are figures to read.

Environment:
  BENCH_QUICK=1           200 runs lasting 10-40 s, 5 import repeats (about 3 minutes)
  BENCH_RUNS=N            runs watched by each side (default 1000)
  BENCH_OFFICIAL_RUNS=N   runs watched by the official trigger (default BENCH_RUNS)
  BENCH_POLL_INTERVAL=S   poll interval of both triggers (default 5 s)
  BENCH_MIN_DURATION=S, BENCH_MAX_DURATION=S   run durations (default 20-150 s)
  BENCH_IMPORT_REPEATS=N  fresh interpreters per import variant (default 7)
  BENCH_SKIP=imports,ours,official,events,lag   parts to leave out
  (``lag``: reads per interval and detection at monitoring lags of 0, 30, 90 and 600 s, on
  a simulated clock: see monitoring_lag.py)
  BENCH_OUT=PATH          where the JSON of every figure goes (default: in the bench venv)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from common import HERE, BenchConfig, cpu_model, workdir


def version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def step(text: str) -> None:
    print(f"==> {text}", flush=True)


def run_script(script: str, arguments: list[str], label: str) -> dict[str, Any] | None:
    """Run a benchmark script in a fresh interpreter; its JSON result, or None if it failed."""
    scratch = workdir("adf-bench-run-")
    out = scratch / "result.json"
    log = scratch / "output.log"
    started = time.monotonic()
    with log.open("wb") as output:
        done = subprocess.run(
            [sys.executable, str(HERE / script), *arguments, "--out", str(out)],
            cwd=scratch,
            stdout=output,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0 or not out.exists():
        tail = log.read_text(errors="replace").splitlines()[-15:]
        print(f"    {label} FAILED (exit {done.returncode}); last lines of {log}:", flush=True)
        for line in tail:
            print(f"      {line}")
        return None
    print(f"    done in {time.monotonic() - started:.0f} s (log: {log})", flush=True)
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return result


def ratio(official: float | None, ours: float | None) -> str:
    if official is None or ours is None:
        return "n/a"
    if ours == 0:
        return "inf" if official else "1.0x"
    value = official / ours
    return f"{value:.0f}x" if value >= 10 else f"{value:.1f}x"


def number(value: float | None, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "n/a"
    text = f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"
    return f"{text} {unit}".rstrip()


def table(title: str, rows: list[tuple[str, str, str, str]]) -> None:
    header = (title, "ours", "official", "official/ours")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    print()
    print(
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w)
            for i, (h, w) in enumerate(zip(header, widths, strict=True))
        )
    )
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def import_rows(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    ours, official = result["ours_added_ms"], result["official_added_ms"]
    it_ours, it_official = result["importtime_ours_ms"], result["importtime_official_ms"]
    return [
        ("Task SDK base classes (both pay this)", number(result["base_ms"], "ms"), "", ""),
        ("operator + sensor added, median", number(ours, "ms"), number(official, "ms"),
         ratio(official, ours)),
        ("  min - max over the repeats",
         "{} - {} ms".format(*result["ours_added_ms_range"]),
         "{} - {} ms".format(*result["official_added_ms_range"]), ""),
        ("  -X importtime cumulative (cross-check)", number(it_ours, "ms"),
         number(it_official, "ms"), ratio(it_official, it_ours)),
    ]  # fmt: skip


def get(result: dict[str, Any] | None, *path: str) -> Any:
    value: Any = result
    for key in path:
        if value is None:
            return None
        value = value.get(key)
    return value


def watch_rows(
    ours: dict[str, Any] | None, official: dict[str, Any] | None
) -> list[tuple[str, str, str, str]]:
    def row(label: str, *path: str, unit: str = "", digits: int = 1, compare: bool = True) -> Any:
        a, b = get(ours, *path), get(official, *path)
        return (
            label,
            number(a, unit, digits),
            number(b, unit, digits),
            ratio(b, a) if compare else "",
        )

    def pair(label: str, first: tuple[str, ...], second: tuple[str, ...], unit: str) -> Any:
        def text(result: dict[str, Any] | None) -> str:
            a, b = get(result, *first), get(result, *second)
            return "n/a" if a is None else f"{number(a)} / {number(b)} {unit}".rstrip()

        return (label, text(ours), text(official), ratio(get(official, *first), get(ours, *first)))

    def flag(label: str, *path: str) -> Any:
        def text(result: dict[str, Any] | None) -> str:
            value = get(result, *path)
            return "n/a" if value is None else ("YES" if value else "no")

        return (label, text(ours), text(official), "")

    def rss(result: dict[str, Any] | None) -> str:
        if result is None:
            return "n/a"
        return f"{result['rss_idle_kib'] / 1024:.0f} -> {result['rss_peak_kib'] / 1024:.0f} MiB"

    def events(result: dict[str, Any] | None) -> str:
        if result is None:
            return "n/a"
        return f"{result['events_succeeded']:,} of {result['runs']:,}"

    def carried(result: dict[str, Any] | None) -> str:
        """ARM's read refill is 25/s per subscription and principal: how many such watches fit."""
        per_second = get(result, "arm_per_second_mean")
        if not per_second:
            return "n/a"
        return f"{25 / per_second:,.1f}"

    latency = get(ours, "latency_seconds", "bound") or get(official, "latency_seconds", "bound")
    return [
        ("runs watched: success events", events(ours), events(official), ""),
        pair("ARM requests per poll interval, mean / max",
             ("arm_per_interval_mean",), ("arm_per_interval_max",), ""),
        row("ARM requests per second, mean", "arm_per_second_mean", digits=2),
        row("token requests during the watch", "token_requests"),
        row("requests ADF's rules refuse (400)", "refused_requests", compare=False),
        row("intervals over 1 + ceil(changed / page) + safety net", "windows_over_change_bound",
            compare=False),
        ("triggerers of these runs one subscription carries (25 reads/s)",
         carried(ours), carried(official), ""),
        row("detection latency p50", "latency_seconds", "p50", unit="s", digits=2),
        row("detection latency p99", "latency_seconds", "p99", unit="s", digits=2),
        row("detection latency max", "latency_seconds", "max", unit="s", digits=2),
        row(f"  runs detected within {latency:g} s (interval + 1 s)",
            "latency_seconds", "within_bound", compare=False),
        ("RSS idle -> peak", rss(ours), rss(official), ""),
        row("memory per watched run", "kib_per_run", unit="KiB"),
        row("CPU seconds of the watching process", "cpu_seconds", unit="s", digits=2),
        row("run-checks (runs looked at)", "run_checks"),
        row("CPU per 1,000 run-checks", "cpu_ms_per_1000_checks", unit="ms"),
        row("http sessions left unclosed", "unclosed_http_sessions", compare=False),
        pair("emulator CPU, mean / busiest interval",
             ("emulator", "cpu_percent_mean"), ("emulator", "cpu_percent_busiest_interval"), "%"),
        pair("emulator requests/s, mean / busiest",
             ("emulator", "requests_per_second_mean"),
             ("emulator", "requests_per_second_busiest_interval"), ""),
        flag("emulator saturated (>= 90 % of a core)", "emulator", "saturated"),
    ]  # fmt: skip


def main() -> int:
    config = BenchConfig.from_env()
    skip = {part.strip() for part in os.environ.get("BENCH_SKIP", "").split(",") if part}
    out = Path(os.environ.get("BENCH_OUT") or Path(sys.prefix) / "bench-results.json")
    machine = f"{cpu_model()}, {os.cpu_count()} cores"
    official = "apache-airflow-providers-microsoft-azure"
    print(
        f"airflow-adf-trigger {version('airflow-adf-trigger')} vs {official} {version(official)}"
        f"\nPython {sys.version.split()[0]}, apache-airflow {version('apache-airflow')}, "
        f"azure-mgmt-datafactory {version('azure-mgmt-datafactory')}, "
        f"azure-identity {version('azure-identity')}, httpx {version('httpx')}, "
        f"aiohttp {version('aiohttp')}\n{machine}" + (" (BENCH_QUICK)" if config.quick else ""),
        flush=True,
    )
    results: dict[str, Any] = {"config": config.__dict__, "machine": machine}

    if "imports" not in skip:
        step(f"import cost: {config.import_repeats} fresh interpreters per variant, plus warm-up")
        results["imports"] = run_script(
            "import_cost.py", ["--repeats", str(config.import_repeats)], "import cost"
        )
    watch_args = [
        "--poll-interval", str(config.poll_interval),
        "--min-duration", str(config.min_duration),
        "--max-duration", str(config.max_duration),
    ]  # fmt: skip
    expected = config.max_duration + 1 + config.poll_interval
    for impl, runs in (("ours", config.runs), ("official", config.official_runs)):
        if impl in skip:
            continue
        step(
            f"watching {runs:,} runs with {impl} trigger (poll {config.poll_interval:g} s, "
            f"runs last {config.min_duration:g}-{config.max_duration:g} s; "
            f"about {expected + 15:.0f} s)"
        )
        results[impl] = run_script(
            "watch_runs.py", ["--impl", impl, "--runs", str(runs), *watch_args], impl
        )

    out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    if results.get("imports"):
        table("Import cost of a DAG file", import_rows(results["imports"]))
    if results.get("ours") or results.get("official"):
        counts = {impl: results[impl]["runs"] for impl in ("ours", "official") if results.get(impl)}
        title = "Watching " + " / ".join(f"{n:,} runs ({impl})" for impl, n in counts.items())
        table(
            title + f", poll {config.poll_interval:g} s",
            watch_rows(results.get("ours"), results.get("official")),
        )
    if "events" not in skip:
        # Printed as it runs: 100 event triggers and some run triggers on one change feed.
        step("event triggers: 100 watched pipelines on the shared change feed")
        print(flush=True)
        subprocess.run([sys.executable, str(HERE / "event_watchers.py")], check=False)
    if "lag" not in skip:
        step("monitoring lag: 100 runs at lags of 0, 30, 90 and 600 s (simulated clock)")
        print(flush=True)
        subprocess.run([sys.executable, str(HERE / "monitoring_lag.py")], check=False)
    print(f"\nAll figures as JSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
