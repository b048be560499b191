"""Scenario files: which factory the emulator serves, who may sign in, how runs end."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from airflow_adf_trigger.emulator.faults import FaultSpec, parse_faults

TERMINAL_OUTCOMES = ("Succeeded", "Failed", "Cancelled")
DEFAULT_ACTIVITY = "Copy data"
DEFAULT_ERROR_CODE = "2200"
DEFAULT_PAGE_SIZE = 100
CANCEL_FINISHED_ANSWERS = ("error", "ok")
_Entry = TypeVar("_Entry")


class ScenarioError(ValueError):
    """The scenario file is malformed; the message names the field."""


@dataclass(frozen=True, slots=True)
class ServicePrincipal:
    """An app registration that may sign in; ``secret_expired`` makes AAD answer AADSTS7000222."""

    client_id: str
    client_secret: str = field(repr=False)
    secret_expired: bool = False


@dataclass(frozen=True, slots=True)
class ActivitySpec:
    """One activity of a pipeline; ``duration_seconds`` None takes a share of the pipeline's."""

    name: str
    type: str = "Copy"
    duration_seconds: float | None = None
    output: Mapping[str, Any] | None = None
    """The activity run's ``output`` once it succeeded (scripted); ``{}`` when not given."""


@dataclass(frozen=True, slots=True)
class OutcomeSpec:
    """How one run ends; a None message or error code falls back to the pipeline's."""

    status: str
    message: str | None = None
    error_code: str | None = None


@dataclass(frozen=True, slots=True)
class PipelineSpec:
    """How the runs of one pipeline play out: timing, activities and scripted outcomes."""

    name: str
    queued_seconds: float = 0.2
    duration_seconds: float = 1.0
    outcome: str = "Succeeded"
    message: str = ""
    failed_activity: str = DEFAULT_ACTIVITY
    parameters: tuple[str, ...] | None = None
    """Declared parameter names; ``None`` accepts any parameter."""
    outcomes: tuple[OutcomeSpec, ...] = ()
    """Outcome of the n-th run (the last one repeats); empty means ``outcome`` every time."""
    activities: tuple[ActivitySpec, ...] = ()
    """Activities run one after the other; empty means one Copy activity ``failed_activity``."""
    cancel_seconds: float = 0.5
    error_code: str = DEFAULT_ERROR_CODE

    @classmethod
    def from_json(cls, name: str, body: Mapping[str, Any]) -> PipelineSpec:
        """Parse the ``pipelines.<name>`` entry ``body`` of a scenario file."""
        if not isinstance(body, Mapping):
            raise ScenarioError(f"pipelines.{name}: must be an object")
        if "outcome" in body and "outcomes" in body:
            raise ScenarioError(f"pipelines.{name}: give either outcome or outcomes, not both")
        outcome = _outcome_status(body.get("outcome", "Succeeded"), f"pipelines.{name}.outcome")
        failed_activity = str(body.get("failed_activity", DEFAULT_ACTIVITY))
        declared = body.get("parameters")
        return cls(
            name=name,
            queued_seconds=_seconds(body, "queued_seconds", 0.2, name),
            duration_seconds=_seconds(body, "duration_seconds", 1.0, name),
            outcome=outcome,
            message=str(body.get("message") or ""),
            failed_activity=failed_activity,
            parameters=None if declared is None else tuple(str(p) for p in declared),
            outcomes=_entries(name, "outcomes", body.get("outcomes"), _outcome),
            activities=_activities(name, body.get("activities")),
            cancel_seconds=_seconds(body, "cancel_seconds", 0.5, name),
            error_code=str(body.get("error_code", DEFAULT_ERROR_CODE)),
        )

    def outcome_for(self, ordinal: int) -> OutcomeSpec:
        """The scripted end of run number ``ordinal`` (0-based) of this pipeline.

        A message left out falls back to the pipeline's ``message`` (for a list of outcomes:
        only on Failed and Cancelled ones); a Failed run without any gets ADF's default.
        """
        if not self.outcomes:
            return OutcomeSpec(self.outcome, self.message or None)
        chosen = self.outcomes[min(ordinal, len(self.outcomes) - 1)]
        if chosen.message is None and chosen.status != "Succeeded" and self.message:
            return OutcomeSpec(chosen.status, self.message, chosen.error_code)
        return chosen

    def activity_plan(self) -> tuple[tuple[ActivitySpec, float], ...]:
        """Every activity with its duration; unset durations share what the others leave."""
        activities = self.activities or (ActivitySpec(self.failed_activity, "Copy"),)
        given = sum(a.duration_seconds for a in activities if a.duration_seconds is not None)
        unset = sum(1 for a in activities if a.duration_seconds is None)
        share = max(self.duration_seconds - given, 0.0) / unset if unset else 0.0
        return tuple(
            (a, share if a.duration_seconds is None else a.duration_seconds) for a in activities
        )


