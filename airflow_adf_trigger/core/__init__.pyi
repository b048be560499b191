# The core's public API: every name `from airflow_adf_trigger.core import ...` offers, with its
# home module. This file is the one list: type checkers read it as the package's interface,
# and the package (__init__.py) reads it at run time to load each name from its home on first
# use. Add or remove a name here only.

from airflow_adf_trigger.core.aio import AsyncAdfClient as AsyncAdfClient
from airflow_adf_trigger.core.client import AdfClient as AdfClient
from airflow_adf_trigger.core.clouds import Cloud as Cloud
from airflow_adf_trigger.core.clouds import resolve_cloud as resolve_cloud
from airflow_adf_trigger.core.connection import ConnectionFields as ConnectionFields
from airflow_adf_trigger.core.connection import parse_connection_uri as parse_connection_uri
from airflow_adf_trigger.core.connection import settings_from_connection as settings_from_connection
from airflow_adf_trigger.core.connection import settings_from_uri as settings_from_uri
from airflow_adf_trigger.core.doctor import DoctorReport as DoctorReport
from airflow_adf_trigger.core.doctor import diagnose as diagnose
from airflow_adf_trigger.core.environment import CONNECTION_URI_VARIABLE as CONNECTION_URI_VARIABLE
from airflow_adf_trigger.core.environment import ENVIRONMENT as ENVIRONMENT
from airflow_adf_trigger.core.environment import Sourced as Sourced
from airflow_adf_trigger.core.environment import WaitOptions as WaitOptions
from airflow_adf_trigger.core.environment import build_settings as build_settings
from airflow_adf_trigger.core.environment import (
    settings_from_environment as settings_from_environment,
)
from airflow_adf_trigger.core.environment import (
    wait_options_from_environment as wait_options_from_environment,
)
from airflow_adf_trigger.core.errors import AdfAuthenticationError as AdfAuthenticationError
from airflow_adf_trigger.core.errors import AdfAuthorizationError as AdfAuthorizationError
from airflow_adf_trigger.core.errors import AdfBadRequestError as AdfBadRequestError
from airflow_adf_trigger.core.errors import AdfConfigurationError as AdfConfigurationError
from airflow_adf_trigger.core.errors import AdfConflictError as AdfConflictError
from airflow_adf_trigger.core.errors import AdfConnectionError as AdfConnectionError
from airflow_adf_trigger.core.errors import AdfError as AdfError
from airflow_adf_trigger.core.errors import AdfNotFoundError as AdfNotFoundError
from airflow_adf_trigger.core.errors import AdfOutageError as AdfOutageError
from airflow_adf_trigger.core.errors import AdfPipelineRunError as AdfPipelineRunError
from airflow_adf_trigger.core.errors import AdfRequestError as AdfRequestError
from airflow_adf_trigger.core.errors import AdfRunOutcomeUnknownError as AdfRunOutcomeUnknownError
from airflow_adf_trigger.core.errors import AdfServiceError as AdfServiceError
from airflow_adf_trigger.core.errors import AdfThrottledError as AdfThrottledError
from airflow_adf_trigger.core.errors import AdfWaitTimeoutError as AdfWaitTimeoutError
from airflow_adf_trigger.core.models import ActivityRun as ActivityRun
from airflow_adf_trigger.core.models import CancelResult as CancelResult
from airflow_adf_trigger.core.models import PipelineRun as PipelineRun
from airflow_adf_trigger.core.models import RunChanges as RunChanges
from airflow_adf_trigger.core.models import RunFilter as RunFilter
from airflow_adf_trigger.core.models import RunQuery as RunQuery
from airflow_adf_trigger.core.settings import AdfSettings as AdfSettings
from airflow_adf_trigger.core.settings import FactoryRef as FactoryRef
from airflow_adf_trigger.core.settings import RetryPolicy as RetryPolicy
from airflow_adf_trigger.core.settings import Secret as Secret
from airflow_adf_trigger.core.status import RunStatus as RunStatus
