"""Stream-selection rules (https://www.stitchdata.com/docs/developers/stitch-connect/guides/select-streams-and-fields-with-connect-api): what gets written, what is refused before any write, and why."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_stitch.api.objects import Stream, StreamSchema
from airflow_provider_stitch.api.stream_selection import (
    StreamSelectionError,
    is_field_replicated,
    metadata_body,
    parse_stream_requests,
    plan_selection,
)


def _stream(stream_id: int, name: str, tap_id: str | None = None, **metadata: Any) -> Stream:
    selected = metadata.get("selected")
    return Stream.from_api(
        {
            "stream_id": stream_id,
            "tap_stream_id": tap_id or name,
            "stream_name": name,
            "selected": selected,
            "metadata": {"table-key-properties": ["id"], **metadata},
        }
    )


def _schema(stream: Stream, fields: dict[str, tuple[str, dict[str, Any]]]) -> StreamSchema:
    """fields: name -> (json type or "date-time", field metadata)."""
    properties = {
        name: (
            {"type": ["null", "string"], "format": "date-time"}
            if kind == "date-time"
            else {"type": ["null", kind]}
        )
        for name, (kind, _) in fields.items()
    }
    entries = [{"breadcrumb": [], "metadata": dict(stream.metadata)}]
    entries += [{"breadcrumb": ["properties", name], "metadata": meta} for name, (_, meta) in fields.items()]
    return StreamSchema.from_api(
        {"schema": json.dumps({"type": "object", "properties": properties}), "metadata": entries}
    )


AVAILABLE: dict[str, Any] = {"inclusion": "available", "selected-by-default": None, "selected": None}


@pytest.fixture
def catalog() -> tuple[list[Stream], dict[int, StreamSchema]]:
    """A HubSpot-like and a Postgres-like source's streams, shaped as the API returns them."""
    contacts = _stream(
        1,
        "contacts",
        **{
            "forced-replication-method": "INCREMENTAL",
            "valid-replication-keys": ["updatedAt"],
            "replication-key": "updatedAt",
        },
    )
    deals = _stream(2, "deals", **{"valid-replication-keys": ["updatedAt", "closedate"]})
    orders = _stream(3, "orders", "shop-public-orders")
    orders_archive = _stream(4, "orders", "shop-archive-orders")
    owners = _stream(5, "owners", selected=True, **{"forced-replication-method": "FULL_TABLE"})
    view = _stream(6, "active_customers", "shop-public-active_customers", **{"is-view": True})
    schemas = {
        1: _schema(
            contacts,
            {
                "vid": ("integer", {"inclusion": "automatic"}),
                "updatedAt": ("date-time", {"inclusion": "automatic"}),
                "email": ("string", {**AVAILABLE, "selected-by-default": True}),
                "lastname": ("string", {**AVAILABLE, "selected-by-default": False}),
                "lifecyclestage": ("string", dict(AVAILABLE)),
                "associated_deals": (
                    "string",
                    {"inclusion": "unsupported", "unsupported-description": "Use the deals stream."},
                ),
            },
        ),
        2: _schema(
            deals,
            {
                "dealId": ("integer", {"inclusion": "automatic"}),
                "updatedAt": ("date-time", {"inclusion": "automatic"}),
                "amount": ("number", {**AVAILABLE, "selected-by-default": True}),
                "closedate": ("date-time", dict(AVAILABLE)),
            },
        ),
        3: _schema(
            orders,
            {
                "id": ("integer", {"inclusion": "automatic"}),
                "status": ("string", dict(AVAILABLE)),
                "updated_at": ("date-time", dict(AVAILABLE)),
            },
        ),
        4: _schema(orders_archive, {"id": ("integer", {"inclusion": "automatic"})}),
        5: _schema(owners, {"ownerId": ("integer", {"inclusion": "automatic"})}),
        6: _schema(view, {"id": ("integer", dict(AVAILABLE))}),
    }
    return [contacts, deals, orders, orders_archive, owners, view], schemas


