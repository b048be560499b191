"""``diagnose``: the read-only self-check, against the emulator, healthy and with each failure."""

from __future__ import annotations

from dataclasses import replace

from airflow_adf_trigger.core.config.connection import settings_from_connection
from airflow_adf_trigger.core.config.settings import AdfSettings
from airflow_adf_trigger.core.doctor import diagnose
from airflow_adf_trigger.emulator import EmulatorServer, Scenario
from tests.clock import FakeClock
from tests.emulator_fixtures import Emulators


def settings_for(emulator: EmulatorServer, **extra: object) -> AdfSettings:
    connection = emulator.state.scenario.airflow_connection(emulator.url)
    password = extra.pop("password", connection["password"])
    return settings_from_connection(
        connection["login"],
        password,  # type: ignore[arg-type]
        {**connection["extra"], "retry_max_attempts": 1, **extra},
    )


def statuses(report: object) -> dict[str, str]:
    return {check.name: check.status for check in report.checks}  # type: ignore[attr-defined]


def test_a_healthy_factory_passes_every_check_and_starts_nothing(
    emulator: EmulatorServer,
) -> None:
    report = diagnose(settings_for(emulator), pipeline="copy_sales")
    assert statuses(report) == {
        "sign-in": "ok",
        "factory access": "ok",
        "pipeline": "ok",
        "run key": "ok",
        "query forms": "ok",
        "clock": "ok",
        "read budget": "ok",
        "latency": "ok",
    }
    assert report.ok
    assert emulator.runs_created == 0
    facts = {c["name"]: c for c in report.to_json()["checks"]}
    assert facts["sign-in"]["token_lifetime_seconds"] > 0
    assert facts["read budget"]["remaining_reads"] > 0
    assert facts["pipeline"]["parameters"] == ["airflow_run_key", "date", "region"]
    assert facts["query forms"]["refused"] == []
    assert "all checks passed" in report.render()
    assert "declares the string parameter 'airflow_run_key'" in report.render()


def test_a_wrong_secret_fails_at_sign_in_and_says_why(emulator: EmulatorServer) -> None:
    report = diagnose(settings_for(emulator, password="not-the-secret"))
    assert statuses(report) == {"sign-in": "fail"}
    assert not report.ok
    assert "AADSTS7000215" in report.checks[0].detail
    assert "not-the-secret" not in report.render()


def test_a_missing_role_names_the_role_and_the_scope(emulator: EmulatorServer) -> None:
    emulator.add_fault(
        operation="get factory",
        action="status",
        status=403,
        code="AuthorizationFailed",
        message="The client does not have authorization to perform action.",
    )
    report = diagnose(settings_for(emulator))
    assert statuses(report) == {"sign-in": "ok", "factory access": "fail", "latency": "ok"}
    detail = report.checks[1].detail
    assert "Data Factory Contributor" in detail
    assert "/factories/adf-demo" in detail


def test_an_unpublished_pipeline_fails_its_check_only(emulator: EmulatorServer) -> None:
    report = diagnose(settings_for(emulator), pipeline="no_such_pipeline")
    assert statuses(report)["pipeline"] == "fail"
    assert statuses(report)["factory access"] == "ok"
    assert "was not found" in report.checks[2].detail


def test_a_refused_query_form_is_a_warning_not_a_failure(emulator: EmulatorServer) -> None:
    emulator.add_fault(operation="query pipeline runs", action="status", status=400)
    report = diagnose(settings_for(emulator))
    forms = next(c for c in report.checks if c.name == "query forms")
    assert forms.status == "warn"
    assert forms.facts["refused"] == ["Status In end states"]
    assert report.ok


def test_azure_failing_fails_the_factory_check(emulator: EmulatorServer) -> None:
    emulator.add_fault(operation="get factory", action="status", status=503, times=-1)
    report = diagnose(settings_for(emulator))
    assert statuses(report) == {"sign-in": "ok", "factory access": "fail", "latency": "ok"}
    assert "HTTP 503" in report.checks[1].detail
    assert not report.ok


def test_run_starts_exactly_one_run_when_asked(emulator: EmulatorServer) -> None:
    report = diagnose(settings_for(emulator), run_pipeline="copy_sales")
    run = next(c for c in report.checks if c.name == "run")
    assert run.status == "ok"
    assert emulator.runs_created == 1
    assert run.facts["run_id"] in run.facts["run_page_url"]


def test_quick_mode_is_sign_in_and_factory_only(emulator: EmulatorServer) -> None:
    report = diagnose(settings_for(emulator), quick=True)
    assert statuses(report) == {"sign-in": "ok", "factory access": "ok"}


def test_run_measures_how_late_queries_show_the_run_and_its_end(
    emulator_for: Emulators, demo_scenario: Scenario
) -> None:
    clock = FakeClock()
    emulator = emulator_for(demo_scenario, clock=clock)
    emulator.update_settings(monitoring_lag_seconds=90)
    report = diagnose(
        settings_for(emulator), run_pipeline="copy_sales", clock=clock, sleep=clock.sleep
    )
    lag = next(c for c in report.checks if c.name == "monitoring lag")
    assert lag.status == "warn"  # past the feed's default re-read of 60 s
    # Measured every 2 s on the emulator's clock: within one poll of the 90 s set.
    assert 90 <= lag.facts["create_to_query_seconds"] <= 92
    assert 88 <= lag.facts["end_to_query_seconds"] <= 92
    assert "widens by itself" in lag.detail
    assert report.ok  # a lag is a warning: the code follows it


def test_run_with_a_prompt_monitor_reports_no_lag(
    emulator_for: Emulators, demo_scenario: Scenario
) -> None:
    clock = FakeClock()
    emulator = emulator_for(demo_scenario, clock=clock)
    report = diagnose(
        settings_for(emulator), run_pipeline="copy_sales", clock=clock, sleep=clock.sleep
    )
    lag = next(c for c in report.checks if c.name == "monitoring lag")
    assert lag.status == "ok"
    assert lag.facts == {"create_to_query_seconds": 0.0, "end_to_query_seconds": 0.0}


def test_a_token_bucket_budget_is_read_as_such_not_as_an_exhausted_hour(
    emulator_for: Emulators, demo_scenario: Scenario
) -> None:
    emulator = emulator_for(replace(demo_scenario, rate_limit_model="token_bucket"))
    report = diagnose(settings_for(emulator))
    budget = next(c for c in report.checks if c.name == "read budget")
    assert budget.status == "ok"  # ~249 left of a 250 bucket: not "most of 12,000 used"
    assert budget.facts["throttling_model"] == "token bucket"
    assert budget.facts["remaining_reads"] < 250
    assert budget.facts["refill_reads_per_second"] == 25.0


def test_an_hourly_budget_is_named_as_such(emulator: EmulatorServer) -> None:
    report = diagnose(settings_for(emulator))
    budget = next(c for c in report.checks if c.name == "read budget")
    assert budget.facts["throttling_model"] == "hourly"
    assert budget.facts["refill_reads_per_second"] == 3.33