@dataclass(frozen=True, slots=True)
class TriggerSpec:
    """One of the factory's own triggers: starts runs of a pipeline, as ADF's triggers do.

    ``every_seconds`` fires it on a schedule (first after ``first_after_seconds``, default one
    period, on the emulator's clock); without it the trigger fires only when asked
    (``POST /_emulator/triggers/{name}/fire``), like "Trigger now" in ADF Studio.
    """

    name: str
    pipeline: str
    type: str = "ScheduleTrigger"
    parameters: Mapping[str, Any] = field(default_factory=dict)
    every_seconds: float | None = None
    first_after_seconds: float | None = None

    @classmethod
    def from_json(
        cls, index: int, body: Mapping[str, Any], pipelines: Sequence[str]
    ) -> TriggerSpec:
        """Parse the ``triggers[index]`` entry ``body``; its pipeline must be in ``pipelines``."""
        where = f"triggers[{index}]"
        if not isinstance(body, Mapping) or not body.get("name") or not body.get("pipeline"):
            raise ScenarioError(f"{where}: needs a name and a pipeline")
        if str(body["pipeline"]) not in pipelines:
            raise ScenarioError(f"{where}.pipeline: {body['pipeline']!r} is not in pipelines")
        parameters = body.get("parameters") or {}
        if not isinstance(parameters, Mapping):
            raise ScenarioError(f"{where}.parameters: must be an object")
        every = body.get("every_seconds")
        first = body.get("first_after_seconds")
        if every is not None and not float(every) > 0:
            raise ScenarioError(f"{where}.every_seconds: must be positive")
        if first is not None and float(first) < 0:
            raise ScenarioError(f"{where}.first_after_seconds: must not be negative")
        return cls(
            name=str(body["name"]),
            pipeline=str(body["pipeline"]),
            type=str(body.get("type", "ScheduleTrigger")),
            parameters=dict(parameters),
            every_seconds=None if every is None else float(every),
            first_after_seconds=None if first is None else float(first),
        )


RATE_LIMIT_MODELS = ("hourly", "token_bucket")


def is_count(value: object) -> bool:
    """Whether ``value`` is a positive integer (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def is_seconds(value: object) -> bool:
    """Whether ``value`` is a finite, non-negative number of seconds (not a bool)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def check_settings(settings: Mapping[str, object]) -> None:
    """Refuse, naming it, a setting the emulator can also change while it runs (see
    ``EmulatorSettings``): ``monitoring_lag_seconds`` is seconds, the others counts."""
    for key, value in settings.items():
        if key == "monitoring_lag_seconds" and not is_seconds(value):
            raise ScenarioError(f"{key}: must be a number of seconds, 0 or more")
        if key != "monitoring_lag_seconds" and not is_count(value):
            raise ScenarioError(f"{key}: must be a positive integer")


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
    page_size: int = DEFAULT_PAGE_SIZE
    """How many runs one query answer holds before it hands out a continuation token."""
    monitoring_lag_seconds: float = 0.0
    """How late ``queryPipelineRuns`` shows runs: its answers are the runs as they were that
    many seconds ago on the emulator's clock, while get-run shows them now. A guess at a
    behaviour no public source bounds (see docs/emulator-fidelity.md)."""
    rate_limit_model: str = "hourly"
    """ARM's request budget: ``hourly`` (reported, never enforced) or ``token_bucket`` (250
    reads burst, 25/s refill; an empty bucket answers 429). See ``state.RateLimitBudget``."""
    faults: tuple[FaultSpec, ...] = ()
    """Faults armed when the emulator starts; see :mod:`airflow_adf_trigger.emulator.faults`."""
    triggers: tuple[TriggerSpec, ...] = ()
    """The factory's own triggers (schedules, or fired by an admin call)."""
    cancel_finished: str = "error"
    """How cancel of a finished run is answered: ``error`` (400 PipelineRunNotRunning) or
    ``ok`` (200). No public source says which ADF does; tests can try both."""

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        """Read a scenario from a file.

        :param path: a JSON file, or YAML (``.yaml``/``.yml``, needs PyYAML: the
            ``emulator`` extra).
        :raises ScenarioError: a field is malformed, naming it.
        """
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
        """Build a scenario from its parsed JSON.

        :param body: the scenario file's object (see the README's *The emulator*).
        :raises ScenarioError: a field is missing or malformed, naming it.
        """
        for key in ("tenant_id", "subscription_id", "resource_group", "factory_name"):
            if not body.get(key):
                raise ScenarioError(f"{key}: missing from the scenario")
        principals = tuple(
            ServicePrincipal(
                str(p["client_id"]),
                str(p["client_secret"]),
                secret_expired=bool(p.get("secret_expired", False)),
            )
            for p in body.get("service_principals") or []
        )
        if not principals:
            raise ScenarioError("service_principals: list at least one client_id/client_secret")
        pipelines = {
            str(name): PipelineSpec.from_json(str(name), spec or {})
            for name, spec in (body.get("pipelines") or {}).items()
        }
        page_size = body.get("page_size", DEFAULT_PAGE_SIZE)
        lag = body.get("monitoring_lag_seconds", 0.0)
        check_settings({"page_size": page_size, "monitoring_lag_seconds": lag})
        rate_limit_model = body.get("rate_limit_model", "hourly")
        if rate_limit_model not in RATE_LIMIT_MODELS:
            raise ScenarioError(
                f"rate_limit_model: {rate_limit_model!r} is not 'hourly' or 'token_bucket'"
            )
        try:
            faults = parse_faults(body.get("faults") or [])
        except ValueError as error:
            raise ScenarioError(f"faults: {error}") from None
        cancel_finished = body.get("cancel_finished", "error")
        if cancel_finished not in CANCEL_FINISHED_ANSWERS:
            raise ScenarioError(
                f"cancel_finished: {cancel_finished!r} is not one of {CANCEL_FINISHED_ANSWERS}"
            )
        raw_triggers = body.get("triggers") or []
        if not isinstance(raw_triggers, Sequence) or isinstance(raw_triggers, str):
            raise ScenarioError("triggers: must be a list")
        triggers = tuple(
            TriggerSpec.from_json(index, item, list(pipelines))
            for index, item in enumerate(raw_triggers)
        )
        if len({t.name for t in triggers}) != len(triggers):
            raise ScenarioError("triggers: names must be unique")
        return cls(
            tenant_id=str(body["tenant_id"]),
            subscription_id=str(body["subscription_id"]).lower(),
            resource_group=str(body["resource_group"]),
            factory_name=str(body["factory_name"]),
            service_principals=principals,
            pipelines=pipelines,
            token_lifetime_seconds=int(body.get("token_lifetime_seconds", 3599)),
            page_size=page_size,
            monitoring_lag_seconds=float(lag),
            rate_limit_model=str(rate_limit_model),
            faults=faults,
            triggers=triggers,
            cancel_finished=str(cancel_finished),
        )

    @property
    def factory_id(self) -> str:
        """The factory's ARM resource id (the ``id`` of get-factory, prefix of run ids)."""
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.DataFactory/factories/{self.factory_name}"
        )

    def airflow_connection(self, base_url: str, principal: int = 0) -> dict[str, Any]:
        """An ``adf`` Airflow connection (JSON form) that points at an emulator at base_url.

        :param base_url: the emulator's ``url``, for both endpoints.
        :param principal: which of the scenario's ``service_principals`` signs in.
        """
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


