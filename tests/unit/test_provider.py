"""Registration with Airflow: provider info, connection form, import hygiene."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import airflow_adf_trigger


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


def test_airflow_lists_the_provider_and_its_hook() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "airflow-adf-trigger" in manager.providers
    assert manager.hooks["adf"] is not None
    assert manager.hooks["adf"].hook_class_name == "airflow_adf_trigger.hooks.adf.AdfHook"


def test_core_client_imports_without_airflow() -> None:
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'airflow' or name.startswith('airflow.'):\n"
        "            raise ImportError('airflow is blocked in this test')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import airflow_adf_trigger.core, airflow_adf_trigger.emulator\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr


def test_importing_the_operator_leaves_the_emulator_unloaded() -> None:
    code = (
        "import sys\n"
        "import airflow_adf_trigger.operators.adf, airflow_adf_trigger.sensors.adf\n"
        "print(sorted(m for m in sys.modules if 'emulator' in m or m.startswith('azure')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
