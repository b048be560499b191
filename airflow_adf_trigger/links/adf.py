"""The "Monitor in ADF Studio" extra link."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk.types import TaskInstanceKey

    from airflow_adf_trigger.tasks import AdfFactoryTask

FALLBACK_URL = "https://adf.azure.com/en-us/monitoring/pipelineruns"
"""Only when nothing at all can be read from the connection: ADF Studio's monitoring page."""


class AdfPipelineRunLink(BaseOperatorLink):
    """The run's page in ADF Studio; before a run exists, the factory's pipeline runs.

    Airflow stores the link when a try ends, and the operator stores it as soon as its run
    exists; a task instance that never ran has no link.
    """

    name = "Monitor in ADF Studio"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        return monitoring_url(operator, getattr(operator, "run_id", None))


def monitoring_url(operator: AdfFactoryTask, run_id: str | None) -> str:
    """The link for the operator or the sensor (any :class:`AdfFactoryTask`)."""
    if not (isinstance(run_id, str) and len(run_id) == 36 and run_id.count("-") == 4):
        run_id = None  # not a run id
    try:
        return operator.hook.monitoring_url(run_id)
    except Exception:  # the link must never break the task
        return _best_effort_url(operator, run_id)


def _best_effort_url(operator: AdfFactoryTask, run_id: str | None) -> str:
    """From whatever the connection holds, when it does not validate as a whole.

    The studio host follows the connection's cloud (China and US Government have their own);
    the factory is named when its subscription, resource group and name are all known.
    """
    from airflow_adf_trigger.core.config.connection import extra_value

    try:
        extra = operator.hook.get_connection(operator.adf_conn_id).extra_dejson
    except Exception:
        extra = {}
    cloud, subscription_id, resource_group, factory_name = (
        extra_value(extra, key)
        for key in ("cloud", "subscription_id", "resource_group", "factory_name")
    )
    return studio_url(
        cloud=cloud,
        subscription_id=subscription_id,
        resource_group=operator.resource_group or resource_group,
        factory_name=operator.factory_name or factory_name,
        run_id=run_id,
    )


def studio_url(
    *,
    cloud: object = None,
    subscription_id: object = None,
    resource_group: object = None,
    factory_name: object = None,
    run_id: str | None = None,
) -> str:
    """ADF Studio's monitoring page for the cloud (the public one when it is not known),
    with the factory when all three of its names are given."""
    from airflow_adf_trigger.core.config import settings
    from airflow_adf_trigger.core.config.clouds import PUBLIC, resolve_cloud
    from airflow_adf_trigger.core.errors import AdfConfigurationError

    try:
        studio = resolve_cloud(str(cloud) if cloud else None)
    except AdfConfigurationError:
        studio = PUBLIC
    names = (subscription_id, resource_group, factory_name)
    if all(isinstance(name, str) and name.strip() for name in names):
        return settings.FactoryRef(*map(str, names)).monitoring_url(studio, run_id)
    return settings.studio_url(studio, run_id)
