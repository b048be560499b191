"""What the sync and async clients share: settings, clock, token cache and credential.

Neither HTTP library is imported here, so the async client does not load ``requests``.
"""

from __future__ import annotations

from collections.abc import Callable

from airflow_adf_trigger.core.auth import (
    AccessToken,
    TokenCache,
    TokenCredential,
    cache_key,
    credential_token,
    identity_credential,
)
from airflow_adf_trigger.core.settings import AdfSettings

Clock = Callable[[], float]


class ClientBase:
    """Settings, clock, token cache and credential of one client; no transport."""

    def __init__(
        self,
        settings: AdfSettings,
        *,
        token_cache: TokenCache,
        clock: Clock,
        credential: TokenCredential | None,
    ) -> None:
        self.settings = settings
        self._cache = token_cache
        self._clock = clock
        self._cache_key = cache_key(settings)
        self._credential = credential

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(factory={self.settings.factory.resource_id!r}, "
            f"tenant_id={self.settings.tenant_id!r}, client_id={self.settings.client_id!r})"
        )

    @property
    def uses_secret(self) -> bool:
        """Whether tokens come from the client secret (else from azure-identity)."""
        return self._credential is None and self.settings.client_secret is not None

    def _identity(self) -> TokenCredential:
        if self._credential is None:
            self._credential = identity_credential(self.settings)
        return self._credential

    def _token_from_identity(self) -> AccessToken:
        # azure-identity always speaks v2: the scope, whatever token_api says.
        return credential_token(
            self._identity(), self.settings.cloud.scope, self._clock(), self.settings
        )

    def _cached_token(self, refused: AccessToken | None) -> AccessToken | None:
        """The cached token, after dropping one ARM refused (if it is still the cached one)."""
        if refused is not None:
            self._cache.discard(self._cache_key, refused)
        return self._cache.get(self._cache_key, self._clock())
