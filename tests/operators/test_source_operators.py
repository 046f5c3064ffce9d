"""Source and destination control against the emulator: pause/unpause, create, reuse on retry."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_stitch.api import endpoints
from airflow_provider_stitch.api.http import ApiRequest
from airflow_provider_stitch.exceptions import StitchConfigurationError
from airflow_provider_stitch.hooks.stitch import StitchConnectHook
from airflow_provider_stitch.operators import (
    StitchCreateDestinationOperator,
    StitchCreateSourceOperator,
    StitchPauseSourceOperator,
    StitchUnpauseSourceOperator,
)

SHOP_DB = 2001
# Complete forms as Stitch's docs spell them (non-secret parts; tests add credentials).
POSTGRES_SOURCE = {
    "host": "db.internal",
    "port": 5432,
    "user": "stitch",
    "password": "pw",
    "dbname": "numbers",
    "include_schemas_in_destination_stream_name": "false",
}
POSTGRES_DESTINATION = {
    "host": "wh.internal",
    "port": "5432",
    "username": "loader",
    "password": "pw",
    "database": "analytics",
    "ssl": False,
    "encryption_type": "none",
}


def test_pause_and_unpause_round_trip_idempotently(stitch_conns: Any) -> None:
    hook = StitchConnectHook()
    assert hook.get_source(SHOP_DB).raw["schedule"] is not None

    paused = StitchPauseSourceOperator(task_id="pause", source_name="shop_db").execute({})
    assert paused["source_id"] == SHOP_DB
    assert paused["paused"] is True
    assert paused["changed"] is True
    source = hook.get_source(SHOP_DB)
    assert source.is_paused
    assert source.raw["schedule"] is None  # Stitch stops scheduling a paused source

    again = StitchPauseSourceOperator(task_id="pause", source_id=SHOP_DB).execute({})
    assert again["changed"] is False
    assert again["paused_at"] == paused["paused_at"]  # a second pause does not move paused_at

    resumed = StitchUnpauseSourceOperator(task_id="unpause", source_id=str(SHOP_DB)).execute({})
    assert resumed == {"source_id": SHOP_DB, "paused": False, "paused_at": None, "changed": True}
    assert hook.get_source(SHOP_DB).raw["schedule"] is not None
    assert StitchUnpauseSourceOperator(task_id="unpause", source_id=SHOP_DB).execute({})["changed"] is False


def test_pausing_needs_exactly_one_source_reference() -> None:
    with pytest.raises(StitchConfigurationError, match="exactly one of source_id and source_name"):
        StitchPauseSourceOperator(task_id="pause", source_id=1, source_name="crm")
    with pytest.raises(StitchConfigurationError, match="exactly one of source_id and source_name"):
        StitchUnpauseSourceOperator(task_id="unpause")


@pytest.fixture
def warehouse_credentials(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(
        "AIRFLOW_CONN_BILLING_DB",
        json.dumps(
            {
                "conn_type": "postgres",
                "host": "billing.internal",
                "port": 5432,
                "login": "stitch",
                "password": "b1ll1ng-s3cret",
                "schema": "billing",
            }
        ),
    )
    return "billing_db"


def test_create_source_takes_credentials_from_a_connection_and_reuses_it_on_retry(
    stitch_conns: Any, warehouse_credentials: str, capsys: pytest.CaptureFixture[str]
) -> None:
    def create() -> dict[str, Any]:
        return StitchCreateSourceOperator(
            task_id="create_source",
            display_name="Billing DB",
            source_type="platform.postgres",
            properties={
                "frequency_in_minutes": "60",
                "ssl": "true",
                "include_schemas_in_destination_stream_name": False,
            },
            properties_conn_id=warehouse_credentials,
            destination_id=3001,
        ).execute({})

    created = create()
    assert created["created"] is True
    assert created["name"] == "billing_db"
    assert created["current_step_type"] == "discover_schema"  # Stitch starts its connection check
    assert created["check_job_name"].startswith(f"1001.{created['source_id']}.check.")

    source = StitchConnectHook().get_source(created["source_id"])
    # The connection's login and schema go where the platform.postgres form names them.
    assert source.raw["properties"]["host"] == "billing.internal"
    assert source.raw["properties"]["user"] == "stitch"
    assert source.raw["properties"]["dbname"] == "billing"
    assert source.raw["properties"]["include_schemas_in_destination_stream_name"] == "false"
    assert "password" not in source.raw["properties"]  # Stitch never returns credentials

    retried = create()  # a retried task must not fail with "non-unique name"
    assert retried["created"] is False
    assert retried["source_id"] == created["source_id"]
    assert "b1ll1ng-s3cret" not in capsys.readouterr().out


def test_create_source_refuses_a_name_taken_by_another_type_or_when_told_to_fail(stitch_conns: Any) -> None:
    mysql = {"host": "db", "port": "3306", "user": "u", "password": "p"}
    with pytest.raises(StitchConfigurationError, match=r"already exists with type platform\.postgres"):
        StitchCreateSourceOperator(
            task_id="s", display_name="Shop DB", source_type="platform.mysql", properties=mysql
        ).execute({})
    with pytest.raises(StitchConfigurationError, match="already exists"):
        StitchCreateSourceOperator(
            task_id="s",
            display_name="shop_db",
            source_type="platform.postgres",
            properties=POSTGRES_SOURCE,
            if_exists="fail",
        ).execute({})


def test_create_source_refuses_to_guess_between_sources_sharing_a_display_name(stitch_conns: Any) -> None:
    hook = StitchConnectHook()
    for name in ("billing_eu", "billing_us"):  # Stitch keeps names unique, not display names
        body = {"display_name": "Billing", "type": "platform.hubspot", "name": name}
        hook.run(endpoints.call(ApiRequest("POST", "/v4/sources", json_body=body)))
    before = len(hook.list_sources())
    with pytest.raises(StitchConfigurationError, match="Several Stitch sources are named 'Billing'"):
        StitchCreateSourceOperator(
            task_id="s",
            display_name="Billing",
            source_type="platform.hubspot",
            properties={"start_date": "2024-01-01T00:00:00Z"},
        ).execute({})
    assert len(hook.list_sources()) == before  # nothing created


def test_every_problem_with_the_properties_is_named_before_any_request(stitch_conns: Any) -> None:
    before = len(StitchConnectHook().list_sources())
    with pytest.raises(StitchConfigurationError) as error:
        StitchCreateSourceOperator(
            task_id="s",
            display_name="Broken DB",
            source_type="platform.postgres",
            properties={
                "host": {"primary": "db"},
                "port": "not-a-port",
                "username": "stitch",  # the platform.postgres form says user
                "password": "s3cret-value",
                "frequency_in_minutes": "7",
            },
        ).execute({})
    message = str(error.value)
    for problem in (
        "host: must be a string",
        "port: must be integer or string matching ^\\d+",
        "username: not a property of this form",
        "frequency_in_minutes: does not match the pattern",
        "dbname: required",
        "user: required",
    ):
        assert problem in message
    assert "s3cret-value" not in message and "not-a-port" not in message  # names, never values
    assert len(StitchConnectHook().list_sources()) == before  # refused locally, nothing was sent


def test_an_unknown_source_type_is_named(stitch_conns: Any) -> None:
    with pytest.raises(StitchConfigurationError, match=r"Stitch has no source type 'platform\.nope'"):
        StitchCreateSourceOperator(task_id="s", display_name="X", source_type="platform.nope").execute({})


def test_values_are_sent_in_the_type_each_schema_wants(stitch_conns: Any) -> None:
    # A rendered template gives strings, a DAG literal ints and bools: the form decides. The Postgres
    # source wants an integer port; the MySQL source (its report card) a digit string; the Postgres
    # destination a boolean ssl.
    hook = StitchConnectHook()
    postgres = StitchCreateSourceOperator(
        task_id="pg",
        display_name="Numbers DB",
        source_type="platform.postgres",
        properties={**POSTGRES_SOURCE, "port": "5432", "frequency_in_minutes": 60},
    ).execute({})
    mysql = StitchCreateSourceOperator(
        task_id="my",
        display_name="Orders DB",
        source_type="platform.mysql",
        properties={"host": "db", "port": 3306, "user": "u", "password": "p", "ssl": True},
    ).execute({})
    assert postgres["current_step_type"] == mysql["current_step_type"] == "discover_schema"
    # Stitch shows every stored value as a string, whatever type it was sent as.
    assert hook.get_source(postgres["source_id"]).raw["properties"]["port"] == "5432"
    assert hook.get_source(mysql["source_id"]).raw["properties"]["ssl"] == "true"
    destination = StitchCreateDestinationOperator(
        task_id="d",
        destination_type="postgres",
        name="Typed warehouse",
        properties={**POSTGRES_DESTINATION, "ssl": "true", "port": 5432},
    ).execute({})
    stored = {d["id"]: d for d in hook.list_destinations()}[destination["destination_id"]]["properties"]
    assert stored["ssl"] == "true" and stored["port"] == "5432"


def test_create_destination_then_reuse_it(stitch_conns: Any, warehouse_credentials: str) -> None:
    def create() -> dict[str, Any]:
        return StitchCreateDestinationOperator(
            task_id="create_destination",
            destination_type="postgres",
            name="Analytics warehouse",
            properties={"ssl": False, "encryption_type": "none"},
            properties_conn_id=warehouse_credentials,
        ).execute({})

    created = create()
    assert created["created"] is True
    assert created["type"] == "postgres"
    destinations = {d["id"]: d for d in StitchConnectHook().list_destinations()}
    stored = destinations[created["destination_id"]]["properties"]
    # The destination form names the same connection fields username and database.
    assert (stored["host"], stored["username"], stored["database"]) == (
        "billing.internal",
        "stitch",
        "billing",
    )

    reused = create()
    assert reused == {**created, "created": False}


@pytest.mark.parametrize(
    ("operator", "kwargs", "message"),
    [
        (StitchCreateSourceOperator, {"display_name": "x", "source_type": " "}, "source_type must be"),
        (
            StitchCreateSourceOperator,
            {"display_name": "", "source_type": "platform.postgres"},
            "must not be empty",
        ),
        (
            StitchCreateSourceOperator,
            {"display_name": "x", "source_type": "platform.postgres", "if_exists": "overwrite"},
            "if_exists must be one of use_existing, fail",
        ),
        (
            StitchCreateDestinationOperator,
            {"destination_type": "postgres", "properties": [1]},
            "must be a mapping",
        ),
    ],
)
def test_bad_create_arguments_fail_at_parse_time(operator: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(StitchConfigurationError, match=message):
        operator(task_id="t", **kwargs)


def test_create_destination_checks_rendered_properties_before_any_request() -> None:
    operator = StitchCreateDestinationOperator(
        task_id="d", destination_type="postgres", properties="{{ params.props }}", stitch_conn_id="absent"
    )
    operator.properties = "host=db"  # what a non-native rendering of a bad template would leave
    # The Stitch connection is absent: had any request been tried, the error would say so instead.
    with pytest.raises(StitchConfigurationError, match="not a JSON object"):
        operator.execute({})
