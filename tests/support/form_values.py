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
}
TYPE_SAMPLES: dict[str, Any] = {
    "integer": 7,
    "number": 1.5,
    "boolean": False,
    "object": {"kind": "sample"},
    "array": ["sample"],
}
#: A value of the wrong JSON type for each schema type (what the emulator must refuse).
WRONG_TYPE: dict[str, Any] = {
    "string": 12,
    "integer": "seven",
    "number": "one and a half",
    "boolean": "maybe",
    "object": "not an object",
    "array": "not an array",
}


def schema_type(schema: dict[str, Any] | None) -> str:
    if not schema:
        return "string"
    if isinstance(schema.get("type"), str):
        return str(schema["type"])
    types = {alt.get("type") for alt in schema.get("anyOf", [])}
    return str(types.pop()) if len(types) == 1 else "string"


def sample(name: str, schema: dict[str, Any] | None) -> Any:
    """A value the schema accepts; ``name`` keeps string values apart and recognisable."""
    kind = schema_type(schema)
    if kind != "string":
        return TYPE_SAMPLES[kind]
    pattern = (schema or {}).get("pattern")
    if pattern:
        value = PATTERN_SAMPLES[pattern]
        assert re.search(pattern, value), (pattern, value)
        return value
    if (schema or {}).get("format") == "date-time":
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
