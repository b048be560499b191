"""Settings from the environment and from connection URIs: what the CLI and the notebook share."""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.parse import quote, urlencode

import pytest

from airflow_adf_trigger.cli import common as cli
from airflow_adf_trigger.core.config.connection import ConnectionFields, parse_connection_uri
from airflow_adf_trigger.core.config.environment import (
    CONNECTION_URI_VARIABLE,
    ENVIRONMENT,
    SETTING_VARIABLES,
    WAIT_VARIABLES,
    Sourced,
    WaitOptions,
    build_settings,
    connection_layer,
    merge_layers,
    settings_from_environment,
    wait_options_from_environment,
)
from airflow_adf_trigger.core.errors import DEFAULT_OUTAGE_BUDGET, AdfConfigurationError

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
SUBSCRIPTION = "12345678-1234-1234-1234-123456789abc"
CLIENT_ID = "0d3c4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"
SECRET = "env-Secret-9xQ+/w"
VARIABLES = {
    "AZURE_TENANT_ID": TENANT,
    "AZURE_CLIENT_ID": CLIENT_ID,
    "AZURE_CLIENT_SECRET": SECRET,
    "ADF_SUBSCRIPTION_ID": SUBSCRIPTION,
    "ADF_RESOURCE_GROUP": "rg-analytics",
    "ADF_FACTORY_NAME": "adf-prod",
}


def uri(secret: str = SECRET, **extra: str) -> str:
    query = {
        "tenant_id": TENANT,
        "subscription_id": SUBSCRIPTION,
        "resource_group": "rg-from-uri",
        "factory_name": "adf-from-uri",
        **extra,
    }
    return f"adf://{quote(CLIENT_ID, safe='')}:{quote(secret, safe='')}@/?{urlencode(query)}"


def test_the_variables_give_the_settings() -> None:
    settings = settings_from_environment(
        {**VARIABLES, "ADF_CLOUD": "china", "ADF_REQUEST_TIMEOUT": "12"}
    )
    assert settings.tenant_id == TENANT
    assert settings.client_secret is not None and settings.client_secret.reveal() == SECRET
    assert settings.factory.factory_name == "adf-prod"
    assert settings.cloud.name == "china"
    assert settings.request_timeout == 12.0


def test_a_connection_uri_overrides_the_variables_setting_by_setting() -> None:
    settings = settings_from_environment(
        {**VARIABLES, CONNECTION_URI_VARIABLE: uri(), "ADF_REQUEST_TIMEOUT": "7"}
    )
    assert settings.factory.resource_group == "rg-from-uri"
    assert settings.factory.factory_name == "adf-from-uri"
    assert settings.request_timeout == 7.0  # the URI does not give it


def test_the_uri_alone_is_enough() -> None:
    settings = settings_from_environment({CONNECTION_URI_VARIABLE: uri()})
    assert settings.client_id == CLIENT_ID
    assert settings.factory.factory_name == "adf-from-uri"


def test_missing_settings_name_the_variables_to_export() -> None:
    with pytest.raises(AdfConfigurationError) as raised:
        settings_from_environment({"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": CLIENT_ID})
    message = str(raised.value)
    assert message.startswith("client_secret: is not set, nor subscription_id, ")
    assert "export AZURE_CLIENT_SECRET, ADF_SUBSCRIPTION_ID, ADF_RESOURCE_GROUP" in message
    assert CONNECTION_URI_VARIABLE in message


def test_a_malformed_value_names_its_variable() -> None:
    with pytest.raises(AdfConfigurationError) as raised:
        settings_from_environment({**VARIABLES, "ADF_RETRY_MAX_ATTEMPTS": "2.5"})
    assert raised.value.field == "retry_max_attempts"
    assert str(raised.value).endswith("(given by ADF_RETRY_MAX_ATTEMPTS)")


def test_a_malformed_value_from_the_uri_names_the_connection() -> None:
    with pytest.raises(AdfConfigurationError) as raised:
        settings_from_environment({CONNECTION_URI_VARIABLE: uri(factory_name="-bad-")})
    assert str(raised.value).endswith(f"(given by the connection in {CONNECTION_URI_VARIABLE})")
    assert SECRET not in str(raised.value)


def test_the_credential_comes_whole_from_one_source() -> None:
    """An identity in the URI is not joined by a secret from a variable below it."""
    connection = ConnectionFields(CLIENT_ID, None, {"identity": "managed_identity"})
    merged = merge_layers(
        [
            {"client_secret": Sourced(SECRET, "AZURE_CLIENT_SECRET")},
            connection_layer(connection, "the connection"),
        ]
    )
    assert "client_secret" not in merged
    assert merged["identity"].value == "managed_identity"


