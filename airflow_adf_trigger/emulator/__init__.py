"""A local Azure AD + Azure Data Factory service for demos, examples and tests.

It speaks the same HTTP protocol as Azure (status codes, bodies, headers), keeps its state in
memory, and plays pipeline runs as a scenario file describes them. Start it with
``python -m airflow_adf_trigger.emulator --port 8765 --scenario FILE``.
"""

from airflow_adf_trigger.emulator.scenario import PipelineSpec, Scenario, ServicePrincipal
from airflow_adf_trigger.emulator.server import EmulatorServer

__all__ = ["EmulatorServer", "PipelineSpec", "Scenario", "ServicePrincipal"]
