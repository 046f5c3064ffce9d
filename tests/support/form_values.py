"""Values that fit a documented form, made from its schemas (for tests that create every type)."""

from __future__ import annotations

import re
from typing import Any

#: One accepted value per pattern the docs' report cards use. A pattern not listed here fails the test
#: that meets it (a new docs copy may bring one), rather than being filled with a guess.
PATTERN_SAMPLES = {
    "^1$|^30$|^60$|^360$|^720$|^1440$": "60",
    "^\\d{4}-\\d{2}-\\d{2}T00:00:00Z$": "2024-01-01T00:00:00Z",
    "^\\d+": "5432",
    "^\\d+$": "5432",
    "^(true|false)": "false",
    "^(true|false)$": "false",
    "^(ssh|none)$": "none",
    "^(csv|json)$": "csv",
    "^(csv|jsonl)$": "csv",
    "^stitch-challenge-file-.*$": "stitch-challenge-file-1",
}
TYPE_SAMPLES: dict[str, Any] = {
    "integer": 7,
    "number": 1.5,
    "boolean": False,
    "object": {"kind": "sample"},
    "array": ["sample"],
}


def _alternatives(schema: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The schema's typed alternatives (``anyOf`` of several types, or the schema itself)."""
    if not schema:
        return [{"type": "string"}]
    typed = [alt for alt in schema.get("anyOf", []) if "type" in alt]
    return typed if typed and "type" not in schema else [schema]


def schema_types(schema: dict[str, Any] | None) -> set[str]:
    return {str(alt.get("type", "string")) for alt in _alternatives(schema)}


def wrong_value(schema: dict[str, Any] | None) -> Any:
    """A value of a JSON type that no alternative of the schema takes."""
    kinds = schema_types(schema)
    for candidate, kind in (
        (["not", "scalar"], "array"),
        (12, "integer"),
        ("twelve", "string"),
        ({}, "object"),
    ):
        if kind not in kinds and not (kind == "integer" and "number" in kinds):
            return candidate
    raise AssertionError(f"no wrong value for {schema}")


def sample(name: str, schema: dict[str, Any] | None) -> Any:
    """A value the schema accepts; ``name`` keeps string values apart and recognisable."""
    first = _alternatives(schema)[0]
    if first.get("enum"):
        return first["enum"][0]
    kind = str(first.get("type", "string"))
    if kind != "string":
        return TYPE_SAMPLES[kind]
    pattern = first.get("pattern")
    if pattern:
        value = PATTERN_SAMPLES[pattern]
        assert re.search(pattern, value), (pattern, value)
        return value
    if first.get("format") == "date-time":
        return "2024-01-01T00:00:00Z"
    return f"{name}-value"


def complete_values(form: dict[str, Any], *, steps: tuple[str, ...] = ("form", "oauth")) -> dict[str, Any]:
    """Every required property of the given steps (the form step's system-provided ones excepted)."""
    values: dict[str, Any] = {}
    for step in form["steps"]:
        if step["type"] not in steps:
            continue
        for prop in step["properties"]:
            system_on_form = step["type"] == "form" and prop["system_provided"]
            if prop["is_required"] and not system_on_form:
                values[prop["name"]] = sample(prop["name"], prop["json_schema"])
    return values
