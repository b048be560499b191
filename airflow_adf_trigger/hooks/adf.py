"""AdfHook: turns an Airflow connection into a ready :class:`AdfClient`.

It also answers to the official provider's hook methods that Python tasks call
(``run_pipeline``, ``get_pipeline_run``, ``get_pipeline_run_status``,
``wait_for_pipeline_run_status``, ``cancel_pipeline_run``, ...), and
:class:`AzureDataFactoryHook` is that hook's name, so such a task moves by its imports alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_adf_trigger import DEFAULT_CONN_ID
from airflow_adf_trigger.compat import AirflowException, BaseHook, read_connection_async
from airflow_adf_trigger.core.config.connection import CONN_TYPE, settings_for_task
from airflow_adf_trigger.core.config.settings import AdfSettings
from airflow_adf_trigger.core.errors import AdfConfigurationError, AdfError
from airflow_adf_trigger.core.runs.models import ActivityRun, PipelineRun, RunStatus
from airflow_adf_trigger.core.runs.outcome import RunOutcome
from airflow_adf_trigger.core.wire.client import AdfClient
from airflow_adf_trigger.core.wire.protocol import RerunOptions

if TYPE_CHECKING:
    from airflow_adf_trigger.core.wire.aio import AsyncAdfClient

__all__ = [
    "AdfHook",
    "AzureDataFactoryHook",
    "AzureDataFactoryPipelineRunException",
    "AzureDataFactoryPipelineRunStatus",
    "CreateRunResponse",
]


class AzureDataFactoryPipelineRunStatus:
    """The run statuses under the official provider's names (plain strings)."""

    QUEUED = RunStatus.QUEUED.value
    IN_PROGRESS = RunStatus.IN_PROGRESS.value
    SUCCEEDED = RunStatus.SUCCEEDED.value
    FAILED = RunStatus.FAILED.value
    CANCELING = RunStatus.CANCELING.value
    CANCELLED = RunStatus.CANCELLED.value

    TERMINAL_STATUSES: ClassVar[set[str]] = {CANCELLED, FAILED, SUCCEEDED}
    INTERMEDIATE_STATES: ClassVar[set[str]] = {QUEUED, IN_PROGRESS, CANCELING}
    FAILURE_STATES: ClassVar[set[str]] = {FAILED, CANCELLED}


class AzureDataFactoryPipelineRunException(AirflowException):
    """A pipeline run did not reach the awaited status in time (the official name)."""


@dataclass(frozen=True, slots=True)
class CreateRunResponse:
    """What :meth:`AdfHook.run_pipeline` returns: the new run's id, as ``.run_id``."""

    run_id: str


_RUN_OPTIONS = ("parameters", *RerunOptions.__annotations__)


