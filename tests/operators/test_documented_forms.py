"""Every documented type through the onboarding operators, with credentials from an Airflow connection.

The operator reads the type's form from the emulator (whose forms are Stitch's documented ones), puts
the connection's fields where that form names them and sends each value in its schema's type. Judged by
what the emulator stored, never by what the operator says it did.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
from form_values import complete_values

from airflow_provider_stitch.exceptions import StitchConfigurationError
from airflow_provider_stitch.hooks.stitch import StitchConnectHook
from airflow_provider_stitch.operators import StitchCreateDestinationOperator, StitchCreateSourceOperator

FORMS = json.loads(resources.files("airflow_provider_stitch.emulator").joinpath("forms.json").read_text())
CONNECTION = {"host": "db.customer.example", "port": 6543, "login": "loader", "password": "c0nn-s3cret"}
LOGIN_NAMES, SCHEMA_NAMES = ("user", "username"), ("dbname", "database")


def _names(form: dict[str, Any]) -> set[str]:
    return {p["name"] for step in form["steps"] for p in step["properties"]}


def _connection_types(kind: str) -> list[str]:
    """Types whose form takes a host and a login: the ones an Airflow connection describes."""
    return sorted(
        name
        for name, form in FORMS[kind].items()
        if "host" in _names(form) and _names(form) & set(LOGIN_NAMES)
    )


@pytest.fixture
def database_connection(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(
        "AIRFLOW_CONN_CUSTOMER_DB", json.dumps({"conn_type": "generic", **CONNECTION, "schema": "sales"})
    )
    return "customer_db"


def _from_connection(form: dict[str, Any]) -> set[str]:
    names = _names(form)
    login = next(n for n in LOGIN_NAMES if n in names)
    schema = [n for n in SCHEMA_NAMES if n in names][:1]
    return {"host", "port", "password", login, *schema} & names


@pytest.mark.parametrize("source_type", _connection_types("source_types"))
def test_a_database_source_of_every_documented_type_from_a_connection(
    stitch_conns: Any, database_connection: str, source_type: str, capsys: pytest.CaptureFixture[str]
) -> None:
    form = FORMS["source_types"][source_type]
    rest = {k: v for k, v in complete_values(form).items() if k not in _from_connection(form)}
    created = StitchCreateSourceOperator(
        task_id="create_source",
        display_name=f"{source_type} customer",
        source_type=source_type,
        properties=rest,
        properties_conn_id=database_connection,
    ).execute({})
    assert created["created"] is True and created["current_step_type"] == "discover_schema"
    stored = StitchConnectHook().get_source(created["source_id"]).raw["properties"]
    names = _names(form)
    login = next(n for n in LOGIN_NAMES if n in names)
    assert (stored["host"], stored["port"], stored[login]) == ("db.customer.example", "6543", "loader")
    for schema in [n for n in SCHEMA_NAMES if n in names][:1]:
        assert stored[schema] == "sales"
    assert "password" not in stored
    assert "c0nn-s3cret" not in capsys.readouterr().out


@pytest.mark.parametrize("destination_type", _connection_types("destination_types"))
def test_a_destination_of_every_documented_type_from_a_connection(
    stitch_conns: Any, database_connection: str, destination_type: str
) -> None:
    form = FORMS["destination_types"][destination_type]
    rest = {k: v for k, v in complete_values(form).items() if k not in _from_connection(form)}
    created = StitchCreateDestinationOperator(
        task_id="create_destination",
        destination_type=destination_type,
        name=f"{destination_type} warehouse",
        properties=rest,
        properties_conn_id=database_connection,
    ).execute({})
    stored = {d["id"]: d for d in StitchConnectHook().list_destinations()}[created["destination_id"]]
    assert stored["type"] == destination_type
    assert stored["properties"]["host"] == "db.customer.example"
    credentials = {p["name"] for step in form["steps"] for p in step["properties"] if p["is_credential"]}
    assert credentials.isdisjoint(stored["properties"])  # Snowflake's card even counts username
    if "username" not in credentials:
        assert stored["properties"]["username"] == "loader"
    # Destination forms want the port as a digit string; the connection's integer was sent as one.
    assert stored["properties"]["port"] == "6543"


@pytest.mark.parametrize(
    "destination_type", sorted(set(FORMS["destination_types"]) - set(_connection_types("destination_types")))
)
def test_the_other_documented_destinations_through_the_operator(
    stitch_conns: Any, destination_type: str
) -> None:
    form = FORMS["destination_types"][destination_type]
    created = StitchCreateDestinationOperator(
        task_id="create_destination",
        destination_type=destination_type,
        name=f"{destination_type} target",
        properties=complete_values(form),
    ).execute({})
    assert created["created"] is True and created["type"] == destination_type


@pytest.mark.parametrize(
    ("source_type", "properties"),
    [
        # The docs' SaaS report cards, with their documented property names and types.
        (
            "platform.hubspot",
            {
                "start_date": "2024-01-01T00:00:00Z",
                "frequency_in_minutes": "360",
                "client_id": "app-id",
                "client_secret": "app-secret",
                "redirect_uri": "https://example.com/oauth/callback",
                "refresh_token": "refresh-token",
            },
        ),
        (
            "platform.shopify",
            {"shop": "acme", "start_date": "2024-01-01T00:00:00Z", "date_window_size": "30", "api_key": "k"},
        ),
        (
            "platform.toggl",
            {"api_token": "t", "detailed_report_trailing_days": 1, "start_date": "2024-01-01T00:00:00Z"},
        ),
    ],
)
def test_the_documented_saas_examples(
    stitch_conns: Any, source_type: str, properties: dict[str, Any]
) -> None:
    created = StitchCreateSourceOperator(
        task_id="create_source",
        display_name=f"{source_type} app",
        source_type=source_type,
        properties=properties,
    ).execute({})
    assert created["current_step_type"] == "discover_schema"
    form = StitchConnectHook().get_source_type(source_type)
    integers = {
        p["name"]
        for s in form["steps"]
        for p in s["properties"]
        if (p["json_schema"] or {}).get("type") == "integer"
    }
    stored = StitchConnectHook().get_source(created["source_id"]).raw["properties"]
    for name in integers & set(properties):
        assert stored[name] == str(int(properties[name]))  # sent as an integer, shown as a string


def test_a_source_stopped_at_its_oauth_step_says_so(stitch_conns: Any) -> None:
    created = StitchCreateSourceOperator(
        task_id="create_source",
        display_name="CRM without OAuth",
        source_type="platform.hubspot",
        properties={"start_date": "2024-01-01T00:00:00Z"},
    ).execute({})
    assert created["current_step_type"] == "oauth"


def test_a_connection_that_fills_nothing_in_the_form_is_named(
    stitch_conns: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_EMPTY_APP", json.dumps({"conn_type": "generic", "extra": {"x": 1}}))
    before = len(StitchConnectHook().list_sources())
    with pytest.raises(StitchConfigurationError, match="Connection 'empty_app' gave no value"):
        StitchCreateSourceOperator(
            task_id="create_source",
            display_name="Toggl app",
            source_type="platform.toggl",
            properties_conn_id="empty_app",
        ).execute({})
    assert len(StitchConnectHook().list_sources()) == before


def test_a_retry_reuses_the_source_without_checking_inputs_it_would_not_send(stitch_conns: Any) -> None:
    # The seeded shop_db exists: a retried task whose inputs no longer fill the form still reuses it.
    reused = StitchCreateSourceOperator(
        task_id="create_source", display_name="Shop DB", source_type="platform.postgres"
    ).execute({})
    assert reused["created"] is False and reused["source_id"] == 2001
