"""ADF's monitoring lag: reads per interval and detection at lags of 0, 30, 90 and 600 s.

``queryPipelineRuns`` may show a run's change late; no public source bounds by how much. This
script serves the emulator with ``monitoring_lag_seconds`` set, on a simulated clock shared
with the shared poller (a lag of ten minutes takes a second or two), and follows 100 runs
ending over four minutes twice: as deferred run triggers, and as one asset-event trigger on
their pipelines. Detection is the time from a run's end to its trigger's event, on the
simulated clock; reads are ARM requests (queries with their pages, and GETs) per poll
interval. Nothing passes or fails: it prints figures.

Environment: BENCH_LAG_LAGS (0,30,90,600), BENCH_LAG_RUNS (100), BENCH_LAG_INTERVAL (10 s).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import statistics
import sys
import time
from collections import Counter
from typing import Any

LAGS = [float(x) for x in os.environ.get("BENCH_LAG_LAGS", "0,30,90,600").split(",")]
RUNS = int(os.environ.get("BENCH_LAG_RUNS", 100))
INTERVAL = float(os.environ.get("BENCH_LAG_INTERVAL", 10.0))
DURATIONS = {"p15": 15, "p40": 40, "p90": 90, "p160": 160, "p250": 250}


class SimulatedClock:
    """Seconds since the epoch that move only when the poller sleeps."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        for _ in range(20):  # let what the last tick woke finish on this moment's clock
            await asyncio.sleep(0)
        self.now += seconds


def scenario(lag: float) -> dict[str, Any]:
    return {
        "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "subscription_id": "12345678-1234-1234-1234-123456789abc",
        "resource_group": "rg-analytics",
        "factory_name": "adf-bench",
        "service_principals": [
            {"client_id": "0d3c4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f", "client_secret": "bench-only"}
        ],
        "monitoring_lag_seconds": lag,
        "pipelines": {
            name: {"queued_seconds": 5, "duration_seconds": seconds}
            for name, seconds in DURATIONS.items()
        },
    }


def one_lag(lag: float, kind: str) -> dict[str, Any]:
    """Follow RUNS runs at ``lag`` with run triggers (``waits``) or one event trigger."""
    from airflow_adf_trigger.core.config.connection import settings_from_connection
    from airflow_adf_trigger.core.runs.poller import SharedRunPoller
    from airflow_adf_trigger.core.wire.aio import AsyncAdfClient
    from airflow_adf_trigger.core.wire.client import AdfClient
    from airflow_adf_trigger.emulator import EmulatorServer, Scenario
    from airflow_adf_trigger.hooks.adf import AdfHook
    from airflow_adf_trigger.triggers.adf import AdfPipelineRunTrigger
    from airflow_adf_trigger.triggers.events import AdfPipelineRunEventTrigger

    clock = SimulatedClock()
    with EmulatorServer(Scenario.from_json(scenario(lag)), clock=clock) as server:
        connection = server.state.scenario.airflow_connection(server.url)
        os.environ["AIRFLOW_CONN_ADF_DEFAULT"] = json.dumps(connection)
        settings = settings_from_connection(
            connection["login"], connection["password"], connection["extra"]
        )
        names = list(DURATIONS)

        def create() -> list[str]:
            with AdfClient(settings) as client:
                return [client.create_run(names[i % len(names)]) for i in range(RUNS)]

        async def follow() -> tuple[dict[str, float], SharedRunPoller]:
            hook_settings = await AdfHook().async_settings()
            poller = SharedRunPoller(
                hook_settings, AsyncAdfClient(hook_settings), clock=clock, sleep=clock.sleep
            )
            SharedRunPoller._pollers[(id(asyncio.get_running_loop()), hook_settings)] = poller
            seen: dict[str, float] = {}
            if kind == "waits":
                run_ids = create()

                async def wait(run_id: str) -> None:
                    trigger = AdfPipelineRunTrigger(run_id=run_id, poll_interval=INTERVAL)
                    async for _ in trigger.run():
                        seen[run_id] = clock()

                await asyncio.gather(*(wait(r) for r in run_ids))
                return seen, poller
            trigger = AdfPipelineRunEventTrigger(pipeline_names=names, poll_interval=INTERVAL)
            events = trigger.run()
            counts: Counter[str] = Counter()

            async def take() -> None:
                async for event in events:
                    counts[event.payload["run_id"]] += 1
                    seen.setdefault(event.payload["run_id"], clock())
                    if len(seen) == RUNS:
                        return

            task = asyncio.ensure_future(take())
            await asyncio.sleep(0.05)
            await asyncio.to_thread(create)
            await asyncio.wait_for(task, 300)
            await events.aclose()
            poller.duplicates = sum(c - 1 for c in counts.values())  # type: ignore[attr-defined]
            return seen, poller

        started = clock()
        before = server.request_counts()
        seen, poller = asyncio.run(follow())
        after = server.request_counts()
        late = sorted(at - server.state.runs[r].transitions()[-1][0] for r, at in seen.items())
        reads = sum(
            after.get(op, 0) - before.get(op, 0) for op in ("query pipeline runs", "get run")
        )
        intervals = max((clock() - started) / INTERVAL, 1.0)
        return {
            "lag_seconds": lag,
            "kind": kind,
            "runs": RUNS,
            "detected": len(seen),
            "duplicates": getattr(poller, "duplicates", 0),
            "detection_p50_seconds": round(statistics.median(late), 1) if late else None,
            "detection_max_seconds": round(late[-1], 1) if late else None,
            "bound_seconds": lag + 2 * INTERVAL,
            "reads_per_interval": round(reads / intervals, 2),
            "gets": after.get("get run", 0) - before.get("get run", 0),
            "deep_reads": poller.deep_reads,
            "measured_lag_seconds": round(poller.monitoring_lag, 1),
            "reread_seconds_at_end": round(poller.overlap.total_seconds()),
        }


def main() -> int:
    logging.disable(logging.WARNING)
    rows = [one_lag(lag, kind) for lag in LAGS for kind in ("waits", "events")]
    header = (
        "lag",
        "followed by",
        "detected",
        "detection p50 / max",
        "bound",
        "reads/interval",
        "GETs",
        "lag measured",
        "re-read",
    )
    lines = [
        (
            f"{r['lag_seconds']:g} s",
            "run triggers" if r["kind"] == "waits" else "1 event trigger",
            f"{r['detected']} of {r['runs']}"
            + (f" ({r['duplicates']} twice)" if r["duplicates"] else ""),
            f"{r['detection_p50_seconds']} / {r['detection_max_seconds']} s",
            f"{r['bound_seconds']:g} s",
            f"{r['reads_per_interval']}",
            f"{r['gets']}",
            f"{r['measured_lag_seconds']} s",
            f"{r['reread_seconds_at_end']} s",
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    print(f"Monitoring lag, {RUNS} runs, poll {INTERVAL:g} s, simulated clock")
    for row in [header, tuple("-" * w for w in widths), *lines]:
        print(
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    out = os.environ.get("BENCH_OUT")
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
