"""StitchSelectStreamsOperator against the emulator's ``crm`` source (HubSpot-like, at field_selection)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_stitch.exceptions import StitchConfigurationError, StreamSelectionError
from airflow_provider_stitch.hooks.stitch import StitchConnectHook
from airflow_provider_stitch.operators import StitchSelectStreamsOperator

CRM = 2002
SELECTION = {
    "contacts": {"fields": ["lastname"]},  # forced INCREMENTAL on updatedAt: no method needed
    "deals": {"replication_method": "INCREMENTAL", "replication_key": "closedate", "fields": ["dealstage"]},
    "owners": None,
}


def _select(streams: Any, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("source_name", "crm")
    return StitchSelectStreamsOperator(task_id="select", streams=streams, **kwargs).execute({})


def _field_selected(hook: StitchConnectHook, stream_name: str, field: str) -> Any:
    stream = next(s for s in hook.list_streams(CRM) if s.stream_name == stream_name)
    return hook.get_stream_schema(CRM, stream.stream_id).field_metadata[field].get("selected")


def test_selection_is_written_then_rerunning_changes_nothing(stitch_conns: Any) -> None:
    hook = StitchConnectHook()
    assert hook.get_source(CRM).current_step_type == "field_selection"

    result = _select(SELECTION)

    assert result["changed"] is True
    by_name = {s["stream_name"]: s for s in result["streams"]}
    assert by_name["contacts"]["changes"] == ["stream selected", "field lastname selected"]
    assert by_name["deals"]["replication_method"] == "INCREMENTAL"
    assert by_name["deals"]["replication_key"] == "closedate"
    assert "closedate" in by_name["deals"]["replicated_fields"]  # the key field is selected with it
    assert by_name["owners"]["replication_method"] == "FULL_TABLE"

    streams = {s.stream_name: s for s in hook.list_streams(CRM)}
    assert {name for name, s in streams.items() if s.selected} == {"contacts", "deals", "owners"}
    assert streams["deals"].metadata["replication-key"] == "closedate"
    assert _field_selected(hook, "contacts", "lastname") is True
    assert _field_selected(hook, "deals", "closedate") is True
    # One selected stream with a field makes the source fully configured (https://www.stitchdata.com/docs/developers/stitch-connect/api#connection-step-object).
    assert hook.get_source(CRM).current_step_type == "fully_configured"

    again = _select(SELECTION, source_id=CRM, source_name=None)
    assert again["changed"] is False
    assert all(stream["changes"] == [] for stream in again["streams"])


def test_invalid_requests_list_every_problem_and_write_nothing(stitch_conns: Any) -> None:
    selection = {
        "contacts": {"fields": ["associated_deals", "lastnme"]},
        "deals": {"replication_method": "INCREMENTAL", "replication_key": "amount"},
        "owners": {"replication_method": "INCREMENTAL"},
    }
    with pytest.raises(StitchConfigurationError) as error:
        _select(selection)

    message = str(error.value)
    assert message.startswith("Cannot apply the stream selection of source crm (2002); nothing was changed")
    assert "field 'associated_deals' is unsupported and cannot be selected" in message
    assert "unknown field 'lastnme'. Did you mean: lastname" in message
    assert "'amount' is not a valid replication key; valid keys: updatedAt, closedate" in message
    assert "forced to FULL_TABLE replication" in message
    assert not any(s.selected for s in StitchConnectHook().list_streams(CRM))


def test_unknown_stream_names_get_close_matches_and_the_error_names_the_source(stitch_conns: Any) -> None:
    with pytest.raises(
        StreamSelectionError, match=r"unknown stream 'contact'\. Did you mean: contacts"
    ) as error:
        _select(["contact"])
    # Name resolution knows no source; the message the user reads still says which one.
    assert str(error.value).startswith("Cannot apply the stream selection of source crm (2002)")
    assert isinstance(error.value, StitchConfigurationError)


def test_streams_cannot_be_selected_before_the_connection_check_passed(stitch_conns: Any) -> None:
    hook = StitchConnectHook()
    source = hook.create_source(
        display_name="Fresh CRM",
        type="platform.hubspot",
        # HubSpot's documented form: a start date, then the OAuth step's app credentials and token.
        properties={
            "start_date": "2024-01-01T00:00:00Z",
            "client_id": "app",
            "client_secret": "app-secret",
            "redirect_uri": "https://example.com/callback",
            "refresh_token": "refresh-x",
        },
    )
    stitch_conns.admin.update_scenario(source.id, connection_check="fail")
    stitch_conns.admin.advance(60)  # the check fails; the source stays at discover_schema
    assert hook.get_source(source.id).current_step_type == "discover_schema"

    with pytest.raises(
        StitchConfigurationError, match=r"at step 'discover_schema'.*StitchConnectionCheckOperator"
    ):
        _select(["owners"], source_id=source.id, source_name=None)


def test_bad_stream_specs_fail_at_parse_time() -> None:
    with pytest.raises(StitchConfigurationError, match="is not one of FULL_TABLE, INCREMENTAL, LOG_BASED"):
        StitchSelectStreamsOperator(
            task_id="s", source_id=CRM, streams={"deals": {"replication_method": "CDC"}}
        )
    # A templated spec is only checked once rendered.
    StitchSelectStreamsOperator(task_id="s", source_id=CRM, streams="{{ params.streams }}")
