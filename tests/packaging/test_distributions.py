"""The two distributions: what each wheel holds, that twine accepts them, and that the core
installs and works in a fresh virtualenv without Airflow.

The provider's wheel, installed into a clean Airflow of each supported version and registered,
is checked by the version matrix (``.ci/matrix.py``), which installs and tests it there.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest

import airflow_adf_trigger
from tests.conftest import REPO, SCENARIOS

UV = Path(sys.executable).with_name("uv")
VERSION = airflow_adf_trigger.__version__


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both projects built as a release would be: sdist, then the wheel from the sdist."""
    out = tmp_path_factory.mktemp("dist")
    for project in (REPO / "distributions" / "core", REPO):
        subprocess.run(
            [sys.executable, "-P", "-m", "build", "--outdir", str(out), str(project)],
            check=True,
            capture_output=True,
        )
    return out


def wheel(dist: Path, name: str) -> Path:
    (found,) = dist.glob(f"{name}-{VERSION}-py3-none-any.whl")
    return found


def wheel_files(path: Path) -> set[str]:
    with zipfile.ZipFile(path) as archive:
        return {n for n in archive.namelist() if not n.split("/")[0].endswith(".dist-info")}


def metadata(path: Path) -> Message:
    with zipfile.ZipFile(path) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return Parser().parsestr(archive.read(name).decode())


