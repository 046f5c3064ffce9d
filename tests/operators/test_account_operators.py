"""Account provisioning against the emulator and a real Airflow API server: the token ends up in an
Airflow connection, usable, and nowhere else."""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any

import pytest

from airflow_provider_stitch.exceptions import StitchConfigurationError
from airflow_provider_stitch.hooks.stitch import StitchConnectHook
from airflow_provider_stitch.operators import StitchCreateAccountOperator
from airflow_provider_stitch.operators.accounts import StitchAccountError, StitchExchangeOAuthCodeOperator


def stored_connection(connection_id: str) -> Any:
    """The connection as the metadata DB holds it (the test process shares the API server's DB)."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        conn = session.query(Connection).filter_by(conn_id=connection_id).one_or_none()
        if conn is not None:
            session.expunge(conn)
        return conn


def hook_for(conn: Any) -> StitchConnectHook:
    """A hook built from the stored connection's fields, as a later task's hook would be."""
    from airflow_provider_stitch.hooks.settings import StitchSettings

    hook = StitchConnectHook(conn.conn_id)
    hook.use_settings(
        dataclasses.replace(
            StitchSettings.from_connection_fields(host=conn.host, password=conn.password, extra=conn.extra)
        )
    )
    return hook


@pytest.fixture
def new_conn_id(airflow_api_conn: Any) -> Any:
    connection_id = f"stitch_customer_{uuid.uuid4().hex[:8]}"
    yield connection_id
    airflow_api_conn.delete_connection(connection_id)


def _create(connection_id: str, email: str | None = None, **kwargs: Any) -> StitchCreateAccountOperator:
    return StitchCreateAccountOperator(
        task_id="create_account",
        first_name="Ada",
        last_name="Lovelace",
        company="Analytical Engines",
        account_email=email or f"ada+{uuid.uuid4().hex[:8]}@engines.example",
        region="eu-central-1",
        connection_id=connection_id,
        stitch_conn_id="stitch_partner",
        **kwargs,
    )


def test_new_account_token_lands_in_a_stitch_connection_and_nowhere_else(
    stitch_conns: Any, new_conn_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = _create(new_conn_id).execute({})

    conn = stored_connection(new_conn_id)
    assert conn is not None
    assert conn.conn_type == "stitch"
    assert conn.host == stitch_conns.base_url
    # The emulator's time scale carries over from the partner connection (loopback only).
    assert json.loads(conn.extra) == {
        "stitch_client_id": result["stitch_account_id"],
        "time_scale": stitch_conns.config.speed,
    }
    token = conn.password
    assert token and token != stitch_conns.token

    # The return value (the XCom) names the account and the connection, never the token.
    assert result == {
        "stitch_account_id": result["stitch_account_id"],
        "connection_id": new_conn_id,
        "connection": "created",
    }
    assert token not in json.dumps(result)
    assert token not in capsys.readouterr().out

    # The token works: it authenticates as the new (empty) account.
    hook = hook_for(conn)
    assert hook.list_sources() == []
    assert hook.get_client_id() == result["stitch_account_id"]


def test_an_existing_connection_stops_before_any_account_is_created(
    stitch_conns: Any, new_conn_id: str, airflow_api_conn: Any
) -> None:
    email = f"grace+{uuid.uuid4().hex[:8]}@navy.example"
    _create(new_conn_id).execute({})
    first_token = stored_connection(new_conn_id).password

    with pytest.raises(StitchConfigurationError, match="already exists, so no Stitch account was created"):
        _create(new_conn_id, email=email).execute({})
    assert stored_connection(new_conn_id).password == first_token

    # No account was made for that email (else Stitch would answer ExistingUser now), and
    # replace_existing overwrites the connection with the new account's token.
    result = _create(new_conn_id, email=email, replace_existing=True).execute({})
    assert result["connection"] == "replaced"
    conn = stored_connection(new_conn_id)
    assert conn.password != first_token
    assert json.loads(conn.extra)["stitch_client_id"] == result["stitch_account_id"]
    assert hook_for(conn).get_client_id() == result["stitch_account_id"]


def test_existing_stitch_user_gets_a_clear_message_and_no_connection(
    stitch_conns: Any, new_conn_id: str
) -> None:
    with pytest.raises(StitchAccountError) as error:
        _create(new_conn_id, email="demo@stitch-emulator.invalid").execute({})
    assert "already has an active user with email demo@stitch-emulator.invalid" in str(error.value)
    assert "OAuth" in str(error.value)
    assert stored_connection(new_conn_id) is None


def test_wrong_partner_secret_is_named_without_revealing_it(
    stitch_conns: Any, new_conn_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_STITCH_PARTNER",
        json.dumps(
            {
                "conn_type": "stitch",
                "host": stitch_conns.base_url,
                "extra": {"partner_id": stitch_conns.partner_id, "partner_secret": "oc_not_the_secret"},
            }
        ),
    )
    with pytest.raises(StitchAccountError) as error:
        _create(new_conn_id).execute({})
    assert "refused the partner credentials of connection 'stitch_partner' (partner_secret: required)" in str(
        error.value
    )
    assert "oc_not_the_secret" not in str(error.value)
    assert stored_connection(new_conn_id) is None


def test_missing_partner_credentials_fail_before_any_request(
    stitch_conns: Any, new_conn_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # stitch_default is a client-account connection: it has a token but no partner credentials.
    with pytest.raises(StitchConfigurationError, match="no partner_id or partner_secret extra"):
        StitchCreateAccountOperator(
            task_id="create_account",
            first_name="Ada",
            last_name="Lovelace",
            company="Engines",
            account_email="ada@engines.example",
            connection_id=new_conn_id,
            stitch_conn_id="stitch_default",
        ).execute({})


def test_wrong_airflow_api_password_fails_before_any_account_is_created(
    stitch_conns: Any, new_conn_id: str, airflow_api_conn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    email = f"bad-api+{uuid.uuid4().hex[:8]}@example.com"
    bad = json.loads(airflow_api_conn.connection_uri) | {"password": "not-the-password"}
    monkeypatch.setenv("AIRFLOW_CONN_AIRFLOW_API", json.dumps(bad))
    with pytest.raises(Exception, match="refused the login of user 'stitch_provisioner'") as error:
        _create(new_conn_id, email=email).execute({})
    assert "not-the-password" not in str(error.value)

    monkeypatch.setenv("AIRFLOW_CONN_AIRFLOW_API", airflow_api_conn.connection_uri)
    assert _create(new_conn_id, email=email).execute({})["connection"] == "created"  # the email was unused


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"company": " "}, "company must be a non-empty string"),
        ({"account_email": "not-an-email"}, "account_email 'not-an-email' is not an email address"),
        ({"region": "mars-north-1"}, "region must be one of us-east-1, eu-central-1"),
        ({"connection_id": "stitch customer!"}, "is not a valid Airflow connection id"),
    ],
)
def test_bad_account_fields_fail_when_the_dag_is_parsed(kwargs: dict[str, Any], message: str) -> None:
    arguments = {
        "task_id": "create_account",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "company": "Engines",
        "account_email": "ada@engines.example",
        "connection_id": "stitch_ada",
    } | kwargs
    with pytest.raises(StitchConfigurationError, match=message):
        StitchCreateAccountOperator(**arguments)


def test_templated_fields_are_checked_once_rendered(stitch_conns: Any, new_conn_id: str) -> None:
    operator = _create(new_conn_id, email="{{ params.email }}")
    operator.account_email = "rendered-badly"  # what rendering would have produced
    with pytest.raises(StitchConfigurationError, match="is not an email address"):
        operator.execute({})


def test_oauth_code_exchange_stores_the_existing_accounts_token(stitch_conns: Any, new_conn_id: str) -> None:
    code = stitch_conns.admin.mint_oauth_code(1001, partner_id=stitch_conns.partner_id)
    operator = StitchExchangeOAuthCodeOperator(
        task_id="connect", code=code, connection_id=new_conn_id, stitch_conn_id="stitch_partner"
    )
    result = operator.execute({})
    assert result == {"stitch_account_id": 1001, "connection_id": new_conn_id, "connection": "created"}
    conn = stored_connection(new_conn_id)
    assert conn.password == stitch_conns.token  # the emulator's account 1001 token

    # Codes are single-use: a replay is refused with a clear message, and the connection is untouched.
    replay = StitchExchangeOAuthCodeOperator(
        task_id="connect",
        code=code,
        connection_id=new_conn_id,
        stitch_conn_id="stitch_partner",
        replace_existing=True,
    )
    with pytest.raises(StitchAccountError, match="single-use"):
        replay.execute({})


@pytest.mark.parametrize(
    ("code", "connection_id", "message"),
    [
        ("   ", "stitch_customer", "code rendered empty"),
        ("abc", "not a valid id!", "connection"),
    ],
)
def test_oauth_arguments_are_checked_once_rendered_before_any_request(
    code: str, connection_id: str, message: str
) -> None:
    # Both templated at parse time, so nothing is checked then; what they render to is checked first in
    # execute: the Stitch connection (absent here) is never even looked up.
    operator = StitchExchangeOAuthCodeOperator(
        task_id="connect",
        code="{{ params.code }}",
        connection_id="{{ params.conn }}",
        stitch_conn_id="absent",
    )
    operator.code, operator.connection_id = code, connection_id  # what rendering would have produced
    with pytest.raises(StitchConfigurationError, match=message):
        operator.execute({})


def test_an_empty_oauth_code_fails_at_parse_time() -> None:
    with pytest.raises(StitchConfigurationError, match="must be the OAuth authorization code"):
        StitchExchangeOAuthCodeOperator(task_id="connect", code=" ", connection_id="stitch_customer")
