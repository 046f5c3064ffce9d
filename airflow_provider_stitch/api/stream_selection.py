"""Stream and field selection rules (``stitch-connect-api.md`` §11.7), checked before anything is written.

Pure: given the streams list, each requested stream's schema and what the user asked for, this module
either returns the minimal ``PUT /v4/sources/{id}/streams/metadata`` body (empty when everything is
already as asked, so re-running changes nothing) or raises one :class:`StreamSelectionError` listing
every problem at once, with close matches for unknown names.

The rules it applies:

- a field is replicated when its ``inclusion`` is ``automatic``; never when ``unsupported``; and when
  ``available``, if ``selected`` is true or ``selected-by-default`` is true (Stitch's table keeps a
  ``selected: false`` field with ``selected-by-default: true`` replicated);
- a stream needs a replication method unless it has a ``forced-replication-method`` (which a request
  may repeat but not contradict); methods are ``FULL_TABLE``, ``INCREMENTAL`` and ``LOG_BASED``;
- ``INCREMENTAL`` needs a ``replication-key`` (unless the method is forced: the tap then keeps its own
  bookmark) from ``valid-replication-keys`` when the stream lists them, otherwise an integer or
  date-time field; the key field is selected along with the stream;
- database views (``is-view``) need ``view-key-properties``;
- fields a replicated field lists in ``fieldExclusions`` cannot be replicated with it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_stitch.api.objects import Stream, StreamSchema
from airflow_provider_stitch.exceptions import StreamSelectionError

REPLICATION_METHODS = ("FULL_TABLE", "INCREMENTAL", "LOG_BASED")
ALL_FIELDS = "*"
_OPTION_KEYS = ("fields", "replication_method", "replication_key", "view_key_properties")


@dataclass(frozen=True)
class StreamRequest:
    """What the user asked for one stream.

    :param name: The stream's ``tap_stream_id`` or ``stream_name``.
    :param fields: Field names to replicate, ``"*"`` for every available field, or None to keep
        Stitch's defaults (automatic fields plus those selected by default).
    """

    name: str
    fields: tuple[str, ...] | str | None = None
    replication_method: str | None = None
    replication_key: str | None = None
    view_key_properties: tuple[str, ...] | None = None


def _names(value: Any, what: str, problems: list[str]) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Iterable) and all(isinstance(v, str) for v in value):
        return tuple(value)
    problems.append(f"{what} must be a list of names; got {value!r}")
    return None


def parse_stream_requests(spec: Any) -> list[StreamRequest]:
    """Read the operator's ``streams`` argument.

    Accepted shapes: a list whose items are a name or ``{"name": ..., <options>}``, or a mapping of
    name -> options (or None). Options: ``fields`` (list or ``"*"``), ``replication_method``,
    ``replication_key``, ``view_key_properties``.
    """
    problems: list[str] = []
    items: list[tuple[str, Mapping[str, Any]]] = []
    if isinstance(spec, Mapping):
        for name, options in spec.items():
            if options is not None and not isinstance(options, Mapping):
                problems.append(f"options for stream {name!r} must be a mapping; got {options!r}")
                continue
            items.append((str(name), options or {}))
    elif isinstance(spec, (list, tuple)):
        for item in spec:
            if isinstance(item, str):
                items.append((item, {}))
            elif isinstance(item, Mapping) and isinstance(item.get("name"), str):
                items.append((item["name"], {k: v for k, v in item.items() if k != "name"}))
            else:
                problems.append(f"each stream must be a name or a mapping with a 'name'; got {item!r}")
    else:
        raise StreamSelectionError(
            [f"streams must be a list of names or a mapping of name -> options; got {spec!r}"]
        )
    if not items and not problems:
        problems.append("no streams were requested")

    requests: list[StreamRequest] = []
    seen: set[str] = set()
    for name, options in items:
        name = name.strip()
        if not name:
            problems.append("a stream name is empty")
            continue
        if name in seen:
            problems.append(f"stream {name!r} is requested twice")
        seen.add(name)
        unknown = sorted(set(options) - set(_OPTION_KEYS))
        if unknown:
            problems.append(
                f"stream {name!r}: unknown option(s) {', '.join(unknown)}; allowed: {', '.join(_OPTION_KEYS)}"
            )
        fields_value = options.get("fields")
        fields: tuple[str, ...] | str | None
        if fields_value == ALL_FIELDS:
            fields = ALL_FIELDS
        else:
            fields = _names(fields_value, f"stream {name!r}: fields", problems)
        method = options.get("replication_method")
        if method is not None:
            method = str(method).upper()
            if method not in REPLICATION_METHODS:
                problems.append(
                    f"stream {name!r}: replication_method {options['replication_method']!r} is not one of "
                    f"{', '.join(REPLICATION_METHODS)}"
                )
        key = options.get("replication_key")
        if key is not None and method not in (None, "INCREMENTAL"):
            problems.append(f"stream {name!r}: replication_key only applies to INCREMENTAL replication")
        requests.append(
            StreamRequest(
                name=name,
                fields=fields,
                replication_method=method,
                replication_key=str(key) if key is not None else None,
                view_key_properties=_names(
                    options.get("view_key_properties"), f"stream {name!r}: view_key_properties", problems
                ),
            )
        )
    if problems:
        raise StreamSelectionError(problems)
    return requests


def _suggest(wanted: str, candidates: Iterable[str]) -> str:
    pool = sorted(set(candidates))
    close = difflib.get_close_matches(wanted, pool, n=3, cutoff=0.6)
    if close:
        return f" Did you mean: {', '.join(close)}?"
    return f" Known: {', '.join(pool)}." if pool else ""


def resolve_streams(requests: Sequence[StreamRequest], streams: Sequence[Stream]) -> list[Stream]:
    """Match each request to a stream by ``tap_stream_id`` first, then ``stream_name`` (same order)."""
    problems: list[str] = []
    resolved: list[Stream] = []
    by_tap_id = {s.tap_stream_id: s for s in streams}
    for request in requests:
        match = by_tap_id.get(request.name)
        if match is None:
            named = [s for s in streams if s.stream_name == request.name]
            if len(named) > 1:
                ids = ", ".join(sorted(s.tap_stream_id for s in named))
                problems.append(
                    f"stream name {request.name!r} is ambiguous (it exists in several schemas); "
                    f"use one of its tap_stream_ids: {ids}"
                )
                continue
            match = named[0] if named else None
        if match is None:
            names = [s.stream_name for s in streams] + [s.tap_stream_id for s in streams]
            problems.append(f"unknown stream {request.name!r}.{_suggest(request.name, names)}")
            continue
        resolved.append(match)
    tap_ids = [s.tap_stream_id for s in resolved]
    for tap_id in sorted({t for t in tap_ids if tap_ids.count(t) > 1}):
        problems.append(f"stream {tap_id!r} is requested twice (by name and by tap_stream_id)")
    if problems:
        raise StreamSelectionError(problems)
    return resolved


def is_field_replicated(metadata: Mapping[str, Any]) -> bool:
    """Stitch's field rule (§11.7): automatic always, unsupported never, available when selected."""
    inclusion = metadata.get("inclusion", "available")
    if inclusion == "automatic":
        return True
    if inclusion == "unsupported":
        return False
    return metadata.get("selected") is True or metadata.get("selected-by-default") is True


