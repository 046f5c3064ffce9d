"""Connection types the emulator knows (``catalog.json``): form properties, details and stream templates."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

FIELD_TYPES = ("integer", "number", "string", "boolean", "date-time")
INCLUSIONS = ("automatic", "available", "unsupported")
REPLICATION_METHODS = ("FULL_TABLE", "INCREMENTAL", "LOG_BASED")


class CatalogError(ValueError):
    """A stream or type definition is malformed; the message names the offending field."""


@dataclass(frozen=True)
class PropertyDef:
    name: str
    required: bool = False
    credential: bool = False
    property_type: str = "user_provided"
    json_schema: dict[str, Any] | None = None

    def validate(self, value: object) -> bool:
        """Stitch rejects empty strings and wrong types with ``InvalidProperties``; values are strings."""
        if self.json_schema is None:
            return isinstance(value, str) and value != ""
        if self.json_schema.get("type") == "string":
            if not isinstance(value, str) or value == "":
                return False
            pattern = self.json_schema.get("pattern")
            if pattern and not re.search(pattern, value):
                return False
            if self.json_schema.get("format") == "date-time":
                from airflow_provider_stitch.emulator.clock import parse_iso

                return parse_iso(value) is not None
        return True

    def to_json(self, provided: bool) -> dict[str, Any]:
        return {
            "name": self.name,
            "is_required": self.required,
            "is_credential": self.credential,
            "system_provided": False,
            "property_type": self.property_type,
            "json_schema": self.json_schema,
            "provided": provided,
            "tap_mutable": False,
        }


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str
    inclusion: str = "available"
    selected_by_default: bool | None = True
    sql_datatype: str | None = None
    unsupported_description: str | None = None


@dataclass(frozen=True)
class StreamDef:
    stream_name: str
    fields: tuple[FieldDef, ...]
    key_properties: tuple[str, ...] = ()
    replication_method: str | None = None
    replication_key: str | None = None
    forced_replication_method: str | None = None
    valid_replication_keys: tuple[str, ...] | None = None
    is_view: bool = False
    initial_rows: int = 10
    new_rows_per_job: int = 2
    updated_rows_per_job: int = 1

    def field(self, name: str) -> FieldDef | None:
        return next((f for f in self.fields if f.name == name), None)


@dataclass(frozen=True)
class SourceType:
    type: str
    tap_name: str
    singer: bool
    details: dict[str, Any]
    properties: tuple[PropertyDef, ...]
    tap_stream_id_template: str
    streams: tuple[StreamDef, ...]
    step_types: tuple[str, ...] = field(default=())

    def property(self, name: str) -> PropertyDef | None:
        return next((p for p in self.properties if p.name == name), None)


@dataclass(frozen=True)
class DestinationType:
    type: str
    details: dict[str, Any]
    properties: tuple[PropertyDef, ...]

    def property(self, name: str) -> PropertyDef | None:
        return next((p for p in self.properties if p.name == name), None)


def _property(raw: dict[str, Any]) -> PropertyDef:
    return PropertyDef(
        name=raw["name"],
        required=bool(raw.get("required", False)),
        credential=bool(raw.get("credential", False)),
        property_type=raw.get("property_type", "user_provided"),
        json_schema=raw.get("schema"),
    )


def _expect(cond: bool, where: str, problem: str) -> None:
    if not cond:
        raise CatalogError(f"{where}: {problem}")


def parse_stream_def(raw: object, where: str) -> StreamDef:
    """Build a stream template from JSON (catalog or a seed's ``streams`` override), naming any problem."""
    _expect(isinstance(raw, dict), where, "must be an object")
    assert isinstance(raw, dict)
    name = raw.get("stream_name")
    _expect(
        isinstance(name, str) and bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name or "")),
        where,
        "stream_name must be an identifier-like string",
    )
    raw_fields = raw.get("fields")
    _expect(isinstance(raw_fields, list) and bool(raw_fields), f"{where}.fields", "must be a non-empty list")
    fields: list[FieldDef] = []
    for i, rf in enumerate(raw_fields or []):
        fw = f"{where}.fields[{i}]"
        _expect(isinstance(rf, dict) and isinstance(rf.get("name"), str), fw, "must be an object with a name")
        _expect(rf.get("type") in FIELD_TYPES, fw, f"type must be one of {', '.join(FIELD_TYPES)}")
        inclusion = rf.get("inclusion", "available")
        _expect(inclusion in INCLUSIONS, fw, f"inclusion must be one of {', '.join(INCLUSIONS)}")
        fields.append(
            FieldDef(
                name=rf["name"],
                type=rf["type"],
                inclusion=inclusion,
                selected_by_default=rf.get("selected_by_default", True),
                sql_datatype=rf.get("sql_datatype"),
                unsupported_description=rf.get("unsupported_description"),
            )
        )
    names = {f.name for f in fields}
    keys = raw.get("key_properties", [])
    _expect(
        isinstance(keys, list) and all(k in names for k in keys),
        f"{where}.key_properties",
        "must list field names",
    )
    for key in ("replication_method", "forced_replication_method"):
        value = raw.get(key)
        _expect(
            value is None or value in REPLICATION_METHODS,
            f"{where}.{key}",
            f"must be one of {', '.join(REPLICATION_METHODS)}",
        )
    rows = raw.get("rows", {})
    _expect(isinstance(rows, dict), f"{where}.rows", "must be an object")
    for key in ("initial", "new_per_job", "updated_per_job"):
        value = rows.get(key, 0)
        _expect(
            isinstance(value, int) and value >= 0, f"{where}.rows.{key}", "must be a non-negative integer"
        )
    vrk = raw.get("valid_replication_keys")
    assert isinstance(name, str)
    return StreamDef(
        stream_name=name,
        fields=tuple(fields),
        key_properties=tuple(keys),
        replication_method=raw.get("replication_method"),
        replication_key=raw.get("replication_key"),
        forced_replication_method=raw.get("forced_replication_method"),
        valid_replication_keys=tuple(vrk) if isinstance(vrk, list) else None,
        is_view=bool(raw.get("is_view", False)),
        initial_rows=rows.get("initial", 10),
        new_rows_per_job=rows.get("new_per_job", 2),
        updated_rows_per_job=rows.get("updated_per_job", 1),
    )


