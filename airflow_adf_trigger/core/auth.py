"""Access tokens and the process-wide token cache."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

REFRESH_MARGIN_SECONDS = 300.0
"""A cached token is replaced this long before it expires."""


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A bearer token and when it expires (seconds since the epoch)."""

    token: str = field(repr=False)
    expires_at: float

    def is_fresh(self, now: float, margin: float = REFRESH_MARGIN_SECONDS) -> bool:
        return now < self.expires_at - margin


CacheKey = tuple[str, str, str, str, str]
"""(authority host, tenant, client id, scope or resource, secret fingerprint)."""


class TokenCache:
    """Tokens shared by every client of the same credential in this process; thread-safe.

    The key includes a one-way fingerprint of the secret, so a client given a wrong secret
    never borrows a token another client earned with the right one.
    """

    def __init__(self) -> None:
        self._tokens: dict[CacheKey, AccessToken] = {}
        self._guard = threading.Lock()
        self._fetch_locks: dict[CacheKey, threading.Lock] = {}

    def get(self, key: CacheKey, now: float) -> AccessToken | None:
        token = self._tokens.get(key)
        return token if token is not None and token.is_fresh(now) else None

    def put(self, key: CacheKey, token: AccessToken) -> None:
        self._tokens[key] = token

    def discard(self, key: CacheKey, token: AccessToken | None = None) -> None:
        """Forget a token ARM refused (only if it is still the cached one)."""
        with self._guard:
            if token is None or self._tokens.get(key) is token:
                self._tokens.pop(key, None)

    def fetch_lock(self, key: CacheKey) -> threading.Lock:
        """One lock per credential, so concurrent callers fetch a token only once."""
        with self._guard:
            return self._fetch_locks.setdefault(key, threading.Lock())

    def clear(self) -> None:
        with self._guard:
            self._tokens.clear()


SHARED_TOKEN_CACHE = TokenCache()
