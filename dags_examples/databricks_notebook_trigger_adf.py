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
# MAGIC (`python databricks_notebook_trigger_adf.py`), it reads the environment variables the
# MAGIC `adf-trigger` command reads (see `adf-trigger --help`): `AZURE_TENANT_ID`,
# MAGIC `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`, `ADF_SUBSCRIPTION_ID`, `ADF_RESOURCE_GROUP`,
# MAGIC `ADF_FACTORY_NAME`, optionally `ADF_CLOUD`, `ADF_AUTHORITY_HOST` /
# MAGIC `ADF_MANAGEMENT_ENDPOINT` (the local emulator), `ADF_TOKEN_API`, `ADF_REQUEST_TIMEOUT`,
# MAGIC `ADF_RETRY_MAX_ATTEMPTS`, `ADF_RETRY_MAX_SECONDS`, `ADF_POLL_INTERVAL`, `ADF_TIMEOUT`,
# MAGIC `ADF_OUTAGE_BUDGET`; and its own two: `ADF_PIPELINE_NAME` and `ADF_PIPELINE_PARAMETERS`
# MAGIC (a JSON object).
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

from airflow_adf_trigger.cli import ENVIRONMENT, check_request_numbers
from airflow_adf_trigger.core import AdfClient, AdfSettings, PipelineRun
from airflow_adf_trigger.core.errors import AdfError, AdfPipelineRunError
from airflow_adf_trigger.core.validation import check_seconds, poll_floor

# Where the client secret lives on Databricks: create it once with
#   databricks secrets create-scope adf
#   databricks secrets put-secret adf client-secret
SECRET_SCOPE = "adf"
SECRET_KEY = "client-secret"

# Widget name -> default ("" = unset). Run locally, each is read from the environment variable
# `adf-trigger` reads for it (ENVIRONMENT), or from the notebook's own two below.
WIDGETS = {
    "tenant_id": "",
    "client_id": "",
    "subscription_id": "",
    "resource_group": "",
    "factory_name": "",
    "pipeline_name": "copy_sales",
    "pipeline_parameters": "{}",
    "poll_interval": "15",
    "timeout": "",
    "outage_budget": "900",
    # Optional: another cloud, endpoint overrides (the local emulator's URL for a try-out),
    # the token endpoint version, and the timeout and retry budget of one request.
    "cloud": "",
    "authority_host": "",
    "management_endpoint": "",
    "token_api": "",
    "request_timeout": "",
    "retry_max_attempts": "",
    "retry_max_seconds": "",
}
VARIABLES = {
    **ENVIRONMENT,
    "pipeline_name": "ADF_PIPELINE_NAME",
    "pipeline_parameters": "ADF_PIPELINE_PARAMETERS",
}

# COMMAND ----------

# Databricks puts `dbutils` into the notebook's globals; a local Python run has none.
DBUTILS = globals().get("dbutils")
ON_DATABRICKS = DBUTILS is not None


def setting(name: str) -> str:
    """A widget's value on Databricks, else the matching environment variable."""
    default = WIDGETS[name]
    if ON_DATABRICKS:
        DBUTILS.widgets.text(name, default)
        return DBUTILS.widgets.get(name).strip()
    return os.environ.get(VARIABLES[name], default).strip()


def client_secret() -> str:
    """The client secret's value: a Databricks secret, else AZURE_CLIENT_SECRET."""
    if ON_DATABRICKS:
        return DBUTILS.secrets.get(scope=SECRET_SCOPE, key=SECRET_KEY)
    return os.environ.get(ENVIRONMENT["client_secret"], "")


# Validated up front, before any request: a missing or malformed value fails here, naming the
# field (the widget) and the fix.
request_numbers = {
    name: setting(name)
    for name in ("request_timeout", "retry_max_attempts", "retry_max_seconds")
    if setting(name)
}
settings = AdfSettings.create(
    tenant_id=setting("tenant_id"),
    client_id=setting("client_id"),
    client_secret=client_secret(),
    subscription_id=setting("subscription_id"),
    resource_group=setting("resource_group"),
    factory_name=setting("factory_name"),
    cloud=setting("cloud") or None,
    authority_host=setting("authority_host") or None,
    management_endpoint=setting("management_endpoint") or None,
    token_api=setting("token_api") or None,
    **check_request_numbers(request_numbers),
)
pipeline_name = setting("pipeline_name")
parameters = json.loads(setting("pipeline_parameters") or "{}")
# At least 1 s between checks against Azure (the subscription's read budget).
poll_interval = check_seconds(
    "poll_interval", setting("poll_interval") or 15, minimum=poll_floor(settings.cloud.is_local)
)
timeout = check_seconds("timeout", setting("timeout")) if setting("timeout") else None
outage_budget = check_seconds("outage_budget", setting("outage_budget") or 900, allow_zero=True)

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
    print(f"Azure could not be read for {lasted:.0f} s (of {outage_budget:g} s): {error}")


# Waiting goes on through network errors, throttling and Azure 5xx for up to outage_budget
# seconds in a row; a longer outage raises AdfOutageError (the run itself is left alone).
run = client.wait_for_run(
    run_id,
    poll_interval=poll_interval,
    timeout=timeout,
    on_poll=show_status,
    outage_budget=outage_budget,
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