def test_twine_accepts_every_wheel_and_sdist(dist: Path) -> None:
    artifacts = sorted(str(p) for p in dist.iterdir())
    assert len(artifacts) == 4, artifacts
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *artifacts],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_two_wheels_split_the_package_without_overlap(dist: Path) -> None:
    core = wheel_files(wheel(dist, "airflow_adf_trigger_core"))
    provider = wheel_files(wheel(dist, "airflow_adf_trigger"))
    assert not core & provider
    package = REPO / "airflow_adf_trigger"
    in_repo = {
        str(p.relative_to(REPO))
        for p in package.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert core | provider == in_repo
    assert {"airflow_adf_trigger/__init__.py", "airflow_adf_trigger/cli/__init__.py"} <= core
    assert "airflow_adf_trigger/emulator/scenarios/demo.json" in core
    assert {
        "airflow_adf_trigger/core/config/connection.py",
        "airflow_adf_trigger/core/config/form.py",
    } <= core
    assert "airflow_adf_trigger/core/__init__.py" in core  # the public API's one list
    assert not any(f.startswith("airflow_adf_trigger/operators/") for f in core)
    assert {"airflow_adf_trigger/hooks/__init__.py", "airflow_adf_trigger/hooks/adf.py"} == {
        f for f in provider if f.startswith("airflow_adf_trigger/hooks/")
    }
    assert "airflow_adf_trigger/compat.py" in provider


def test_the_repositorys_test_and_demo_machinery_is_in_no_distribution(dist: Path) -> None:
    """The Databricks emulation and the demo runner live in testbed/, outside the package."""
    for path in dist.glob("*.whl"):
        files = wheel_files(path)
        assert not [f for f in files if not f.startswith("airflow_adf_trigger/")], path.name
        assert not [f for f in files if "databricks" in f or f.endswith("/demo.py")], path.name
    for path in dist.glob("*.tar.gz"):
        with tarfile.open(path) as sdist:
            names = [m.name.split("/", 1)[-1] for m in sdist.getmembers()]
        assert not [n for n in names if n.startswith("testbed")], path.name


def test_each_sdist_holds_what_its_wheel_is_built_from(dist: Path) -> None:
    for name, wheel_name in (
        ("airflow_adf_trigger_core", "airflow_adf_trigger_core"),
        ("airflow_adf_trigger", "airflow_adf_trigger"),
    ):
        with tarfile.open(dist / f"{name}-{VERSION}.tar.gz") as sdist:
            members = {m.name.split("/", 1)[1] for m in sdist.getmembers() if "/" in m.name}
        assert wheel_files(wheel(dist, wheel_name)) <= members
        assert {"LICENSE", "README.md", "pyproject.toml", "PKG-INFO"} <= members


def test_the_provider_requires_the_core_of_its_version_and_airflow(dist: Path) -> None:
    provider = metadata(wheel(dist, "airflow_adf_trigger"))
    core = metadata(wheel(dist, "airflow_adf_trigger_core"))
    assert provider["Version"] == core["Version"] == VERSION
    requires = provider.get_all("Requires-Dist")
    assert f"airflow-adf-trigger-core=={VERSION}" in requires
    assert "apache-airflow>=3.0" in requires
    core_requires = core.get_all("Requires-Dist")
    assert not [r for r in core_requires if "airflow" in r.lower()]
    # Every third-party import of the core is declared (the emulator's optional ones in an
    # extra).
    for name in ("requests", "urllib3", "httpx"):
        assert any(re.match(rf"{name}\b", r) and "extra ==" not in r for r in core_requires)
    for name in ("pyyaml", "cryptography"):
        assert any(r.lower().startswith(name) and "extra == 'emulator'" in r for r in core_requires)
    assert provider["License-Expression"] == core["License-Expression"] == "Apache-2.0"


def test_the_license_file_is_the_apache_license_in_both_projects() -> None:
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert (REPO / "distributions" / "core" / "LICENSE").read_text() == text


# ------------------------------------------------------------------ the core without Airflow


@pytest.fixture(scope="module")
def core_venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with nothing but ``pip install airflow-adf-trigger-core[emulator]``."""
    venv = tmp_path_factory.mktemp("core-venv") / "venv"
    subprocess.run([str(UV), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    subprocess.run(
        [
            str(UV),
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            "-c",
            str(REPO / "requirements" / "constraints.txt"),
            f"{wheel(dist, 'airflow_adf_trigger_core')}[emulator]",
        ],
        check=True,
    )
    return venv


def clean_env(**extra: str) -> dict[str, str]:
    """This machine's environment without settings that would leak into the commands."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "ADF_", "AIRFLOW"))}
    env["PYTHONSAFEPATH"] = "1"  # import the installed package, never the repository's
    env.update(extra)
    return env


def test_the_core_installs_without_airflow(core_venv: Path) -> None:
    listed = subprocess.run(
        [str(UV), "pip", "list", "--python", str(core_venv / "bin" / "python"), "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    )
    names = {p["name"] for p in json.loads(listed.stdout)}
    assert "airflow-adf-trigger-core" in names
    assert not [n for n in names if "airflow" in n and n != "airflow-adf-trigger-core"]
    help_text = subprocess.run(
        [str(core_venv / "bin" / "adf-trigger"), "--help"],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=core_venv,
    )
    assert help_text.returncode == 0, help_text.stderr
    assert "usage: adf-trigger" in help_text.stdout


@pytest.fixture(scope="module")
def emulator_in_core_venv(core_venv: Path) -> Iterator[str]:
    """The emulator started from the core-only venv, as a user's own tests would."""
    process = subprocess.Popen(
        [
            str(core_venv / "bin" / "python"),
            "-m",
            "airflow_adf_trigger.emulator",
            "--port",
            "0",
            "--scenario",
            str(SCENARIOS / "demo.json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=clean_env(),
        cwd=core_venv,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.search(r"listening on (http://\S+)", line)
    try:
        assert found, line
        yield found.group(1)
    finally:
        process.terminate()
        process.wait(timeout=10)


def demo_settings(url: str) -> dict[str, str]:
    scenario = json.loads((SCENARIOS / "demo.json").read_text())
    (principal, *_) = scenario["service_principals"]
    return {
        "AZURE_TENANT_ID": scenario["tenant_id"],
        "AZURE_CLIENT_ID": principal["client_id"],
        "AZURE_CLIENT_SECRET": principal["client_secret"],
        "ADF_SUBSCRIPTION_ID": scenario["subscription_id"],
        "ADF_RESOURCE_GROUP": scenario["resource_group"],
        "ADF_FACTORY_NAME": scenario["factory_name"],
        "ADF_AUTHORITY_HOST": url,
        "ADF_MANAGEMENT_ENDPOINT": url,
    }


def test_the_cli_runs_a_pipeline_to_the_end_without_airflow(
    core_venv: Path, emulator_in_core_venv: str
) -> None:
    result = subprocess.run(
        [str(core_venv / "bin" / "adf-trigger"), "run", "copy_sales", "--wait", "--json"],
        capture_output=True,
        text=True,
        env=clean_env(**demo_settings(emulator_in_core_venv)),
        cwd=core_venv,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["status"] == "Succeeded"


def test_the_notebook_example_runs_without_airflow(
    core_venv: Path, emulator_in_core_venv: str
) -> None:
    notebook = REPO / "dags_examples" / "databricks_notebook_trigger_adf.py"
    result = subprocess.run(
        [str(core_venv / "bin" / "python"), str(notebook)],
        capture_output=True,
        text=True,
        env=clean_env(
            **demo_settings(emulator_in_core_venv),
            ADF_PIPELINE_NAME="copy_sales",
            ADF_PIPELINE_PARAMETERS='{"region": "emea"}',
            ADF_POLL_INTERVAL="0.2",
        ),
        cwd=core_venv,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Succeeded" in result.stdout
