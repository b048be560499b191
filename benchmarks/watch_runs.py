"""Watch N pipeline runs with N concurrent triggers in one event loop, as a triggerer would.

``python watch_runs.py --impl ours|official --runs 1000 --poll-interval 5 --out result.json``

1. Start the emulator in a subprocess, over HTTPS (the Azure SDK sends bearer tokens only
   over https; ours runs over the same TLS for a like-for-like comparison), with one
   pipeline per run: queued 1 s, then a duration drawn uniformly from [min, max] seconds.
2. Create the N runs with the sync ``AdfClient`` (not measured; its token is kept apart, so
   the watch signs in by itself as a triggerer process would).
3. Measure the idle RSS, then run N ``trigger.run()`` coroutines concurrently:
   ``AdfPipelineRunTrigger`` (ours; connection ``AIRFLOW_CONN_ADF_DEFAULT``) or the official
   provider's ``ADFPipelineRunStatusSensorTrigger`` (connection
   ``AIRFLOW_CONN_AZURE_DATA_FACTORY_DEFAULT``).
4. Sample the emulator's request counters and CPU every poll interval and this process's RSS
   every 0.5 s; after the watch, read each run's ``runEnd`` to get the detection latency.

The official hook builds ``DataFactoryManagementClient(credential, subscription_id)`` with no
endpoint argument, so only for the benchmark the hook module's client class is wrapped to add
``base_url=<emulator>``; the credential finds the emulator through ``AZURE_AUTHORITY_HOST`` and
both SDK clients trust its certificate through ``SSL_CERT_FILE``. Nothing else is changed.

Log records below WARNING are dropped for both implementations (azure-core logs every HTTP
request at INFO, ours each status change): the figures are the clients', not the logging's.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import (
    EmulatorProcess,
    arm_requests,
    bench_environment,
    bench_scenario,
    cpu_seconds,
    peak_rss_kib,
    percentile,
    reset_peak_rss,
    rss_kib,
    workdir,
)

RSS_SAMPLE_SECONDS = 0.5
QUEUED_SECONDS = 1.0
"""How long a bench run stays Queued (see common.bench_scenario)."""
FEED_OVERLAP_SECONDS = 60.0
"""The shared poller's default overlap: each tick re-reads this much of the feed."""
PAGE_SIZE = 100
SAFETY_NET_PER_TICK = 1


class Sampler(threading.Thread):
    """RSS of this process every 0.5 s; emulator counters and CPU every poll interval."""

    def __init__(self, emulator: EmulatorProcess, poll_interval: float) -> None:
        super().__init__(name="bench-sampler", daemon=True)
        self.emulator = emulator
        self.poll_interval = poll_interval
        self.stop_event = threading.Event()
        self.max_rss = 0
        self.samples: list[dict[str, Any]] = []

    def sample(self) -> None:
        stats = self.emulator.stats()
        self.samples.append(
            {
                "t": time.monotonic(),
                "wall": time.time(),
                "requests": stats["requests"],
                "emulator_cpu": cpu_seconds(self.emulator.pid),
            }
        )

    def run(self) -> None:
        next_sample = time.monotonic() + self.poll_interval
        while not self.stop_event.wait(RSS_SAMPLE_SECONDS):
            self.max_rss = max(self.max_rss, rss_kib())
            if time.monotonic() >= next_sample:
                next_sample += self.poll_interval
                self.sample()


