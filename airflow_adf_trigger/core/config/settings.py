"""Validated client settings: who signs in, to which cloud, and which factory is addressed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Literal
from urllib.parse import quote

from airflow_adf_trigger.core.config.clouds import PUBLIC, Cloud, resolve_cloud
from airflow_adf_trigger.core.config.validation import (
    check_factory,
    check_guid,
    check_number,
    check_resource_group,
    check_subscription,
    check_tenant,
    require,
)
from airflow_adf_trigger.core.errors import AdfConfigurationError

TokenApi = Literal["v2", "v1"]

IDENTITY_KINDS = ("default", "managed_identity", "workload_identity", "azure_cli", "environment")
"""azure-identity credentials usable instead of a client secret."""

_FACTORY_ID = "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.DataFactory/factories/{}"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to retry a request: bounded both by attempts and by total time."""

    max_attempts: int = 5
    max_total_seconds: float = 120.0
    backoff_base: float = 1.0
    backoff_max: float = 30.0

    @classmethod
    def create(cls, max_attempts: object = None, max_total_seconds: object = None) -> RetryPolicy:
        """A policy from raw values (connection fields, flags).

        :param max_attempts: tries of one request, 1 (no retry) or more; empty: 5.
        :param max_total_seconds: the time budget of one request's retries; empty: 120.
        :raises AdfConfigurationError: naming the bad value.
        """
        defaults = cls()
        attempts = (
            defaults.max_attempts
            if max_attempts in (None, "")
            else _number("retry_max_attempts", max_attempts, int)
        )
        seconds = (
            defaults.max_total_seconds
            if max_total_seconds in (None, "")
            else _number("retry_max_seconds", max_total_seconds, float)
        )
        if attempts < 1:
            raise AdfConfigurationError(
                "retry_max_attempts", f"{max_attempts!r} is below 1", "use 1 (no retry) or more"
            )
        if seconds < 0:
            raise AdfConfigurationError(
                "retry_max_seconds", f"{max_total_seconds!r} is negative", "use seconds >= 0"
            )
        return cls(max_attempts=int(attempts), max_total_seconds=float(seconds))