def forced_method(stream_metadata: Mapping[str, Any]) -> str | None:
    """``forced-replication-method``: a string in the docs, ``{replication-method: ...}`` for some taps."""
    forced = stream_metadata.get("forced-replication-method")
    if isinstance(forced, Mapping):
        forced = forced.get("replication-method")
    return str(forced).upper() if forced else None


def _field_types(schema: StreamSchema, name: str) -> tuple[set[str], str | None]:
    definition = (schema.schema.get("properties") or {}).get(name) or {}
    types = definition.get("type") or []
    type_set = {types} if isinstance(types, str) else set(types)
    for option in definition.get("anyOf") or []:
        option_types = option.get("type") or []
        type_set |= {option_types} if isinstance(option_types, str) else set(option_types)
    return type_set, definition.get("format")


def _can_be_replication_key(schema: StreamSchema, name: str) -> bool:
    types, fmt = _field_types(schema, name)
    return "integer" in types or fmt == "date-time"


@dataclass
class StreamChange:
    """What selecting one stream changes; ``metadata`` is empty when it is already as requested."""

    stream: Stream
    metadata: list[dict[str, Any]] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    replicated_fields: list[str] = field(default_factory=list)
    replication_method: str | None = None
    replication_key: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.metadata)

    def to_put_entry(self) -> dict[str, Any]:
        return {"tap_stream_id": self.stream.tap_stream_id, "metadata": self.metadata}

    def summary(self) -> dict[str, Any]:
        """JSON-safe description (the operator's return value)."""
        return {
            "tap_stream_id": self.stream.tap_stream_id,
            "stream_name": self.stream.stream_name,
            "stream_id": self.stream.stream_id,
            "changed": self.changed,
            "changes": list(self.changes),
            "replication_method": self.replication_method,
            "replication_key": self.replication_key,
            "replicated_fields": list(self.replicated_fields),
        }


