"""The pure form logic: connection fields by the form's names, values in the schema's type, problems."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_stitch.api.forms import ConnectionForm, FormProblems


def _card(*props: dict[str, Any], oauth: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    return {
        "type": "platform.example",
        "steps": [
            {"type": "form", "properties": list(props)},
            {"type": "oauth", "properties": list(oauth)},
            {"type": "discover_schema", "properties": []},
        ],
    }


def _prop(name: str, schema: Any = None, **flags: Any) -> dict[str, Any]:
    return {
        "name": name,
        "json_schema": schema if schema is not None else {"type": "string"},
        "is_required": flags.get("required", False),
        "is_credential": flags.get("credential", False),
        "system_provided": flags.get("system", False),
    }


POSTGRES_LIKE = ConnectionForm.from_type_card(
    _card(
        _prop("host", required=True),
        _prop("port", {"type": "integer"}, required=True),
        _prop("user", required=True),
        _prop("password", required=True, credential=True),
        _prop("dbname", required=True),
        _prop("ssl", {"type": "boolean"}),
        _prop("frequency_in_minutes", {"type": "string", "pattern": "^30$|^60$"}),
        _prop("image_version", None, required=True, system=True),
        _prop("filters", {"type": "array"}),
        _prop("host_alias", {"anyOf": [{"type": "string", "format": "hostname"}]}),
        _prop("anchor_time", {"type": "string", "format": "date-time"}),
        oauth=(_prop("refresh_token", required=True, credential=True, system=True),),
    )
)


def test_connection_fields_follow_the_forms_names() -> None:
    assert POSTGRES_LIKE.connection_fields() == {
        "host": "host",
        "port": "port",
        "login": "user",
        "password": "password",
        "schema": "dbname",
    }
    destination = ConnectionForm.from_type_card(_card(_prop("username"), _prop("database"), _prop("host")))
    assert destination.connection_fields() == {"host": "host", "login": "username", "schema": "database"}


def test_values_take_the_type_their_schema_wants() -> None:
    prepared = POSTGRES_LIKE.prepare(
        {
            "host": "db",
            "port": "5432",
            "user": "u",
            "password": "p",
            "dbname": "d",
            "ssl": "TRUE",
            "frequency_in_minutes": 60,
            "filters": '["a", "b"]',
            "host_alias": "db.internal",
            "anchor_time": "2024-01-01T00:00:00Z",
        }
    )
    assert prepared["port"] == 5432 and prepared["ssl"] is True
    assert prepared["frequency_in_minutes"] == "60" and prepared["filters"] == ["a", "b"]
    assert prepared["host_alias"] == "db.internal"


def test_every_problem_is_named_and_no_value_is_quoted() -> None:
    with pytest.raises(FormProblems) as error:
        POSTGRES_LIKE.prepare(
            {
                "host": ["db"],
                "port": True,
                "password": "hunter2-secret",
                "ssl": "perhaps",
                "frequency_in_minutes": "7",
                "anchor_time": "yesterday",
                "colour": "blue",
            }
        )
    problems = error.value.problems
    assert problems == [
        "anchor_time: must be an ISO 8601 date-time",
        "colour: not a property of this form",
        "frequency_in_minutes: does not match the pattern ^30$|^60$",
        "host: must be a string",
        "port: must be an integer, not a boolean",
        "ssl: must be true or false",
        "dbname: required",
        "user: required",
    ]
    text = str(error.value)
    assert "hunter2" not in text and "perhaps" not in text and "yesterday" not in text
    # System-provided properties (image_version, the OAuth token) are never asked of the user.
    assert "image_version" not in text and "refresh_token" not in text


def test_an_update_needs_nothing_but_what_it_sends() -> None:
    assert POSTGRES_LIKE.prepare({"password": "new"}, partial=True) == {"password": "new"}
    with pytest.raises(FormProblems, match="port: must be an integer"):
        POSTGRES_LIKE.prepare({"port": "fifty"}, partial=True)


def test_credentials_are_known_by_the_form() -> None:
    assert POSTGRES_LIKE.credential_names() == {"password", "refresh_token"}
