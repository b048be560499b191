"""The emulator over HTTPS for Azure's and Databricks' own SDK clients.

The official clients are the judges here: they were written against the real services, so
an answer they cannot read (or a refusal they do not see) is an emulator bug.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testbed.emulator import EmulatorServer, Scenario

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
SUBSCRIPTION = "12345678-1234-1234-1234-123456789abc"
RESOURCE_GROUP = "rg-contract"
FACTORY = "adf-contract"
CLIENT_ID = "0d3c4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"
SECRET = "contract-only-secret"
DATABRICKS_TOKEN = "dapi-contract-token"

SCENARIO = {
    "tenant_id": TENANT,
    "subscription_id": SUBSCRIPTION,
    "resource_group": RESOURCE_GROUP,
    "factory_name": FACTORY,
    "service_principals": [{"client_id": CLIENT_ID, "client_secret": SECRET}],
    "page_size": 2,
    "pipelines": {
        "copy_sales": {
            "queued_seconds": 0.05,
            "duration_seconds": 0.2,
            "parameters": ["region", "date"],
            "activities": [
                {"name": "Lookup files", "type": "Lookup", "duration_seconds": 0.05},
                {"name": "Copy sales to lake", "type": "Copy"},
            ],
        },
        "etl": {
            "queued_seconds": 0.05,
            "activities": [
                {"name": "Lookup files", "type": "Lookup", "duration_seconds": 0.05},
                {"name": "Copy sales to lake", "type": "Copy", "duration_seconds": 0.1},
                {"name": "Notify", "type": "WebActivity", "duration_seconds": 0.05},
            ],
            "failed_activity": "Copy sales to lake",
            "error_code": "2200",
            "outcomes": [
                {"outcome": "Failed", "message": "Operation on target Copy sales to lake failed"},
                "Succeeded",
            ],
        },
        "slow": {"queued_seconds": 0.05, "duration_seconds": 60, "cancel_seconds": 0.1},
        "paged": {"queued_seconds": 0, "duration_seconds": 0.05},
    },
    "databricks": {
        "token": DATABRICKS_TOKEN,
        "submit": {
            "pending_seconds": 0.05,
            "duration_seconds": 0.15,
            "notebook_output": {"result": "abfss://lake/prepared/{date}/"},
        },
        "jobs": {
            "4242": {
                "name": "publish_sales",
                "task_key": "publish",
                "pending_seconds": 0.05,
                "duration_seconds": 0.15,
                "parameters": {"input_path": ""},
                "notebook_output": {"result": "published {input_path}"},
            },
            "13": {
                "name": "broken",
                "pending_seconds": 0.05,
                "duration_seconds": 0.1,
                "outcome": "FAILED",
                "error": "ValueError: no rows",
            },
            "77": {"name": "long", "pending_seconds": 0.05, "duration_seconds": 60},
        },
    },
}


@pytest.fixture(scope="package")
def https_emulator() -> Iterator[EmulatorServer]:
    """One HTTPS emulator for the whole contract suite (each test makes its own runs)."""
    with EmulatorServer(Scenario.from_json(SCENARIO), tls=True) as emulator:
        yield emulator