class UnclosedSessions(logging.Filter):
    """Counts (and silences) asyncio's "Unclosed client session" errors from aiohttp."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if "Unclosed client session" in record.getMessage():
            self.count += 1
            return False
        return "Unclosed connector" not in record.getMessage()


# ---------------------------------------------------------------------- the two sides


@dataclass
class Side:
    """One implementation: how to build its triggers, and what it counts."""

    make: Callable[[list[str]], list[Any]]
    success: str
    """The event status of a succeeded run."""
    remember: Callable[[], None] = lambda: None
    counters: Callable[[], dict[str, int]] = dict


def ours(poll_interval: float, connection: dict[str, Any]) -> Side:
    """Our trigger, with the shared poller (its default)."""
    from airflow_adf_trigger.core.runs.poller import SharedRunPoller
    from airflow_adf_trigger.triggers.adf import AdfPipelineRunTrigger

    os.environ["AIRFLOW_CONN_ADF_DEFAULT"] = json.dumps(connection)
    pollers: dict[int, SharedRunPoller] = {}

    def remember_pollers() -> None:
        for poller in SharedRunPoller._pollers.values():
            pollers[id(poller)] = poller

    def counters() -> dict[str, int]:
        remember_pollers()
        return {
            "run_checks": sum(p.run_checks for p in pollers.values()),
            "ticks": sum(p.ticks for p in pollers.values()),
            "pollers": len(pollers),
            "feed_queries": sum(p.feed_queries for p in pollers.values()),
            "refused_queries": sum(p.refused_queries for p in pollers.values()),
            "gets": sum(p.gets for p in pollers.values()),
        }

    def make(run_ids: list[str]) -> list[Any]:
        return [AdfPipelineRunTrigger(run_id=r, poll_interval=poll_interval) for r in run_ids]

    return Side(make, "Succeeded", remember_pollers, counters)


def official(poll_interval: float, scenario: dict[str, Any], url: str) -> Side:
    """The official provider's trigger, pointed at the emulator (see the module docstring)."""
    from airflow.providers.microsoft.azure.hooks import data_factory as hook_module
    from airflow.providers.microsoft.azure.triggers.data_factory import (
        ADFPipelineRunStatusSensorTrigger,
    )

    principal = scenario["service_principals"][0]
    os.environ["AIRFLOW_CONN_AZURE_DATA_FACTORY_DEFAULT"] = json.dumps(
        {
            "conn_type": "azure_data_factory",
            "login": principal["client_id"],
            "password": principal["client_secret"],
            "extra": {
                "tenantId": scenario["tenant_id"],
                "subscriptionId": scenario["subscription_id"],
                "resource_group_name": scenario["resource_group"],
                "factory_name": scenario["factory_name"],
            },
        }
    )
    os.environ["AZURE_AUTHORITY_HOST"] = url
    # The one patch: the hook gives the management client no endpoint; add the emulator's.
    hook_module.AsyncDataFactoryManagementClient = functools.partial(  # type: ignore[misc]
        hook_module.AsyncDataFactoryManagementClient, base_url=url
    )

    def make(run_ids: list[str]) -> list[Any]:
        return [
            ADFPipelineRunStatusSensorTrigger(
                run_id=r,
                azure_data_factory_conn_id="azure_data_factory_default",
                poke_interval=poll_interval,
                resource_group_name=scenario["resource_group"],
                factory_name=scenario["factory_name"],
            )
            for r in run_ids
        ]

    return Side(make, "success")


# ---------------------------------------------------------------------- the watch


async def watch(
    triggers: list[Any], deadline: float, remember: Any
) -> tuple[dict[int, float], dict[int, dict[str, Any]]]:
    arrived: dict[int, float] = {}
    payloads: dict[int, dict[str, Any]] = {}

    async def one(index: int, trigger: Any) -> None:
        async for event in trigger.run():
            arrived[index] = time.time()
            payloads[index] = dict(event.payload)
            return

    async def keep_pollers() -> None:
        while True:
            remember()
            await asyncio.sleep(0.5)

    keeper = asyncio.create_task(keep_pollers())
    tasks = [asyncio.create_task(one(i, t)) for i, t in enumerate(triggers)]
    _done, pending = await asyncio.wait(tasks, timeout=max(1.0, deadline - time.monotonic()))
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    keeper.cancel()
    return arrived, payloads


def create_runs(emulator: EmulatorProcess, connection: dict[str, Any], count: int) -> Any:
    """Start one run of each bench pipeline with our sync client and a private token cache."""
    import requests

    from airflow_adf_trigger.core.config.connection import settings_from_connection
    from airflow_adf_trigger.core.wire.auth import TokenCache
    from airflow_adf_trigger.core.wire.client import AdfClient

    settings = settings_from_connection(
        connection["login"], connection["password"], connection["extra"]
    )
    session = requests.Session()
    session.verify = emulator.ca_file
    client = AdfClient(settings, session=session, token_cache=TokenCache())
    run_ids = [client.create_run(f"bench_{index:04d}") for index in range(count)]
    return client, run_ids


