"""The "Monitor in ADF Studio" extra link: never empty."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk.types import TaskInstanceKey

    from airflow_adf_trigger.links.factory_task import AdfFactoryTask

FALLBACK_URL = "https://adf.azure.com/en-us/monitoring/pipelineruns"
"""Used only when the connection cannot be read: ADF Studio's monitoring page."""


class AdfPipelineRunLink(BaseOperatorLink):
    """The run's page in ADF Studio; before a run exists, the factory's pipeline runs."""

    name = "Monitor in ADF Studio"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        return monitoring_url(operator, getattr(operator, "run_id", None))


def monitoring_url(operator: AdfFactoryTask, run_id: str | None) -> str:
    """The link for the operator or the sensor (any :class:`AdfFactoryTask`)."""
    try:
        return operator.hook.monitoring_url(run_id if _looks_like_run_id(run_id) else None)
    except Exception:  # the link must never break the task or be empty
        return FALLBACK_URL


def _looks_like_run_id(value: object) -> bool:
    return isinstance(value, str) and len(value) == 36 and value.count("-") == 4
