"""The emulator's token-bucket model of ARM's throttling: a burst, a refill, a 429 before any
processing (so a throttled create-run starts nothing), on a fake clock."""

from __future__ import annotations

from dataclasses import replace

import pytest
import requests

from airflow_adf_trigger.emulator import Scenario, ScenarioError
from tests.clock import FakeClock
from tests.emulator_fixtures import Emulators

READS = "x-ms-ratelimit-remaining-subscription-reads"


def test_the_token_bucket_gives_250_reads_then_429_until_it_refills(
    emulator_for: Emulators, demo_scenario: Scenario
) -> None:
    clock = FakeClock()
    server = emulator_for(replace(demo_scenario, rate_limit_model="token_bucket"), clock=clock)
    connection = server.state.scenario.airflow_connection(server.url)
    token = requests.post(
        f"{server.url}/{server.state.scenario.tenant_id}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": connection["login"],
            "client_secret": connection["password"],
            "scope": "https://management.azure.com/.default",
        },
        timeout=5,
    ).json()["access_token"]
    factory = server.state.scenario.factory_id
    url = f"{server.url}{factory}?api-version=2018-06-01"
    headers = {"Authorization": f"Bearer {token}"}
    with requests.Session() as session:
        answers = [session.get(url, headers=headers, timeout=5) for _ in range(251)]
        assert [a.status_code for a in answers[:250]] == [200] * 250
        assert answers[0].headers[READS] == "249"
        assert "x-ms-ratelimit-remaining-subscription-global-reads" in answers[0].headers
        throttled = answers[250]
        assert throttled.status_code == 429
        assert throttled.headers["Retry-After"] == "1"
        assert throttled.json()["error"]["code"] == "TooManyRequests"
        create = f"{server.url}{factory}/pipelines/copy_sales/createRun?api-version=2018-06-01"
        for _ in range(200):
            assert session.post(create, headers=headers, json={}, timeout=5).status_code == 200
        refused = session.post(create, headers=headers, json={}, timeout=5)
        assert refused.status_code == 429
        assert server.runs_created == 200  # the throttled create-run started nothing
        clock.advance(1)  # 25 reads refilled
        assert session.get(url, headers=headers, timeout=5).status_code == 200


def test_an_unknown_rate_limit_model_is_refused_naming_the_field(demo_scenario: Scenario) -> None:
    body = {
        "tenant_id": demo_scenario.tenant_id,
        "subscription_id": demo_scenario.subscription_id,
        "resource_group": "rg",
        "factory_name": "f",
        "service_principals": [{"client_id": "c", "client_secret": "s"}],
        "rate_limit_model": "leaky",
    }
    with pytest.raises(ScenarioError, match="rate_limit_model"):
        Scenario.from_json(body)
