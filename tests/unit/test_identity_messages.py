"""A connection without a client secret says so, and names the credential tried instead."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_adf_trigger.core.errors import AdfAuthenticationError, AdfConfigurationError
from airflow_adf_trigger.core.wire.auth import TokenCache, identity_credential
from airflow_adf_trigger.core.wire.client import AdfClient

from .helpers import RUN_ID, make_settings


def test_an_http_authority_without_a_secret_names_the_missing_secret() -> None:
    settings = make_settings(
        client_secret=None,
        authority_host="http://127.0.0.1:9",
        management_endpoint="http://127.0.0.1:9",
    )
    with pytest.raises(AdfConfigurationError) as caught:
        identity_credential(settings)
    assert caught.value.field == "client_secret"
    assert "is not set" in str(caught.value)
    assert "azure-identity default credential" in str(caught.value)
    assert "invalid authority" in str(caught.value)


def test_a_failing_default_credential_says_no_secret_was_set() -> None:
    class Unavailable:
        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            raise RuntimeError("DefaultAzureCredential failed to retrieve a token.\nAttempted: …")

    settings = make_settings(client_secret=None)
    with pytest.raises(AdfAuthenticationError) as caught:
        AdfClient(settings, credential=Unavailable(), token_cache=TokenCache()).get_run(RUN_ID)
    message = str(caught.value)
    assert message.startswith("No client secret is set (the connection's password)")
    assert "azure-identity default credential was tried instead" in message
    assert "Attempted" not in message  # one line


def test_a_credential_token_with_line_breaks_is_not_used() -> None:
    class Hostile:
        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            class Token:
                token = "Rk9v\r\nX-Evil: 1"
                expires_on = 4_000_000_000

            return Token()

    settings = make_settings(client_secret=None, identity="managed_identity")
    with pytest.raises(AdfAuthenticationError, match="cannot be sent in an") as caught:
        AdfClient(settings, credential=Hostile(), token_cache=TokenCache()).get_run(RUN_ID)
    assert "Rk9v" not in str(caught.value)
