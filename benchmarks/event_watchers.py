"""Requests of event triggers: 100 AssetWatcher triggers on 100 pipelines, plus run triggers.

Every watcher (one ``AdfPipelineRunEventTrigger`` per pipeline) and every deferred run trigger
shares the triggerer's one change feed for the factory and credential. This script starts an
emulator in-process, lets the factory's own triggers start runs of all 100 pipelines while
the watchers and a few run triggers wait in one event loop (as in a triggerer), and prints
how many ``queryPipelineRuns`` requests each tick cost, with the events delivered. A feed
read is one query; it takes a second page when more than 100 runs ended within the window
(the previous tick's end less the 60 s overlap), so requests per tick exceed feed reads per
tick once 100 runs end within about a minute.

Nothing passes or fails: it prints figures. Environment: BENCH_EVENT_PIPELINES (100),
BENCH_EVENT_ROUNDS (2 runs per pipeline), BENCH_EVENT_INTERVAL (1 s poll interval),
BENCH_EVENT_SPREAD (20 s over which the runs are started), BENCH_EVENT_RUN_TRIGGERS (10).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from collections import Counter
from typing import Any

PIPELINES = int(os.environ.get("BENCH_EVENT_PIPELINES", 100))
ROUNDS = int(os.environ.get("BENCH_EVENT_ROUNDS", 2))
INTERVAL = float(os.environ.get("BENCH_EVENT_INTERVAL", 1.0))
SPREAD = float(os.environ.get("BENCH_EVENT_SPREAD", 20.0))
RUN_TRIGGERS = int(os.environ.get("BENCH_EVENT_RUN_TRIGGERS", 10))


def scenario() -> dict[str, Any]:
    names = [f"ingest_{i:03d}" for i in range(PIPELINES)]
    return {
        "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "subscription_id": "12345678-1234-1234-1234-123456789abc",
        "resource_group": "rg-analytics",
        "factory_name": "adf-bench",
        "service_principals": [
            {"client_id": "0d3c4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f", "client_secret": "bench-only"}
        ],
        "pipelines": {n: {"queued_seconds": 0.2, "duration_seconds": 1.0} for n in names},
        "triggers": [{"name": f"schedule_{n}", "pipeline": n} for n in names],
    }


async def watch(server: Any) -> dict[str, Any]:
    from airflow_adf_trigger.core.config.connection import settings_from_connection
    from airflow_adf_trigger.core.runs.poller import SharedRunPoller
    from airflow_adf_trigger.core.wire.client import AdfClient
    from airflow_adf_trigger.triggers.adf import AdfPipelineRunTrigger
    from airflow_adf_trigger.triggers.events import AdfPipelineRunEventTrigger

    names = sorted(server.state.scenario.pipelines)
    expected = PIPELINES * ROUNDS
    events: list[dict[str, Any]] = []
    done = asyncio.Event()

    async def watcher(name: str) -> None:
        trigger = AdfPipelineRunEventTrigger(pipeline_names=[name], poll_interval=INTERVAL)
        async for event in trigger.run():
            events.append(dict(event.payload))
            if len(events) >= expected:
                done.set()

    connection = server.state.scenario.airflow_connection(server.url)
    settings = settings_from_connection(
        connection["login"], connection["password"], connection["extra"]
    )
    with AdfClient(settings) as client:
        run_ids = [client.create_run(names[i % len(names)]) for i in range(RUN_TRIGGERS)]
    run_triggers = [
        AdfPipelineRunTrigger(run_id=r, poll_interval=INTERVAL, pipeline_name=names[i % len(names)])
        for i, r in enumerate(run_ids)
    ]

    async def follow(trigger: AdfPipelineRunTrigger) -> str:
        (event,) = [e async for e in trigger.run()]
        return str(event.payload["status"])

    watchers = [asyncio.create_task(watcher(n)) for n in names]
    followers = [asyncio.create_task(follow(t)) for t in run_triggers]
    await asyncio.sleep(INTERVAL * 2)  # every watcher registered before the first run ends
    before = server.request_counts()
    (poller,) = SharedRunPoller._pollers.values()
    ticks_before, queries_before = poller.ticks, poller.feed_queries
    order = [n for n in names for _ in range(ROUNDS)]
    random.Random(7).shuffle(order)
    started = time.monotonic()
    for index, name in enumerate(order):
        await asyncio.sleep(max(0.0, started + SPREAD * index / len(order) - time.monotonic()))
        server.fire_trigger(f"schedule_{name}")
    await asyncio.wait_for(done.wait(), timeout=SPREAD + 120)
    run_statuses = await asyncio.gather(*followers)
    after = server.request_counts()
    ticks = poller.ticks - ticks_before
    feed_reads = poller.feed_queries - queries_before
    for task in watchers:
        task.cancel()
    await asyncio.gather(*watchers, return_exceptions=True)

    def delta(operation: str) -> int:
        return after.get(operation, 0) - before.get(operation, 0)

    ids = Counter(e["run_id"] for e in events)
    queries = delta("query pipeline runs")
    return {
        "pipelines_watched": PIPELINES,
        "event_triggers": PIPELINES,
        "run_triggers": RUN_TRIGGERS,
        "runs_started_by_factory_triggers": len(order),
        "events_delivered": len(events),
        "distinct_runs_in_events": len(ids),
        "duplicate_events": sum(count - 1 for count in ids.values()),
        "run_trigger_outcomes": dict(Counter(run_statuses)),
        "ticks": ticks,
        "feed_reads": feed_reads,
        "feed_reads_per_tick": round(feed_reads / ticks, 3) if ticks else None,
        "query_requests_incl_pages": queries,
        "query_requests_per_tick": round(queries / ticks, 3) if ticks else None,
        "refused_queries": delta("query pipeline runs refused"),
        "get_run_requests": delta("get run"),
        "token_requests": after.get("token", 0),
        "pollers": 1,
    }


def main() -> None:
    from airflow_adf_trigger.emulator import EmulatorServer, Scenario

    with EmulatorServer(Scenario.from_json(scenario())) as server:
        connection = server.state.scenario.airflow_connection(server.url)
        os.environ["AIRFLOW_CONN_ADF_DEFAULT"] = json.dumps(connection)
        # Each event and the in-memory-mark notice would print a line per trigger.
        logging.disable(logging.WARNING)
        figures = asyncio.run(watch(server))
    width = max(len(k) for k in figures)
    print(f"Event triggers on the shared change feed (poll interval {INTERVAL:g} s)")
    for key, value in figures.items():
        print(f"  {key:<{width}}  {value}")
    out = os.environ.get("BENCH_OUT")
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            json.dump(figures, handle, indent=2)


if __name__ == "__main__":
    main()
