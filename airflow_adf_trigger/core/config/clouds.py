"""Azure clouds: where to get a token, where ARM lives, and which scope to ask for."""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from airflow_adf_trigger.core.config.validation import check_endpoint, is_loopback
from airflow_adf_trigger.core.errors import AdfConfigurationError


@dataclass(frozen=True, slots=True)
class Cloud:
    """The endpoints of one Azure cloud (or of a private or local stand-in for one)."""

    name: str
    authority_host: str
    """Base URL of Azure AD, e.g. ``https://login.microsoftonline.com``."""
    management_endpoint: str
    """Base URL of Azure Resource Manager, e.g. ``https://management.azure.com``."""
    resource: str
    """The ARM audience; the v2 token scope is this followed by ``.default``."""
    studio_host: str
    """Host of the ADF Studio web UI for monitoring links."""

    @property
    def is_local(self) -> bool:
        """Both endpoints on this machine (an emulator): no Azure read budget to protect."""
        hosts = [urlsplit(url).hostname for url in (self.authority_host, self.management_endpoint)]
        return all(host is not None and is_loopback(host) for host in hosts)

    @property
    def scope(self) -> str:
        """The v2 token scope of Resource Manager in this cloud."""
        return self.resource.rstrip("/") + "/.default"


def _azure(name: str, login: str, management: str, studio: str, audience: str = "") -> Cloud:
    """One of Azure's own clouds from its hosts; its ARM audience is the management host's
    unless ``audience`` names another."""
    resource = f"https://{audience or management}/"
    return Cloud(name, f"https://{login}", f"https://{management}", resource, studio)


PUBLIC = _azure("public", "login.microsoftonline.com", "management.azure.com", "adf.azure.com")
CHINA = _azure("china", "login.chinacloudapi.cn", "management.chinacloudapi.cn", "adf.azure.cn")
US_GOVERNMENT = _azure(
    "usgov",
    "login.microsoftonline.us",
    "management.usgovcloudapi.net",
    "adf.azure.us",
    audience="management.core.usgovcloudapi.net",
)

CLOUDS: dict[str, Cloud] = {
    "public": PUBLIC,
    "azurecloud": PUBLIC,
    "china": CHINA,
    "azurechinacloud": CHINA,
    "usgov": US_GOVERNMENT,
    "usgovernment": US_GOVERNMENT,
    "azureusgovernment": US_GOVERNMENT,
}


def resolve_cloud(
    name: str | None = None,
    *,
    authority_host: str | None = None,
    management_endpoint: str | None = None,
) -> Cloud:
    """Pick a cloud by name and apply endpoint overrides (emulator, private link).

    The token scope follows ARM: when the management endpoint is overridden to a custom
    host, the default public scope is kept (a private link still issues tokens for the
    public audience); pass a named cloud to change it.

    :param name: ``public`` (the default), ``china`` or ``usgov`` (Azure's own names, such
        as ``AzureChinaCloud``, work too).
    :param authority_host: another sign-in endpoint (private link, the local emulator).
    :param management_endpoint: another Resource Manager endpoint.
    :raises AdfConfigurationError: an unknown cloud, or an endpoint that is not a URL.
    """
    key = (name or "public").strip().lower().replace(" ", "").replace("_", "")
    if key not in CLOUDS:
        raise AdfConfigurationError(
            "cloud",
            f"unknown cloud {name!r}",
            "use one of: public, china, usgov (or leave it empty for the public cloud)",
        )
    overrides = {
        field: check_endpoint(field, url)
        for field, url in (
            ("authority_host", authority_host),
            ("management_endpoint", management_endpoint),
        )
        if url
    }
    return replace(CLOUDS[key], name="custom", **overrides) if overrides else CLOUDS[key]
