"""Connection forms: what a source or destination type asks for, and values prepared to match it.

Stitch describes each type's form in its report card (``GET /v4/source-types/{type}``,
``GET /v4/destination-types/{type}``): property names, required and credential flags, and a
``json_schema`` per property (a string with a pattern, an integer, a boolean...). Names differ between
types (a Postgres source wants ``user`` and ``dbname``, a Postgres destination ``username`` and
``database``), so nothing here keeps a fixed table of names: the onboarding operators read the form when
they run and :meth:`ConnectionForm.prepare` turns the values a DAG gives into the types the form wants,
naming every problem at once before anything is written.

Pure: no I/O and no Airflow. Schemas are checked with ``jsonschema`` (an Airflow dependency). Problems
name properties and rules, never values: a password that fails a pattern must not reach a log.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_stitch.exceptions import FormProblems

#: Airflow connection attribute -> the form property names it can fill, in order of preference.
CONNECTION_ATTRIBUTE_CANDIDATES: dict[str, tuple[str, ...]] = {
    "host": ("host",),
    "port": ("port",),
    "login": ("user", "username"),
    "password": ("password",),
    "schema": ("dbname", "database"),
}
SETUP_STEPS = ("form", "oauth")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


@dataclass(frozen=True)
class FormProperty:
    name: str
    step: str
    required: bool
    credential: bool
    system_provided: bool
    json_schema: Mapping[str, Any] | None

    @property
    def needed_from_user(self) -> bool:
        """Required on the form step and not set by Stitch itself (``image_version``, OAuth tokens)."""
        return self.required and self.step == "form" and not self.system_provided

    @property
    def value_types(self) -> tuple[str, ...]:
        """The JSON types the schema takes, in its order: ``("integer", "string")`` for Stitch's
        "integer or digit string" ports; ``("string",)`` for a ``null`` schema (Stitch's own
        properties) and for ``anyOf`` alternatives that only name formats."""
        schema = self.json_schema or {}
        if isinstance(schema.get("type"), str):
            return (str(schema["type"]),)
        alternatives = schema.get("anyOf") or schema.get("oneOf") or []
        types = [alt["type"] for alt in alternatives if isinstance(alt, Mapping) and "type" in alt]
        return tuple(dict.fromkeys(str(t) for t in types)) or ("string",)

    def prepared(self, value: Any) -> tuple[Any, str | None]:
        """``value`` as the schema takes it, or why it cannot be.

        A value the schema already accepts is sent as it is; otherwise each of the schema's types is
        tried in order (a template's ``"5432"`` for an integer-only port becomes ``5432``).
        """
        if len(self.value_types) > 1 and _schema_problem(self.json_schema, value) is None:
            return value, None
        first_problem = None
        for wanted in self.value_types:
            converted, problem = _coerce(value, wanted)
            problem = problem or _schema_problem(self.json_schema, converted)
            if problem is None:
                return converted, None
            first_problem = first_problem or problem
        if len(self.value_types) > 1:
            alternatives = (
                (self.json_schema or {}).get("anyOf") or (self.json_schema or {}).get("oneOf") or []
            )
            described = [
                str(alt["type"]) + (f" matching {alt['pattern']}" if alt.get("pattern") else "")
                for alt in alternatives
                if isinstance(alt, Mapping) and "type" in alt
            ]
            return value, "must be " + " or ".join(described)
        return value, first_problem


@dataclass(frozen=True)
class ConnectionForm:
    """The setup steps' properties of one source or destination type."""

    type: str
    properties: tuple[FormProperty, ...]

    @classmethod
    def from_type_card(cls, card: Mapping[str, Any]) -> ConnectionForm:
        """From a source-type or destination-type object (its ``steps``, or its ``report_card``'s)."""
        steps = card.get("steps") or (card.get("report_card") or {}).get("steps") or []
        properties = tuple(
            FormProperty(
                name=str(raw["name"]),
                step=str(step.get("type")),
                required=bool(raw.get("is_required")),
                credential=bool(raw.get("is_credential")),
                system_provided=bool(raw.get("system_provided")),
                json_schema=raw.get("json_schema"),
            )
            for step in steps
            if step.get("type") in SETUP_STEPS
            for raw in step.get("properties") or []
            if isinstance(raw, Mapping) and raw.get("name")
        )
        return cls(type=str(card.get("type") or ""), properties=properties)

    def property(self, name: str) -> FormProperty | None:
        return next((p for p in self.properties if p.name == name), None)

    def connection_fields(self) -> dict[str, str]:
        """Airflow connection attribute -> this form's property (``login`` -> ``user`` or ``username``)."""
        fields: dict[str, str] = {}
        for attribute, candidates in CONNECTION_ATTRIBUTE_CANDIDATES.items():
            name = next((c for c in candidates if self.property(c) is not None), None)
            if name is not None:
                fields[attribute] = name
        return fields

    def credential_names(self) -> set[str]:
        return {p.name for p in self.properties if p.credential}

    def prepare(self, values: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
        """``values`` in the types the form's schemas want, or :class:`FormProblems` naming every
        unknown property, wrong type or pattern, and (unless ``partial``: an update) missing one."""
        problems: list[str] = []
        prepared: dict[str, Any] = {}
        for name in sorted(values):
            prop = self.property(name)
            if prop is None:
                problems.append(f"{name}: not a property of this form")
                continue
            value, problem = prop.prepared(values[name])
            if problem:
                problems.append(f"{name}: {problem}")
            else:
                prepared[name] = value
        if not partial:
            missing = sorted(p.name for p in self.properties if p.needed_from_user and p.name not in values)
            problems += [f"{name}: required" for name in missing]
        if problems:
            raise FormProblems(self.type, problems)
        return prepared


def _coerce(value: Any, wanted: str) -> tuple[Any, str | None]:
    """The value as ``wanted``: template renders give strings, DAG literals give numbers and booleans."""
    if wanted == "string":
        if isinstance(value, bool):
            return ("true" if value else "false"), None
        if isinstance(value, (str, int, float)):
            return str(value), None
        return value, "must be a string"
    if wanted == "integer":
        if isinstance(value, bool):
            return value, "must be an integer, not a boolean"
        if isinstance(value, int):
            return value, None
        if isinstance(value, float) and value.is_integer():
            return int(value), None
        # ASCII digits only: Python's \d takes other scripts' digits, which Stitch's schemas do not.
        if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]+\s*", value):
            return int(value), None
        return value, "must be an integer"
    if wanted == "number":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value, None
        try:
            return (float(value), None) if isinstance(value, str) else (value, "must be a number")
        except ValueError:
            return value, "must be a number"
    if wanted == "boolean":
        if isinstance(value, bool):
            return value, None
        text = str(value).strip().lower() if isinstance(value, (str, int)) else None
        if text in _TRUE or text in _FALSE:
            return text in _TRUE, None
        return value, "must be true or false"
    if wanted in ("object", "array"):
        kind = dict if wanted == "object" else list
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return value, f"must be a JSON {wanted}"
        if isinstance(value, tuple):
            value = list(value)
        if isinstance(value, Mapping):
            value = dict(value)
        return value, None if isinstance(value, kind) else f"must be a JSON {wanted}"
    return value, None


def _schema_problem(schema: Mapping[str, Any] | None, value: Any) -> str | None:
    """The first rule of ``schema`` that ``value`` breaks, named without the value."""
    if schema is None:
        return None if isinstance(value, str) and value else "must be a non-empty string"
    from jsonschema import Draft7Validator

    error = next(iter(Draft7Validator(dict(schema)).iter_errors(value)), None)
    if error is None:
        # Formats are annotations to jsonschema; date-time is the one Stitch's schedules depend on.
        if schema.get("format") == "date-time" and not _is_datetime(value):
            return "must be an ISO 8601 date-time"
        return None
    if error.validator == "pattern":
        return f"does not match the pattern {error.validator_value}"
    if error.validator == "type":
        return f"must be of type {error.validator_value}"
    if error.validator == "enum":
        return "must be one of " + ", ".join(str(v) for v in error.validator_value)
    return f"breaks the schema's {error.validator} rule ({json.dumps(error.validator_value)})"


def _is_datetime(value: Any) -> bool:
    try:
        dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return False
    return True
