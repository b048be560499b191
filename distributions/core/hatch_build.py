"""Build hooks of airflow-adf-trigger-core: its files are in the repository's package.

This project lives in ``distributions/core/`` of the repository, and its files in the
repository's ``airflow_adf_trigger/`` package, beside the provider's. Built from the
repository, the hooks take the files from there (the sdist then holds them at their place);
built from the sdist, the files are already in place and nothing is redirected. The version is
``airflow_adf_trigger.__version__``, wherever the package is.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface
from hatchling.metadata.plugin.interface import MetadataHookInterface

PACKAGE = "airflow_adf_trigger"


def package_root(root: str) -> Path:
    """The directory that holds ``airflow_adf_trigger/``: the sdist's, or the repository's."""
    here = Path(root)
    return here if (here / PACKAGE).is_dir() else here.parent.parent


class CoreMetadataHook(MetadataHookInterface):
    def update(self, metadata: dict[str, Any]) -> None:
        init = (package_root(self.root) / PACKAGE / "__init__.py").read_text()
        found = re.search(r'^__version__ = "([^"]+)"$', init, re.MULTILINE)
        if found is None:
            raise ValueError(f"no __version__ in {PACKAGE}/__init__.py")
        metadata["version"] = found.group(1)


class CoreBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        source = package_root(self.root)
        if version == "editable" or source == Path(self.root):
            return  # an editable install points at the repository; an sdist has the files
        # The target's only-include list (pyproject.toml) names the core's share of the package.
        for path in self.build_config.only_include.values():
            if path.startswith(f"{PACKAGE}/"):
                build_data["force_include"][str(source / path)] = path
