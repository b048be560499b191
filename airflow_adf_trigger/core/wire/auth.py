"""Access tokens, the process-wide token cache, and azure-identity credentials."""

from __future__ import annotations

import asyncio
import re
import threading
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from airflow_adf_trigger.core.errors import AdfAuthenticationError, AdfConfigurationError

if TYPE_CHECKING:
    from airflow_adf_trigger.core.config.settings import AdfSettings

REFRESH_MARGIN_SECONDS = 300.0
"""A cached token is replaced this long before it expires (or a tenth of its life if shorter)."""

HEADER_SAFE_TOKEN = re.compile(r"^[!-~]+$")
"""A token that can go into an HTTP header: printable ASCII, no spaces or control characters."""


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A bearer token and when it expires (seconds since the epoch)."""

    token: str = field(repr=False)
    expires_at: float
    obtained_at: float | None = None

    def is_fresh(self, now: float) -> bool:
        """Whether the token is still good at ``now``, with the refresh margin to spare."""
        margin = REFRESH_MARGIN_SECONDS
        if self.obtained_at is not None:
            margin = min(margin, (self.expires_at - self.obtained_at) / 10)
        return now < self.expires_at - margin


CacheKey = tuple[str, ...]
"""(authority host, tenant, client id or credential kind, scope, secret fingerprint)."""


def cache_key(settings: AdfSettings) -> CacheKey:
    """Which cached token the settings may use: authority, tenant, audience and who signs in."""
    cloud = settings.cloud
    audience = cloud.resource if settings.token_api == "v1" else cloud.scope
    who: tuple[str, ...]
    if settings.client_secret is not None:
        who = (settings.client_id or "", settings.client_secret.fingerprint())
    else:
        who = (
            settings.client_id or "",
            f"identity:{settings.identity}",
            settings.managed_identity_client_id or "",
            settings.workload_identity_tenant_id or "",
        )
    return (cloud.authority_host, settings.tenant_id or "", audience, *who)


class TokenCache:
    """Tokens shared by every client of the same credential in this process.

    Thread-safe, and task-safe for asyncio: one fetch per credential at a time. The key
    includes a one-way fingerprint of the secret, so a client given a wrong secret never
    borrows a token another client earned with the right one.
    """

    def __init__(self) -> None:
        self._tokens: dict[CacheKey, AccessToken] = {}
        self._guard = threading.Lock()
        self._fetch_locks: dict[CacheKey, threading.Lock] = {}
        self._async_locks: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[CacheKey, asyncio.Lock]
        ] = weakref.WeakKeyDictionary()

    def get(self, key: CacheKey, now: float) -> AccessToken | None:
        """The cached token for ``key`` if it is still fresh at ``now``."""
        token = self._tokens.get(key)
        return token if token is not None and token.is_fresh(now) else None

    def put(self, key: CacheKey, token: AccessToken) -> None:
        """Remember a token for every client of the same credential."""
        self._tokens[key] = token

    def discard(self, key: CacheKey, token: AccessToken | None = None) -> None:
        """Forget a token ARM refused (only if it is still the cached one)."""
        with self._guard:
            if token is None or self._tokens.get(key) is token:
                self._tokens.pop(key, None)

    def fetch_lock(self, key: CacheKey) -> threading.Lock:
        """One lock per credential, so concurrent threads fetch a token only once."""
        with self._guard:
            return self._fetch_locks.setdefault(key, threading.Lock())

    def async_fetch_lock(self, key: CacheKey) -> asyncio.Lock:
        """The same for asyncio tasks of the running event loop."""
        loop = asyncio.get_running_loop()
        with self._guard:
            return self._async_locks.setdefault(loop, {}).setdefault(key, asyncio.Lock())

    def clear(self) -> None:
        """Forget every token (tests; a process that changes credentials)."""
        with self._guard:
            self._tokens.clear()


SHARED_TOKEN_CACHE = TokenCache()


class TokenCredential(Protocol):
    """What azure-identity credentials offer (``get_token(scope)``)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        """A token for the scopes (an object with ``token`` and ``expires_on``)."""
        ...


