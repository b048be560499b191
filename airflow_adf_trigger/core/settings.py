"""Validated client settings: who signs in, to which cloud, and which factory is addressed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Literal

from airflow_adf_trigger.core.clouds import PUBLIC, Cloud, resolve_cloud
from airflow_adf_trigger.core.errors import AdfConfigurationError
from airflow_adf_trigger.core.validation import (
    check_factory,
    check_resource_group,
    check_subscription,
    check_tenant,
    require,
)

TokenApi = Literal["v2", "v1"]


class Secret:
    """A credential that shows itself only when asked: never in ``repr``, ``str`` or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
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
        return cls(
            subscription_id=check_subscription(subscription_id),
            resource_group=check_resource_group(resource_group),
            factory_name=check_factory(factory_name),
        )

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.DataFactory/factories/{self.factory_name}"
        )


@dataclass(frozen=True, slots=True)
class AdfSettings:
    """Everything an :class:`~airflow_adf_trigger.core.client.AdfClient` needs."""

    tenant_id: str
    client_id: str
    client_secret: Secret = field(repr=False)
    factory: FactoryRef
    cloud: Cloud = PUBLIC
    token_api: TokenApi = "v2"
    request_timeout: float = 30.0

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
        request_timeout: float | None = None,
    ) -> AdfSettings:
        """Validate raw values (from a connection, the environment or flags) into settings."""
        if isinstance(client_secret, Secret):
            secret = client_secret
        else:
            secret = Secret(
                require(
                    "client_secret",
                    client_secret,
                    "set the client secret *value* of the app registration "
                    "(Certificates & secrets), not its secret ID",
                )
            )
        api = (token_api or "v2").lower()
        if api not in ("v1", "v2"):
            raise AdfConfigurationError(
                "token_api", f"{token_api!r} is not a token endpoint version", "use v2 or v1"
            )
        timeout = 30.0 if request_timeout is None else float(request_timeout)
        if timeout <= 0:
            raise AdfConfigurationError(
                "request_timeout", f"{request_timeout!r} is not positive", "use seconds > 0"
            )
        return cls(
            tenant_id=check_tenant(tenant_id),
            client_id=require(
                "client_id",
                client_id,
                "set the Application (client) ID of the app registration",
            ),
            client_secret=secret,
            factory=FactoryRef.create(
                subscription_id or "", resource_group or "", factory_name or ""
            ),
            cloud=resolve_cloud(
                cloud, authority_host=authority_host, management_endpoint=management_endpoint
            ),
            token_api="v1" if api == "v1" else "v2",
            request_timeout=timeout,
        )

    def with_factory(
        self, *, resource_group: str | None = None, factory_name: str | None = None
    ) -> AdfSettings:
        """The same credentials, pointed at another factory (per-task overrides)."""
        if not resource_group and not factory_name:
            return self
        factory = FactoryRef.create(
            self.factory.subscription_id,
            resource_group or self.factory.resource_group,
            factory_name or self.factory.factory_name,
        )
        return replace(self, factory=factory)