def plan_stream(
    request: StreamRequest, stream: Stream, schema: StreamSchema
) -> tuple[StreamChange, list[str]]:
    """Validate one stream's request against its metadata; return the change and the problems found."""
    label = f"stream {stream.stream_name!r} ({stream.tap_stream_id})"
    problems: list[str] = []
    stream_meta = {**stream.metadata, **schema.stream_metadata}
    fields_meta = schema.field_metadata
    change = StreamChange(stream=stream)

    if stream_meta.get("inclusion") == "unsupported":
        problems.append(f"{label} is unsupported by Stitch and cannot be selected")

    # --- replication method and key -------------------------------------------------------------
    forced = forced_method(stream_meta)
    current_method = stream_meta.get("replication-method")
    current_key = stream_meta.get("replication-key")
    stream_updates: dict[str, Any] = {}
    method = request.replication_method
    if forced:
        if method and method != forced:
            problems.append(
                f"{label} is forced to {forced} replication by Stitch; {method} is not possible "
                "(leave replication_method out)"
            )
        method = forced
    elif method is None:
        method = current_method
        if method is None:
            problems.append(
                f"{label} needs a replication_method: one of {', '.join(REPLICATION_METHODS)}"
                + _valid_keys_hint(stream_meta)
            )
    elif method != current_method:
        stream_updates["replication-method"] = method
        change.changes.append(f"replication method {current_method or 'unset'} -> {method}")

    key = request.replication_key
    if method == "INCREMENTAL":
        key = key or current_key
        valid_keys = stream_meta.get("valid-replication-keys")
        if not key:
            if forced:
                pass  # a forced method means the tap keeps its own bookmark: no key to choose
            else:
                problems.append(
                    f"{label} replicates INCREMENTAL and needs a replication_key."
                    + _valid_keys_hint(stream_meta)
                )
        elif valid_keys:
            if key not in valid_keys:
                problems.append(
                    f"{label}: {key!r} is not a valid replication key; valid keys: {', '.join(valid_keys)}"
                )
        elif key not in fields_meta:
            problems.append(f"{label}: replication key {key!r} is not a field.{_suggest(key, fields_meta)}")
        elif not _can_be_replication_key(schema, key):
            problems.append(
                f"{label}: replication key {key!r} must be an integer or date-time field for INCREMENTAL"
            )
        if key and key != current_key and not problems:
            stream_updates["replication-key"] = key
            change.changes.append(f"replication key {current_key or 'unset'} -> {key}")
    elif request.replication_key and method is not None:
        problems.append(
            f"{label}: replication_key only applies to INCREMENTAL replication (method is {method})"
        )
    change.replication_method = method
    change.replication_key = key if method == "INCREMENTAL" else None

    # --- views ------------------------------------------------------------------------------------
    if request.view_key_properties is not None:
        unknown = [name for name in request.view_key_properties if name not in fields_meta]
        for name in unknown:
            problems.append(
                f"{label}: view key property {name!r} is not a field.{_suggest(name, fields_meta)}"
            )
        current_view_keys = stream_meta.get("view-key-properties")
        if not unknown and list(request.view_key_properties) != list(current_view_keys or []):
            stream_updates["view-key-properties"] = list(request.view_key_properties)
            change.changes.append(f"view key properties -> {', '.join(request.view_key_properties)}")
    elif stream_meta.get("is-view") and not stream_meta.get("view-key-properties"):
        problems.append(f"{label} is a database view and needs view_key_properties (its primary key fields)")

    # --- fields -----------------------------------------------------------------------------------
    wanted: list[str] = []
    if request.fields == ALL_FIELDS:
        wanted = [
            name for name, meta in fields_meta.items() if meta.get("inclusion", "available") == "available"
        ]
    elif request.fields:
        for name in request.fields:
            meta = fields_meta.get(name)
            if meta is None:
                problems.append(f"{label}: unknown field {name!r}.{_suggest(name, fields_meta)}")
            elif meta.get("inclusion") == "unsupported":
                reason = meta.get("unsupported-description")
                problems.append(
                    f"{label}: field {name!r} is unsupported and cannot be selected"
                    + (f" ({reason})" if reason else "")
                )
            else:
                wanted.append(name)
    if method == "INCREMENTAL" and key and key in fields_meta and key not in wanted:
        if fields_meta[key].get("inclusion") == "unsupported":
            problems.append(f"{label}: replication key {key!r} is an unsupported field")
        else:
            wanted.append(key)

    field_updates: list[dict[str, Any]] = []
    for name in wanted:
        if not is_field_replicated(fields_meta[name]):
            field_updates.append({"breadcrumb": ["properties", name], "metadata": {"selected": True}})
            change.changes.append(f"field {name} selected")

    # --- the stream itself ------------------------------------------------------------------------
    selected = stream.selected if stream.selected is not None else stream_meta.get("selected")
    if selected is not True:
        stream_updates["selected"] = True
        change.changes.insert(0, "stream selected")

    if stream_updates:
        # Stitch wants the stream selected before or alongside its fields: stream entry first.
        change.metadata.append({"breadcrumb": [], "metadata": stream_updates})
    change.metadata.extend(field_updates)
    selected_now = {u["breadcrumb"][1] for u in field_updates}
    change.replicated_fields = [
        name for name, meta in fields_meta.items() if is_field_replicated(meta) or name in selected_now
    ]
    for first, second in _excluded_pairs(fields_meta, change.replicated_fields, selected_now):
        problems.append(
            f"{label}: fields {first!r} and {second!r} cannot be replicated together (Stitch's "
            "fieldExclusions); the job would fail at extraction"
        )
    return change, problems


