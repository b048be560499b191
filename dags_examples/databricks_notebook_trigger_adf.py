# Databricks notebook source
# MAGIC %md
# MAGIC # Run an Azure Data Factory pipeline from Databricks
# MAGIC
# MAGIC Starts an ADF pipeline run with parameters, waits for it to end, and reports the result
# MAGIC with ADF's own error messages. A failed or cancelled run raises an exception, so a
# MAGIC Databricks job task running this notebook fails too; a successful one ends the notebook
# MAGIC with `dbutils.notebook.exit` and a JSON `{"run_id", "status", "pipeline"}`.
# MAGIC
# MAGIC It uses the Airflow-free core of `airflow-adf-trigger` (no Airflow needed): sign-in with a
# MAGIC service principal, token caching, safe retries (a run is never started twice), polling.
# MAGIC
# MAGIC **Settings.** On Databricks: the client secret comes from a secret scope (names below),
# MAGIC everything else from the notebook's widgets. Run locally as a plain script
# MAGIC (`python databricks_notebook_trigger_adf.py`), it reads the environment the way the
# MAGIC `adf-trigger` command does, through the same core function (see `adf-trigger --help`):
# MAGIC `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`, `ADF_SUBSCRIPTION_ID`,
# MAGIC `ADF_RESOURCE_GROUP`, `ADF_FACTORY_NAME` and the optional others, or all of them at once
# MAGIC as an Airflow connection in `ADF_CONNECTION_URI`; plus its own two: `ADF_PIPELINE_NAME`
# MAGIC and `ADF_PIPELINE_PARAMETERS` (a JSON object).
# MAGIC
# MAGIC The service principal needs the **Data Factory Contributor** role on the factory.

# COMMAND ----------

# MAGIC %md
# MAGIC Install the client on the cluster (or add `airflow-adf-trigger` as a cluster or job
# MAGIC library and skip this cell). Locally, `pip install airflow-adf-trigger` once instead.

# COMMAND ----------

# MAGIC %pip install airflow-adf-trigger

# COMMAND ----------

import json
import os
import time

from airflow_adf_trigger.core import (
    AdfClient,
    AdfError,
    AdfPipelineRunError,
    PipelineRun,
    WaitOptions,
    settings_from_environment,
    wait_options_from_environment,
)
from airflow_adf_trigger.core.config.environment import ENVIRONMENT, Sourced, build_settings

# Where the client secret lives on Databricks: create it once with
#   databricks secrets create-scope adf
#   databricks secrets put-secret adf client-secret
SECRET_SCOPE = "adf"
SECRET_KEY = "client-secret"

# The pipeline: a widget on Databricks, else an environment variable of this notebook's own.
PIPELINE = {
    "pipeline_name": ("copy_sales", "ADF_PIPELINE_NAME"),
    "pipeline_parameters": ("{}", "ADF_PIPELINE_PARAMETERS"),
}

# COMMAND ----------

# Databricks puts `dbutils` into the notebook's globals; a local Python run has none.
DBUTILS = globals().get("dbutils")
ON_DATABRICKS = DBUTILS is not None


def widget(name: str, default: str = "") -> str:
    """A widget's value (the widget is made on first use)."""
    DBUTILS.widgets.text(name, default)
    return DBUTILS.widgets.get(name).strip()


# Validated up front, before any request: a missing or malformed value fails here, naming the
# setting and where it came from (the widget, or the environment variable), and the fix.
if ON_DATABRICKS:
    # One widget per setting the `adf-trigger` command reads from the environment, named
    # like the setting (tenant_id, factory_name, poll_interval, ...); empty ones are unset.
    given = {
        name: Sourced(value, f"widget {name}")
        for name in ENVIRONMENT
        if name != "client_secret" and (value := widget(name))
    }
    secret = DBUTILS.secrets.get(scope=SECRET_SCOPE, key=SECRET_KEY)
    given["client_secret"] = Sourced(secret, f"secret {SECRET_SCOPE}/{SECRET_KEY}")
    settings = build_settings(given)
    wait = WaitOptions.from_sources(given, local=settings.cloud.is_local)
    pipeline_name, parameters_text = (
        widget(name, default) for name, (default, _) in PIPELINE.items()
    )
else:
    settings = settings_from_environment(os.environ)
    wait = wait_options_from_environment(os.environ, local=settings.cloud.is_local)
    pipeline_name, parameters_text = (
        os.environ.get(variable, default).strip() for default, variable in PIPELINE.values()
    )
parameters = json.loads(parameters_text or "{}")

# The secret is held in a Secret object that prints as '********'.
print(f"Factory {settings.factory.factory_name}, pipeline {pipeline_name}, {parameters=}")

# COMMAND ----------

# Start the run, then follow it; print each status change as it happens.
client = AdfClient(settings)
run_id = client.create_run(pipeline_name, parameters)
print(f"Started pipeline '{pipeline_name}': run id {run_id}")
print(f"Monitor it in ADF Studio: {settings.factory.monitoring_url(settings.cloud, run_id)}")

started = time.monotonic()
statuses_seen: list[str] = []


def show_status(run: PipelineRun) -> None:
    """Called after every status check: print the status when it changes."""
    if not statuses_seen or statuses_seen[-1] != run.status.value:
        statuses_seen.append(run.status.value)
        print(f"[{time.monotonic() - started:6.1f}s] {run.status.value}")


def show_outage(error: AdfError, lasted: float) -> None:
    """Called when a check fails after its retries (network, throttling, Azure 5xx)."""
    print(f"Azure could not be read for {lasted:.0f} s (of {wait.outage_budget:g} s): {error}")


# Waiting goes on through network errors, throttling and Azure 5xx for up to outage_budget
# seconds in a row; a longer outage raises AdfOutageError (the run itself is left alone).
run = client.wait_for_run(
    run_id,
    poll_interval=wait.poll_interval,
    timeout=wait.timeout,
    on_poll=show_status,
    outage_budget=wait.outage_budget,
    on_outage=show_outage,
)

# COMMAND ----------

# Report the outcome. A failed run lists each failed activity's error, in ADF's words, and
# raises, so the job task fails; a successful run hands its id and status to the caller.
print(f"Final status: {run.status.value}")
if run.message:
    print(f"Message: {run.message}")

if not run.status.is_successful:
    failures = client.failure_details(run)
    for failure in failures:
        print(f"  - {failure.describe()}")
    client.close()
    raise AdfPipelineRunError(run, failures)

client.close()
result = {"run_id": run.run_id, "status": run.status.value, "pipeline": run.pipeline_name}
if ON_DATABRICKS:
    DBUTILS.notebook.exit(json.dumps(result))
