"""The Airflow-free core: settings, protocol, authentication and the ADF clients.

Nothing below this package imports Airflow, so it can be used from a shell or a notebook.

The twenty names users need are listed once, in ``PUBLIC`` below, each with its home module;
each is loaded from there on first use, so importing a light name (``RunStatus``, an error)
does not pull in ``requests``: DAG files import from here at every parse. Everything else is
imported from its own module (``airflow_adf_trigger.core.config.environment``, ``.reconcile``, ...).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

PUBLIC: dict[str, str] = {
    # clients and their settings
    "AdfClient": "airflow_adf_trigger.core.wire.client",
    "AsyncAdfClient": "airflow_adf_trigger.core.wire.aio",
    "AdfSettings": "airflow_adf_trigger.core.config.settings",
    "RetryPolicy": "airflow_adf_trigger.core.config.settings",
    "settings_from_connection": "airflow_adf_trigger.core.config.connection",
    "settings_from_uri": "airflow_adf_trigger.core.config.connection",
    "settings_from_environment": "airflow_adf_trigger.core.config.environment",
    "wait_options_from_environment": "airflow_adf_trigger.core.config.environment",
    "WaitOptions": "airflow_adf_trigger.core.config.environment",
    "diagnose": "airflow_adf_trigger.core.doctor",
    # values
    "PipelineRun": "airflow_adf_trigger.core.runs.models",
    "ActivityRun": "airflow_adf_trigger.core.runs.models",
    "RunQuery": "airflow_adf_trigger.core.runs.models",
    "RunStatus": "airflow_adf_trigger.core.runs.status",
    # errors a caller acts on
    "AdfError": "airflow_adf_trigger.core.errors",
    "AdfConfigurationError": "airflow_adf_trigger.core.errors",
    "AdfPipelineRunError": "airflow_adf_trigger.core.errors",
    "AdfRunOutcomeUnknownError": "airflow_adf_trigger.core.errors",
    "AdfOutageError": "airflow_adf_trigger.core.errors",
    "AdfWaitTimeoutError": "airflow_adf_trigger.core.errors",
}

__all__ = sorted(PUBLIC)

if TYPE_CHECKING:  # the same names, for type checkers (a unit test keeps the two equal)
    from airflow_adf_trigger.core.config.connection import (
        settings_from_connection as settings_from_connection,
    )
    from airflow_adf_trigger.core.config.connection import settings_from_uri as settings_from_uri
    from airflow_adf_trigger.core.config.environment import WaitOptions as WaitOptions
    from airflow_adf_trigger.core.config.environment import (
        settings_from_environment as settings_from_environment,
    )
    from airflow_adf_trigger.core.config.environment import (
        wait_options_from_environment as wait_options_from_environment,
    )
    from airflow_adf_trigger.core.config.settings import AdfSettings as AdfSettings
    from airflow_adf_trigger.core.config.settings import RetryPolicy as RetryPolicy
    from airflow_adf_trigger.core.doctor import diagnose as diagnose
    from airflow_adf_trigger.core.errors import AdfConfigurationError as AdfConfigurationError
    from airflow_adf_trigger.core.errors import AdfError as AdfError
    from airflow_adf_trigger.core.errors import AdfOutageError as AdfOutageError
    from airflow_adf_trigger.core.errors import AdfPipelineRunError as AdfPipelineRunError
    from airflow_adf_trigger.core.errors import (
        AdfRunOutcomeUnknownError as AdfRunOutcomeUnknownError,
    )
    from airflow_adf_trigger.core.errors import AdfWaitTimeoutError as AdfWaitTimeoutError
    from airflow_adf_trigger.core.runs.models import ActivityRun as ActivityRun
    from airflow_adf_trigger.core.runs.models import PipelineRun as PipelineRun
    from airflow_adf_trigger.core.runs.models import RunQuery as RunQuery
    from airflow_adf_trigger.core.runs.status import RunStatus as RunStatus
    from airflow_adf_trigger.core.wire.aio import AsyncAdfClient as AsyncAdfClient
    from airflow_adf_trigger.core.wire.client import AdfClient as AdfClient


def __getattr__(name: str) -> Any:
    home = PUBLIC.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *PUBLIC})
