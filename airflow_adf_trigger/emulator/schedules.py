"""The factory's own triggers: runs ADF starts by itself, on a schedule or when asked.

Runs are started lazily: before each request the emulator starts every scheduled run whose
time has come on its clock, so a test that moves a fake clock sees the same runs as one
that waits. A run a trigger started reports ``invokedBy`` with the trigger's name and type.
Source for the field names: datafactory.json PipelineRunInvokedBy (``name``, ``id``,
``invokedByType``); that a schedule trigger's runs say ``"invokedByType": "ScheduleTrigger"``
(the trigger's type name) is inferred from ADF Studio's monitoring view, not from an example.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_adf_trigger.emulator.scenario import TriggerSpec
from airflow_adf_trigger.emulator.state import EmulatorState


class UnknownTrigger(KeyError):
    """No trigger of that name in the scenario."""


def fire(
    state: EmulatorState,
    name: str,
    parameters: Mapping[str, Any] | None = None,
    *,
    at: float | None = None,
) -> str:
    """Start a run as trigger ``name`` would (the caller holds the lock); its run id.

    ``parameters`` are laid over the trigger's own; ``at`` is the clock time it fired
    (default now).
    """
    trigger = next((t for t in state.scenario.triggers if t.name == name), None)
    if trigger is None:
        raise UnknownTrigger(name)
    return _start(state, trigger, {**trigger.parameters, **(parameters or {})}, at)


def fire_due(state: EmulatorState) -> list[str]:
    """Start every scheduled run whose time has come (the caller holds the lock)."""
    now = state.clock()
    started = []
    for trigger in state.scenario.triggers:
        every = trigger.every_seconds
        if every is None:
            continue
        first = every if trigger.first_after_seconds is None else trigger.first_after_seconds
        while (
            due := state.clock_origin + first + state.schedule_fired[trigger.name] * every
        ) <= now:
            state.schedule_fired[trigger.name] += 1
            started.append(_start(state, trigger, dict(trigger.parameters), due))
    return started


def _start(
    state: EmulatorState, trigger: TriggerSpec, parameters: dict[str, Any], at: float | None
) -> str:
    run = state.start_run(
        state.scenario.pipelines[trigger.pipeline],
        parameters,
        state.clock() if at is None else at,
        invoked_by={"name": trigger.name, "invokedByType": trigger.type},
    )
    state.trigger_runs[trigger.name] += 1
    return run.run_id
