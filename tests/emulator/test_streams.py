"""Streams: list, schema (JSON Schema as a string), metadata updates and every documented error."""

from __future__ import annotations

import json
from typing import Any

from ._support import Api


def _put(api: Api, body: Any, source_id: int = 2002) -> Any:
    return api.put(f"/v4/sources/{source_id}/streams/metadata", json=body)


def _select(tap_stream_id: str, *entries: tuple[list[str], dict[str, Any]]) -> dict[str, Any]:
    return {
        "streams": [
            {
                "tap_stream_id": tap_stream_id,
                "metadata": [{"breadcrumb": b, "metadata": m} for b, m in entries],
            }
        ]
    }


def test_list_streams(api: Api) -> None:
    streams = {s["stream_name"]: s for s in api.get("/v4/sources/2002/streams").json()}
    assert set(streams) == {"contacts", "companies", "deals", "owners"}
    contacts = streams["contacts"]
    assert contacts["selected"] is None and isinstance(contacts["stream_id"], int)
    assert contacts["metadata"]["forced-replication-method"] == "INCREMENTAL"
    assert contacts["metadata"]["valid-replication-keys"] == ["updatedAt"]
    assert contacts["metadata"]["table-key-properties"] == ["vid"]
    shop = {s["stream_name"]: s for s in api.get("/v4/sources/2001/streams").json()}
    assert shop["orders"]["selected"] is True and shop["orders"]["tap_stream_id"] == "shop-public-orders"
    bad = api.get("/v4/sources/999/streams")
    assert bad.status_code == 400 and bad.json() == "invalid source-id: 999"


def test_stream_schema(api: Api) -> None:
    stream = next(s for s in api.get("/v4/sources/2002/streams").json() if s["stream_name"] == "contacts")
    schema = api.get(f"/v4/sources/2002/streams/{stream['stream_id']}").json()
    assert isinstance(schema["schema"], str)
    assert json.loads(schema["schema"])["properties"]["updatedAt"]["format"] == "date-time"
    fields = {tuple(e["breadcrumb"]): e["metadata"] for e in schema["metadata"]}
    assert fields[()]["table-key-properties"] == ["vid"]
    assert fields[("properties", "vid")]["inclusion"] == "automatic"
    assert fields[("properties", "lastname")]["selected-by-default"] is False
    assert fields[("properties", "associated_deals")]["inclusion"] == "unsupported"
    assert schema["non-discoverable-metadata-keys"] == [
        "selected",
        "replication-method",
        "replication-key",
        "view-key-properties",
    ]
    for path in (
        f"/v4/sources/2002/streams/{stream['stream_id'] + 10_000}",
        f"/v4/sources/9/streams/{stream['stream_id']}",
    ):
        response = api.get(path)
        assert response.status_code == 400 and response.json().startswith("invalid stream-id: ")


def test_selecting_a_stream_configures_the_source(api: Api) -> None:
    body = _select(
        "deals",
        ([], {"selected": True, "replication-method": "INCREMENTAL", "replication-key": "closedate"}),
        (["properties", "dealstage"], {"selected": True}),
    )
    assert _put(api, body).json() == {"status": 200}
    source = api.get("/v4/sources/2002").json()
    assert source["report_card"]["current_step_type"] == "fully_configured"
    deals = next(s for s in api.get("/v4/sources/2002/streams").json() if s["stream_name"] == "deals")
    assert deals["selected"] is True and deals["metadata"]["replication-key"] == "closedate"
    schema = api.get(f"/v4/sources/2002/streams/{deals['stream_id']}").json()
    fields = {tuple(e["breadcrumb"]): e["metadata"] for e in schema["metadata"]}
    assert fields[("properties", "dealstage")]["selected"] is True
    api.run_job(2002)
    assert sorted(api.loads("crm")) == ["deals"]
    # Deselecting the last stream sends the source back to field selection.
    _put(api, _select("deals", ([], {"selected": False})))
    assert api.get("/v4/sources/2002").json()["report_card"]["current_step_type"] == "field_selection"


def test_metadata_errors(api: Api) -> None:
    shape = "body must contain a 'streams' property with a list of metadatas by tap_stream_id"
    for body in (
        {},
        {"streams": {}},
        {"streams": [{"tap_stream_id": "deals"}]},
        {"streams": [{"tap_stream_id": "deals", "metadata": [{"breadcrumb": []}]}]},
    ):
        response = _put(api, body)
        assert response.status_code == 400 and response.json() == shape
    assert _put(api, {"streams": [{"metadata": []}]}).json() == {
        "invalid_fields": "invalid tap-stream-ids:  [nil]"
    }
    assert _put(api, _select("nope", ([], {"selected": True}))).json() == {
        "invalid_fields": "invalid tap-stream-ids:  [nope]"
    }
    assert _put(api, _select("deals", ([], {"inclusion": "automatic"}))).json() == {
        "invalid_fields": 'only non-discoverable metadata can be produced by the UI: #{"inclusion"}'
    }
    assert _put(
        api, _select("contacts", (["properties", "associated_deals"], {"selected": True}))
    ).json() == {"invalid_fields": "Unsupported fields cannot be selected by default"}
    bad_key = _put(
        api,
        _select(
            "deals",
            ([], {"selected": True, "replication-method": "INCREMENTAL", "replication-key": "dealname"}),
        ),
    )
    assert bad_key.status_code == 400 and "replication-key" in bad_key.json()["invalid_fields"]
    assert _put(api, _select("deals", ([], {"replication-method": "SOMETIMES"}))).status_code == 400
    assert _put(api, _select("deals", (["properties", "nope"], {"selected": True}))).status_code == 400
    # Nothing was applied by the failed requests.
    assert api.get("/v4/sources/2002").json()["report_card"]["current_step_type"] == "field_selection"


def test_database_replication_key_must_be_int_or_datetime(api: Api) -> None:
    body = _select(
        "shop-public-customers", ([], {"replication-method": "INCREMENTAL", "replication-key": "email"})
    )
    assert _put(api, body, 2001).status_code == 400
    body = _select(
        "shop-public-customers", ([], {"replication-method": "INCREMENTAL", "replication-key": "created_at"})
    )
    assert _put(api, body, 2001).json() == {"status": 200}