def _outcome_status(value: object, where: str) -> str:
    status = str(value)
    if status not in TERMINAL_OUTCOMES:
        raise ScenarioError(f"{where}: {status!r} is not one of {TERMINAL_OUTCOMES}")
    return status


def _entries(
    pipeline: str, key: str, raw: object, parse: Callable[[object, str], _Entry]
) -> tuple[_Entry, ...]:
    """The pipeline's list ``key``, each item parsed: absent is empty; present, non-empty."""
    where = f"pipelines.{pipeline}.{key}"
    if raw is None:
        return ()
    if isinstance(raw, str) or not isinstance(raw, Sequence) or not raw:
        raise ScenarioError(f"{where}: must be a non-empty list")
    return tuple(parse(item, f"{where}[{index}]") for index, item in enumerate(raw))


def _outcome(item: object, where: str) -> OutcomeSpec:
    if not isinstance(item, Mapping):
        return OutcomeSpec(_outcome_status(item, where))
    message, code = item.get("message"), item.get("error_code")
    return OutcomeSpec(
        _outcome_status(item.get("outcome"), f"{where}.outcome"),
        None if message is None else str(message),
        None if code is None else str(code),
    )


def _activity(item: object, where: str) -> ActivitySpec:
    if not isinstance(item, Mapping) or not item.get("name"):
        raise ScenarioError(f"{where}: needs a name")
    duration = item.get("duration_seconds")
    if duration is not None and float(duration) < 0:
        raise ScenarioError(f"{where}.duration_seconds: must not be negative")
    output = item.get("output")
    if output is not None and not isinstance(output, Mapping):
        raise ScenarioError(f"{where}.output: must be an object")
    return ActivitySpec(
        name=str(item["name"]),
        type=str(item.get("type", "Copy")),
        duration_seconds=None if duration is None else float(duration),
        output=None if output is None else dict(output),
    )


def _activities(pipeline: str, raw: object) -> tuple[ActivitySpec, ...]:
    activities = _entries(pipeline, "activities", raw, _activity)
    if len({a.name for a in activities}) != len(activities):
        raise ScenarioError(f"pipelines.{pipeline}.activities: activity names must be unique")
    return activities
