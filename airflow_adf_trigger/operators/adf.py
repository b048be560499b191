"""AdfRunPipelineOperator: start an ADF pipeline run and, if asked, wait for its end."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_adf_trigger.compat import (
    AirflowException,
    AirflowFailException,
    BaseOperator,
    ResumableJobMixin,
    conf,
    task_state_store,
)
from airflow_adf_trigger.core.config.validation import check_run_id, check_seconds
from airflow_adf_trigger.core.errors import DEFAULT_OUTAGE_BUDGET, AdfConfigurationError
from airflow_adf_trigger.core.runs.reconcile import DEFAULT_ACCEPT_MARGIN, DEFAULT_RUN_KEY_PARAMETER
from airflow_adf_trigger.core.runs.status import RunStatus
from airflow_adf_trigger.lineage import AdfLineageMixin
from airflow_adf_trigger.links.adf import AdfPipelineRunLink
from airflow_adf_trigger.tasks import AdfFactoryTask

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_adf_trigger.core.errors import AdfError
    from airflow_adf_trigger.core.runs.models import CancelResult, PipelineRun
    from airflow_adf_trigger.core.runs.outcome import RunOutcome
    from airflow_adf_trigger.core.runs.start import RunStarter

# DAG files import this module at every parse: the hook, the HTTP client and the trigger are
# imported where they are used, not here (see tests/unit/test_provider.py).

XCOM_RUN_ID = "run_id"
XCOM_ACTIVITY_OUTPUTS = "activity_outputs"
KILL_CHECK_SECONDS = 0.25
"""The worker wait sleeps in slices this long, so a kill ends it at once."""


class WaitInterrupted(Exception):
    """The task was killed (mark failed/success, clear) while it waited in the worker."""


class AdfRunPipelineOperator(AdfLineageMixin, AdfFactoryTask, ResumableJobMixin, BaseOperator):
    """Start a run of an Azure Data Factory pipeline; push its run id to XCom as ``run_id``.

    A retried task reattaches to the run its earlier try started while that run is still
    queued or in progress, finishes at once if it succeeded, and starts a new run only
    after a Failed or Cancelled one. A *cleared* task is a rerun: its first try cancels the
    earlier try's run if it is still going (child pipelines included) and starts a new one.
    The two are told apart by the task instance's ``try_number`` and ``max_tries``: a clear
    resets ``max_tries`` to ``try_number + retries``, so the first try after a clear is the
    first of a new series, exactly as the first try of a new DAG run.

    When a create-run's answer is lost (ADF may or may not have started the run), the try
    fails and the next one first looks for that run among the pipeline's recent runs (same
    parameters, started while the request was in flight): one match is adopted and followed;
    none, after ``reconcile_search_timeout``, means a new run is started; several fail the
    task without starting anything, listing each candidate.

    :param pipeline_name: the pipeline to run (templated).
    :param parameters: the pipeline's parameters (templated).
    :param adf_conn_id: an ``adf`` connection (or the official ``azure_data_factory`` one).
    :param resource_group: overrides the connection's resource group (templated).
    :param factory_name: overrides the connection's factory (templated).
    :param reference_pipeline_run_id: for a rerun: the run to rerun (templated).
    :param is_recovery: run in recovery mode (the rerun joins the reference run's group).
    :param start_activity_name: rerun from this activity (templated).
    :param start_from_failure: rerun from the activities that failed.
    :param wait_for_termination: wait for the run to end (default: no, the sensor waits;
        but yes when the task uses the official provider's argument names, as there).
    :param check_interval: seconds between status checks while waiting (positive; at least
        1 s against Azure, which protects the subscription's read budget).
    :param timeout: seconds (or a timedelta, positive) to wait; then the run is cancelled,
        child pipelines included, and the task fails saying so.
    :param outage_budget: seconds the wait goes on while Azure cannot be read (network,
        throttling, 5xx) before the task gives up, leaving the run untouched (default 900).
    :param reconcile_unknown_outcome: after a create-run whose answer was lost, look for the
        run it may have started before starting another (default: yes).
    :param reconcile_search_timeout: seconds to keep looking for that run; ADF's monitoring
        can lag behind a new run (default 120; 0 looks once).
    :param deferrable: wait in the triggerer instead of a worker slot (default: Airflow's
        ``[operators] default_deferrable``).
    :param cancel_on_kill: cancel the run when the task is killed (default: yes).
    :param activity_outputs: names of activities whose outputs, once the run succeeded, go to
        XCom under ``activity_outputs`` as ``{name: output}`` (e.g. a Copy activity's
        ``rowsCopied``, a Lookup's ``firstRow``); needs ``wait_for_termination``.
    :param activity_output_max_bytes: an output whose JSON is larger is replaced by
        ``{"truncated": true, "size_bytes": ..}`` (default 16 KiB).
    :param azure_data_factory_conn_id: the official provider's name for ``adf_conn_id``.
    :param resource_group_name: the official provider's name for ``resource_group``.
    """

    template_fields: Sequence[str] = (
        "adf_conn_id",
        "pipeline_name",
        "parameters",
        "resource_group",
        "factory_name",
        "reference_pipeline_run_id",
        "start_activity_name",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"parameters": "json"}
    operator_extra_links = (AdfPipelineRunLink(),)
    external_id_key = "adf_pipeline_run_id"
    ui_color = "#cfe6fb"

    def __init__(
        self,
        *,
        pipeline_name: str,
        parameters: dict[str, Any] | None = None,
        adf_conn_id: str | None = None,
        resource_group: str | None = None,
        factory_name: str | None = None,
        reference_pipeline_run_id: str | None = None,
        is_recovery: bool | None = None,
        start_activity_name: str | None = None,
        start_from_failure: bool | None = None,
        wait_for_termination: bool | None = None,
        check_interval: float = 15.0,
        timeout: float | timedelta | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        cancel_on_kill: bool = True,
        outage_budget: float | None = None,
        reconcile_unknown_outcome: bool = True,
        reconcile_search_timeout: float = 120.0,
        run_key_parameter: str | None = DEFAULT_RUN_KEY_PARAMETER,
        reconcile_accept_margin: float = DEFAULT_ACCEPT_MARGIN,
        activity_outputs: Sequence[str] | None = None,
        activity_output_max_bytes: int = 16 * 1024,
        azure_data_factory_conn_id: str | None = None,
        resource_group_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pipeline_name = pipeline_name
        self.parameters = parameters
        official_style = self._use_factory(
            adf_conn_id,
            resource_group,
            factory_name,
            azure_data_factory_conn_id=azure_data_factory_conn_id,
            resource_group_name=resource_group_name,
        )
        self.reference_pipeline_run_id = reference_pipeline_run_id
        self.is_recovery = is_recovery
        self.start_activity_name = start_activity_name
        self.start_from_failure = start_from_failure
        # A DAG written for the official operator, which waits by default, keeps waiting.
        self.wait_for_termination = (
            official_style if wait_for_termination is None else wait_for_termination
        )
        self.activity_outputs, self.activity_output_max_bytes = _checked_output_args(
            activity_outputs, activity_output_max_bytes, self.wait_for_termination
        )
        self.check_interval = check_seconds("check_interval", check_interval)
        if isinstance(timeout, timedelta):
            timeout = timeout.total_seconds()
        self.timeout = None if timeout is None else check_seconds("timeout", timeout)
        self.deferrable = deferrable
        self.cancel_on_kill = cancel_on_kill
        self.outage_budget = check_seconds(
            "outage_budget",
            DEFAULT_OUTAGE_BUDGET if outage_budget is None else outage_budget,
            allow_zero=True,
        )
        self.reconcile_unknown_outcome = reconcile_unknown_outcome
        self.reconcile_search_timeout = check_seconds(
            "reconcile_search_timeout", reconcile_search_timeout, allow_zero=True
        )
        if run_key_parameter is not None and (
            not isinstance(run_key_parameter, str) or not run_key_parameter.strip()
        ):
            raise AdfConfigurationError(
                "run_key_parameter",
                f"{run_key_parameter!r} is not a parameter name",
                f"give a pipeline parameter name (default {DEFAULT_RUN_KEY_PARAMETER!r}) or None",
            )
        self.run_key_parameter = run_key_parameter
        self.reconcile_accept_margin = check_seconds(
            "reconcile_accept_margin", reconcile_accept_margin, allow_zero=True
        )
        self.run_id: str | None = None
        self._create_sent_at: datetime | None = None
        self._killed = False  # set by on_kill; a plain flag is safe in a signal handler

    def execute(self, context: Context) -> str | None:
        if self.wait_for_termination:
            # The 1 s floor against Azure, known once the connection is read: checked here
            # only, before the run is started; the waits below take the value as it is.
            self._interval_for_azure("check_interval", self.check_interval)
        self._check_request()
        series = series_of(context)
        if series is not None:
            first_try = is_first_try_of_series(context, self.retries or 0)
            self._starter(context).enter_series(series, first_try=first_try)
        self.execute_resumable(context)
        return self.run_id

    def _starter(self, context: Context) -> RunStarter:
        """This task's create-runs over all its tries (records in the task state store)."""
        from airflow_adf_trigger.core.runs.start import RunStarter

        store = task_state_store(context)  # before 3.3, the Variable store is made here
        return RunStarter(
            client=self.hook.client,
            store=store,
            pipeline_name=self.pipeline_name,
            parameters=self.parameters,
            rerun_options=self._rerun_options(),
            key_prefix=lambda: run_key_prefix(context),
            others=lambda: runs_followed_by_others(context, self.run_id),
            on_run=lambda run_id: self._adopt(run_id, context),
            on_send=self._sending,
            reconcile=self.reconcile_unknown_outcome,
            run_key_parameter=self.run_key_parameter,
            accept_margin=self.reconcile_accept_margin,
            search_timeout=self.reconcile_search_timeout,
            monitoring_url=self.hook.monitoring_url,
            log=self.log,
            sleep=self._sleep_unless_killed,
        )

    # ------------------------------------------------------------ ResumableJobMixin

    def _check_request(self) -> None:
        """Everything the create-run needs, checked locally before any request is sent.

        The run key's parameter is the operator's to fill: a value given for it is refused.
        """
        from airflow_adf_trigger.core.wire.protocol import build_create_run

        name = self.run_key_parameter
        if name and isinstance(self.parameters, dict) and name in self.parameters:
            raise AirflowFailException(
                str(
                    AdfConfigurationError(
                        f"parameters[{name!r}]",
                        "is the run key parameter, which this operator fills itself",
                        "remove it from parameters, or set run_key_parameter=None to send "
                        "your own value",
                    )
                )
            )
        build_create_run(  # the settings, the pipeline name and the parameters
            self.hook.client.settings, self.pipeline_name, self.parameters, **self._rerun_options()
        )

    def _rerun_options(self) -> dict[str, Any]:
        """createRun's rerun options, as every layer takes them; the reference run id is
        checked locally (an empty one means no rerun)."""
        reference = self.reference_pipeline_run_id
        if isinstance(reference, str) and not reference.strip():
            reference = None
        if reference is not None:
            try:
                reference = check_run_id(reference, field="reference_pipeline_run_id")
            except AdfConfigurationError as error:
                raise AirflowFailException(str(error)) from None
        return {
            "reference_pipeline_run_id": reference,
            "is_recovery": self.is_recovery,
            "start_activity_name": self.start_activity_name or None,
            "start_from_failure": self.start_from_failure,
        }

    def _sending(self) -> None:
        self._create_sent_at = datetime.now(UTC)  # for on_kill's warning

    def submit_job(self, context: Context) -> str:
        from airflow_adf_trigger.core.runs.reconcile import AdfReconcileError
        from airflow_adf_trigger.core.runs.start import AdfRunUnclearError

        try:
            return self._starter(context).start()
        except AdfRunUnclearError as error:
            raise AirflowFailException(str(error)) from None
        except AdfReconcileError as error:
            raise AirflowException(str(error)) from None

    def get_job_status(self, external_id: Any, context: Context) -> str:
        return self.hook.client.get_run(str(external_id)).status.value

    def is_job_active(self, status: str) -> bool:
        return RunStatus.parse(status).is_active

    def is_job_succeeded(self, status: str) -> bool:
        return RunStatus.parse(status).is_successful

    def poll_until_complete(self, external_id: Any, context: Context) -> None:
        self._adopt(str(external_id), context)
        if not self.wait_for_termination:
            return
        if self.deferrable:
            self.defer(
                trigger=self.run_trigger(
                    str(external_id),
                    poll_interval=self.check_interval,
                    end_time=None if self.timeout is None else time.time() + self.timeout,
                    cancel_on_timeout=True,
                    cancel_on_kill=self.cancel_on_kill,
                    outage_budget=self.outage_budget,
                    pipeline_name=self.pipeline_name,
                ),
                method_name="execute_complete",
            )
        self._wait_in_worker(str(external_id))

    def get_job_result(self, external_id: Any, context: Context) -> str:
        self._adopt(str(external_id), context)
        self._push_activity_outputs(str(external_id), context)
        return str(external_id)

    # ------------------------------------------------------------ waiting

    def _wait_in_worker(self, run_id: str) -> None:
        from airflow_adf_trigger.core.errors import AdfError, AdfOutageError, AdfWaitTimeoutError
        from airflow_adf_trigger.core.runs.outcome import RunOutcome

        client = self.hook.client  # its sleeps end as soon as on_kill is called
        budget = self.outage_budget

        def report(run: PipelineRun, changed: bool) -> None:
            still = "" if changed else "still "
            every = "" if changed else f" (checked every {self.check_interval:g} s)"
            self.log.info(
                "Pipeline %r run %s is %s%s%s",
                run.pipeline_name,
                run.run_id,
                still,
                run.status.value,
                every,
            )

        def on_outage(error: AdfError, lasted: float) -> None:
            self.log.warning(
                "Azure unreachable for %.0f s (%s); still waiting, giving up after %.0f s",
                lasted,
                error,
                budget,
            )

        try:
            run = client.wait_for_run(
                run_id,
                poll_interval=self.check_interval,
                timeout=self.timeout,
                on_report=report,
                outage_budget=budget,
                on_outage=on_outage,
            )
        except WaitInterrupted:
            raise AirflowException(
                f"Task killed while waiting for pipeline {self.pipeline_name!r} run {run_id}; "
                "stopped waiting"
                + (" (the run was cancelled, see above)" if self.cancel_on_kill else "")
            ) from None
        except AdfWaitTimeoutError as waited:
            last = waited.run
            try:  # the run, child pipelines included; else the error says why not
                cancel: CancelResult | AdfError = client.cancel_run(run_id, is_recursive=True)
            except AdfError as error:
                cancel = error
            outcome = RunOutcome.timed_out(
                run_id,
                limit=f"after the {self.timeout:.0f} s timeout",
                cancel=cancel,
                pipeline_name=last.pipeline_name,
                status=last.status,
                run_page_url=self.hook.monitoring_url(run_id),
            )
        except AdfOutageError as outage:
            outcome = RunOutcome.outage(outage, run_page_url=self.hook.monitoring_url(run_id))
        else:
            outcome = self.hook.run_outcome(run)
        self._finish(outcome)

    def _hook_options(self) -> dict[str, Any]:
        # Airflow calls on_kill from the task's SIGTERM handler and then lets an interrupted
        # sleep go on: the client's sleeps (between checks, before retries) look at the flag.
        return {"sleep": self._sleep_unless_killed}

    # The clock and the sleep of a worker wait; tests replace them on an instance.
    _monotonic: Callable[[], float] = staticmethod(time.monotonic)
    _nap: Callable[[float], None] = staticmethod(time.sleep)

    def _sleep_unless_killed(self, seconds: float) -> None:
        """Sleep in short slices, ending with :class:`WaitInterrupted` once on_kill ran."""
        deadline = self._monotonic() + seconds
        while True:
            if self._killed:
                raise WaitInterrupted
            left = deadline - self._monotonic()
            if left <= 0:
                return
            self._nap(min(left, KILL_CHECK_SECONDS))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> str:
        """Back from the triggerer with the run's outcome."""
        outcome = self._outcome(event)
        self.run_id = outcome.run_id
        self._finish(outcome)
        self._push_activity_outputs(outcome.run_id, context)
        return outcome.run_id

    def _finish(self, outcome: RunOutcome) -> None:
        """The end of a wait, in the worker or the triggerer: log a success, or fail the try.

        Every failure may be retried: a retry reattaches to a run still going (after an
        outage) and starts a new one after a Failed, Cancelled or timed-out run.
        """
        from airflow_adf_trigger.core.runs.outcome import OutcomeKind

        if outcome.succeeded:
            self.log.info("%s", outcome.message)
            return
        message = outcome.message
        if outcome.kind is OutcomeKind.OUTAGE:
            message += f"; a retry of this task reattaches to run {outcome.run_id}."
        raise AirflowException(message)

    # ------------------------------------------------------------ bookkeeping

    def _adopt(self, run_id: str, context: Context) -> None:
        """Remember the run the instant it is known: for on_kill, XCom and the link.

        Airflow stores extra links only when a try ends; the run's link is stored now, so
        the UI shows it while the task waits too.
        """
        from airflow_adf_trigger.links.adf import monitoring_url

        self.run_id = run_id
        ti = context["ti"]
        ti.xcom_push(key=XCOM_RUN_ID, value=run_id)
        for link in self.operator_extra_links:
            ti.xcom_push(key=link.xcom_key, value=monitoring_url(self, run_id))

    def on_kill(self) -> None:
        from airflow_adf_trigger.core.errors import AdfError

        self._killed = True  # ends a worker wait within KILL_CHECK_SECONDS
        if not self.cancel_on_kill:
            return
        if self.run_id is None:
            if self._create_sent_at is not None:
                self.log.warning(
                    "Killed while starting pipeline %r: if a run started, it was not "
                    "cancelled. Look for runs started after %s in ADF monitoring.%s",
                    self.pipeline_name,
                    self._create_sent_at.isoformat(),
                    " A retry of this task looks for it first and follows it instead of "
                    "starting another."
                    if self.reconcile_unknown_outcome
                    else "",
                )
            return
        try:
            result = self.hook.client.cancel_run(self.run_id, is_recursive=True)
            self.log.info("Task killed: %s", result.describe())
        except AdfError as error:
            self.log.error("Task killed, but cancelling run %s failed: %s", self.run_id, error)

    # ------------------------------------------------------------ activity outputs

    def _push_activity_outputs(self, run_id: str, context: Context) -> None:
        """The named activities' outputs of a succeeded run, to XCom (``activity_outputs``)."""
        if not self.activity_outputs:
            return
        from airflow_adf_trigger.core.runs.outputs import activity_outputs

        client = self.hook.client
        run = client.get_run(run_id)
        if not run.status.is_successful:  # not waited for (a retry found it still running)
            return
        outputs = client.drive(
            activity_outputs(
                client.settings,
                run,
                self.activity_outputs,
                max_bytes=self.activity_output_max_bytes,
            )
        )
        for name, output in outputs.items():
            if output is None:
                self.log.warning("Run %s has no succeeded activity named %r", run_id, name)
            elif isinstance(output, dict) and output.get("truncated") is True:
                self.log.warning(
                    "The output of activity %r (%s bytes) is above %s bytes: not in XCom",
                    name,
                    output.get("size_bytes"),
                    self.activity_output_max_bytes,
                )
        context["ti"].xcom_push(key=XCOM_ACTIVITY_OUTPUTS, value=outputs)


def _checked_output_args(
    names: Sequence[str] | None, max_bytes: int, waits: bool
) -> tuple[list[str] | None, int]:
    """``activity_outputs`` and its size bound, checked when the DAG is parsed."""
    if names is None:
        return None, max_bytes
    if isinstance(names, str):
        names = [names]
    if not names or any(not isinstance(n, str) or not n.strip() for n in names):
        raise AdfConfigurationError(
            "activity_outputs", f"{names!r} is not a list of names", "give activity names"
        )
    if not waits:
        raise AdfConfigurationError(
            "activity_outputs",
            "needs the run's end",
            "set wait_for_termination=True (outputs exist once the run succeeded)",
        )
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise AdfConfigurationError(
            "activity_output_max_bytes", f"{max_bytes!r} is not positive", "give a byte count"
        )
    return list(names), max_bytes


def run_key_prefix(context: Context) -> str:
    """What a run key says of its sender: the task instance, readable in ADF Studio (the
    starter adds a nonce that makes the key one request's alone)."""
    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    index = "" if map_index is None or map_index < 0 else f"[{map_index}]"
    return f"airflow:{ti.dag_id}/{ti.run_id}/{ti.task_id}{index}"


def runs_followed_by_others(context: Context, own: str | None = None) -> list[str]:
    """The run ids other ADF tasks of this DAG run (mapped siblings included) pushed to XCom.

    Read tolerantly: an Airflow whose XCom cannot be asked this way (or no DAG in the
    context) gives no ids, and the search's other rules still apply.
    """
    # Every task's: a mapped task is no AdfRunPipelineOperator instance in the DAG, and an id
    # another kind of task pushed under the same key is never an ADF run of this pipeline.
    task_ids = list(getattr(context.get("dag"), "task_ids", None) or ())
    ti = context.get("ti")
    if ti is None or not task_ids:
        return []
    try:
        values = ti.xcom_pull(task_ids=task_ids, key=XCOM_RUN_ID, map_indexes=None)
        mapped = ti.xcom_pull(task_ids=task_ids, key=XCOM_RUN_ID)
    except Exception as error:  # any XCom backend's failure: the search still applies its rules
        logging.getLogger(__name__).info("Could not read the runs other tasks follow: %s", error)
        return []
    found: list[str] = []
    for value in (values, mapped):
        for item in value if isinstance(value, list | tuple) else [value]:
            if isinstance(item, str) and item and item != own and item not in found:
                found.append(item)
    return found


def is_first_try_of_series(context: Context, retries: int) -> bool:
    """Whether this try starts a new series of tries: a new DAG run's, or a cleared task's.

    Airflow sets ``max_tries`` to ``retries`` for a new task instance and, when a user
    clears it, to ``try_number + retries`` (``clear_task_instances``; also for a running
    task the executor reports ended after a clear). A retry keeps ``max_tries`` and adds one
    to ``try_number``. So ``try_number - (max_tries - retries)`` is 1 for the first try of a
    series and more for its retries. The task state store is *not* emptied by a clear, so
    this is what keeps a cleared task from reattaching to the run it was cleared from.
    """
    series, try_number = series_of(context), getattr(context.get("ti"), "try_number", None)
    if series is None or not isinstance(try_number, int):
        return False  # unknown: keep the retry behaviour (reattach)
    return try_number - (series - retries) <= 1


def series_of(context: Context) -> int | None:
    """The series of tries this one belongs to: ``max_tries``, which a clear raises (see
    :func:`is_first_try_of_series`) and a retry keeps, even if the DAG's ``retries`` was
    edited meanwhile; ``None`` when unknown."""
    max_tries = getattr(context.get("ti"), "max_tries", None)
    return max_tries if isinstance(max_tries, int) else None
