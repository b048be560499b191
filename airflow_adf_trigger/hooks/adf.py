"""AdfHook: turns an Airflow connection into a ready :class:`AdfClient`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_adf_trigger import DEFAULT_CONN_ID
from airflow_adf_trigger.compat import BaseHook, read_connection_async
from airflow_adf_trigger.core.client import AdfClient
from airflow_adf_trigger.core.connection import CONN_TYPE, settings_for_task
from airflow_adf_trigger.core.errors import AdfError
from airflow_adf_trigger.core.models import ActivityRun, PipelineRun, RunStatus
from airflow_adf_trigger.core.outcome import RunOutcome
from airflow_adf_trigger.core.settings import AdfSettings

if TYPE_CHECKING:
    from airflow_adf_trigger.core.aio import AsyncAdfClient


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
    """

    conn_name_attr = "adf_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "Azure Data Factory (airflow-adf-trigger)"

    def __init__(
        self,
        adf_conn_id: str = default_conn_name,
        *,
        resource_group: str | None = None,
        factory_name: str | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__()
        self.adf_conn_id = adf_conn_id
        self.resource_group = resource_group
        self.factory_name = factory_name
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"AdfHook(adf_conn_id={self.adf_conn_id!r})"

    @cached_property
    def settings(self) -> AdfSettings:
        """The connection with this hook's resource group and factory merged in, validated
        together; raises before any request when a field is wrong or missing."""
        conn = self.get_connection(self.adf_conn_id)
        return self._settings(conn.login, conn.password, conn.extra_dejson)

    async def async_settings(self) -> AdfSettings:
        """The same, read without blocking the triggerer's event loop."""
        return self._settings(*await read_connection_async(self, self.adf_conn_id))

    def _settings(
        self,
        login: str | None,
        password: str | None,
        extra: Mapping[str, Any],
        *,
        require_factory: bool = True,
    ) -> AdfSettings:
        return settings_for_task(
            login,
            password,
            extra,
            resource_group=self.resource_group,
            factory_name=self.factory_name,
            conn_id=self.adf_conn_id,
            require_factory=require_factory,
        )

    @cached_property
    def client(self) -> AdfClient:
        if self._sleep is None:
            return AdfClient(self.settings)
        return AdfClient(self.settings, sleep=self._sleep)

    def get_conn(self) -> AdfClient:
        return self.client

    async def async_client(self) -> AsyncAdfClient:
        """A new asyncio client (for triggers); the caller closes it."""
        from airflow_adf_trigger.core.aio import AsyncAdfClient

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
            conn = self.get_connection(self.adf_conn_id)
            settings = self._settings(
                conn.login, conn.password, conn.extra_dejson, require_factory=False
            )
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
