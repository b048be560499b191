"""The both-client harness: every test that takes ``harness`` runs once per client kind."""

from __future__ import annotations

import pytest

from tests.clock import FakeClock

from .fake_azure import FakeAzure, Harness
from .helpers import make_settings


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    """Which client: ``AdfClient`` (sync) or ``AsyncAdfClient`` (async)."""
    return str(request.param)


@pytest.fixture
def fake() -> FakeAzure:
    """A scripted Azure that hands out a token and answers nothing else until told."""
    azure = FakeAzure()
    azure.token_ok()
    return azure


@pytest.fixture
def harness(kind: str, fake: FakeAzure, clock: FakeClock) -> Harness:
    """Four attempts per request within 60 s, time on the test's clock."""
    return Harness(kind, fake, make_settings(retry_max_attempts=4, retry_max_seconds=60), clock)
