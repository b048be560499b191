"""A scenario whose runs end within half a second, shared by the CLI and notebook tests."""

from __future__ import annotations

from typing import Any

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT_ID = "0d3c4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"
SUBSCRIPTION = "12345678-1234-1234-1234-123456789abc"
ACTIVITIES = [
    {"name": "Lookup files", "type": "Lookup", "duration_seconds": 0.1},
    {"name": "Copy sales to lake", "type": "Copy"},
]


def fast_scenario(
    secret: str, failure_message: str, **more_pipelines: dict[str, Any]
) -> dict[str, Any]:
    """``copy_sales`` succeeds, ``broken`` fails in "Copy sales to lake" with the message."""
    return {
        "tenant_id": TENANT,
        "subscription_id": SUBSCRIPTION,
        "resource_group": "rg-analytics",
        "factory_name": "adf-demo",
        "service_principals": [{"client_id": CLIENT_ID, "client_secret": secret}],
        "pipelines": {
            "copy_sales": {
                "queued_seconds": 0.1,
                "duration_seconds": 0.3,
                "parameters": ["region", "date", "airflow_run_key"],
                "activities": ACTIVITIES,
            },
            "broken": {
                "queued_seconds": 0.1,
                "duration_seconds": 0.3,
                "outcome": "Failed",
                "failed_activity": "Copy sales to lake",
                "error_code": "2200",
                "message": failure_message,
                "activities": ACTIVITIES,
            },
            **more_pipelines,
        },
    }
