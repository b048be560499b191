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
# MAGIC (`python databricks_notebook_trigger_adf.py`), it reads environment variables instead:
# MAGIC `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`, `ADF_SUBSCRIPTION_ID`,
# MAGIC `ADF_RESOURCE_GROUP`, `ADF_FACTORY_NAME`, `ADF_PIPELINE_NAME`, `ADF_PIPELINE_PARAMETERS`
# MAGIC (a JSON object) and, for the local emulator, `ADF_AUTHORITY_HOST` /
# MAGIC `ADF_MANAGEMENT_ENDPOINT`.
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

from airflow_adf_trigger.core import AdfClient, AdfSettings, PipelineRun
from airflow_adf_trigger.core.errors import AdfPipelineRunError

# Where the client secret lives on Databricks: create it once with
#   databricks secrets create-scope adf
#   databricks secrets put-secret adf client-secret
SECRET_SCOPE = "adf"
SECRET_KEY = "client-secret"

# Widget name -> (environment variable used when running locally, default value).
WIDGETS = {
    "tenant_id": ("AZURE_TENANT_ID", ""),
    "client_id": ("AZURE_CLIENT_ID", ""),
    "subscription_id": ("ADF_SUBSCRIPTION_ID", ""),
    "resource_group": ("ADF_RESOURCE_GROUP", ""),
    "factory_name": ("ADF_FACTORY_NAME", ""),
    "pipeline_name": ("ADF_PIPELINE_NAME", "copy_sales"),
    "pipeline_parameters": ("ADF_PIPELINE_PARAMETERS", "{}"),
    "poll_interval_seconds": ("ADF_POLL_INTERVAL_SECONDS", "15"),
    "timeout_seconds": ("ADF_TIMEOUT_SECONDS", ""),
    # Endpoint overrides: empty for Azure itself; the local emulator's URL for a try-out.
    "authority_host": ("ADF_AUTHORITY_HOST", ""),
    "management_endpoint": ("ADF_MANAGEMENT_ENDPOINT", ""),
}

# COMMAND ----------

# Databricks puts `dbutils` into the notebook's globals; a local Python run has none.
DBUTILS = globals().get("dbutils")
ON_DATABRICKS = DBUTILS is not None


def setting(name: str) -> str:
    """A widget's value on Databricks, else the matching environment variable."""
    variable, default = WIDGETS[name]
    if ON_DATABRICKS:
        DBUTILS.widgets.text(name, default)
        return DBUTILS.widgets.get(name).strip()
    return os.environ.get(variable, default).strip()


def client_secret() -> str:
    """The client secret's value: a Databricks secret, else AZURE_CLIENT_SECRET."""
    if ON_DATABRICKS:
        return DBUTILS.secrets.get(scope=SECRET_SCOPE, key=SECRET_KEY)
    return os.environ.get("AZURE_CLIENT_SECRET", "")


# Validated up front: a missing or malformed value fails here, naming the field and the fix.
settings = AdfSettings.create(
    tenant_id=setting("tenant_id"),
    client_id=setting("client_id"),
    client_secret=client_secret(),
    subscription_id=setting("subscription_id"),
    resource_group=setting("resource_group"),
    factory_name=setting("factory_name"),
    authority_host=setting("authority_host") or None,
    management_endpoint=setting("management_endpoint") or None,
)
pipeline_name = setting("pipeline_name")
parameters = json.loads(setting("pipeline_parameters") or "{}")
poll_interval = float(setting("poll_interval_seconds") or 15)
timeout_text = setting("timeout_seconds")
timeout = float(timeout_text) if timeout_text else None

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


run = client.wait_for_run(run_id, poll_interval=poll_interval, timeout=timeout, on_poll=show_status)

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
