"""The small Airflow REST API client, against the real ``airflow api-server`` of the session."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_provider_stitch.airflow_api import (
    AirflowApiClient,
    AirflowApiError,
    AirflowApiSettings,
    stitch_connection_body,
)
from airflow_provider_stitch.exceptions import StitchConfigurationError


def _body(connection_id: str, token: str = "ac_test_token") -> dict[str, Any]:  # noqa: S107
    return stitch_connection_body(
        connection_id=connection_id,
        access_token=token,
        stitch_client_id=42,
        base_url="http://127.0.0.1:9",
        description="test",
    )


def test_a_ready_made_bearer_token_works_and_connections_round_trip(airflow_api: Any) -> None:
    client = AirflowApiClient(AirflowApiSettings(base_url=airflow_api.base_url, token=airflow_api.token()))
    connection_id = f"stitch_{uuid.uuid4().hex[:8]}"
    assert client.store_connection(_body(connection_id), replace_existing=False) == "created"
    shown = client.get_connection(connection_id)
    assert shown is not None
    assert shown["conn_type"] == "stitch"
    assert shown["password"] != "ac_test_token"  # Airflow redacts it in API answers
    assert json.loads(shown["extra"]) == {"stitch_client_id": 42}
    with pytest.raises(AirflowApiError, match="already exists") as error:
        client.store_connection(_body(connection_id, "ac_other"), replace_existing=False)
    assert error.value.status == 409
    assert client.delete_connection(connection_id) is True
    assert client.delete_connection(connection_id) is False
    assert client.get_connection(connection_id) is None


def test_an_expired_token_is_renewed_with_the_login(airflow_api: Any) -> None:
    client = AirflowApiClient(
        AirflowApiSettings(
            base_url=airflow_api.base_url, username=airflow_api.username, password=airflow_api.password
        )
    )
    client._bearer = "expired.or.revoked"  # what a long-lived client would hold after its JWT expired
    assert client.connection_exists("no_such_connection") is False


def test_a_refused_bearer_token_is_reported_without_the_token(airflow_api: Any) -> None:
    client = AirflowApiClient(AirflowApiSettings(base_url=airflow_api.base_url, token="not-a-jwt"))
    with pytest.raises(AirflowApiError, match="refused GET /api/v2/connections") as error:
        client.connection_exists("x")
    assert error.value.status == 403  # Airflow's answer to an invalid JWT
    assert "not-a-jwt" not in str(error.value)


def test_an_unreachable_api_server_is_named() -> None:
    client = AirflowApiClient(AirflowApiSettings(base_url="http://127.0.0.1:9", token="t"))
    client.retry_delay = 0.0
    with pytest.raises(AirflowApiError, match=r"Could not reach the Airflow API at http://127\.0\.0\.1:9"):
        client.connection_exists("x")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"host": "http://airflow.example.com", "password": "t"}, "plain http to airflow.example.com"),
        ({"password": "t"}, "has no host"),
        ({"host": "https://airflow.example.com"}, "has no credentials"),
        ({"host": "https://airflow.example.com", "password": "t", "extra": '{"timeout": "soon"}'}, "timeout"),
    ],
)
def test_bad_airflow_api_connections_are_explained(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(StitchConfigurationError, match=message):
        AirflowApiSettings.from_connection(Connection(conn_id="airflow_api", conn_type="http", **fields))


def test_bare_host_names_default_to_https_and_password_alone_is_a_bearer_token() -> None:
    settings = AirflowApiSettings.from_connection(
        Connection(
            conn_id="airflow_api", conn_type="http", host="airflow.example.com", port=8443, password="jwt"
        )
    )
    assert settings.base_url == "https://airflow.example.com:8443"
    assert settings.token == "jwt"
    assert "jwt" not in repr(settings)
