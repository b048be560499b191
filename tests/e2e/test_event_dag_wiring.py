"""dags_examples/adf_scheduled_ingest_to_databricks.py: it parses in a DagBag, its asset is
watched by the event trigger, and the trigger survives the scheduler's kwargs round trip.
(Running an AssetWatcher needs a real triggerer and scheduler; the trigger itself runs
against the emulator in tests/integration/test_event_trigger.py.)"""

from __future__ import annotations

import runpy
from collections.abc import Callable
from typing import Any

from airflow_adf_trigger.triggers.events import AdfPipelineRunEventTrigger
from tests.conftest import DAGS_FOLDER


def test_the_dag_is_scheduled_on_an_asset_watched_by_the_event_trigger(
    example_dag: Callable[[str], Any],
) -> None:
    assert example_dag("adf_scheduled_ingest_to_databricks") is not None  # no import error
    module = runpy.run_path(str(DAGS_FOLDER / "adf_scheduled_ingest_to_databricks.py"))
    asset = module["sales_ingested"]
    (watcher,) = asset.watchers
    assert isinstance(watcher.trigger, AdfPipelineRunEventTrigger)
    classpath, kwargs = watcher.trigger.serialize()
    assert classpath == "airflow_adf_trigger.triggers.events.AdfPipelineRunEventTrigger"
    rebuilt = AdfPipelineRunEventTrigger(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert rebuilt.pipeline_names == ["ingest_sales"]
    assert rebuilt.statuses == ["Succeeded"]
