"""The connection form's Test button, as the Airflow 3.3.2 UI sends it, against the emulator.

The UI's connection list builds the request from the stored connection with
``host: conn.host ?? ""`` and ``port: Number(conn.port)`` (``Number(null)`` is ``0``) and the
masked password ``***``. The api-server treats ``""`` as no host but compares ``0`` with the
stored ``NULL`` port, and refuses: "The host or port to test differs from the stored
connection" (see docs/upstream-connection-test-port.md).
"""

from __future__ import annotations

import json
from typing import Any

from tests.deployment.airflow_deployment import AirflowDeployment


def create(airflow: AirflowDeployment, emulator: Any, conn_id: str, **fields: Any) -> None:
    adf = emulator.state.scenario.airflow_connection(emulator.url)
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
            **fields,
        },
    )


def ui_test_request(airflow: AirflowDeployment, conn_id: str) -> Any:
    """What the UI's Test button posts for a stored connection."""
    stored = airflow.api("GET", f"connections/{conn_id}")
    body = {
        "conn_type": stored["conn_type"],
        "connection_id": stored["connection_id"],
        "description": stored["description"] or "",
        "extra": stored["extra"] or "{}",
        "host": stored["host"] or "",
        "login": stored["login"] or "",
        "password": stored["password"] or "",
        "port": int(stored["port"] or 0),
        "schema": stored["schema"] or "",
    }
    assert body["password"] == "***", "the UI only ever has the masked password"
    return airflow.request("POST", "connections/test", json=body)


def test_the_test_button_is_refused_for_a_connection_without_a_port(
    airflow_deployment: AirflowDeployment, deployment_emulator: Any
) -> None:
    """The upstream bug, pinned: when it is fixed this fails, and the workaround can go."""
    create(airflow_deployment, deployment_emulator, "adf_no_port")

    answer = ui_test_request(airflow_deployment, "adf_no_port")

    assert answer.status_code == 400
    assert "differs from the stored connection" in answer.text


def test_the_test_button_works_for_a_connection_stored_with_port_0(
    airflow_deployment: AirflowDeployment, deployment_emulator: Any
) -> None:
    create(airflow_deployment, deployment_emulator, "adf_port_0", port=0)

    answer = ui_test_request(airflow_deployment, "adf_port_0")

    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "status": True,
        "message": "Signed in and found data factory 'adf-demo'.",
    }


def test_a_wrong_secret_is_named_by_the_test_button(
    airflow_deployment: AirflowDeployment, deployment_emulator: Any
) -> None:
    create(airflow_deployment, deployment_emulator, "adf_wrong_secret", port=0, password="oops")

    answer = ui_test_request(airflow_deployment, "adf_wrong_secret")

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] is False
    assert "AADSTS7000215" in answer.json()["message"]
    assert "oops" not in answer.text
