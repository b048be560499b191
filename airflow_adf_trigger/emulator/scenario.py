"""Scenario files: which factory the emulator serves, who may sign in, how runs end."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TERMINAL_OUTCOMES = ("Succeeded", "Failed", "Cancelled")


class ScenarioError(ValueError):
    """The scenario file is malformed; the message names the field."""


@dataclass(frozen=True, slots=True)
class ServicePrincipal:
    client_id: str
    client_secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class PipelineSpec:
    """How every run of one pipeline plays out."""

    name: str
    queued_seconds: float = 0.2
    duration_seconds: float = 1.0
    outcome: str = "Succeeded"
    message: str = ""
    failed_activity: str = "Copy data"
    parameters: tuple[str, ...] | None = None
    """Declared parameter names; ``None`` accepts any parameter."""

    @classmethod
    def from_json(cls, name: str, body: Mapping[str, Any]) -> PipelineSpec:
        outcome = str(body.get("outcome", "Succeeded"))
        if outcome not in TERMINAL_OUTCOMES:
            raise ScenarioError(
                f"pipelines.{name}.outcome: {outcome!r} is not one of {TERMINAL_OUTCOMES}"
            )
        declared = body.get("parameters")
        message = str(body.get("message") or "")
        if outcome == "Failed" and not message:
            message = f"Operation on target {body.get('failed_activity', 'Copy data')} failed"
        return cls(
            name=name,
            queued_seconds=_seconds(body, "queued_seconds", 0.2, name),
            duration_seconds=_seconds(body, "duration_seconds", 1.0, name),
            outcome=outcome,
            message=message,
            failed_activity=str(body.get("failed_activity", "Copy data")),
            parameters=None if declared is None else tuple(str(p) for p in declared),
        )


@dataclass(frozen=True, slots=True)
class Scenario:
    """Everything the emulator serves. Load it with :meth:`load` or :meth:`from_json`."""

    tenant_id: str
    subscription_id: str
    resource_group: str
    factory_name: str
    service_principals: tuple[ServicePrincipal, ...]
    pipelines: Mapping[str, PipelineSpec]
    token_lifetime_seconds: int = 3599

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            body = yaml.safe_load(text)
        else:
            body = json.loads(text)
        return cls.from_json(body)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Scenario:
        for key in ("tenant_id", "subscription_id", "resource_group", "factory_name"):
            if not body.get(key):
                raise ScenarioError(f"{key}: missing from the scenario")
        principals = tuple(
            ServicePrincipal(str(p["client_id"]), str(p["client_secret"]))
            for p in body.get("service_principals") or []
        )
        if not principals:
            raise ScenarioError("service_principals: list at least one client_id/client_secret")
        pipelines = {
            str(name): PipelineSpec.from_json(str(name), spec or {})
            for name, spec in (body.get("pipelines") or {}).items()
        }
        return cls(
            tenant_id=str(body["tenant_id"]),
            subscription_id=str(body["subscription_id"]).lower(),
            resource_group=str(body["resource_group"]),
            factory_name=str(body["factory_name"]),
            service_principals=principals,
            pipelines=pipelines,
            token_lifetime_seconds=int(body.get("token_lifetime_seconds", 3599)),
        )

    def airflow_connection(self, base_url: str, principal: int = 0) -> dict[str, Any]:
        """An ``adf`` Airflow connection (JSON form) that points at an emulator at base_url."""
        sp = self.service_principals[principal]
        return {
            "conn_type": "adf",
            "login": sp.client_id,
            "password": sp.client_secret,
            "extra": {
                "tenant_id": self.tenant_id,
                "subscription_id": self.subscription_id,
                "resource_group": self.resource_group,
                "factory_name": self.factory_name,
                "authority_host": base_url,
                "management_endpoint": base_url,
            },
        }


def _seconds(body: Mapping[str, Any], key: str, default: float, pipeline: str) -> float:
    value = float(body.get(key, default))
    if value < 0:
        raise ScenarioError(f"pipelines.{pipeline}.{key}: must not be negative")
    return value