class Secret:
    """A credential that shows itself only when asked: never in ``repr``, ``str`` or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself: only for the request that needs it."""
        return self._value

    def fingerprint(self) -> str:
        """A one-way digest, to tell two secrets apart without keeping either in a key."""
        return hashlib.sha256(self._value.encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class FactoryRef:
    """Which data factory requests go to."""

    subscription_id: str
    resource_group: str
    factory_name: str

    @classmethod
    def create(cls, subscription_id: str, resource_group: str, factory_name: str) -> FactoryRef:
        """A validated factory reference; an error names the bad field."""
        return cls(
            subscription_id=check_subscription(subscription_id),
            resource_group=check_resource_group(resource_group),
            factory_name=check_factory(factory_name),
        )

    @property
    def resource_id(self) -> str:
        """The factory's ARM resource id."""
        return _FACTORY_ID.format(self.subscription_id, self.resource_group, self.factory_name)

    def monitoring_url(self, cloud: Cloud, run_id: str | None = None) -> str:
        """ADF Studio's page for a run, or the factory's run list before a run exists."""
        return studio_url(cloud, run_id, self.resource_id)


def studio_url(cloud: Cloud, run_id: str | None = None, factory_id: str | None = None) -> str:
    """ADF Studio's monitoring page of a run (or of the run list), in the factory when named."""
    page = f"pipelineruns/{quote(run_id, safe='')}" if run_id else "pipelineruns"
    url = f"https://{cloud.studio_host}/en-us/monitoring/{page}"
    return f"{url}?factory={quote(factory_id, safe='/')}" if factory_id else url


@dataclass(frozen=True, slots=True)
class AdfSettings:
    """Everything an :class:`~airflow_adf_trigger.core.wire.client.AdfClient` needs."""

    tenant_id: str | None
    """``None`` only without a client secret: azure-identity then finds the tenant itself."""
    client_id: str | None
    client_secret: Secret | None = field(repr=False)
    """``None``: sign in with the azure-identity credential named by ``identity``."""
    subscription_id: str
    factory_ref: FactoryRef | None
    """``None`` only in credential-only settings (``require_factory=False``): a connection
    that leaves the factory to each task, checked by the Test button."""
    cloud: Cloud = PUBLIC
    token_api: TokenApi = "v2"
    request_timeout: float = 30.0
    retry: RetryPolicy = RetryPolicy()
    identity: str | None = None
    """One of :data:`IDENTITY_KINDS` when there is no client secret."""
    managed_identity_client_id: str | None = None
    """A user-assigned managed identity's client id (the official connection's extra)."""
    workload_identity_tenant_id: str | None = None
    """The tenant of a workload identity, when not ``tenant_id`` (the official extra)."""

    @property
    def factory(self) -> FactoryRef:
        """The factory requests go to.

        :raises AdfConfigurationError: these are credential-only settings (no factory named).
        """
        if self.factory_ref is None:
            raise AdfConfigurationError(
                "resource_group",
                "is missing, and so is factory_name",
                "name the data factory (its resource group and name) before addressing it",
            )
        return self.factory_ref

    @property
    def credential_label(self) -> str:
        """Who signs in, for messages: the client id, or the azure-identity credential."""
        if self.client_secret is not None:
            return f"service principal {self.client_id}"
        return f"azure-identity {self.identity} credential"

    @classmethod
    def create(
        cls,
        *,
        tenant_id: str | None,
        client_id: str | None,
        client_secret: str | Secret | None,
        subscription_id: str | None,
        resource_group: str | None,
        factory_name: str | None,
        cloud: str | None = None,
        authority_host: str | None = None,
        management_endpoint: str | None = None,
        token_api: str | None = None,
        request_timeout: object = None,
        retry_max_attempts: object = None,
        retry_max_seconds: object = None,
        identity: str | None = None,
        managed_identity_client_id: str | None = None,
        workload_identity_tenant_id: str | None = None,
        require_factory: bool = True,
    ) -> AdfSettings:
        """Validate raw values (from a connection, the environment or flags) into settings.

        Without a client secret, an azure-identity credential signs in: ``identity`` names
        which (default: ``DefaultAzureCredential``).

        :param tenant_id: the directory (tenant) id: a GUID or a domain; optional without a
            client secret (azure-identity finds it).
        :param client_id: the application (client) id; optional with an ``identity``.
        :param client_secret: the client secret's *value*; ``None`` signs in with ``identity``.
        :param subscription_id: the subscription (GUID) that holds the factory.
        :param resource_group: the factory's resource group.
        :param factory_name: the factory's name.
        :param cloud: ``public`` (default), ``china`` or ``usgov``; see
            :func:`~airflow_adf_trigger.core.config.clouds.resolve_cloud`.
        :param authority_host: another sign-in endpoint (private link, the emulator).
        :param management_endpoint: another Resource Manager endpoint.
        :param token_api: ``v2`` (default) or the older ``v1`` token endpoint.
        :param request_timeout: seconds one HTTP request may take (default 30).
        :param retry_max_attempts: tries of one read on throttling or transient errors (5).
        :param retry_max_seconds: the time budget of one request's retries (120).
        :param identity: the azure-identity credential to sign in with when there is no
            secret: one of :data:`IDENTITY_KINDS`.
        :param managed_identity_client_id: without a secret, the client id of a
            user-assigned managed identity (instead of ``client_id``).
        :param workload_identity_tenant_id: without a secret, the workload identity's tenant
            (instead of ``tenant_id``).
        :param require_factory: ``False`` accepts settings without a resource group or factory
            name (credentials and subscription only: sign-in and subscription checks); the
            names given are still validated.
        :raises AdfConfigurationError: naming the first missing or malformed field.
        """
        secret = client_secret if isinstance(client_secret, Secret) else None
        if client_secret and secret is None:
            secret = Secret(str(client_secret))
        kind: str | None = None
        if secret is None:
            kind = (identity or "default").strip().lower()
            if kind not in IDENTITY_KINDS:
                raise AdfConfigurationError(
                    "identity",
                    f"{identity!r} is not a supported credential",
                    f"use one of {', '.join(IDENTITY_KINDS)}, or set the client secret *value* "
                    "of the app registration (Certificates & secrets), not its secret ID",
                )
        elif identity:
            raise AdfConfigurationError(
                "identity",
                f"{identity!r} was given together with a client secret",
                "leave the client secret empty to sign in with an azure-identity credential",
            )
        api = (token_api or "v2").lower()
        if api not in ("v1", "v2"):
            raise AdfConfigurationError(
                "token_api", f"{token_api!r} is not a token endpoint version", "use v2 or v1"
            )
        timeout = (
            30.0 if request_timeout is None else _number("request_timeout", request_timeout, float)
        )
        if timeout <= 0:
            raise AdfConfigurationError(
                "request_timeout", f"{request_timeout!r} is not positive", "use seconds > 0"
            )
        tenant = check_tenant(tenant_id) if secret is not None or _given(tenant_id) else None
        if secret is not None:
            client: str | None = require(
                "client_id", client_id, "set the Application (client) ID of the app registration"
            )
        else:
            client = (client_id or "").strip() or None
        subscription = check_subscription(subscription_id)
        factory: FactoryRef | None = None
        if require_factory or (_given(resource_group) and _given(factory_name)):
            factory = FactoryRef.create(subscription, resource_group or "", factory_name or "")
        else:  # credential-only: check what is given, address no factory
            if _given(resource_group):
                check_resource_group(resource_group)
            if _given(factory_name):
                check_factory(factory_name)
        return cls(
            tenant_id=tenant,
            client_id=client,
            client_secret=secret,
            subscription_id=subscription,
            factory_ref=factory,
            cloud=resolve_cloud(
                cloud, authority_host=authority_host, management_endpoint=management_endpoint
            ),
            token_api="v1" if api == "v1" else "v2",
            request_timeout=timeout,
            retry=RetryPolicy.create(retry_max_attempts, retry_max_seconds),
            identity=kind,
            managed_identity_client_id=check_guid(
                "managed_identity_client_id",
                managed_identity_client_id,
                "give the managed identity's client id (a GUID), or leave it empty",
            )
            if _given(managed_identity_client_id)
            else None,
            workload_identity_tenant_id=check_tenant(
                workload_identity_tenant_id, "workload_identity_tenant_id"
            )
            if _given(workload_identity_tenant_id)
            else None,
        )

    def with_factory(
        self, *, resource_group: str | None = None, factory_name: str | None = None
    ) -> AdfSettings:
        """The same credentials, pointed at another factory (per-task overrides).

        :raises AdfConfigurationError: a name is malformed, or these settings name no factory
            and only one of the two is given.
        """
        if not resource_group and not factory_name:
            return self
        current = self.factory_ref
        factory = FactoryRef.create(
            self.subscription_id,
            resource_group or (current.resource_group if current else ""),
            factory_name or (current.factory_name if current else ""),
        )
        return replace(self, factory_ref=factory)


def _given(value: object) -> bool:
    return value is not None and bool(str(value).strip())


def _number(field: str, value: object, kind: type[int] | type[float]) -> float:
    """A finite number from a connection field, flag or variable, naming ``field`` if not."""
    fix = f"use a finite {'whole number' if kind is int else 'number'} such as 30"
    number = check_number(field, value, fix, whole=kind is int)
    return int(number) if kind is int else number
