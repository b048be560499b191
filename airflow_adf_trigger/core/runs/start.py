"""Start a pipeline run at most once over every try of one task: the create-run's bookkeeping.

A :class:`RunStarter` keeps its records in a durable key-value store that outlives a try (in
Airflow, the task state store): the run started, the create-run in flight
(:class:`~airflow_adf_trigger.core.runs.reconcile.CreateAttempt`), and the runs earlier series
of tries started. It writes the record before the request leaves, adopts the run a lost answer
may have started instead of starting another, and, when a series ends by a clear, cancels
what the cleared series left going. No Airflow import: the caller passes the store, the run
key's prefix, the runs others follow and what to do once a run is known; errors it raises say
whether a retry can help (:class:`AdfReconcileError`) or not (:class:`AdfRunUnclearError`).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from airflow_adf_trigger.core.errors import AdfError, AdfRunOutcomeUnknownError
from airflow_adf_trigger.core.runs.poller import observed_monitoring_lag
from airflow_adf_trigger.core.runs.reconcile import (
    DEFAULT_ACCEPT_MARGIN,
    DEFAULT_RUN_KEY_PARAMETER,
    DEFAULT_SEARCH_TIMEOUT,
    AdfReconcileError,
    CreateAttempt,
    SearchResult,
    search,
)
from airflow_adf_trigger.core.wire.client import AdfClient

_log = logging.getLogger(__name__)
RUN_KEY = "adf_pipeline_run_id"
"""Store key of the run this series follows (Airflow's ``ResumableJobMixin`` external id)."""
ATTEMPT_KEY = "adf_create_run_attempt"
"""Store key of the create-run in flight."""
NOT_MINE_KEY = "adf_runs_of_earlier_series"
"""Store key of the runs earlier (cleared) series started."""
NOT_MINE_KEPT = 20
SERIES_KEY = "adf_series"
"""Store key of the series of tries whose start has been handled (earlier series forgotten)."""


class RunStore(Protocol):
    """A task's durable store (Airflow's task state store, or one kept in a Variable)."""

    def get(self, key: str) -> Any:
        """The value kept under ``key``, or ``None``."""

    def set(self, key: str, value: Any) -> None:
        """Keep ``value`` (plain JSON) under ``key``."""

    def delete(self, key: str) -> None:
        """Forget ``key`` (no error when absent)."""


class AdfRunUnclearError(AdfError):
    """Whether (or which) run an earlier create-run started cannot be told: nothing was
    started, and a retry would not know more; a person decides."""


@dataclass
class RunStarter:
    """One task's create-runs, over all its tries.

    :param client: the client requests go through (its sleep ends the search on a kill).
    :param store: the durable store, see :class:`RunStore`.
    :param pipeline_name: the pipeline to start.
    :param parameters: its parameters as given (the run key is added here when declared).
    :param rerun_options: createRun's rerun options (``reference_pipeline_run_id``, ...).
    :param key_prefix: what the run key says of the sender (``airflow:dag/run/task``), asked
        only when the pipeline declares the key's parameter.
    :param others: the runs other tasks follow, asked before each search and record.
    :param on_run: told the run's id the moment it is known (started or adopted).
    :param on_send: told just before a create-run leaves (a kill from then on may leave a run
        behind that nothing follows yet).
    :param reconcile: keep the records and search after a lost answer (``False``: never).
    :param sleep: the search's pause between looks (a killed task's ends it).
    """

    client: AdfClient
    store: RunStore
    pipeline_name: str
    parameters: Mapping[str, Any] | None
    rerun_options: Mapping[str, Any]
    key_prefix: Callable[[], str]
    others: Callable[[], list[str]]
    on_run: Callable[[str], None]
    on_send: Callable[[], None] = lambda: None
    reconcile: bool = True
    run_key_parameter: str | None = DEFAULT_RUN_KEY_PARAMETER
    accept_margin: float = DEFAULT_ACCEPT_MARGIN
    search_timeout: float = DEFAULT_SEARCH_TIMEOUT
    monitoring_url: Callable[[str], str] = str
    sleep: Callable[[float], None] = time.sleep
    log: Any = _log  # a logging.Logger, or Airflow's task logger

    @property
    def reference(self) -> str | None:
        """The run a rerun reruns; ``None`` for a plain run."""
        return self.rerun_options.get("reference_pipeline_run_id")

    # ------------------------------------------------------------ a try

    def start(self) -> str:
        """The run of this series: the lost one an earlier try started, or a new one."""
        if self.reconcile:
            adopted = self._reconcile()
            if adopted is not None:
                return adopted
        return self._create()

    def _create(self) -> str:
        client, store = self.client, self.store
        parameters = None if self.parameters is None else dict(self.parameters)
        attempt: CreateAttempt | None = None
        if self.reconcile:
            attempt, parameters = self._prepare(parameters)
            # Written once the token is in hand (the pipeline read needed it): a try killed
            # before this line sent nothing and leaves nothing to look for.
            store.set(ATTEMPT_KEY, attempt.to_json())
        self.on_send()
        try:
            run_id = client.create_run(self.pipeline_name, parameters, **self.rerun_options)
        except AdfRunOutcomeUnknownError as unknown:
            if attempt is not None:
                attempt = attempt.gave_up(unknown.gave_up_at.timestamp(), self.accept_margin)
                store.set(ATTEMPT_KEY, attempt.to_json())
                self.log.error(
                    "The create-run answer for pipeline %r was lost; if this task is retried, "
                    "the retry will first look for %s and follow it instead of starting the "
                    "pipeline again.",
                    self.pipeline_name,
                    attempt.describe(),
                )
            raise
        except AdfError:
            if attempt is not None:  # ADF answered: no run was started
                store.delete(ATTEMPT_KEY)
            raise
        self._follow(run_id)
        self.log.info(
            "Pipeline %r started: run id %s (%s)",
            self.pipeline_name,
            run_id,
            self.monitoring_url(run_id),
        )
        return run_id

    def _prepare(
        self, parameters: dict[str, Any] | None
    ) -> tuple[CreateAttempt, dict[str, Any] | None]:
        """The record of the create-run about to be sent, and the parameters to send.

        Reads the pipeline first: its answer's ``Date`` puts the record's window on Azure's
        clock, its declaration says whether the run key can travel and which defaults a run
        shows. A rerun's run shows the reference run's parameters, so that run is read too.
        """
        client, reference = self.client, self.reference
        pipeline = client.read_pipeline(self.pipeline_name)
        reference_run = client.get_run(reference) if reference is not None else None
        key = None
        if reference is None and pipeline.declares_string(self.run_key_parameter):
            key = f"{self.key_prefix()}#{secrets.token_hex(6)}"
            parameters = {**(parameters or {}), str(self.run_key_parameter): key}
            self.log.info(
                "Pipeline %r declares %r: this run carries the run key %s",
                self.pipeline_name,
                self.run_key_parameter,
                key,
            )
        attempt = CreateAttempt.prepare(
            self.pipeline_name,
            parameters,
            sent_at=client.now(),
            budget=client.settings.retry.max_total_seconds + client.settings.request_timeout,
            pipeline=pipeline,
            rerun_options=self.rerun_options,
            reference=reference_run,
            run_key_parameter=self.run_key_parameter,
            run_key=key,
            excluded=self._not_mine(),
            accept_margin=self.accept_margin,
        )
        return attempt, parameters

    def _follow(self, run_id: str) -> None:
        """Saved before anything else can fail, so that a later try finds this run."""
        self.store.set(RUN_KEY, run_id)
        self.store.delete(ATTEMPT_KEY)
        self.on_run(run_id)

    def _left_behind(self, attempt: CreateAttempt) -> bool:
        """Whether ``attempt``'s record outlived its run: a try died in ``_follow``, between
        storing the run id and dropping the record. The stored run id is then that attempt's
        own run (a run id stored before the record was written is in its ``excluded``), so
        there is nothing to look for, and a search that excludes it could only find others'.
        The caller drops the record."""
        run_id = self.store.get(RUN_KEY)
        if not run_id or str(run_id) in attempt.excluded:
            return False
        self.log.info(
            "The create-run record of run %s outlived a try that stopped after storing the "
            "run id; dropping it (nothing to look for)",
            run_id,
        )
        return True

    def _not_mine(self) -> list[str]:
        """Runs a search must never adopt: this series' earlier run, a cleared series' runs,
        and the runs other tasks follow."""
        known = list(self.store.get(NOT_MINE_KEY) or [])
        earlier = self.store.get(RUN_KEY)
        if earlier:
            known.append(str(earlier))
        return known + self.others()

    def search_timeout_now(self) -> float:
        """``search_timeout``, or 1.5 times the lag this process saw in ADF's run list when
        that is longer (a fresh process has seen none)."""
        lag = observed_monitoring_lag()
        wider = 1.5 * lag
        if wider <= self.search_timeout:
            return self.search_timeout
        self.log.info(
            "ADF's run list lagged %.0f s in this process: searching %.0f s past the window "
            "instead of %g s",
            lag,
            wider,
            self.search_timeout,
        )
        return wider

    def _search(self, attempt: CreateAttempt) -> SearchResult:
        """Search for ``attempt``'s run, every run known not to be its own excluded: the one
        search of a retry and of a clear (a clear must never cancel a sibling's run)."""
        # Runs followed elsewhere since the record was written are not this attempt's either.
        attempt = replace(
            attempt, excluded=tuple(dict.fromkeys([*attempt.excluded, *self._not_mine()]))
        )
        if attempt.excluded:
            self.log.info(
                "Never adopted here (the reference run, earlier series' runs, runs other tasks "
                "of this DAG run follow): %s",
                ", ".join(attempt.excluded),
            )
        return search(
            self.client,
            attempt,
            search_timeout=self.search_timeout_now(),
            clock=self.client.now,
            sleep=self.sleep,
        )

    def _reconcile(self) -> str | None:
        """An earlier try's create-run got no answer: find its run before starting another."""
        record = self.store.get(ATTEMPT_KEY)
        if not record:
            return None
        try:
            attempt = CreateAttempt.from_json(record)
        except ValueError as error:
            raise AdfRunUnclearError(
                f"The earlier try's create-run record cannot be read ({error}), so whether it "
                f"started pipeline {self.pipeline_name!r} is unknown. Nothing was started. Check "
                "ADF monitoring; mark this task successful if the run is there, or clear it to "
                "start a new run."
            ) from None
        if self._left_behind(attempt):
            self.store.delete(ATTEMPT_KEY)
            return None
        self.log.info(
            "An earlier try of this task got no answer to its create-run; looking for %s, until "
            "ADF's run list is %g s past that window, before starting another",
            attempt.describe(),
            self.search_timeout,
        )
        result = self._search(attempt)
        run = result.adopt
        if result.nothing:
            self.log.warning(
                "No run of %s was found: the request never started one. Starting a new run.",
                attempt.describe(),
            )
            self.store.delete(ATTEMPT_KEY)
            return None
        if run is None:
            candidates = "\n".join(
                f"  - run {found.run_id} ({found.status.value}, started "
                f"{(found.run_start or found.last_updated or attempt.window_start).isoformat()};"
                f" {why}): {self.monitoring_url(found.run_id)}"
                for found, why in result.candidates()
            )
            raise AdfRunUnclearError(
                f"An earlier try's create-run for {attempt.describe()} got no answer, and "
                f"{len(result.candidates())} run(s) could be its run, so this task cannot tell "
                f"which one is its own. Nothing was started. Check them in ADF Studio:\n"
                f"{candidates}\nMark this task successful if one of them is the run you "
                "wanted, or clear it to start a new run. Declaring the string parameter "
                f"{self.run_key_parameter or DEFAULT_RUN_KEY_PARAMETER!r} in the pipeline lets "
                "this task tell its run apart exactly."
            )
        self.log.info(
            "Found the run the earlier try started: pipeline %r run %s is %s (%s); following "
            "it instead of starting another",
            run.pipeline_name,
            run.run_id,
            run.status.value,
            self.monitoring_url(run.run_id),
        )
        self._follow(run.run_id)
        return run.run_id

    # ------------------------------------------------------------ a clear

    def enter_series(self, series: int, *, first_try: bool) -> None:
        """Forget what earlier series started, once per ``series`` (a number that changes when
        the task is cleared). Its mark is written only once that is done, so a try killed half
        way through leaves the rest to its retry, which then never reattaches to the cleared
        run. A store written before the mark existed falls back on ``first_try``."""
        mark = self.store.get(SERIES_KEY)
        if first_try if mark is None else mark != series:
            self.forget_earlier_series()
        if mark != series:
            self.store.set(SERIES_KEY, series)

    def forget_earlier_series(self) -> None:
        """A clear means rerun: never reattach to (or adopt) what an earlier series started.

        The run of the cleared try may still be going (its trigger is cancelling it at the
        same moment, or a user cleared a failed task whose run is alive): cancel it too, so
        no run is left behind. Its id stays known as *not this series'*, so that a later
        search never takes it for a lost run of this one.
        """
        store = self.store
        followed, attempt = store.get(RUN_KEY), store.get(ATTEMPT_KEY)
        earlier = (attempt and self._find_lost_run(attempt)) or followed
        if earlier:
            known = [run for run in store.get(NOT_MINE_KEY) or [] if run != str(earlier)]
            store.set(NOT_MINE_KEY, [*known, str(earlier)][-NOT_MINE_KEPT:])
            self._cancel_earlier(str(earlier))
        # Dropped last: a try killed before these lines leaves its retry all it needs.
        for key, value in ((ATTEMPT_KEY, attempt), (RUN_KEY, followed)):
            if value:
                store.delete(key)

    def _cancel_earlier(self, earlier: str) -> None:
        try:
            run = self.client.get_run(earlier)
            if run.status.is_active:
                result = self.client.cancel_run(run.run_id, is_recursive=True)
                self.log.info(
                    "Task cleared: starting a new run; the earlier try's %s (child pipelines "
                    "included)",
                    result.describe(),
                )
            else:
                self.log.info(
                    "Task cleared: starting a new run (the earlier try's run %s is %s)",
                    run.run_id,
                    run.status.value,
                )
        except AdfError as error:
            self.log.warning(
                "Task cleared: starting a new run; the earlier try's run %s could not be "
                "checked or cancelled: %s",
                earlier,
                error,
            )

    def _find_lost_run(self, record: Any) -> str | None:
        """The cleared series' last create-run (``record``) got no answer: its run, if it
        surely exists (so that the clear cancels it too); otherwise a warning naming what was
        seen."""
        try:
            attempt = CreateAttempt.from_json(record)
            if self._left_behind(attempt):
                return None
            result = self._search(attempt)
        except (ValueError, AdfError) as error:
            self.log.warning(
                "This task was cleared after a try whose create-run got no answer, and its run "
                "could not be looked for (%s). Check ADF monitoring for pipeline %r.",
                error,
                self.pipeline_name,
            )
            return None
        if result.adopt is not None:
            return result.adopt.run_id
        for run, why in result.candidates():
            self.log.warning(
                "This task was cleared after a try whose create-run got no answer; run %s "
                "(%s) may be the run it started and is left alone (%s): %s",
                run.run_id,
                run.status.value,
                why,
                self.monitoring_url(run.run_id),
            )
        return None


__all__ = [
    "ATTEMPT_KEY",
    "NOT_MINE_KEY",
    "RUN_KEY",
    "SERIES_KEY",
    "AdfReconcileError",
    "AdfRunUnclearError",
    "RunStarter",
    "RunStore",
]
