"""A local Azure AD + Azure Data Factory service for demos, examples and tests.

It speaks the same HTTP protocol as Azure (status codes, bodies, headers), keeps its state in
memory, plays pipeline runs as a scenario file describes them (activities, outcomes, cancel,
recovery reruns, run queries with paging, the factory's own triggers) and injects faults on
request. Point your own DAG tests at it::

    from airflow_adf_trigger.emulator import EmulatorServer, Scenario

    with EmulatorServer(Scenario.load("my-scenario.json")) as server:
        connection = server.state.scenario.airflow_connection(server.url)
        ...  # e.g. AIRFLOW_CONN_ADF_DEFAULT=json.dumps(connection), then dag.test()

or start it as a process: ``python -m airflow_adf_trigger.emulator --port 8765 --scenario
FILE``. Other services can be served on the same port through :class:`Extension`.
"""

from airflow_adf_trigger.emulator.extensions import Extension
from airflow_adf_trigger.emulator.faults import FaultSpec
from airflow_adf_trigger.emulator.scenario import (
    ActivitySpec,
    OutcomeSpec,
    PipelineSpec,
    Scenario,
    ScenarioError,
    ServicePrincipal,
    TriggerSpec,
)
from airflow_adf_trigger.emulator.server import EmulatorServer
from airflow_adf_trigger.emulator.state import EmulatorState
from airflow_adf_trigger.emulator.wire import Request, Response

__all__ = [
    "ActivitySpec",
    "EmulatorServer",
    "EmulatorState",
    "Extension",
    "FaultSpec",
    "OutcomeSpec",
    "PipelineSpec",
    "Request",
    "Response",
    "Scenario",
    "ScenarioError",
    "ServicePrincipal",
    "TriggerSpec",
]
