"""Apache Airflow provider that starts Azure Data Factory pipeline runs and follows them."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

DEFAULT_CONN_ID = "adf_default"
"""The connection every hook, operator, sensor and trigger uses unless told otherwise."""


def get_provider_info() -> dict[str, Any]:
    """Describe this provider to Airflow (the ``apache_airflow_provider`` entry point)."""
    from airflow_adf_trigger.core.config.form import CONNECTION_FIELDS, UI_FIELD_BEHAVIOUR

    return {
        "package-name": "airflow-adf-trigger",
        "name": "Azure Data Factory (airflow-adf-trigger)",
        "description": "Start Azure Data Factory pipeline runs and follow them to the end.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Azure Data Factory",
                "external-doc-url": "https://learn.microsoft.com/azure/data-factory/",
                "tags": ["azure"],
            }
        ],
        "operators": [
            {
                "integration-name": "Azure Data Factory",
                "python-modules": ["airflow_adf_trigger.operators.adf"],
            }
        ],
        "sensors": [
            {
                "integration-name": "Azure Data Factory",
                "python-modules": [
                    "airflow_adf_trigger.sensors.adf",
                    "airflow_adf_trigger.sensors.latest",
                ],
            }
        ],
        "hooks": [
            {
                "integration-name": "Azure Data Factory",
                "python-modules": ["airflow_adf_trigger.hooks.adf"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Azure Data Factory",
                "python-modules": [
                    "airflow_adf_trigger.triggers.adf",
                    "airflow_adf_trigger.triggers.events",
                ],
            }
        ],
        "extra-links": ["airflow_adf_trigger.links.adf.AdfPipelineRunLink"],
        "connection-types": [
            {
                "connection-type": "adf",
                "hook-class-name": "airflow_adf_trigger.hooks.adf.AdfHook",
                "hook-name": "Azure Data Factory (airflow-adf-trigger)",
                "conn-fields": CONNECTION_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }
