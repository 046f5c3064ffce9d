"""Streams: list, schema (with the JSON Schema as a *string*), and metadata (selection) updates.

Errors are a bare JSON string or ``{"invalid_fields": "..."}``, as in Stitch.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from airflow_provider_stitch.emulator.catalog import REPLICATION_METHODS
from airflow_provider_stitch.emulator.errors import streams_error
from airflow_provider_stitch.emulator.models import WRITABLE_METADATA_KEYS, Source, Stream
from airflow_provider_stitch.emulator.responses.common import (
    MALFORMED,
    AuthedAccount,
    backend_of,
    parse_int,
    read_json,
)
from airflow_provider_stitch.emulator.responses.sources import find_source

router = APIRouter()

SHAPE_MESSAGE = "body must contain a 'streams' property with a list of metadatas by tap_stream_id"


def _invalid(message: str) -> Exception:
    return streams_error({"invalid_fields": message})


@router.get("/v4/sources/{source_id}/streams")
async def list_streams(source_id: str, account: AuthedAccount) -> list[dict[str, Any]]:
    source = find_source(account, source_id, include_deleted=True)
    if source is None:
        raise streams_error(f"invalid source-id: {source_id}")
    return [s.to_json() for s in source.streams.values()]


@router.get("/v4/sources/{source_id}/streams/{stream_id}")
async def stream_schema(source_id: str, stream_id: str, account: AuthedAccount) -> dict[str, Any]:
    source = find_source(account, source_id, include_deleted=True)
    sid = parse_int(stream_id)
    stream = source.streams.get(sid) if source is not None and sid is not None else None
    if stream is None:
        # Stitch documents this one message for a bad stream id and a bad source id alike.
        raise streams_error(f"invalid stream-id: {stream_id}")
    return stream.schema_json()


def _validate_shape(body: Any) -> list[dict[str, Any]]:
    if body is MALFORMED or not isinstance(body, dict) or not isinstance(body.get("streams"), list):
        raise streams_error(SHAPE_MESSAGE)
    for item in body["streams"]:
        if not isinstance(item, dict) or not isinstance(item.get("metadata"), list):
            raise streams_error(SHAPE_MESSAGE)
        for entry in item["metadata"]:
            if (
                not isinstance(entry, dict)
                or not isinstance(entry.get("breadcrumb"), list)
                or not isinstance(entry.get("metadata"), dict)
            ):
                raise streams_error(SHAPE_MESSAGE)
    items: list[dict[str, Any]] = body["streams"]
    return items


def _check_stream_entry(stream: Stream, meta: dict[str, Any]) -> None:
    if "selected" in meta and meta["selected"] is not None and not isinstance(meta["selected"], bool):
        raise _invalid(f"selected must be a boolean for {stream.tap_stream_id}")
    method = meta.get("replication-method", stream.replication_method)
    if "replication-method" in meta and meta["replication-method"] not in REPLICATION_METHODS:
        raise _invalid(f"invalid replication-method for {stream.tap_stream_id}: {meta['replication-method']}")
    key = meta.get("replication-key")
    effective = stream.definition.forced_replication_method or method
    if key is not None and effective == "INCREMENTAL":
        valid = stream.definition.valid_replication_keys
        fdef = stream.definition.field(key) if isinstance(key, str) else None
        ok = (
            (key in valid)
            if valid is not None
            else (fdef is not None and fdef.type in ("integer", "date-time"))
        )
        if not ok:
            raise _invalid(f"invalid replication-key for {stream.tap_stream_id}: {key}")
    vkp = meta.get("view-key-properties")
    if vkp is not None and (
        not isinstance(vkp, list) or not all(stream.definition.field(str(k)) is not None for k in vkp)
    ):
        raise _invalid(f"invalid view-key-properties for {stream.tap_stream_id}")


def _apply(stream: Stream, breadcrumb: list[Any], meta: dict[str, Any]) -> None:
    if not breadcrumb:
        if "selected" in meta:
            stream.selected = meta["selected"]
        if "replication-method" in meta:
            stream.replication_method = meta["replication-method"]
        if "replication-key" in meta:
            stream.replication_key = meta["replication-key"]
        if "view-key-properties" in meta:
            stream.view_key_properties = meta["view-key-properties"]
    elif "selected" in meta:
        stream.field_selected[breadcrumb[1]] = meta["selected"]


@router.put("/v4/sources/{source_id}/streams/metadata")
async def update_metadata(source_id: str, request: Request, account: AuthedAccount) -> dict[str, int]:
    source = find_source(account, source_id, include_deleted=False)
    if source is None:
        raise streams_error(f"invalid source-id: {source_id}")
    items = _validate_shape(await read_json(request))
    _validate(source, items)
    for item in items:
        stream = source.stream_by_tap_id(item["tap_stream_id"])
        assert stream is not None
        for entry in item["metadata"]:
            _apply(stream, entry["breadcrumb"], entry["metadata"])
    backend_of(request).refresh_configured_step(source)
    return {"status": 200}


def _validate(source: Source, items: list[dict[str, Any]]) -> None:
    """All-or-nothing: every entry is checked before anything changes."""
    if any(not isinstance(item.get("tap_stream_id"), str) for item in items):
        raise _invalid("invalid tap-stream-ids:  [nil]")
    unknown = [
        item["tap_stream_id"] for item in items if source.stream_by_tap_id(item["tap_stream_id"]) is None
    ]
    if unknown:
        raise _invalid(f"invalid tap-stream-ids:  [{' '.join(unknown)}]")
    for item in items:
        stream = source.stream_by_tap_id(item["tap_stream_id"])
        assert stream is not None
        for entry in item["metadata"]:
            meta, breadcrumb = entry["metadata"], entry["breadcrumb"]
            read_only = [k for k in meta if k not in WRITABLE_METADATA_KEYS]
            if read_only:
                keys = " ".join(f'"{k}"' for k in read_only)
                raise _invalid(f"only non-discoverable metadata can be produced by the UI: #{{{keys}}}")
            if not breadcrumb:
                _check_stream_entry(stream, meta)
                continue
            if (
                len(breadcrumb) != 2
                or breadcrumb[0] != "properties"
                or stream.definition.field(str(breadcrumb[1])) is None
            ):
                raise _invalid(f"invalid breadcrumb for {stream.tap_stream_id}: {breadcrumb}")
            fdef = stream.definition.field(str(breadcrumb[1]))
            assert fdef is not None
            if fdef.inclusion == "unsupported" and meta.get("selected"):
                raise _invalid("Unsupported fields cannot be selected by default")
            if "selected" in meta and meta["selected"] is not None and not isinstance(meta["selected"], bool):
                raise _invalid(f"selected must be a boolean for {stream.tap_stream_id}")
