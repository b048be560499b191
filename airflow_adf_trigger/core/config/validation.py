"""Local checks of user input, done before any request so that mistakes fail fast and clearly."""

from __future__ import annotations

import ipaddress
import math
import re
from urllib.parse import urlsplit

from airflow_adf_trigger.core.errors import AdfConfigurationError

_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
_FACTORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{1,61}[A-Za-z0-9])$")
_RESOURCE_GROUP = re.compile(r"^[\w\-.()]{0,89}[\w\-()]$")  # 1-90, not ending in "."
_PIPELINE_FORBIDDEN = set(".+?/<>*%&:\\")


def require(field: str, value: str | None, fix: str) -> str:
    """Return ``value`` stripped, or fail naming ``field`` when it is empty."""
    if value is None or not str(value).strip():
        raise AdfConfigurationError(field, "is missing", fix)
    return str(value).strip()


def check_guid(field: str, value: str | None, fix: str) -> str:
    """``value`` as a lower-case GUID, or an error naming ``field``."""
    return _matching(
        field, value, _GUID, "a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", fix
    ).lower()


def check_tenant(value: str | None, field: str = "tenant_id") -> str:
    """A tenant id: a GUID or a domain name such as contoso.com; ``field`` names it."""
    fix = "set the Directory (tenant) ID from the app registration's overview page in Azure"
    value = require(field, value, fix)
    if _GUID.match(value) or _DOMAIN.match(value):
        return value
    raise AdfConfigurationError(
        field, f"{value!r} is neither a GUID nor a domain name like contoso.com", fix
    )


def check_subscription(value: str | None) -> str:
    """A subscription id (a GUID)."""
    return check_guid(
        "subscription_id",
        value,
        "set the subscription ID (a GUID) shown on the data factory's overview page",
    )


def check_resource_group(value: str | None) -> str:
    """A resource group name as Azure allows it."""
    rule = "1-90 letters, digits, '_', '-', '.', '(', ')', not ending in '.'"
    fix = "set the resource group that holds the data factory"
    return _matching(
        "resource_group", value, _RESOURCE_GROUP, f"a valid resource group name ({rule})", fix
    )


def check_factory(value: str | None) -> str:
    """A data factory name as Azure allows it."""
    rule = "3-63 letters, digits and hyphens, starting and ending with a letter or digit"
    fix = "set the data factory's name as shown in the Azure portal"
    return _matching("factory_name", value, _FACTORY, f"a valid factory name ({rule})", fix)


def _matching(field: str, value: str | None, pattern: re.Pattern[str], what: str, fix: str) -> str:
    """``value`` stripped, if ``pattern`` matches it; else an error: it is not ``what``."""
    value = require(field, value, fix)
    if not pattern.match(value):
        raise AdfConfigurationError(field, f"{value!r} is not {what}", fix)
    return value


def check_pipeline(value: str | None) -> str:
    """A pipeline name without the characters ADF forbids (it becomes a URL segment)."""
    fix = "use the pipeline's name exactly as it appears in ADF Studio"
    value = require("pipeline_name", value, fix)
    bad = sorted(set(value) & _PIPELINE_FORBIDDEN)
    if bad:
        raise AdfConfigurationError(
            "pipeline_name",
            f"{value!r} contains {''.join(bad)!r}, which ADF pipeline names may not contain",
            fix,
        )
    return value


def check_run_id(value: str | None, field: str = "run_id") -> str:
    """A run id is a GUID; ``field`` names the argument it came from in the error."""
    if isinstance(value, str) and value.strip() in ("None", "null"):
        raise AdfConfigurationError(
            field,
            f"rendered to {value.strip()!r}",
            "the template that gives it found no value: check the upstream task or XCom key",
        )
    return check_guid(field, value, "pass the runId returned when the run was created (a GUID)")


MIN_POLL_INTERVAL = 1.0
"""The shortest wait between two status checks: protects the subscription's ARM read budget.
Not applied to an emulator on this machine (see :func:`poll_floor`)."""


def poll_floor(local: bool) -> float:
    """The poll-interval floor for an endpoint: none for a local emulator."""
    return 0.0 if local else MIN_POLL_INTERVAL


def check_number(
    field: str,
    value: object,
    fix: str,
    *,
    whole: bool = False,
    unreadable: str = "is not a number",
    unbounded: str = "is not a finite number",
) -> float:
    """A finite number (a whole one if ``whole``) from a number or its text, never a boolean.

    The errors name ``field`` and ``fix``; ``unreadable`` and ``unbounded`` word a value that
    is not a number and one that is NaN or infinite.
    """
    try:
        if isinstance(value, bool) or value is None:
            raise ValueError
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise AdfConfigurationError(field, f"{value!r} {unreadable}", fix) from None
    except OverflowError:  # an integer beyond any float
        number = math.inf
    if not math.isfinite(number):
        raise AdfConfigurationError(field, f"{value!r} {unbounded}", fix)
    if whole and not number.is_integer():
        raise AdfConfigurationError(field, f"{value!r} is not a whole number", fix)
    return number


def check_seconds(
    field: str,
    value: object,
    *,
    minimum: float = 0.0,
    allow_zero: bool = False,
) -> float:
    """A finite number of seconds: positive (or zero when allowed) and at least ``minimum``.

    Accepts numbers and numeric strings (rendered templates); rejects booleans, NaN and
    infinity, naming ``field``.
    """
    fix = f"give a finite number of seconds{f' of at least {minimum:g}' if minimum else ''}"
    number = check_number(field, value, fix, unreadable="is not a number of seconds")
    if number < 0 or (number == 0 and not allow_zero):
        raise AdfConfigurationError(
            field, f"{value!r} is {'negative' if number < 0 else 'zero'}", fix
        )
    if number < minimum and not (allow_zero and number == 0):
        raise AdfConfigurationError(
            field,
            f"{value!r} is below the {minimum:g} s floor, which protects the subscription's "
            "Azure Resource Manager read budget",
            fix,
        )
    return number


def check_endpoint(field: str, value: str) -> str:
    """An endpoint must be https, except plain http to a loopback address (the emulator)."""
    value = value.strip().rstrip("/")
    parts = urlsplit(value)
    fix = "use an https:// URL (plain http is allowed only for 127.0.0.1 or localhost)"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AdfConfigurationError(field, f"{value!r} is not an http(s) URL", fix)
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise AdfConfigurationError(
            field, f"{value!r} would send credentials in clear text over the network", fix
        )
    return value


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine (localhost or a loopback address)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