def _plan(catalog: Any, spec: Any) -> list[Any]:
    streams, schemas = catalog
    return plan_selection(parse_stream_requests(spec), streams, schemas)


@pytest.mark.parametrize(
    ("metadata", "replicated"),
    [
        ({"inclusion": "automatic", "selected": False}, True),
        ({"inclusion": "unsupported", "selected": True}, False),
        ({"inclusion": "available", "selected": True, "selected-by-default": False}, True),
        # Stitch's table: selected false does not override selected-by-default true.
        ({"inclusion": "available", "selected": False, "selected-by-default": True}, True),
        ({"inclusion": "available", "selected": False, "selected-by-default": False}, False),
        ({"inclusion": "available", "selected": None, "selected-by-default": True}, True),
        ({"inclusion": "available", "selected": None, "selected-by-default": None}, False),
    ],
)
def test_field_replication_follows_stitchs_table(metadata: dict[str, Any], replicated: bool) -> None:
    assert is_field_replicated(metadata) is replicated


def test_forced_incremental_stream_selects_with_only_the_missing_fields(catalog: Any) -> None:
    [change] = _plan(catalog, {"contacts": {"fields": ["email", "lastname"]}})

    # The stream is selected first; email is already replicated by default, so only lastname is written.
    assert change.metadata == [
        {"breadcrumb": [], "metadata": {"selected": True}},
        {"breadcrumb": ["properties", "lastname"], "metadata": {"selected": True}},
    ]
    assert change.replication_method == "INCREMENTAL"
    assert set(change.replicated_fields) == {"vid", "updatedAt", "email", "lastname"}


def test_all_fields_wildcard_selects_every_available_field(catalog: Any) -> None:
    [change] = _plan(catalog, [{"name": "contacts", "fields": "*"}])
    written = [entry["breadcrumb"][-1] for entry in change.metadata if entry["breadcrumb"]]
    assert written == ["lastname", "lifecyclestage"]
    assert "associated_deals" not in change.replicated_fields


def test_incremental_with_a_valid_key_writes_method_key_and_selects_the_key_field(catalog: Any) -> None:
    [change] = _plan(
        catalog, {"deals": {"replication_method": "incremental", "replication_key": "closedate"}}
    )
    assert change.metadata[0] == {
        "breadcrumb": [],
        "metadata": {"replication-method": "INCREMENTAL", "replication-key": "closedate", "selected": True},
    }
    assert {"breadcrumb": ["properties", "closedate"], "metadata": {"selected": True}} in change.metadata


def test_already_selected_stream_is_left_alone(catalog: Any) -> None:
    changes = _plan(catalog, ["owners"])
    assert not changes[0].changed
    assert metadata_body(changes) == []


def test_streams_are_found_by_tap_stream_id_and_ambiguous_names_are_refused(catalog: Any) -> None:
    [change] = _plan(catalog, {"shop-archive-orders": {"replication_method": "FULL_TABLE"}})
    assert change.stream.stream_id == 4

    with pytest.raises(StreamSelectionError) as error:
        _plan(catalog, {"orders": {"replication_method": "FULL_TABLE"}})
    assert "ambiguous" in str(error.value)
    assert "shop-archive-orders, shop-public-orders" in str(error.value)


def test_unknown_names_get_close_matches_then_all_rule_problems_are_reported_together(catalog: Any) -> None:
    spec = {
        "contact": None,  # typo of contacts
        "deals": {"replication_method": "INCREMENTAL", "replication_key": "amount", "fields": ["amont"]},
        "shop-public-orders": None,  # no replication method anywhere
        "owners": {"replication_method": "INCREMENTAL"},  # forced FULL_TABLE
    }
    with pytest.raises(StreamSelectionError) as error:
        _plan(catalog, spec)
    problems = "\n".join(error.value.problems)
    assert "unknown stream 'contact'. Did you mean: contacts" in problems
    with pytest.raises(StreamSelectionError) as error:
        _plan(catalog, {k: v for k, v in spec.items() if k != "contact"})
    problems = "\n".join(error.value.problems)
    assert "'amount' is not a valid replication key; valid keys: updatedAt, closedate" in problems
    assert "unknown field 'amont'. Did you mean: amount" in problems
    assert "needs a replication_method" in problems
    assert "forced to FULL_TABLE" in problems
    assert str(error.value).startswith("Cannot apply the stream selection; nothing was changed")