@dataclass(frozen=True)
class Catalog:
    source_types: dict[str, SourceType]
    destination_types: dict[str, DestinationType]


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    text = resources.files("airflow_provider_stitch.emulator").joinpath("catalog.json").read_text("utf-8")
    raw = json.loads(text)
    schedule = tuple(_property(p) for p in raw["schedule_properties"])
    sources: dict[str, SourceType] = {}
    for type_name, spec in raw["source_types"].items():
        singer = bool(spec["singer"])
        props = tuple(_property(p) for p in spec["properties"]) + (schedule if singer else ())
        steps = (
            ("form", "discover_schema", "field_selection", "fully_configured")
            if singer
            else (
                "form",
                "fully_configured",
            )
        )
        sources[type_name] = SourceType(
            type=type_name,
            tap_name=spec["tap_name"],
            singer=singer,
            details={**spec["details"], "protocol": type_name, "image_version": "1.latest"},
            properties=props,
            tap_stream_id_template=spec["tap_stream_id_template"],
            streams=tuple(
                parse_stream_def(s, f"catalog.{type_name}.streams[{i}]")
                for i, s in enumerate(spec["streams"])
            ),
            step_types=steps,
        )
    destinations = {
        name: DestinationType(
            type=name,
            details={**spec["details"], "protocol": name},
            properties=tuple(_property(p) for p in spec["properties"]),
        )
        for name, spec in raw["destination_types"].items()
    }
    return Catalog(source_types=sources, destination_types=destinations)