def run_ends(client: Any, run_ids: list[str]) -> dict[str, Any]:
    """Every run of the bench factory as ADF reports it now (all pages, no filter)."""
    from airflow_adf_trigger.core.runs.models import RunQuery

    now = datetime.now(UTC)
    query = RunQuery(
        last_updated_after=now - timedelta(hours=2), last_updated_before=now + timedelta(hours=1)
    )
    wanted = set(run_ids)
    return {run.run_id: run for run in client.query_pipeline_runs(query) if run.run_id in wanted}


def changes_between(ends: dict[str, Any], start: float, end: float) -> int:
    """Status changes (queued, in progress, ended) of the runs between two wall-clock times."""
    count = 0
    for run in ends.values():
        moments = []
        if run.run_start is not None:
            began = run.run_start.timestamp()
            moments += [began - QUEUED_SECONDS, began]
        if run.run_end is not None:
            moments.append(run.run_end.timestamp())
        count += sum(1 for moment in moments if start <= moment <= end)
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", choices=("ours", "official"), required=True)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--poll-interval", type=float, default=5.0)
    parser.add_argument("--min-duration", type=float, default=20.0)
    parser.add_argument("--max-duration", type=float, default=150.0)
    parser.add_argument("--out", type=Path, help="write the result here as JSON")
    args = parser.parse_args(argv)

    home = workdir(f"adf-bench-{args.impl}-")
    env = bench_environment(home)
    os.environ.update(env)
    scenario = bench_scenario(args.runs, args.min_duration, args.max_duration)
    emulator = EmulatorProcess(scenario, home, env)
    try:
        result = measure(args, scenario, emulator)
    finally:
        emulator.stop()
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


