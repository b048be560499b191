"""Build hook of the provider distribution (see pyproject.toml).

The provider and the core are released together from this repository: the provider requires
the core of exactly its own version, which is ``airflow_adf_trigger.__version__``.
"""

from __future__ import annotations

from typing import Any

from hatchling.metadata.plugin.interface import MetadataHookInterface


class ProviderMetadataHook(MetadataHookInterface):
    def update(self, metadata: dict[str, Any]) -> None:
        requires = list(self.config.get("requires", []))
        metadata["dependencies"] = [f"airflow-adf-trigger-core=={metadata['version']}", *requires]
