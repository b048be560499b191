"""A local Azure AD + Azure Data Factory service for demos, examples and tests.

It speaks the same HTTP protocol as Azure (status codes, bodies, headers), keeps its state in
memory, plays pipeline runs as a scenario file describes them (activities, outcomes, cancel,
recovery reruns, run queries with paging) and injects faults on request. A scenario with a
``databricks`` section also gets the Databricks Jobs API on the same port (see
:mod:`airflow_adf_trigger.emulator.databricks`). Start it with
``python -m airflow_adf_trigger.emulator --port 8765 --scenario FILE``.
"""

from airflow_adf_trigger.emulator.databricks_scenario import (
    DatabricksJobSpec,
    DatabricksRunSpec,
    DatabricksSpec,
)
from airflow_adf_trigger.emulator.faults import FaultSpec
from airflow_adf_trigger.emulator.scenario import (
    ActivitySpec,
    OutcomeSpec,
    PipelineSpec,
    Scenario,
    ServicePrincipal,
)
from airflow_adf_trigger.emulator.server import EmulatorServer

__all__ = [
    "ActivitySpec",
    "DatabricksJobSpec",
    "DatabricksRunSpec",
    "DatabricksSpec",
    "EmulatorServer",
    "FaultSpec",
    "OutcomeSpec",
    "PipelineSpec",
    "Scenario",
    "ServicePrincipal",
]