def _excluded_pairs(
    fields_meta: Mapping[str, Mapping[str, Any]], replicated: Sequence[str], selected_now: set[str]
) -> list[tuple[str, str]]:
    """Pairs of replicated fields that ``fieldExclusions`` forbids together, involving a field we select.

    Stitch may accept such a selection; the job then fails at extraction (§11.7).
    """
    replicated_set = set(replicated)
    pairs: set[tuple[str, str]] = set()
    for name in replicated:
        for crumb in fields_meta.get(name, {}).get("fieldExclusions") or []:
            if not isinstance(crumb, (list, tuple)) or len(crumb) != 2 or crumb[0] != "properties":
                continue
            other = str(crumb[1])
            if other != name and other in replicated_set and (name in selected_now or other in selected_now):
                first, second = sorted((name, other))
                pairs.add((first, second))
    return sorted(pairs)


def _valid_keys_hint(stream_meta: Mapping[str, Any]) -> str:
    valid = stream_meta.get("valid-replication-keys")
    return f" (valid replication keys: {', '.join(valid)})" if valid else ""


def plan_selection(
    requests: Sequence[StreamRequest],
    streams: Sequence[Stream],
    schemas: Mapping[int, StreamSchema],
    *,
    subject: str = "the stream selection",
) -> list[StreamChange]:
    """Validate every request; return one :class:`StreamChange` per requested stream, in order.

    :param schemas: ``stream_id`` -> schema, for (at least) the requested streams.
    :raises StreamSelectionError: listing every problem, if there is any.
    """
    resolved = resolve_streams(requests, streams)
    problems: list[str] = []
    changes: list[StreamChange] = []
    for request, stream in zip(requests, resolved, strict=True):
        change, stream_problems = plan_stream(request, stream, schemas[stream.stream_id])
        problems.extend(stream_problems)
        changes.append(change)
    if problems:
        raise StreamSelectionError(problems, subject=subject)
    return changes


def metadata_body(changes: Sequence[StreamChange]) -> list[dict[str, Any]]:
    """The ``streams`` list for ``PUT .../streams/metadata``: only the streams that change."""
    return [change.to_put_entry() for change in changes if change.changed]
