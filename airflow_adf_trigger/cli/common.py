"""What every part of ``adf-trigger`` shares: its name, exit codes, defaults, the settings
and wait options (and each setting's flag, read from them), help texts and the one error it
reports."""

from __future__ import annotations

from typing import Any

PROG = "adf-trigger"

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_USAGE = 2
EXIT_AZURE = 3
EXIT_INTERRUPTED = 130
EXIT_PIPE_CLOSED = 141
"""128 + SIGPIPE: what a shell reports for a Unix tool whose reader went away (`| head -1`)."""

# Declared here too so that --help imports nothing of the core; a test holds them equal to
# the core's (core/config/environment.py).
DEFAULT_POLL_INTERVAL = 15.0
"""Seconds between status checks while waiting (the operator's default too)."""
DEFAULT_OUTAGE_BUDGET = 900.0
"""Seconds a wait goes on while Azure cannot be read (the core client's default too)."""
CONNECTION_URI_ENV = "ADF_CONNECTION_URI"

Option = tuple[tuple[str, ...], dict[str, Any]]
"""An ``add_argument`` call: its names and its keyword arguments."""


def option(usage: str, text: str | None = None, **options: Any) -> Option:
    """An option from its usage (``--flag METAVAR``, or a bare ``--switch``) and its help."""
    name, _, metavar = usage.partition(" ")
    kind = {"metavar": metavar} if metavar else {"action": "store_true"}
    return (name,), {**kind, "help": text, **options}


# Strings: they are checked with their environment variables, once the endpoint is known.
WAIT_OPTIONS: tuple[Option, ...] = (
    option(
        "--poll-interval S",
        f"seconds between status checks (default {DEFAULT_POLL_INTERVAL:g}; $ADF_POLL_INTERVAL)",
    ),
    option(
        "--timeout S",
        "give up waiting after S seconds (exit 1); the run is not cancelled ($ADF_TIMEOUT)",
    ),
    option(
        "--outage-budget S",
        "keep waiting through network errors, throttling and Azure 5xx for up to S seconds in a "
        f"row (default {DEFAULT_OUTAGE_BUDGET:g}; $ADF_OUTAGE_BUDGET); then exit 3",
    ),
)

SETTINGS_OPTIONS: tuple[Option, ...] = (
    option("--tenant-id ID", "Directory (tenant) ID"),
    option("--client-id ID", "Application (client) ID"),
    option(
        "--client-secret-env NAME",
        "name of the environment variable holding the client secret's value",
    ),
    option("--subscription-id ID"),
    option("--resource-group NAME"),
    option("--factory-name NAME"),
    option("--cloud CLOUD", "public (default), china or usgov"),
    option("--authority-host URL", "Azure AD endpoint override"),
    option("--management-endpoint URL", "Resource Manager endpoint override"),
    option(
        "--identity KIND",
        "sign in without a secret via azure-identity: default, managed_identity, "
        "workload_identity, azure_cli or environment (needs airflow-adf-trigger[identity])",
    ),
    option("--token-api VERSION", "Azure AD token endpoint: v2 or v1"),
    option("--request-timeout S", "seconds per request (30)"),
    option(
        "--retry-max-attempts N",
        "attempts per request on throttling, 5xx or network errors (5; 1 = no retry)",
    ),
    option("--retry-max-seconds S", "time one request may take, retries included (120)"),
    option(
        "--connection-uri URI",
        f"an Airflow connection URI or JSON; prefer ${CONNECTION_URI_ENV}, since a flag's value "
        "shows in the process list",
    ),
)


# The flag of each setting (its environment variable is the core's, core/config/environment.py):
# the option that gives it, named by its argparse dest; the secret's option names the variable.
SETTING_FLAGS: dict[str, str] = {
    "client_secret": "--client-secret-env NAME",
    **{
        flag[2:].replace("-", "_"): flag
        for (flag,), _ in SETTINGS_OPTIONS
        if flag not in ("--client-secret-env", "--identity", "--connection-uri")
    },
}

