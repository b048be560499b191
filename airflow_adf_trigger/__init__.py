"""Apache Airflow provider that starts Azure Data Factory pipeline runs and follows them."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

DEFAULT_CONN_ID = "adf_default"
"""The connection every hook, operator, sensor and trigger uses unless told otherwise."""


def get_provider_info() -> dict[str, Any]:
    """Describe this provider to Airflow (the ``apache_airflow_provider`` entry point)."""
    from airflow_adf_trigger.core.config.form import CONNECTION_FIELDS, UI_FIELD_BEHAVIOUR

    integration = "Azure Data Factory"
    name = f"{integration} (airflow-adf-trigger)"

    def modules(*names: str) -> list[dict[str, Any]]:
        paths = [f"airflow_adf_trigger.{module}" for module in names]
        return [{"integration-name": integration, "python-modules": paths}]

    return {
        "package-name": "airflow-adf-trigger",
        "name": name,
        "description": "Start Azure Data Factory pipeline runs and follow them to the end.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": integration,
                "external-doc-url": "https://learn.microsoft.com/azure/data-factory/",
                "tags": ["azure"],
            }
        ],
        "operators": modules("operators.adf"),
        "sensors": modules("sensors.adf", "sensors.latest"),
        "hooks": modules("hooks.adf"),
        "triggers": modules("triggers.adf", "triggers.events"),
        "extra-links": ["airflow_adf_trigger.links.adf.AdfPipelineRunLink"],
        "connection-types": [
            {
                "connection-type": "adf",
                "hook-class-name": "airflow_adf_trigger.hooks.adf.AdfHook",
                "hook-name": name,
                "conn-fields": CONNECTION_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }
