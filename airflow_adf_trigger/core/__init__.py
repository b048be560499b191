"""The Airflow-free core: settings, protocol, authentication and the ADF client.

Nothing below this package imports Airflow, so it can be used from a shell or a notebook.
"""

from airflow_adf_trigger.core.client import AdfClient
from airflow_adf_trigger.core.clouds import Cloud, resolve_cloud
from airflow_adf_trigger.core.errors import (
    AdfAuthenticationError,
    AdfAuthorizationError,
    AdfBadRequestError,
    AdfConfigurationError,
    AdfError,
    AdfNotFoundError,
    AdfRequestError,
    AdfRunOutcomeUnknownError,
    AdfServiceError,
    AdfThrottledError,
)
from airflow_adf_trigger.core.models import PipelineRun, RunStatus
from airflow_adf_trigger.core.settings import AdfSettings, FactoryRef, Secret

__all__ = [
    "AdfAuthenticationError",
    "AdfAuthorizationError",
    "AdfBadRequestError",
    "AdfClient",
    "AdfConfigurationError",
    "AdfError",
    "AdfNotFoundError",
    "AdfRequestError",
    "AdfRunOutcomeUnknownError",
    "AdfServiceError",
    "AdfSettings",
    "AdfThrottledError",
    "Cloud",
    "FactoryRef",
    "PipelineRun",
    "RunStatus",
    "Secret",
    "resolve_cloud",
]
