"""What differs between the Airflow versions this provider runs on (3.0 to 3.3), in one place.

The operator, sensor, trigger, hook and link modules take their Airflow names from here, so
that each difference is handled once:

- ``BaseHook`` is in ``airflow.sdk`` from 3.1, ``conf`` from 3.2, the exceptions in
  ``airflow.sdk.exceptions`` from 3.2 (3.1 has only some); before that, in their Airflow 2
  places.
- ``ResumableJobMixin`` and the task state store arrived in 3.3. Before, this module
  provides the same mixin over a store kept in an Airflow Variable (see
  :class:`VariableTaskStateStore`): a task instance's XCom is cleared at the start of each
  try, a Variable is not.
- ``BaseHook.aget_connection`` arrived in 3.1, and reads a connection without blocking the
  event loop only from 3.3.2 (:func:`read_connection_async`).

Importing this module costs what importing ``airflow.sdk`` and ``ResumableJobMixin`` cost: DAG
files import it at every parse (through the operator). Names only the hook, the trigger or the
sensor need are imported when first asked for.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

try:  # Airflow 3.2+
    from airflow.sdk import conf
except ImportError:  # Airflow 3.0, 3.1
    from airflow.configuration import conf  # type: ignore[assignment]

try:  # Airflow 3.2+
    from airflow.sdk.exceptions import AirflowException, AirflowFailException
except ImportError:  # Airflow 3.0, 3.1 (the same classes, at their old address)
    from airflow.exceptions import (  # type: ignore[attr-defined,no-redef]
        AirflowException,
        AirflowFailException,
    )

if TYPE_CHECKING:
    from airflow.sdk import BaseHook, BaseOperatorLink, BaseSensorOperator, Context
    from airflow.sdk.exceptions import TaskDeferred
    from airflow.triggers.base import BaseTrigger, TriggerEvent

__all__ = [
    "HAS_TASK_STATE_STORE",
    "AirflowException",
    "AirflowFailException",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "BaseTrigger",
    "ResumableJobMixin",
    "TaskDeferred",
    "TriggerEvent",
    "VariableTaskStateStore",
    "conf",
    "official_arguments",
    "read_connection_async",
    "task_state_store",
]

log = logging.getLogger(__name__)


_LAZY = {
    "BaseHook": ("airflow.sdk", "airflow.hooks.base"),  # 3.1+; 3.0
    "BaseOperatorLink": ("airflow.sdk",),
    "BaseSensorOperator": ("airflow.sdk",),
    "BaseTrigger": ("airflow.triggers.base",),
    "TriggerEvent": ("airflow.triggers.base",),
    "TaskDeferred": ("airflow.sdk.exceptions", "airflow.exceptions"),  # 3.2+; 3.0, 3.1
}
"""The names only some modules need, and where each is (newest Airflow first)."""


def __getattr__(name: str) -> Any:
    """A name of ``_LAZY``, imported when first asked for: the operator's module (imported by
    DAG files at every parse) needs none of them."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    *newer, oldest = _LAZY[name]
    for module in newer:
        with contextlib.suppress(ImportError, AttributeError):
            value = getattr(importlib.import_module(module), name)
            break
    else:
        value = getattr(importlib.import_module(oldest), name)
    globals()[name] = value
    return value


VARIABLE_PREFIX = "airflow_adf_trigger.task_state."
"""Names of the Variables that stand in for the task state store before Airflow 3.3."""