def test_unsupported_fields_and_views_without_keys_are_refused(catalog: Any) -> None:
    with pytest.raises(StreamSelectionError) as error:
        _plan(catalog, {"contacts": {"fields": ["associated_deals"]}})
    assert "field 'associated_deals' is unsupported and cannot be selected (Use the deals stream.)" in str(
        error.value
    )

    with pytest.raises(StreamSelectionError) as error:
        _plan(catalog, {"active_customers": {"replication_method": "FULL_TABLE"}})
    assert "database view and needs view_key_properties" in str(error.value)
    [change] = _plan(
        catalog, {"active_customers": {"replication_method": "FULL_TABLE", "view_key_properties": ["id"]}}
    )
    assert change.metadata[0]["metadata"]["view-key-properties"] == ["id"]


def test_incremental_key_without_a_valid_keys_list_must_be_an_integer_or_date_time_field(
    catalog: Any,
) -> None:
    with pytest.raises(StreamSelectionError) as error:
        _plan(
            catalog,
            {"shop-public-orders": {"replication_method": "INCREMENTAL", "replication_key": "status"}},
        )
    assert "must be an integer or date-time field" in str(error.value)

    [change] = _plan(
        catalog,
        {"shop-public-orders": {"replication_method": "INCREMENTAL", "replication_key": "updated_at"}},
    )
    assert change.replication_key == "updated_at"


def test_fields_stitch_forbids_together_are_refused_before_the_write() -> None:
    # https://www.stitchdata.com/docs/developers/stitch-connect/api#field-level-metadata-object: fieldExclusions lists breadcrumbs that cannot be selected with a field. Stitch may accept
    # such a selection and the job then fails at extraction, so the rule is checked up front.
    report = _stream(7, "report", **{"forced-replication-method": "INCREMENTAL"})
    schema = _schema(
        report,
        {
            "date": ("date-time", {"inclusion": "automatic"}),
            "users": ("integer", {**AVAILABLE, "fieldExclusions": [["properties", "sessionDuration"]]}),
            "sessionDuration": (
                "number",
                {**AVAILABLE, "selected": True, "fieldExclusions": [["properties", "users"]]},
            ),
            "country": ("string", dict(AVAILABLE)),
        },
    )

    def plan(spec: Any) -> list[Any]:
        return plan_selection(parse_stream_requests(spec), [report], {7: schema})

    with pytest.raises(StreamSelectionError) as error:
        plan({"report": {"fields": ["users"]}})  # sessionDuration is already selected
    assert error.value.problems == [
        "stream 'report' (report): fields 'sessionDuration' and 'users' cannot be replicated together "
        "(Stitch's fieldExclusions); the job would fail at extraction"
    ]
    [change] = plan({"report": {"fields": ["country"]}})  # no new conflict: written as asked
    assert {"breadcrumb": ["properties", "country"], "metadata": {"selected": True}} in change.metadata


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("orders", "must be a list of names or a mapping"),
        ([], "no streams were requested"),
        (["a", "a"], "requested twice"),
        ({"a": {"replication_method": "SOMETIMES"}}, "is not one of FULL_TABLE, INCREMENTAL, LOG_BASED"),
        ({"a": {"replication_method": "FULL_TABLE", "replication_key": "id"}}, "only applies to INCREMENTAL"),
        ({"a": {"feilds": ["x"]}}, "unknown option(s) feilds"),
        ([42], "each stream must be a name or a mapping"),
    ],
)
def test_malformed_requests_are_refused_with_the_reason(spec: Any, message: str) -> None:
    with pytest.raises(StreamSelectionError) as error:
        parse_stream_requests(spec)
    assert message in str(error.value)
