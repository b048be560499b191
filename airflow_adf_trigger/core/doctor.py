"""A read-only self-check of a user's own factory: ``adf-trigger doctor``.

It signs in, reads the factory (and a pipeline, if named), tries each query form the shared
poller uses, compares the local clock with Azure's ``Date`` header, reads the remaining ARM
read budget (naming the throttling model the headers show) and times every call. It starts a
run only when asked to (``run_pipeline``), and then measures ADF's monitoring lag on it: how
long ``queryPipelineRuns`` takes to show the new run, and its end once a GET shows it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from airflow_adf_trigger.core.config.settings import AdfSettings
from airflow_adf_trigger.core.errors import AdfError, AdfRequestError
from airflow_adf_trigger.core.runs.models import RunFilter, RunQuery, RunStatus
from airflow_adf_trigger.core.runs.reconcile import DEFAULT_RUN_KEY_PARAMETER, PipelineDeclaration
from airflow_adf_trigger.core.wire import operations, protocol
from airflow_adf_trigger.core.wire.auth import TokenCache
from airflow_adf_trigger.core.wire.client import AdfClient
from airflow_adf_trigger.core.wire.protocol import HttpResponse

Status = Literal["ok", "warn", "fail", "skipped"]

CLOCK_SKEW_WARNING = 60.0
"""Seconds of difference from Azure's clock worth a warning (the poller reads Azure's)."""
LOW_READ_BUDGET = 1000
"""Remaining ARM reads below which the report warns, on the hourly model (12,000 an hour)."""
BUCKET_READS = 250
"""ARM's token bucket (public cloud, 2024 on): 250 reads burst per region, subscription and
principal, refilled 25 a second [learn.microsoft.com, "Understand how Azure Resource Manager
throttles requests"]. A remaining count at or below it means that model."""
LOW_BUCKET_READS = 25
"""Remaining reads in the bucket below which the report warns (one second of refill)."""
GLOBAL_READS = "x-ms-ratelimit-remaining-subscription-global-reads"
LAG_POLL_SECONDS = 2.0
"""How often the lag measurement asks the query and the GET (its resolution)."""
LAG_WARNING = 60.0
"""Seconds of monitoring lag worth a warning: the shared poller's default re-read."""


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report."""

    name: str
    status: Status
    detail: str
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DoctorReport:
    """Every check, in order; ``ok`` unless one failed."""

    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        """True unless a check failed (warnings do not fail the report)."""
        return all(check.status != "fail" for check in self.checks)

    def to_json(self) -> dict[str, Any]:
        """The report as plain data (``adf-trigger doctor --json``)."""
        return {
            "ok": self.ok,
            "checks": [
                {"name": c.name, "status": c.status, "detail": c.detail, **c.facts}
                for c in self.checks
            ],
        }

    def render(self) -> str:
        """The report as aligned lines of text, ending with the verdict."""
        width = max(len(check.name) for check in self.checks)
        lines = [f"{c.status.upper():7} {c.name.ljust(width)}  {c.detail}" for c in self.checks]
        verdict = "all checks passed" if self.ok else "some checks FAILED"
        warnings = sum(1 for c in self.checks if c.status == "warn")
        if warnings:
            verdict += f" ({warnings} warning{'s' if warnings > 1 else ''})"
        return "\n".join([*lines, verdict])


@dataclass
class _Doctor:
    settings: AdfSettings
    client: AdfClient
    clock: Callable[[], float]
    sleep: Callable[[float], Any] = time.sleep
    latencies: list[float] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    def add(self, name: str, status: Status, detail: str, **facts: Any) -> None:
        self.checks.append(Check(name, status, detail, facts))

    def judge(self, name: str, fine: bool, detail: str, warning: str, **facts: Any) -> None:
        """Add a check: ok when ``fine``, else a warning, its detail followed by ``warning``."""
        self.add(name, "ok" if fine else "warn", detail if fine else detail + warning, **facts)

    def call(self, request: protocol.HttpRequest) -> HttpResponse:
        started = self.clock()
        response: HttpResponse = self.client.drive(operations.send(self.settings, request))
        self.latencies.append(self.clock() - started)
        return response

    # ------------------------------------------------------------------ checks

    def sign_in(self) -> bool:
        settings = self.settings
        where = (
            settings.credential_label
            if settings.client_secret is None
            else settings.cloud.authority_host
        )
        started = self.clock()
        try:
            token = self.client.sign_in()
        except AdfError as error:
            self.add("sign-in", "fail", str(error), endpoint=where)
            return False
        took = self.clock() - started
        lifetime = token.expires_at - (token.obtained_at or started)
        self.add(
            "sign-in",
            "ok",
            f"{settings.credential_label} got a token from {where} "
            f"(valid {lifetime / 60:.0f} min, {took * 1000:.0f} ms)",
            endpoint=where,
            token_lifetime_seconds=round(lifetime),
            milliseconds=round(took * 1000),
        )
        return True

    def factory(self) -> HttpResponse | None:
        factory = self.settings.factory
        try:
            response = self.call(protocol.build_get_factory(self.settings))
            protocol.parse_factory(response, operations.target(self.settings))
        except AdfError as error:
            self.add("factory access", "fail", str(error), factory=factory.resource_id)
            return None
        self.add(
            "factory access",
            "ok",
            f"read data factory {factory.factory_name!r} in {factory.resource_group!r}",
            factory=factory.resource_id,
        )
        return response

    def subscription(self) -> None:
        """For settings that name no factory: list the subscription's factories."""
        sub = self.settings.subscription_id
        try:
            response = self.call(protocol.build_list_factories(self.settings))
        except AdfError as error:
            self.add("subscription", "fail", str(error), subscription=sub)
            return
        try:
            body = response.json()
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        nested = body.get("error")
        code = str(nested.get("code") or "") if isinstance(nested, dict) else ""
        who = self.settings.credential_label
        status: Status = "fail"
        facts: dict[str, Any] = {}
        if response.status == 200:
            names = sorted(
                str(item.get("name"))
                for item in body.get("value") or []
                if isinstance(item, dict) and item.get("name")
            )
            more = " or more" if body.get("nextLink") else ""
            shown = (
                f": {', '.join(names[:10])}{', ...' if len(names) > 10 else ''}" if names else ""
            )
            status, facts = "ok", {"factories": names}
            detail = (
                f"subscription {sub} answered: the {who} can see {len(names)}{more} data "
                f"factories{shown}"
            )
        elif response.status == 404 and code == "SubscriptionNotFound":
            detail = (
                f"Subscription {sub} was not found, or the {who} has no access to it: check "
                "subscription_id"
            )
        elif response.status == 401:
            detail = (
                f"Azure Resource Manager refused the access token for subscription {sub} "
                f"({code or 'HTTP 401'}); a subscription of another tenant is refused so: "
                "check subscription_id and tenant_id"
            )
        else:
            why = (
                " (usual when the role is granted on one factory or resource group only)"
                if response.status == 403
                else ""
            )
            status = "warn"
            detail = (
                f"subscription {sub} was not confirmed: listing its data factories answered "
                f"HTTP {response.status}{f' {code}' if code else ''}{why}; each task's factory "
                "is checked when it runs"
            )
        self.add("subscription", status, detail, subscription=sub, **facts)

    def pipeline(self, name: str) -> None:
        try:
            response = self.call(protocol.build_get_pipeline(self.settings, name))
            body = protocol.parse_factory(
                response, operations.target(self.settings, pipeline_name=name)
            )
        except AdfError as error:
            self.add("pipeline", "fail", str(error), pipeline=name)
            return
        properties = body.get("properties") or {}
        activities = properties.get("activities") or []
        parameters = sorted((properties.get("parameters") or {}).keys())
        self.add(
            "pipeline",
            "ok",
            f"pipeline {name!r} is published: {len(activities)} activities, parameters "
            f"{', '.join(parameters) or '(none)'}",
            pipeline=name,
            parameters=parameters,
        )
        declaration = PipelineDeclaration.from_json(name, body, None)
        declares = declaration.declares_string(DEFAULT_RUN_KEY_PARAMETER)
        parameter = f"the string parameter {DEFAULT_RUN_KEY_PARAMETER!r}"
        self.add(
            "run key",
            "ok" if declares else "warn",
            f"pipeline {name!r} declares {parameter}: a retry after a lost create-run answer "
            "knows its run by the key the operator sends in it"
            if declares
            else f"pipeline {name!r} does not declare {parameter}: after a lost create-run "
            "answer, a retry tells its run from a stranger's by parameters and time only, and "
            "fails safe when it cannot. Add the parameter (type String, no default needed) to "
            "the pipeline",
            pipeline=name,
        )

    def query_forms(self, pipeline: str | None) -> None:
        """The forms the shared poller may send, each asked once over the last five minutes."""
        from airflow_adf_trigger.core.runs.poller import END_STATES

        now = datetime.now(UTC)
        names = (pipeline, f"{pipeline}-doctor-probe") if pipeline else ("doctor-probe-a", "b")
        forms: dict[str, tuple[RunFilter, ...]] = {
            "Status In end states": (RunFilter("Status", "In", END_STATES),),
            "PipelineName In several": (RunFilter("PipelineName", "In", names),),
            "plain": (),
        }
        accepted, refused = [], []
        for label, filters in forms.items():
            query = RunQuery(now - timedelta(minutes=5), now + timedelta(minutes=1), filters)
            try:
                response = self.call(protocol.build_query_pipeline_runs(self.settings, query))
                protocol.parse_pipeline_run_page(response, operations.target(self.settings))
            except AdfError as error:
                if isinstance(error, AdfRequestError) and error.status == 400:
                    refused.append(label)
                    continue
                self.add("query forms", "fail", str(error))
                return
            accepted.append(label)
        self.judge(
            "query forms",
            not refused,
            f"accepted: {', '.join(accepted) or 'none'}",
            f"; refused: {', '.join(refused)} (the shared poller falls back to fewer filters by "
            "itself)",
            accepted=accepted,
            refused=refused,
        )

    def clock_skew(self, response: HttpResponse) -> None:
        server = protocol.server_time(response)
        if server is None:
            self.add("clock", "warn", "Azure sent no readable Date header")
            return
        local = datetime.fromtimestamp(response.received_at, UTC)
        skew = (local - server).total_seconds()
        side = "ahead of" if skew > 0 else "behind"
        self.judge(
            "clock",
            abs(skew) < CLOCK_SKEW_WARNING,
            # Date has one-second resolution: under 2 s of difference is no skew at all.
            "this machine's clock agrees with Azure's (within 2 s)"
            if abs(skew) < 2
            else f"this machine's clock is {abs(skew):.0f} s {side} Azure's",
            "; fix the clock (NTP): reconciliation windows use it",
            skew_seconds=round(skew, 1),
        )

    def read_budget(self, response: HttpResponse) -> None:
        value = response.headers.get("x-ms-ratelimit-remaining-subscription-reads")
        if value is None or not value.strip().isdigit():
            self.add("read budget", "warn", "Azure sent no remaining-reads header")
            return
        remaining = int(value)
        model, refill, low = (
            ("token bucket (250 reads burst, 25/s refill)", 25.0, LOW_BUCKET_READS)
            if GLOBAL_READS in response.headers or remaining <= BUCKET_READS
            else ("hourly (12,000 reads an hour)", 12000 / 3600, LOW_READ_BUDGET)
        )
        self.judge(
            "read budget",
            remaining >= low,
            f"{remaining:,} ARM reads left for this subscription and principal; the headers "
            f"show ARM's {model} model: a triggerer's shared poller spends about one query "
            "a poll interval per factory and credential, plus a GET per run the change feed "
            "does not show yet",
            "; other clients are using most of the budget: expect throttling",
            remaining_reads=remaining,
            throttling_model=model.partition(" (")[0],
            refill_reads_per_second=round(refill, 2),
        )

    def latency(self) -> None:
        if not self.latencies:
            self.add("latency", "skipped", "no call to Azure Resource Manager was answered")
            return
        median = statistics.median(self.latencies) * 1000
        worst = max(self.latencies) * 1000
        self.add(
            "latency",
            "ok",
            f"median {median:.0f} ms, slowest {worst:.0f} ms over {len(self.latencies)} calls",
            median_ms=round(median),
            max_ms=round(worst),
        )

    def start_run(self, pipeline: str, wait: float) -> None:
        try:
            run_id = self.client.create_run(pipeline)
            created = self.clock()
            run = self.client.get_run(run_id)
        except AdfError as error:
            self.add("run", "fail", str(error), pipeline=pipeline)
            return
        url = self.settings.factory.monitoring_url(self.settings.cloud, run_id)
        self.add(
            "run",
            "fail" if run.status is RunStatus.FAILED else "ok",
            f"started run {run_id} of {pipeline!r}: {run.status.value} ({url})",
            run_id=run_id,
            run_page_url=url,
        )
        if wait > 0:
            self.monitoring_lag(run_id, pipeline, created, wait)

    def monitoring_lag(self, run_id: str, pipeline: str, created: float, wait: float) -> None:
        """Follow the run by query and by GET: how late the query shows it, then its end."""
        appeared: float | None = None
        ended: float | None = None
        end_shown: float | None = None
        now = datetime.now(UTC)
        # A lastUpdatedBefore in the future is accepted [PipelineRuns_QueryByFactory.json]: one
        # window serves every read, however long the run takes.
        query = RunQuery(
            now - timedelta(minutes=10),
            now + timedelta(days=1),
            (RunFilter("PipelineName", "Equals", (pipeline,)),),
        )
        try:
            while self.clock() - created <= wait:
                shown = {r.run_id: r for r in self.client.query_run_changes(query).runs}
                moment = self.clock()
                queried = shown.get(run_id)
                if queried is not None and appeared is None:
                    appeared = moment - created
                if ended is None and self.client.get_run(run_id).status.is_terminal:
                    ended = self.clock()
                if ended is not None and queried is not None and queried.status.is_terminal:
                    end_shown = max(moment - ended, 0.0)
                    break
                self.sleep(LAG_POLL_SECONDS)
        except AdfError as error:
            self.add("monitoring lag", "warn", f"could not measure: {error}")
            return
        facts = {
            "create_to_query_seconds": None if appeared is None else round(appeared, 1),
            "end_to_query_seconds": None if end_shown is None else round(end_shown, 1),
        }
        if appeared is None or end_shown is None:
            if appeared is None:
                missing = "the run"
            elif ended is None:
                missing = "its end (the run did not end)"
            else:
                missing = "its end"
            self.add(
                "monitoring lag",
                "warn",
                f"queryPipelineRuns did not show {missing} within {wait:.0f} s; the shared "
                "poller follows lags up to 30 min, the reconcile search may need longer",
                **facts,
            )
            return
        self.judge(
            "monitoring lag",
            max(appeared, end_shown) <= LAG_WARNING,
            f"queryPipelineRuns showed the new run {appeared:.0f} s after create-run and its "
            f"end {end_shown:.0f} s after a GET did (every {LAG_POLL_SECONDS:.0f} s)",
            f": more than the {LAG_WARNING:.0f} s the change feed re-reads by default "
            "(it widens by itself, up to 30 min); searches that rely on queries should "
            "wait at least this long",
            **facts,
        )


def diagnose(
    settings: AdfSettings,
    *,
    pipeline: str | None = None,
    run_pipeline: str | None = None,
    client: AdfClient | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Any] = time.sleep,
    quick: bool = False,
    lag_wait: float = 600.0,
) -> DoctorReport:
    """Check ``settings`` against Azure; read-only unless ``run_pipeline`` is given.

    :param settings: the settings to check (a check that fails says what to fix).
    :param pipeline: also check that this pipeline exists and can be read.
    :param run_pipeline: also start a run of this pipeline and see it appear (not read-only).
    :param client: the client to check with; default: a new one with its own token cache, so
        the sign-in is really tried.
    :param clock: the monotonic clock the latencies and the lag are measured with.
    :param sleep: waits between the lag measurement's reads.
    :param lag_wait: with ``run_pipeline``, how long to follow the run to measure ADF's
        monitoring lag (0: do not measure).
    :param quick: stop after sign-in and the factory read (the connection's Test button).
    :return: every check, in order, with its outcome and detail. Settings that name no
        factory (credential-only) get sign-in and a subscription check only.
    """
    made = AdfClient(settings, token_cache=TokenCache()) if client is None else nullcontext(client)
    with made as client:
        doctor = _Doctor(settings, client, clock, sleep)
        if settings.factory_ref is None:
            if doctor.sign_in():
                doctor.subscription()
        elif doctor.sign_in():
            response = doctor.factory()
            if not quick:
                if pipeline:
                    doctor.pipeline(pipeline)
                if response is not None:
                    doctor.query_forms(pipeline)
                    doctor.clock_skew(response)
                    doctor.read_budget(response)
                doctor.latency()
                if run_pipeline:
                    doctor.start_run(run_pipeline, lag_wait)
    return DoctorReport(tuple(doctor.checks))