# How `wait` and `run --wait` wait: a flag each (and the core's environment variable).
WAIT_FLAGS: dict[str, str] = {flag[2:].replace("-", "_"): flag for (flag,), _ in WAIT_OPTIONS}

DESCRIPTION = """\
Start, follow, cancel and inspect Azure Data Factory pipeline runs.
Needs no Airflow: it uses the provider's Airflow-free core client."""

EPILOG = """\
examples:
  export ADF_CONNECTION_URI='adf://CLIENT_ID:SECRET@/?tenant_id=TENANT&subscription_id=SUB&resource_group=rg-analytics&factory_name=adf-prod'
  adf-trigger run copy_sales --param region=emea --param date=2026-11-26 --wait
  RUN_ID=$(adf-trigger run copy_sales) && adf-trigger wait "$RUN_ID" --timeout 3600
  adf-trigger status "$RUN_ID" --json
  adf-trigger activities "$RUN_ID"

settings, each taken from the first source that gives it:
  1. flags: --tenant-id, --client-id, --subscription-id, --resource-group, --factory-name,
     --cloud, --authority-host, --management-endpoint, --identity, --token-api,
     --request-timeout, --retry-max-attempts, --retry-max-seconds, and
     --client-secret-env NAME (the environment variable that holds the secret: the
     secret itself is never a flag)
  2. --connection-uri URI, else $ADF_CONNECTION_URI: an Airflow connection of type adf (or
     azure_data_factory) as a URI, adf://CLIENT_ID:SECRET@/?tenant_id=..&subscription_id=..
     &resource_group=..&factory_name=.. (login and password URL-quoted; query = extras),
     or in its JSON form {"conn_type": "adf", "login": .., "password": .., "extra": {..}}
  3. environment: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET,
     ADF_SUBSCRIPTION_ID, ADF_RESOURCE_GROUP, ADF_FACTORY_NAME, and optionally ADF_CLOUD,
     ADF_AUTHORITY_HOST, ADF_MANAGEMENT_ENDPOINT, ADF_TOKEN_API (v2 or v1),
     ADF_REQUEST_TIMEOUT (seconds, 30), ADF_RETRY_MAX_ATTEMPTS (5) and
     ADF_RETRY_MAX_SECONDS (120): the retry budget of one request
  The client secret is never printed, not even with --json.

waiting (wait, run --wait), each a flag, else an environment variable:
  --poll-interval / ADF_POLL_INTERVAL  seconds between status checks (15; at least 1,
                                       except against an emulator on this machine)
  --timeout / ADF_TIMEOUT              give up waiting after this many seconds (none)
  --outage-budget / ADF_OUTAGE_BUDGET  go on through network errors, throttling and Azure
                                       5xx for up to this many seconds in a row (900),
                                       with a warning on stderr at each failed check
  Every number is checked before any request: finite, and above 0 (0 allowed for
  --outage-budget and --retry-max-seconds; --retry-max-attempts is a whole number >= 1).

exit codes:
  0    done: the run succeeded (wait, run --wait), or the command did its job (run, cancel,
       activities, status). `status` of a Failed run exits 0: it reported the status
       successfully; use `wait` to turn a run's outcome into an exit code.
  1    the run ended Failed or Cancelled (wait, run --wait), or --timeout passed first (the
       run itself is left alone: cancel it with `adf-trigger cancel RUN_ID`)
  2    usage or configuration error: a bad flag, a missing or malformed setting, a bad run id
  3    Azure said no or could not be reached: wrong secret, missing role, unknown factory,
       pipeline or run, network errors; while waiting, Azure could not be read for longer
       than the outage budget (or until --timeout). Also when `run` cannot tell whether its
       run started (no answer, or an unreadable one, after the request was sent): the
       request is never sent twice, and the message gives the time window in which to look
       for the run in ADF monitoring.
  130  interrupted (Ctrl-C); a run already started goes on in ADF
  141  stdout was closed early (e.g. `| head -1`): stops quietly, as Unix tools do; a run
       already started goes on in ADF
"""


class CliError(Exception):
    """A problem to report as one ``adf-trigger: error:`` line, with its exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code
