"""Connection types the emulator knows (``catalog.json``): form properties, details and stream templates."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
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
    """One property of a connection form, as a report card lists it (``forms.json``)."""

    name: str
    required: bool = False
    credential: bool = False
    system_provided: bool = False
    json_schema: dict[str, Any] | None = None
    step: str = "form"
    documented_property_type: str | None = None

    @property
    def property_type(self) -> str:
        if self.documented_property_type:
            return self.documented_property_type
        # Where no card prints it: as the cards do, read_only for image_version and
        # system_provided_by_default for an OAuth credential; every other property is user_provided.
        if not self.system_provided:
            return "user_provided"
        return "system_provided_by_default" if self.credential else "read_only"

    @property
    def completes_step(self) -> bool:
        """Must be provided before the source leaves this property's step.

        On the form step only what the user provides counts. The emulator has no OAuth handshake, so on
        the oauth step the system-provided credentials are what the API call must bring.
        """
        return self.required and (self.step != "form" or not self.system_provided)

    def problem(self, value: object) -> str | None:
        """Why Stitch's schema refuses ``value`` (``None`` when it accepts it); never quotes the value.

        ``json_schema`` keywords are checked with jsonschema (an Airflow dependency). Formats are
        annotations there, as in JSON Schema itself, except ``date-time``, which schedules rely on: the
        docs' MySQL card gives ``host`` the ``uri`` format, which a plain host name would fail.
        """
        if self.json_schema is None:
            return None if isinstance(value, str) and value != "" else "must be a non-empty string"
        from jsonschema import Draft7Validator

        error = next(iter(Draft7Validator(self.json_schema).iter_errors(value)), None)
        if error is not None:
            return f"does not match its schema ({error.validator} {json.dumps(error.validator_value)})"
        if self.json_schema.get("format") == "date-time":
            from airflow_provider_stitch.emulator.clock import parse_iso

            if not isinstance(value, str) or parse_iso(value) is None:
                return "must be an ISO 8601 date-time"
        return None

    def validate(self, value: object) -> bool:
        return self.problem(value) is None

    def to_json(self, provided: bool) -> dict[str, Any]:
        return {
            "name": self.name,
            "is_required": self.required,
            "is_credential": self.credential,
            "system_provided": self.system_provided,
            "property_type": self.property_type,
            "json_schema": self.json_schema,
            "provided": provided,
            "tap_mutable": False,
        }


def stored_value(value: object) -> str:
    """Stitch stores form values as strings: the docs' create example sends ``"ssl": false`` and every
    response prints ``"ssl": "true"``-style strings (objects and arrays as JSON text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def card_steps(
    step_types: tuple[str, ...], properties: tuple[PropertyDef, ...], provided: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """A report card's ``steps``: each step with its own properties, marked provided or not."""
    return [
        {
            "type": step,
            "properties": [p.to_json(p.name in provided) for p in properties if p.step == step],
        }
        for step in step_types
    ]


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
    step_types: tuple[str, ...] = ("form", "fully_configured")

    def property(self, name: str) -> PropertyDef | None:
        return next((p for p in self.properties if p.name == name), None)


#: Where the docs contradict a card's required flag (docs/emulator.md, "Connection forms"), the emulator
#: takes the optional reading: frequency_in_minutes (the code-example cards require it; the API's own
#: source-type list, all-sources.yml and the delete-a-source example do not: Stitch uses the type's
#: default interval) and a destination's encryption_type (the cards require it; the docs'
#: create-a-destination example omits it: no encryption is the meaning of its absence).
OPTIONAL_DESPITE_CARDS = frozenset({"frequency_in_minutes", "encryption_type"})


def _form_property(raw: dict[str, Any], step: str) -> PropertyDef:
    return PropertyDef(
        name=raw["name"],
        required=bool(raw.get("is_required")) and raw["name"] not in OPTIONAL_DESPITE_CARDS,
        credential=bool(raw.get("is_credential")),
        system_provided=bool(raw.get("system_provided")),
        json_schema=raw.get("json_schema"),
        step=step,
        documented_property_type=raw.get("property_type"),
    )


def _form(spec: dict[str, Any]) -> tuple[tuple[str, ...], tuple[PropertyDef, ...]]:
    """Step types and properties of one form in forms.json."""
    steps = tuple(step["type"] for step in spec["steps"])
    properties = tuple(
        _form_property(raw, step["type"]) for step in spec["steps"] for raw in step["properties"]
    )
    return steps, properties


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


def _read_json(name: str) -> dict[str, Any]:
    text = resources.files("airflow_provider_stitch.emulator").joinpath(name).read_text("utf-8")
    return json.loads(text)


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    """Forms from ``forms.json`` (derived from Stitch's docs), tap behaviour from ``catalog.json``.

    A documented type with no ``catalog.json`` entry behaves like its kind's default entry (a database
    source like ``platform.postgres``): it can be created, checked, discovered and replicated.
    """
    forms = _read_json("forms.json")
    raw = _read_json("catalog.json")
    behaviour = raw["source_types"]
    sources: dict[str, SourceType] = {}
    for type_name, form_spec in forms["source_types"].items():
        kind = form_spec.get("kind", "saas")
        spec = behaviour.get(type_name) or behaviour[raw["defaults"][kind]]
        steps, props = _form(form_spec)
        own = type_name in behaviour
        sources[type_name] = SourceType(
            type=type_name,
            tap_name=spec["tap_name"] if own else "tap-" + type_name.removeprefix("platform."),
            singer="discover_schema" in steps,
            details={**spec["details"], "protocol": type_name, "image_version": "1.latest"},
            properties=props,
            tap_stream_id_template=spec["tap_stream_id_template"],
            streams=tuple(
                parse_stream_def(s, f"catalog.{type_name}.streams[{i}]")
                for i, s in enumerate(spec["streams"])
            ),
            step_types=steps,
        )
    destination_details = raw["destination_types"]
    destinations: dict[str, DestinationType] = {}
    for name, form_spec in forms["destination_types"].items():
        steps, props = _form(form_spec)
        details = destination_details.get(name, destination_details[raw["defaults"]["destination"]])
        destinations[name] = DestinationType(
            type=name, details={**details, "protocol": name}, properties=props, step_types=steps
        )
    return Catalog(source_types=sources, destination_types=destinations)
