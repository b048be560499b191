"""One exception tree for everything a user of the client can act on.

Every message is written for a person: what went wrong and what to do. No message, ``str``
or ``repr`` ever contains a client secret or an access token.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_adf_trigger.core.runs.models import ActivityRun, PipelineRun


class AdfError(Exception):
    """Base class of every error raised by airflow-adf-trigger."""


class AdfConfigurationError(AdfError, ValueError):
    """A setting is missing or malformed; found locally, before any request was sent."""

    def __init__(self, field: str, problem: str, fix: str) -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{field}: {problem}; {fix}")


class AdfRequestError(AdfError):
    """Azure AD or Azure Resource Manager answered with an error."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        super().__init__(message)

    def __str__(self) -> str:
        facts = []
        if self.status is not None:
            facts.append(f"HTTP {self.status}")
        if self.code:
            facts.append(f"code {self.code}")
        if self.request_id:
            facts.append(f"request id {self.request_id}")
        return f"{self.message} ({', '.join(facts)})" if facts else self.message


class AdfAuthenticationError(AdfRequestError):
    """Azure AD refused to issue a token, or ARM refused the token."""


class AdfAuthorizationError(AdfRequestError):
    """The service principal is authenticated but lacks a role on the factory."""


class AdfNotFoundError(AdfRequestError):
    """The subscription, resource group, factory, pipeline or run does not exist."""


class AdfBadRequestError(AdfRequestError):
    """ADF rejected the request itself, e.g. an unknown pipeline parameter."""


class AdfConflictError(AdfRequestError):
    """The request conflicts with the resource's state (HTTP 409)."""


class AdfThrottledError(AdfRequestError):
    """Azure throttled the request (HTTP 429) and the retry budget ran out."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class AdfServiceError(AdfRequestError):
    """Azure failed on its side (HTTP 5xx) and the retry budget ran out."""


class AdfConnectionError(AdfError):
    """No answer could be had from Azure (DNS failure, refused or dropped connection)."""


class AdfOutageError(AdfConnectionError):
    """A wait gave up because Azure could not be read for longer than its outage budget."""

    def __init__(self, run_id: str, lasted: float, last_error: AdfError) -> None:
        self.run_id = run_id
        self.lasted = lasted
        self.last_error = last_error
        super().__init__(
            f"Stopped waiting for run {run_id}: Azure could not be read for {lasted:.0f} s "
            f"(last error: {last_error}). The run itself was not touched; it may still be going."
        )


class AdfRunOutcomeUnknownError(AdfError):
    """A create-run request may or may not have started a run; it was not sent again."""

    def __init__(
        self, pipeline_name: str, sent_at: datetime, gave_up_at: datetime, cause: str
    ) -> None:
        self.pipeline_name = pipeline_name
        self.sent_at = sent_at
        self.gave_up_at = gave_up_at
        super().__init__(
            f"The create-run request for pipeline {pipeline_name!r} got no usable answer "
            f"({cause}); the run may have started. It was not sent again, to avoid starting "
            f"the pipeline twice. Look in ADF monitoring for runs of {pipeline_name!r} started "
            f"between {sent_at.isoformat()} and {gave_up_at.isoformat()} before triggering again."
        )


class AdfPipelineRunError(AdfError):
    """A pipeline run ended without succeeding (Failed or Cancelled)."""

    def __init__(self, run: PipelineRun, failures: Sequence[ActivityRun] = ()) -> None:
        self.run = run
        self.failures = tuple(failures)
        detail = f": {run.message}" if run.message else ""
        lines = [
            f"Pipeline {run.pipeline_name!r} run {run.run_id} ended {run.status.value}{detail}"
        ]
        lines.extend(f"  - {failure.describe()}" for failure in self.failures)
        super().__init__("\n".join(lines))


class AdfWaitTimeoutError(AdfError):
    """A run was still going when the caller's wait ran out; the run itself was not touched."""

    def __init__(self, run: PipelineRun, waited: float) -> None:
        self.run = run
        super().__init__(
            f"Pipeline {run.pipeline_name!r} run {run.run_id} was still {run.status.value} "
            f"after waiting {waited:.0f} s"
        )


TRANSIENT_ERRORS: tuple[type[AdfError], ...] = (
    AdfConnectionError,
    AdfServiceError,
    AdfThrottledError,
)
"""Errors that outlived one request's retries but say nothing about the run: a wait goes on."""

DEFAULT_OUTAGE_BUDGET = 900.0
"""How long a wait keeps going through transient errors (network, 429, 5xx): 15 minutes."""