class VariableTaskStateStore:
    """The task state store of one task instance, kept in one Airflow Variable (Airflow < 3.3).

    It answers ``get``/``set``/``delete``/``clear`` as Airflow 3.3's store does. What it keeps
    survives retries and clears of the task (a Variable belongs to no task try), and it is
    removed when the task succeeds (see :class:`ResumableJobMixin`). The Variable's name is a
    digest of the task instance (names are limited to 250 characters); its value and
    description say which task instance it belongs to.
    """

    def __init__(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        map_index: int = -1,
        dag_run_identity: str | None = None,
    ) -> None:
        self.scope = {"dag_id": dag_id, "run_id": run_id, "task_id": task_id}
        self.map_index = -1 if map_index is None else int(map_index)
        self.dag_run_identity = dag_run_identity
        """When the DAG run was made (``run_after``): a DAG run deleted and made again under
        the same run id has another, and never inherits what the first one left."""
        import hashlib

        identity = json.dumps([dag_id, run_id, task_id, self.map_index])
        self.variable = VARIABLE_PREFIX + hashlib.sha256(identity.encode()).hexdigest()[:32]
        self._values: dict[str, Any] | None = None  # read once: only this task writes it

    @classmethod
    def for_context(cls, context: Context) -> VariableTaskStateStore:
        ti = context["ti"]
        dag_run = context.get("dag_run")
        made: Any = getattr(dag_run, "run_after", None) or getattr(dag_run, "logical_date", None)
        identity = made.isoformat() if isinstance(made, datetime) else None
        return cls(ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", -1), identity)

    def __repr__(self) -> str:
        return f"VariableTaskStateStore({self.variable!r})"

    def get(self, key: str, default: Any = None) -> Any:
        return self._load().get(key, default)

    def set(self, key: str, value: Any, **_options: Any) -> None:
        """Keep ``value`` under ``key`` (a ``retention`` option has no effect here)."""
        self._save({**self._load(), key: value})

    def delete(self, key: str) -> None:
        values = self._load()
        if key in values:
            del values[key]
            self._save(values)

    def clear(self) -> None:
        if self._load():
            self._save({})

    def _load(self) -> dict[str, Any]:
        if self._values is None:
            self._values = self._read()
        return dict(self._values)

    def _read(self) -> dict[str, Any]:
        from airflow.sdk import Variable

        raw = Variable.get(self.variable, default=None)
        if not raw:
            return {}
        try:
            body = json.loads(raw)
            values = body["values"]
        except (ValueError, KeyError, TypeError):
            log.warning("Ignoring the unreadable task state in Variable %s", self.variable)
            return {}
        left_by = body.get("dag_run_identity") if isinstance(body, dict) else None
        if self.dag_run_identity and left_by and left_by != self.dag_run_identity:
            log.warning(
                "Ignoring Variable %s: it was left by an earlier DAG run with the same run id "
                "(made %s; this one was made %s)",
                self.variable,
                left_by,
                self.dag_run_identity,
            )
            return {}
        return dict(values) if isinstance(values, dict) else {}

    def _save(self, values: dict[str, Any]) -> None:
        from airflow.sdk import Variable

        self._values = dict(values)
        if not values:
            Variable.delete(self.variable)
            return
        body = {
            **self.scope,
            "map_index": self.map_index,
            "dag_run_identity": self.dag_run_identity,
            "values": values,
        }
        Variable.set(
            self.variable,
            json.dumps(body, sort_keys=True),
            description=(
                f"airflow-adf-trigger: the pipeline run of task {self.scope['task_id']!r} in "
                f"DAG run {self.scope['run_id']!r} of {self.scope['dag_id']!r}, so that its "
                "retries reattach to it (Airflow < 3.3 has no task state store). Removed when "
                "the task succeeds; safe to delete once the DAG run is over."
            ),
        )


def task_state_store(context: Context) -> Any:
    """The task instance's durable store: Airflow's (3.3+) or a Variable-backed one (before).

    The Variable-backed store is also put into ``context["task_state_store"]``, where code
    written for 3.3 looks for it.
    """
    store: Any = context.get("task_state_store")
    if store is None:
        store = VariableTaskStateStore.for_context(context)
        context["task_state_store"] = store
    return store


class _ResumableJobMixin:
    """Airflow 3.3's ``ResumableJobMixin`` for Airflow 3.0 to 3.2, over the Variable store.

    The same decisions at the start of each try: no stored run, submit one; a stored run
    still active, reattach to it; one that succeeded, finish with it; one that failed or was
    cancelled, submit a new one. Unlike 3.3's store (kept after success unless
    ``[state_store] clear_on_success``), the Variable is removed once the task succeeds, so
    that finished tasks leave no Variables behind (and clearing a succeeded task starts a new
    run).
    """

    if TYPE_CHECKING:
        log: Any

        def submit_job(self, context: Context) -> Any: ...
        def get_job_status(self, external_id: Any, context: Context) -> str: ...
        def is_job_active(self, status: str) -> bool: ...
        def is_job_succeeded(self, status: str) -> bool: ...
        def poll_until_complete(self, external_id: Any, context: Context) -> None: ...
        def get_job_result(self, external_id: Any, context: Context) -> Any: ...

    external_id_key: str = "remote_job_id"

    def __init__(self, *, durable: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.durable = durable

    def execute_resumable(self, context: Context) -> Any:
        store = task_state_store(context) if self.durable else None
        external_id = None if store is None else store.get(self.external_id_key)
        if external_id:
            status = self.get_job_status(external_id, context)
            job = (self.external_id_key, external_id)
            if self.is_job_active(status):
                self.log.info("Reconnecting to existing job %s=%s (status %s)", *job, status)
                self.poll_until_complete(external_id, context)
                return _succeeded(store)
            if self.is_job_succeeded(status):
                self.log.info(
                    "Job already completed successfully, skipping resubmission: %s=%s", *job
                )
                return _succeeded(store, self.get_job_result(external_id, context))
            self.log.warning(
                "Prior job in terminal state, resubmitting fresh: %s=%s (status %s)", *job, status
            )
        external_id = self.submit_job(context)
        if store is not None and external_id is not None:
            store.set(self.external_id_key, external_id)
        self.poll_until_complete(external_id, context)
        return _succeeded(store, self.get_job_result(external_id, context))

    def resume_execution(
        self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context
    ) -> Any:
        """Back from the triggerer: once the task has succeeded, its store is removed."""
        result = super().resume_execution(next_method, next_kwargs, context)  # type: ignore[misc]
        if self.durable:
            _succeeded(task_state_store(context))
        return result


def _succeeded(store: Any, result: Any = None) -> Any:
    """The task succeeded with ``result``: its Variable goes (a store Airflow gave is Airflow's
    to keep)."""
    if isinstance(store, VariableTaskStateStore):
        store.clear()
    return result


try:  # Airflow 3.3+
    from airflow.sdk import ResumableJobMixin

    HAS_TASK_STATE_STORE = True
except ImportError:  # Airflow 3.0 to 3.2
    ResumableJobMixin = _ResumableJobMixin  # type: ignore[assignment,misc]
    HAS_TASK_STATE_STORE = False


def official_arguments(
    adf_conn_id: str | None,
    resource_group: str | None,
    *,
    azure_data_factory_conn_id: str | None,
    resource_group_name: str | None,
    default_conn_id: str,
) -> tuple[str, str | None, bool]:
    """Take the official Azure provider's argument names as aliases of ours.

    Returns the connection id, the resource group, and whether the task was written for the
    official provider (it used one of its names: ``resource_group_name`` is a required
    argument there, so every such DAG passes it). A name and its alias with two different
    values is an error, raised when the DAG is parsed.
    """
    for ours, value, official, alias in (
        ("adf_conn_id", adf_conn_id, "azure_data_factory_conn_id", azure_data_factory_conn_id),
        ("resource_group", resource_group, "resource_group_name", resource_group_name),
    ):
        if value is not None and alias is not None and value != alias:
            raise ValueError(
                f"{ours}={value!r} and {official}={alias!r} name the same setting (the second "
                "is the official Azure provider's name for it): give only one of them"
            )
    official_style = azure_data_factory_conn_id is not None or resource_group_name is not None
    return (
        adf_conn_id or azure_data_factory_conn_id or default_conn_id,
        resource_group if resource_group is not None else resource_group_name,
        official_style,
    )


async def read_connection_async(hook: Any, conn_id: str) -> tuple[Any, Any, dict[str, Any]]:
    """``(login, password, extras)`` of a connection, without blocking the event loop.

    Airflow 3.3.2 reads and masks a connection asynchronously. Before, ``aget_connection``
    (3.1+) masks secrets with a blocking call that raises ``DeadlockImminentError`` when
    another call is in flight on the same loop, and 3.0 has no ``aget_connection``: there the
    blocking read runs in a worker thread instead.
    """
    import asyncio

    from airflow.sdk import Connection

    if hasattr(Connection, "aextra_dejson"):  # Airflow 3.3.2+
        conn = await hook.aget_connection(conn_id)
        extra = await conn.aextra_dejson()
    else:
        conn = await asyncio.to_thread(hook.get_connection, conn_id)
        extra = await asyncio.to_thread(lambda: conn.extra_dejson)
    return conn.login, conn.password, dict(extra)