@pytest.mark.parametrize(
    "text",
    [
        "not a uri",
        "postgres://user:pw@host/db",
        '{"conn_type": "adf", "extra": "{nope"}',
        '["a list"]',
        '{"extra": 5}',
    ],
)
def test_an_unreadable_connection_is_refused_without_quoting_it(text: str) -> None:
    with pytest.raises(AdfConfigurationError) as raised:
        parse_connection_uri(text.replace("pw", SECRET), CONNECTION_URI_VARIABLE)
    assert raised.value.field.startswith(CONNECTION_URI_VARIABLE)
    assert SECRET not in str(raised.value)


def test_the_json_form_reads_like_the_uri() -> None:
    text = (
        '{"conn_type": "azure_data_factory", "login": "app", "password": "pw",'
        ' "extra": {"tenantId": "t"}}'
    )
    connection = parse_connection_uri(text)
    assert (connection.login, connection.password) == ("app", "pw")
    assert connection.extra == {"tenantId": "t"}
    assert "pw" not in repr(connection) and "tenantId" not in repr(connection)


def test_sourced_values_stay_out_of_reprs() -> None:
    assert SECRET not in repr(Sourced(SECRET, "AZURE_CLIENT_SECRET"))


def test_wait_options_default_to_the_clients_and_name_their_variable() -> None:
    assert wait_options_from_environment({}, local=False) == WaitOptions(
        poll_interval=15.0, timeout=None, outage_budget=DEFAULT_OUTAGE_BUDGET
    )
    options = wait_options_from_environment(
        {"ADF_POLL_INTERVAL": "0.2", "ADF_TIMEOUT": "60", "ADF_OUTAGE_BUDGET": "0"}, local=True
    )
    assert options == WaitOptions(poll_interval=0.2, timeout=60.0, outage_budget=0.0)
    with pytest.raises(AdfConfigurationError) as raised:
        wait_options_from_environment({"ADF_POLL_INTERVAL": "0.2"}, local=False)
    assert raised.value.field == "poll_interval"
    assert str(raised.value).endswith("(given by ADF_POLL_INTERVAL)")


def test_build_settings_names_any_source_it_is_given() -> None:
    given = {key: Sourced(value, f"widget {key}") for key, value in VARIABLES.items()}
    with pytest.raises(AdfConfigurationError) as raised:
        build_settings({**given, "token_api": Sourced("v3", "widget token_api")})
    assert str(raised.value).endswith("(given by widget token_api)")


def test_every_variable_is_listed_by_adf_trigger_help() -> None:
    """The CLI's help is written out (it must not import the core); it names them all."""
    result = subprocess.run(
        [sys.executable, "-m", "airflow_adf_trigger.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for variable in [*ENVIRONMENT.values(), CONNECTION_URI_VARIABLE]:
        assert variable in result.stdout, variable


def test_the_cli_declares_the_cores_defaults_and_names() -> None:
    assert WaitOptions().poll_interval == cli.DEFAULT_POLL_INTERVAL
    assert WaitOptions().outage_budget == cli.DEFAULT_OUTAGE_BUDGET
    assert cli.CONNECTION_URI_ENV == CONNECTION_URI_VARIABLE
    assert set(cli.SETTING_FLAGS) == set(SETTING_VARIABLES)
    assert set(cli.WAIT_FLAGS) == set(WAIT_VARIABLES)


def test_a_credential_only_connection_takes_the_factory_from_the_variables() -> None:
    official = {
        "conn_type": "azure_data_factory",
        "login": CLIENT_ID,
        "password": SECRET,
        "extra": {"tenantId": TENANT, "subscriptionId": SUBSCRIPTION},
    }
    environ = {
        CONNECTION_URI_VARIABLE: json.dumps(official),
        "ADF_RESOURCE_GROUP": "rg-analytics",
        "ADF_FACTORY_NAME": "adf-prod",
    }
    settings = settings_from_environment(environ)
    assert (settings.factory.resource_group, settings.factory.factory_name) == (
        "rg-analytics",
        "adf-prod",
    )
    with pytest.raises(AdfConfigurationError) as raised:
        settings_from_environment({CONNECTION_URI_VARIABLE: json.dumps(official)})
    assert str(raised.value).startswith(
        "resource_group: is not set, nor factory_name; export ADF_RESOURCE_GROUP, "
        "ADF_FACTORY_NAME, or every setting at once as a connection in ADF_CONNECTION_URI"
    )