def measure(args: argparse.Namespace, scenario: dict[str, Any], emulator: EmulatorProcess) -> Any:
    # Both SDKs (httpx for ours, aiohttp for the official one) trust the emulator this way.
    os.environ["SSL_CERT_FILE"] = emulator.ca_file
    os.environ["REQUESTS_CA_BUNDLE"] = emulator.ca_file
    from airflow_adf_trigger.emulator.scenario import Scenario

    connection = Scenario.from_json(scenario).airflow_connection(emulator.url)
    if args.impl == "ours":
        side = ours(args.poll_interval, connection)
    else:
        side = official(args.poll_interval, scenario, emulator.url)
    logging.disable(logging.INFO)  # after the imports: Airflow configures logging on import
    unclosed = UnclosedSessions()
    logging.getLogger("asyncio").addFilter(unclosed)

    creating = time.monotonic()
    client, run_ids = create_runs(emulator, connection, args.runs)
    create_seconds = time.monotonic() - creating
    # The triggers are built after the idle measurement: their own memory counts per run.
    gc.collect()
    idle_rss = rss_kib()
    hwm_reset = reset_peak_rss()

    sampler = Sampler(emulator, args.poll_interval)
    sampler.sample()
    cpu_before = cpu_seconds()
    emulator_cpu_before = cpu_seconds(emulator.pid)
    started = time.monotonic()
    sampler.start()
    triggers = side.make(run_ids)
    deadline = started + args.max_duration + 1 + 10 * args.poll_interval + 60
    arrived, payloads = asyncio.run(watch(triggers, deadline, side.remember))
    watch_seconds = time.monotonic() - started
    cpu_used = cpu_seconds() - cpu_before
    emulator_cpu = cpu_seconds(emulator.pid) - emulator_cpu_before
    sampler.stop_event.set()
    sampler.join()
    sampler.sample()
    peak_rss = max(sampler.max_rss, peak_rss_kib() if hwm_reset else 0, rss_kib())
    checks = side.counters()
    del triggers
    gc.collect()  # aiohttp reports sessions left open when they are collected

    ends = run_ends(client, run_ids)
    latencies = []
    for index, run_id in enumerate(run_ids):
        run = ends.get(run_id)
        if index in arrived and run is not None and run.run_end is not None:
            latencies.append(arrived[index] - run.run_end.timestamp())
    ok = sum(1 for p in payloads.values() if p.get("status") == side.success)

    first, last = sampler.samples[0], sampler.samples[-1]
    by_operation = {
        op: last["requests"].get(op, 0) - first["requests"].get(op, 0)
        for op in sorted(last["requests"])
        if last["requests"].get(op, 0) != first["requests"].get(op, 0)
    }
    windows = []
    for before, after in zip(sampler.samples, sampler.samples[1:], strict=False):
        span = after["t"] - before["t"]
        if span <= 0:
            continue
        # What the change feed of a tick in this window can have had to read: every status
        # change since the previous tick, plus the overlap it re-reads.
        changed = changes_between(
            ends, before["wall"] - args.poll_interval - FEED_OVERLAP_SECONDS, after["wall"]
        )
        windows.append(
            {
                "seconds": span,
                "changed": changed,
                "bound": 1 + -(-changed // PAGE_SIZE) + SAFETY_NET_PER_TICK,
                "arm": arm_requests(after["requests"]) - arm_requests(before["requests"]),
                "all": sum(after["requests"].values()) - sum(before["requests"].values()),
                "emulator_cpu": after["emulator_cpu"] - before["emulator_cpu"],
            }
        )
    full = [w for w in windows if w["seconds"] >= 0.8 * args.poll_interval] or windows
    arm_total = arm_requests(by_operation)
    all_total = sum(by_operation.values())
    run_checks = checks.get("run_checks", by_operation.get("get run", 0))
    emulator_busiest = max((w["emulator_cpu"] / w["seconds"] for w in full), default=0.0)
    return {
        "impl": args.impl,
        "runs": args.runs,
        "poll_interval": args.poll_interval,
        "durations": [args.min_duration, args.max_duration],
        "create_seconds": round(create_seconds, 2),
        "watch_seconds": round(watch_seconds, 2),
        "events": len(arrived),
        "events_succeeded": ok,
        "requests_by_operation": by_operation,
        "arm_requests": arm_total,
        "arm_per_interval_mean": round(arm_total / watch_seconds * args.poll_interval, 1),
        "arm_per_interval_max": max((w["arm"] for w in windows), default=arm_total),
        "arm_per_second_mean": round(arm_total / watch_seconds, 2),
        "token_requests": by_operation.get("token", 0),
        "refused_requests": sum(
            count for operation, count in by_operation.items() if operation.endswith(" refused")
        ),
        # Windows (after the first, where every run is new) whose ARM reads exceeded
        # 1 + ceil(changed runs / page size) + the safety net's share.
        "windows_over_change_bound": sum(1 for w in windows[1:] if w["arm"] > w["bound"]),
        "windows": len(windows),
        "latency_seconds": {
            "p50": round(percentile(latencies, 0.50), 3) if latencies else None,
            "p99": round(percentile(latencies, 0.99), 3) if latencies else None,
            "max": round(max(latencies), 3) if latencies else None,
            "min": round(min(latencies), 3) if latencies else None,
            "bound": args.poll_interval + 1,
            "within_bound": sum(1 for x in latencies if x <= args.poll_interval + 1),
            "measured": len(latencies),
        },
        "rss_idle_kib": idle_rss,
        "rss_peak_kib": peak_rss,
        "kib_per_run": round((peak_rss - idle_rss) / args.runs, 1),
        "cpu_seconds": round(cpu_used, 2),
        "run_checks": run_checks,
        "run_checks_counted_by": "poller.run_checks" if "run_checks" in checks else "GET count",
        "poller": checks,
        "cpu_ms_per_1000_checks": round(cpu_used / run_checks * 1e6, 1) if run_checks else None,
        "emulator": {
            "cpu_seconds": round(emulator_cpu, 2),
            "cpu_percent_mean": round(100 * emulator_cpu / watch_seconds, 1),
            "cpu_percent_busiest_interval": round(100 * emulator_busiest, 1),
            "requests_per_second_mean": round(all_total / watch_seconds, 1),
            "requests_per_second_busiest_interval": round(
                max((w["all"] / w["seconds"] for w in full), default=0.0), 1
            ),
            "saturated": emulator_busiest >= 0.9,
        },
        "unclosed_http_sessions": unclosed.count,
        "python": sys.version.split()[0],
    }


if __name__ == "__main__":
    sys.exit(main())
