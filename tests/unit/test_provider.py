"""Registration with Airflow: provider info, connection form, import hygiene."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import airflow_adf_trigger
from tests.fresh import fresh_python, loaded_by


def test_entry_point_resolves_to_get_provider_info() -> None:
    (point,) = [
        p
        for p in entry_points(group="apache_airflow_provider")
        if p.value.startswith("airflow_adf")
    ]
    assert point.load() is airflow_adf_trigger.get_provider_info


def test_provider_info_declares_the_adf_connection() -> None:
    info = airflow_adf_trigger.get_provider_info()
    assert info["package-name"] == "airflow-adf-trigger"
    (conn,) = info["connection-types"]
    assert conn["connection-type"] == "adf"
    assert conn["hook-class-name"] == "airflow_adf_trigger.hooks.adf.AdfHook"
    assert set(conn["conn-fields"]) >= {
        "tenant_id",
        "subscription_id",
        "resource_group",
        "factory_name",
    }
    behaviour = conn["ui-field-behaviour"]
    assert behaviour["relabeling"] == {"login": "Client ID", "password": "Client secret"}
    assert {"host", "port", "schema"} <= set(behaviour["hidden-fields"])


def test_airflow_cli_lists_the_provider_and_its_hook() -> None:
    airflow = str(Path(sys.executable).with_name("airflow"))
    providers = subprocess.run(
        [airflow, "providers", "list", "-o", "json"], capture_output=True, text=True, check=True
    )
    hooks = subprocess.run(
        [airflow, "providers", "hooks", "-o", "json"], capture_output=True, text=True, check=True
    )
    assert "airflow-adf-trigger" in {p["package_name"] for p in _json_rows(providers.stdout)}
    adf = {h["connection_type"]: h for h in _json_rows(hooks.stdout)}["adf"]
    assert adf["class"] == "airflow_adf_trigger.hooks.adf.AdfHook"
    assert adf["conn_id_attribute_name"] == "adf_conn_id"


def _json_rows(output: str) -> list[dict[str, str]]:
    """The JSON table Airflow prints, without log lines that may precede it."""
    table = next(line for line in output.splitlines() if line.startswith("[{"))
    rows: list[dict[str, str]] = json.loads(table)
    return rows


def test_core_client_imports_without_airflow() -> None:
    code = "import airflow_adf_trigger.core, airflow_adf_trigger.emulator\nprint('ok')\n"
    result = fresh_python(code, without_airflow=True)
    assert result.stdout.strip() == "ok", result.stderr


def test_importing_the_operator_and_sensor_loads_nothing_heavy() -> None:
    """DAG files import these at every parse: no HTTP client, hook, trigger or azure-identity."""
    heavy = (
        "airflow_adf_trigger.emulator",
        "airflow_adf_trigger.core.wire.aio",
        "airflow_adf_trigger.core.wire.client",
        "airflow_adf_trigger.hooks.adf",
        "airflow_adf_trigger.triggers",
        "azure",
    )
    imports = "import airflow_adf_trigger.operators.adf, airflow_adf_trigger.sensors.adf"
    assert loaded_by(imports, heavy) == []