class AdfHook(BaseHook):
    """Talk to Azure Data Factory with the credentials of an ``adf`` connection.

    :param adf_conn_id: the connection (login = client id, password = client secret,
        extras ``tenant_id``, ``subscription_id``, and optionally ``resource_group``,
        ``factory_name``). A connection of the official provider's ``azure_data_factory``
        type works too.
    :param resource_group: use this resource group instead of the connection's (needed when
        the connection names none).
    :param factory_name: use this factory instead of the connection's (likewise).
    :param sleep: how the client waits between checks and before retries (default
        ``time.sleep``); the operator passes one that a kill interrupts.
    :param clock: the clients' clock (default ``time.time``; tests pass a fake one).
    """

    conn_name_attr = "adf_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "Azure Data Factory (airflow-adf-trigger)"
    _factory_given_by = "the task"
    """Where a missing resource group or factory name could have been given, for errors."""

    def __init__(
        self,
        adf_conn_id: str = default_conn_name,
        *,
        resource_group: str | None = None,
        factory_name: str | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.adf_conn_id = adf_conn_id
        self.resource_group = resource_group
        self.factory_name = factory_name
        self._sleep = sleep
        self._clock = clock
        self._clients: dict[tuple[str, str], AdfClient] = {}

    @property
    def conn_id(self) -> str:
        """The connection's id (the official hook's attribute name)."""
        return self.adf_conn_id

    def __repr__(self) -> str:
        return f"AdfHook(adf_conn_id={self.adf_conn_id!r})"

    @cached_property
    def settings(self) -> AdfSettings:
        """The connection with this hook's resource group and factory merged in, validated
        together; raises before any request when a field is wrong or missing."""
        return self._settings()

    async def async_settings(self) -> AdfSettings:
        """The same, read without blocking the triggerer's event loop."""
        return self._settings(await read_connection_async(self, self.adf_conn_id))

    def _settings(
        self,
        read: tuple[str | None, str | None, Mapping[str, Any]] | None = None,
        *,
        require_factory: bool = True,
        resource_group: str | None = None,
        factory_name: str | None = None,
    ) -> AdfSettings:
        """The connection (``read``: its login, password and extras; else read now) with the
        factory merged in: a call's names, else this hook's."""
        if read is None:
            conn = self.get_connection(self.adf_conn_id)
            read = (conn.login, conn.password, conn.extra_dejson)
        return settings_for_task(
            *read,
            resource_group=resource_group or self.resource_group,
            factory_name=factory_name or self.factory_name,
            conn_id=self.adf_conn_id,
            require_factory=require_factory,
            given_by=self._factory_given_by,
        )

    @cached_property
    def client(self) -> AdfClient:
        return self._new_client(self.settings)

    def _new_client(self, settings: AdfSettings) -> AdfClient:
        return AdfClient(settings, sleep=self._sleep or time.sleep, clock=self._clock)

    def get_conn(self) -> AdfClient:
        return self.client

    async def async_client(self) -> AsyncAdfClient:
        """A new asyncio client (for triggers); the caller closes it."""
        from airflow_adf_trigger.core.wire.aio import AsyncAdfClient

        return AsyncAdfClient(await self.async_settings())

    def monitoring_url(self, run_id: str | None = None) -> str:
        """ADF Studio's page of the run, or of the factory's runs before a run exists."""
        return self.settings.factory.monitoring_url(self.settings.cloud, run_id)

    def run_outcome(self, run: PipelineRun) -> RunOutcome:
        """A finished run's outcome; for a Failed one, with the failed activities' own errors
        (the run's message alone when they cannot be read)."""
        failures: list[ActivityRun] = []
        if run.status is RunStatus.FAILED:
            try:
                failures = self.client.failure_details(run)
            except AdfError as error:
                self.log.warning(
                    "Could not read the failed activities of run %s: %s", run.run_id, error
                )
        return RunOutcome.of_run(run, failures, run_page_url=self.monitoring_url(run.run_id))

    def test_connection(self) -> tuple[bool, str]:
        """The UI's Test button (the doctor's cheap checks): sign in and read the factory; for
        a connection that leaves the factory to its tasks, sign in and check the subscription."""
        from airflow_adf_trigger.core.doctor import diagnose

        try:
            settings = self._settings(require_factory=False)
            client = self.client if settings.factory_ref else None
            report = diagnose(settings, client=client, quick=True)
        except (AdfError, ValueError) as error:  # settings that cannot be read
            return False, str(error)
        failed = [check for check in report.checks if check.status == "fail"]
        if failed:
            return False, failed[0].detail
        if settings.factory_ref is None:
            found = "; ".join(c.detail for c in report.checks if c.name == "subscription")
            return True, (
                f"Signed in; {found}. This connection names no data factory: each task "
                "chooses it (factory_name and resource_group, or resource_group_name)."
            )
        return True, f"Signed in and found data factory {settings.factory.factory_name!r}."

    # ------------------------------------------------------------ the official hook's methods
    # Same names, arguments and return shapes where the meaning is the same; each call may
    # name another factory (resource_group_name, factory_name), merged like a task's.

    def refresh_conn(self) -> AdfClient:
        """Read the connection again and return a new client."""
        for client in (self.__dict__.pop("client", None), *self._clients.values()):
            if client is not None:
                client.close()
        self._clients.clear()
        self.__dict__.pop("settings", None)
        return self.client

    def _client_for(self, resource_group_name: str | None, factory_name: str | None) -> AdfClient:
        """The client of this hook's factory, or of the one a call names."""
        if not resource_group_name and not factory_name:
            return self.client
        settings = self._settings(resource_group=resource_group_name, factory_name=factory_name)
        key = (settings.factory.resource_group, settings.factory.factory_name)
        if key not in self._clients:
            self._clients[key] = self._new_client(settings)
        return self._clients[key]

    def get_factory(
        self, resource_group_name: str | None = None, factory_name: str | None = None
    ) -> dict[str, Any]:
        """The factory's ARM resource, as its JSON (the official hook returns an SDK model)."""
        return self._client_for(resource_group_name, factory_name).get_factory()

    def get_pipeline(
        self,
        pipeline_name: str,
        resource_group_name: str | None = None,
        factory_name: str | None = None,
    ) -> dict[str, Any]:
        """The pipeline's ARM resource, as its JSON (the official hook returns an SDK model)."""
        client = self._client_for(resource_group_name, factory_name)
        from airflow_adf_trigger.core.wire import operations

        return client.drive(operations.get_pipeline(client.settings, pipeline_name))

    def run_pipeline(
        self,
        pipeline_name: str,
        resource_group_name: str | None = None,
        factory_name: str | None = None,
        **config: Any,
    ) -> CreateRunResponse:
        """Start a run; ``.run_id`` of the answer is its id.

        :param config: ``parameters``, ``reference_pipeline_run_id``, ``is_recovery``,
            ``start_activity_name``, ``start_from_failure`` (the Azure SDK's names).
        :raises AdfConfigurationError: another keyword, before any request.
        """
        unknown = sorted(set(config) - set(_RUN_OPTIONS))
        if unknown:
            raise AdfConfigurationError(
                unknown[0],
                "is not an option of run_pipeline",
                f"use only {', '.join(_RUN_OPTIONS)}",
            )
        options = {key: value for key, value in config.items() if key != "parameters"}
        client = self._client_for(resource_group_name, factory_name)
        run_id = client.create_run(pipeline_name, config.get("parameters"), **options)
        return CreateRunResponse(run_id=run_id)

    def get_pipeline_run(
        self, run_id: str, resource_group_name: str | None = None, factory_name: str | None = None
    ) -> PipelineRun:
        """The run now: ``.run_id``, ``.pipeline_name``, ``.status`` (compares equal to
        ``"Succeeded"`` and the like), ``.message``, ``.run_start``, ``.run_end``,
        ``.parameters``, ``.run_group_id``, ``.is_latest``, ``.last_updated``."""
        return self._client_for(resource_group_name, factory_name).get_run(run_id)

    def get_pipeline_run_status(
        self, run_id: str, resource_group_name: str | None = None, factory_name: str | None = None
    ) -> str:
        """The run's status now, e.g. ``"InProgress"``."""
        self.log.info("Getting the status of run ID %s.", run_id)
        status = self.get_pipeline_run(run_id, resource_group_name, factory_name).status.value
        self.log.info("Current status of pipeline run %s: %s", run_id, status)
        return status

    def wait_for_pipeline_run_status(
        self,
        run_id: str,
        expected_statuses: str | set[str],
        resource_group_name: str | None = None,
        factory_name: str | None = None,
        check_interval: float = 60,
        timeout: float = 60 * 60 * 24 * 7,
    ) -> bool:
        """Wait until the run is in one of ``expected_statuses`` or has ended.

        A status given as one string is one status (never matched as a substring).

        :return: whether the run reached an expected status (``False``: it ended otherwise).
        :raises AzureDataFactoryPipelineRunException: neither happened within ``timeout``.
        """
        from airflow_adf_trigger.core.errors import AdfWaitTimeoutError

        expected = (
            {expected_statuses} if isinstance(expected_statuses, str) else set(expected_statuses)
        )
        client = self._client_for(resource_group_name, factory_name)
        self.log.info("Getting the status of run ID %s.", run_id)
        try:
            run = client.wait_for_run(
                run_id,
                poll_interval=check_interval,
                timeout=timeout,
                until=[status for status in RunStatus if status.value in expected],
                on_poll=lambda run: self.log.info(
                    "Current status of pipeline run %s: %s", run_id, run.status.value
                ),
            )
        except AdfWaitTimeoutError:
            raise AzureDataFactoryPipelineRunException(
                f"Pipeline run {run_id} has not reached a terminal status after "
                f"{timeout:g} seconds."
            ) from None
        return run.status.value in expected

    def cancel_pipeline_run(
        self,
        run_id: str,
        resource_group_name: str | None = None,
        factory_name: str | None = None,
        *,
        is_recursive: bool = True,
    ) -> None:
        """Cancel the run and, unless ``is_recursive=False``, the pipelines it started (the
        official hook leaves those running unless asked)."""
        client = self._client_for(resource_group_name, factory_name)
        client.cancel_run(run_id, is_recursive=is_recursive)


class AzureDataFactoryHook(AdfHook):
    """The official provider's hook name and connection argument, for Python tasks moved by
    their imports: ``AzureDataFactoryHook(azure_data_factory_conn_id=...)``."""

    default_conn_name = "azure_data_factory_default"
    _factory_given_by = "the hook or the call"

    def __init__(self, azure_data_factory_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(azure_data_factory_conn_id, **kwargs)

    def __repr__(self) -> str:
        return f"AzureDataFactoryHook(azure_data_factory_conn_id={self.adf_conn_id!r})"
