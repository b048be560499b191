"""The Airflow-free core: settings, protocol, authentication and the ADF clients.

Nothing below this package imports Airflow, so it can be used from a shell or a notebook.
Names are loaded on first use, so importing one light module (``models``, ``errors``) does
not pull in ``requests``: DAG files import the operator at every parse.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOMES = {
    "AdfAuthenticationError": "errors",
    "AdfAuthorizationError": "errors",
    "AdfBadRequestError": "errors",
    "AdfClient": "client",
    "AdfConfigurationError": "errors",
    "AdfError": "errors",
    "AdfNotFoundError": "errors",
    "AdfRequestError": "errors",
    "AdfRunOutcomeUnknownError": "errors",
    "AdfServiceError": "errors",
    "AdfSettings": "settings",
    "AdfThrottledError": "errors",
    "Cloud": "clouds",
    "FactoryRef": "settings",
    "PipelineRun": "models",
    "RunStatus": "models",
    "Secret": "settings",
    "resolve_cloud": "clouds",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
