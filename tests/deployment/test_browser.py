"""In a real browser (Debian's chromium, driven by Playwright): the connection form, its Test
button, and the "Monitor in ADF Studio" button on a task's Details tab, while the task waits and
once it has finished. Screenshots go to ``.artifacts/browser/``.

Skipped, with the reason shown, when Playwright or ``/usr/bin/chromium`` is missing
(``apt-get install chromium``; ``pip install playwright``, never ``playwright install``).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_adf_trigger.core.config.form import CONNECTION_FIELDS, UI_FIELD_BEHAVIOUR
from tests.deployment.airflow_deployment import AirflowDeployment
from tests.deployment.conftest import ARTIFACTS
from tests.deployment.test_user_actions import DEFERRED, finish, start_waiting

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ARTIFACTS / "browser"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need Playwright: pip install playwright (no browser download)")
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM}: apt-get install chromium")
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, airflow_deployment: AirflowDeployment) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1800})
    context.set_default_timeout(30_000)
    page = context.new_page()
    # SimpleAuthManager with every user an admin: this sets the session cookie.
    page.goto(f"{airflow_deployment.url}/auth/token/login?next=/")
    try:
        yield page
    finally:
        context.close()


EVERY_SETTING = {
    "identity": "managed_identity",
    "cloud": "public",
    "token_api": "v2",
    "request_timeout": 30,
    "retry_max_attempts": 5,
    "retry_max_seconds": 120,
}


def create_connection(
    airflow: AirflowDeployment, emulator: Any, conn_id: str, **extra: Any
) -> None:
    adf = emulator.state.scenario.airflow_connection(emulator.url)
    adf["extra"].update(extra)
    airflow.request("DELETE", f"connections/{conn_id}")
    airflow.api(
        "POST",
        "connections",
        json={
            "connection_id": conn_id,
            "conn_type": "adf",
            "login": adf["login"],
            "password": adf["password"],
            "extra": json.dumps(adf["extra"]),
            "port": 0,  # the Test button's workaround (docs/upstream-connection-test-port.md)
        },
    )


def test_the_connection_form_shows_every_field_with_its_label_and_examples(
    page: Any, airflow_deployment: AirflowDeployment, deployment_emulator: Any
) -> None:
    # The edit form shows the extra fields the stored connection has: give it every one.
    create_connection(airflow_deployment, deployment_emulator, "adf_form", **EVERY_SETTING)
    page.goto(f"{airflow_deployment.url}/connections")
    row = page.locator("tr", has_text="adf_form")
    row.wait_for()
    try:
        row.get_by_role("button", name=re.compile("edit", re.I)).first.click()
        page.get_by_text("Client secret", exact=True).wait_for()
        standard = page.locator("body").inner_text()  # the extras' section folds it away
        page.get_by_text("Extra Fields", exact=True).click()
        page.get_by_text(CONNECTION_FIELDS["tenant_id"]["label"], exact=True).wait_for()
        page.wait_for_timeout(500)
    finally:
        page.screenshot(path=str(SHOTS / "connection-form.png"), full_page=True)

    body = page.locator("body").inner_text()
    for name, field in CONNECTION_FIELDS.items():
        assert field["label"] in body, f"{name}: label {field['label']!r} not shown"
    for name, label in UI_FIELD_BEHAVIOUR["relabeling"].items():
        assert label in standard, f"{name}: label {label!r} not shown"
    for name, field in CONNECTION_FIELDS.items():
        if "enum" in field["schema"] or "string" not in field["schema"]["type"]:
            continue  # a select shows its choices; the 3.3.2 UI offers no examples for numbers
        element = page.locator(f"[name='element_{name}']")
        assert element.count() == 1, f"{name}: no input"
        examples = [
            option.get_attribute("value") for option in page.locator(f"#list_{name} option").all()
        ]
        placeholder = element.get_attribute("placeholder")
        assert examples == [str(e) for e in field["schema"]["examples"]], name
        assert placeholder == "Start typing to see options", (name, placeholder)
    assert "Microsoft Entra ID (formerly Azure AD)" in body


def test_the_test_button_reports_success(
    page: Any, airflow_deployment: AirflowDeployment, deployment_emulator: Any
) -> None:
    create_connection(airflow_deployment, deployment_emulator, "adf_button")
    page.goto(f"{airflow_deployment.url}/connections")
    row = page.locator("tr", has_text="adf_button")
    row.wait_for()
    with page.expect_response(lambda r: r.url.endswith("/api/v2/connections/test")) as sent:
        row.get_by_role("button", name=re.compile("test", re.I)).first.click()
    answer = sent.value
    page.wait_for_timeout(500)
    page.screenshot(path=str(SHOTS / "connection-test-button.png"), full_page=True)
    request = answer.request.post_data_json
    assert (request["host"], request["port"], request["password"]) == ("", 0, "***")
    assert answer.status == 200, answer.text()
    assert answer.json()["status"] is True, answer.json()


def test_a_finished_task_has_the_link_to_its_run_in_adf_studio(
    page: Any, airflow_deployment: AirflowDeployment, deployment_emulator: Any
) -> None:
    dag_id = "adf_wait_deferrable"
    run_id = airflow_deployment.trigger(dag_id)
    assert airflow_deployment.wait_for_dag_run(dag_id, run_id, timeout=180) == "success"
    adf_run_id = airflow_deployment.xcom(dag_id, run_id, "copy_sales", "run_id")

    # The 3.3 UI shows extra links as buttons on the task instance's Details tab only (the
    # page opens on Logs): a user clicks Details and finds the button there.
    page.goto(f"{airflow_deployment.url}/dags/{dag_id}/runs/{run_id}/tasks/copy_sales")
    page.get_by_text("Success", exact=True).first.wait_for()
    page.get_by_role("link", name="Details", exact=True).click()
    button = page.get_by_role("link", name="Monitor in ADF Studio", exact=True)
    try:
        button.wait_for()
    finally:
        page.screenshot(path=str(SHOTS / "task-details-link.png"), full_page=True)

    assert button.is_visible()
    href = str(button.get_attribute("href"))
    assert href.startswith(f"https://adf.azure.com/en-us/monitoring/pipelineruns/{adf_run_id}?")
    assert "factories/adf-demo" in href
    assert button.get_attribute("target") == "_blank"  # another origin: a new tab
    assert href == airflow_deployment.links(dag_id, run_id, "copy_sales")["Monitor in ADF Studio"]


def test_a_waiting_task_already_has_the_button_to_its_run(
    page: Any, airflow_deployment: AirflowDeployment, deployment_emulator: Any
) -> None:
    # Airflow stores extra links when a try ends; the operator stores its link as soon as the
    # run exists, so the button is there while the task is deferred.
    run_id, adf_run = start_waiting(airflow_deployment, deployment_emulator, DEFERRED)
    try:
        page.goto(f"{airflow_deployment.url}/dags/{DEFERRED}/runs/{run_id}/tasks/wait/details")
        button = page.get_by_role("link", name="Monitor in ADF Studio", exact=True)
        try:
            button.wait_for()
        finally:
            page.screenshot(path=str(SHOTS / "waiting-task-details-link.png"), full_page=True)
        assert airflow_deployment.task_instance(DEFERRED, run_id, "wait")["state"] == "deferred"
        href = str(button.get_attribute("href"))
        assert href.startswith(
            f"https://adf.azure.com/en-us/monitoring/pipelineruns/{adf_run['runId']}?"
        )
    finally:
        finish(airflow_deployment, DEFERRED, run_id)
