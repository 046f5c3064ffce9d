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
            properties={"frequency_in_minutes": "60", "ssl": "true"},
            properties_conn_id=warehouse_credentials,
            destination_id=3001,
        ).execute({})

    created = create()
    assert created["created"] is True
    assert created["name"] == "billing_db"
    assert created["current_step_type"] == "discover_schema"  # Stitch starts its connection check
    assert created["check_job_name"].startswith(f"1001.{created['source_id']}.check.")

    source = StitchConnectHook().get_source(created["source_id"])
    assert source.raw["properties"]["host"] == "billing.internal"
    assert source.raw["properties"]["database"] == "billing"
    assert "password" not in source.raw["properties"]  # Stitch never returns credentials

    retried = create()  # a retried task must not fail with "non-unique name"
    assert retried["created"] is False
    assert retried["source_id"] == created["source_id"]
    assert "b1ll1ng-s3cret" not in capsys.readouterr().out


def test_create_source_refuses_a_name_taken_by_another_type_or_when_told_to_fail(stitch_conns: Any) -> None:
    with pytest.raises(StitchConfigurationError, match=r"already exists with type platform\.postgres"):
        StitchCreateSourceOperator(task_id="s", display_name="Shop DB", source_type="platform.mysql").execute(
            {}
        )
    with pytest.raises(StitchConfigurationError, match="already exists"):
        StitchCreateSourceOperator(
            task_id="s", display_name="shop_db", source_type="platform.postgres", if_exists="fail"
        ).execute({})


def test_create_source_refuses_to_guess_between_sources_sharing_a_display_name(stitch_conns: Any) -> None:
    hook = StitchConnectHook()
    for name in ("billing_eu", "billing_us"):  # Stitch keeps names unique, not display names
        body = {"display_name": "Billing", "type": "platform.hubspot", "name": name}
        hook.run(endpoints.call(ApiRequest("POST", "/v4/sources", json_body=body)))
    before = len(hook.list_sources())
    with pytest.raises(StitchConfigurationError, match="Several Stitch sources are named 'Billing'"):
        StitchCreateSourceOperator(
            task_id="s", display_name="Billing", source_type="platform.hubspot"
        ).execute({})
    assert len(hook.list_sources()) == before  # nothing created


def test_invalid_source_properties_are_named(stitch_conns: Any) -> None:
    with pytest.raises(StitchConfigurationError) as error:
        StitchCreateSourceOperator(
            task_id="s",
            display_name="Broken DB",
            source_type="platform.postgres",
            properties={"host": "db", "port": "not-a-port"},
        ).execute({})
    assert "Stitch rejected source 'Broken DB'" in str(error.value)
    assert "port" in str(error.value)


def test_non_string_property_values_are_sent_as_the_strings_stitch_wants(stitch_conns: Any) -> None:
    # Stitch's source form takes a "map of string properties" (reference §11.2); a native-rendered
    # template or a plain DAG literal yields ints and bools, which Stitch rejects as wrong types.
    created = StitchCreateSourceOperator(
        task_id="create_source",
        display_name="Numbers DB",
        source_type="platform.postgres",
        properties={
            "host": "db.internal",
            "port": 5432,
            "username": "stitch",
            "password": "n0-str1ngs",
            "database": "numbers",
            "ssl": True,
            "frequency_in_minutes": 60,
        },
    ).execute({})
    properties = StitchConnectHook().get_source(created["source_id"]).raw["properties"]
    assert properties["port"] == "5432"
    assert properties["ssl"] == "true"
    assert properties["frequency_in_minutes"] == "60"


def test_property_values_that_are_not_scalars_are_refused_before_any_request(stitch_conns: Any) -> None:
    with pytest.raises(StitchConfigurationError, match=r"properties\['host'\].*string") as error:
        StitchCreateSourceOperator(
            task_id="create_source",
            display_name="Nested DB",
            source_type="platform.postgres",
            properties={"host": {"primary": "db"}},
        ).execute({})
    assert "Stitch rejected" not in str(error.value)  # refused locally, nothing was sent
    assert all(s.display_name != "Nested DB" for s in StitchConnectHook().list_sources())


def test_create_destination_then_reuse_it(stitch_conns: Any, warehouse_credentials: str) -> None:
    def create() -> dict[str, Any]:
        return StitchCreateDestinationOperator(
            task_id="create_destination",
            destination_type="postgres",
            name="Analytics warehouse",
            properties={"ssl": "false"},
            properties_conn_id=warehouse_credentials,
        ).execute({})

    created = create()
    assert created["created"] is True
    assert created["type"] == "postgres"
    destinations = {d["id"]: d for d in StitchConnectHook().list_destinations()}
    assert destinations[created["destination_id"]]["properties"]["host"] == "billing.internal"

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
