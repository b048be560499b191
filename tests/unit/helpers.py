"""Settings shared by the unit tests."""

from __future__ import annotations

import json

from airflow_adf_trigger.core.config.settings import AdfSettings

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
SUBSCRIPTION = "12345678-1234-1234-1234-123456789abc"
CLIENT_ID = "0d3c4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"
SECRET = "unit-test-secret-value-XYZ"
RUN_ID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
ARM = "https://management.azure.com"
FACTORY_URL = (
    f"{ARM}/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-analytics"
    "/providers/Microsoft.DataFactory/factories/adf-demo"
)
TOKEN_URL = f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"


def make_settings(**overrides: object) -> AdfSettings:
    values: dict[str, object] = {
        "tenant_id": TENANT,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "subscription_id": SUBSCRIPTION,
        "resource_group": "rg-analytics",
        "factory_name": "adf-demo",
    }
    values.update(overrides)
    return AdfSettings.create(**values)  # type: ignore[arg-type]


def adf_connection_json(**extra: object) -> str:
    """The ``adf`` Airflow connection of these settings, as ``AIRFLOW_CONN_*`` JSON."""
    fields = {
        "tenant_id": TENANT,
        "subscription_id": SUBSCRIPTION,
        "resource_group": "rg-analytics",
        "factory_name": "adf-demo",
        **extra,
    }
    return json.dumps({"conn_type": "adf", "login": CLIENT_ID, "password": SECRET, "extra": fields})
