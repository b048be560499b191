"""Every scenario of the adversarial matrix holds, fails safe, or ends as its stated limit."""

from __future__ import annotations

import pytest

from tests.adversary.matrix import SCENARIOS, Scenario, evaluate


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_the_promise(scenario: Scenario) -> None:
    verdict = evaluate(scenario)
    assert verdict.ok, (
        f"{scenario.name}: expected {scenario.expect}; own runs {verdict.own_runs} (most in a "
        f"series {verdict.most_in_a_series}), others' runs followed {verdict.strangers_followed}, "
        f"failed safe {verdict.failed_safe}, tries {verdict.seen}"
    )


def test_the_matrix_is_at_least_thirty_scenarios() -> None:
    assert len(SCENARIOS) >= 30