def credential_token(
    credential: TokenCredential, scope: str, now: float, settings: AdfSettings | None = None
) -> AccessToken:
    """Ask an azure-identity credential for a token; its errors become ours, in one line."""
    try:
        result = credential.get_token(scope)
    except Exception as error:  # azure-identity raises its own tree; keep only the message
        raise AdfAuthenticationError(
            f"{_identity_intro(settings)} could not get a token: {_first_line(error)}"
        ) from None
    token = str(getattr(result, "token", "") or "")
    if not token or not HEADER_SAFE_TOKEN.match(token):
        raise AdfAuthenticationError(
            f"{_identity_intro(settings)} returned an access token that cannot be sent in an "
            "HTTP header (empty, or with spaces or control characters); it was not used"
        )
    try:
        expires_at = float(result.expires_on)
    except (TypeError, ValueError):
        raise AdfAuthenticationError(
            f"{_identity_intro(settings)} returned a token without a readable expiry"
        ) from None
    return AccessToken(token=token, expires_at=expires_at, obtained_at=now)


def _identity_intro(settings: AdfSettings | None) -> str:
    """Who was asked for a token: says plainly that no client secret was set."""
    kind = (settings.identity if settings else None) or "default"
    if settings is not None and settings.client_secret is None:
        return (
            "No client secret is set (the connection's password), so the azure-identity "
            f"{kind} credential was tried instead, and it"
        )
    return f"The azure-identity {kind} credential"


def _first_line(error: Exception) -> str:
    """The first line of an azure-identity error (at most 500 characters), or its type."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:500]


_CREDENTIALS: dict[CacheKey, TokenCredential] = {}
_CREDENTIALS_GUARD = threading.Lock()


def identity_credential(settings: AdfSettings) -> TokenCredential:
    """The azure-identity credential named by the settings; one per process and settings."""
    key = cache_key(settings)
    with _CREDENTIALS_GUARD:
        if key not in _CREDENTIALS:
            try:
                _CREDENTIALS[key] = _build_identity_credential(settings)
            except ValueError as error:  # e.g. azure-identity refusing a non-https authority
                if isinstance(error, AdfConfigurationError):
                    raise
                raise AdfConfigurationError(
                    "client_secret",
                    f"is not set, and the azure-identity {settings.identity or 'default'} "
                    f"credential tried instead refused the settings: {_first_line(error)}",
                    "set the client secret value of the app registration, or an https "
                    "authority_host that azure-identity accepts",
                ) from None
        return _CREDENTIALS[key]


def _build_identity_credential(settings: AdfSettings) -> TokenCredential:
    try:
        import azure.identity as identity
    except ImportError:
        raise AdfConfigurationError(
            "client_secret",
            "is empty and azure-identity is not installed",
            "set the client secret value, or pip install 'airflow-adf-trigger[identity]' to "
            "sign in with a managed identity, workload identity or the Azure CLI",
        ) from None
    authority = settings.cloud.authority_host
    client_id = settings.client_id
    kind = settings.identity or "default"
    # A custom authority (private link, the emulator) is not in Microsoft's instance list:
    # without this, MSAL first asks login.microsoftonline.com to validate it.
    custom: dict[str, Any] = (
        {"disable_instance_discovery": True} if settings.cloud.name == "custom" else {}
    )
    # The official connection's extras name the managed identity and the workload identity's
    # tenant apart from the login and tenantId; they win when given.
    managed_client_id = settings.managed_identity_client_id or client_id
    workload_tenant = settings.workload_identity_tenant_id or settings.tenant_id
    if kind == "managed_identity":
        return identity.ManagedIdentityCredential(client_id=managed_client_id)
    if kind == "workload_identity":
        return identity.WorkloadIdentityCredential(
            tenant_id=workload_tenant, client_id=client_id, authority=authority, **custom
        )
    if kind == "azure_cli":
        return identity.AzureCliCredential(tenant_id=settings.tenant_id or "")
    if kind == "environment":
        return identity.EnvironmentCredential(authority=authority, **custom)
    return identity.DefaultAzureCredential(
        authority=authority,
        managed_identity_client_id=managed_client_id,
        workload_identity_client_id=client_id,
        workload_identity_tenant_id=workload_tenant,
        **custom,
    )
