"""Stream and field selection rules, checked before anything is written.

Stitch documents them in https://www.stitchdata.com/docs/developers/stitch-connect/guides/select-streams-and-fields-with-connect-api
and https://www.stitchdata.com/docs/developers/stitch-connect/guides/field-selection-compatibility-rules.

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
    items = _request_items(spec, problems)
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
        requests.append(_parse_request(name, options, problems))
    if problems:
        raise StreamSelectionError(problems)
    return requests


def _request_items(spec: Any, problems: list[str]) -> list[tuple[str, Mapping[str, Any]]]:
    """``(name, options)`` pairs from either accepted shape; a bad item becomes a problem."""
    items: list[tuple[str, Mapping[str, Any]]] = []
    if isinstance(spec, Mapping):
        for name, options in spec.items():
            if options is not None and not isinstance(options, Mapping):
                problems.append(f"options for stream {name!r} must be a mapping; got {options!r}")
                continue
            items.append((str(name), options or {}))
        return items
    if not isinstance(spec, (list, tuple)):
        raise StreamSelectionError(
            [f"streams must be a list of names or a mapping of name -> options; got {spec!r}"]
        )
    for item in spec:
        if isinstance(item, str):
            items.append((item, {}))
        elif isinstance(item, Mapping) and isinstance(item.get("name"), str):
            items.append((item["name"], {k: v for k, v in item.items() if k != "name"}))
        else:
            problems.append(f"each stream must be a name or a mapping with a 'name'; got {item!r}")
    return items


def _parse_request(name: str, options: Mapping[str, Any], problems: list[str]) -> StreamRequest:
    """One stream's options, checked on their own (no stream metadata needed)."""
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
    return StreamRequest(
        name=name,
        fields=fields,
        replication_method=method,
        replication_key=str(key) if key is not None else None,
        view_key_properties=_names(
            options.get("view_key_properties"), f"stream {name!r}: view_key_properties", problems
        ),
    )


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
    """Stitch's field rule: automatic always, unsupported never, available when selected (or by default)."""
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


@dataclass
class _StreamPlan:
    """What the planners of one stream share: its merged metadata, the change so far, the problems."""

    stream: Stream
    schema: StreamSchema
    stream_meta: dict[str, Any]
    change: StreamChange
    problems: list[str] = field(default_factory=list)
    #: Stream-level metadata to write (breadcrumb ``[]``).
    stream_updates: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"stream {self.stream.stream_name!r} ({self.stream.tap_stream_id})"

    @property
    def fields_meta(self) -> Mapping[str, Mapping[str, Any]]:
        return self.schema.field_metadata


def plan_stream(
    request: StreamRequest, stream: Stream, schema: StreamSchema
) -> tuple[StreamChange, list[str]]:
    """Validate one stream's request against its metadata; return the change and the problems found."""
    plan = _StreamPlan(
        stream=stream,
        schema=schema,
        stream_meta={**stream.metadata, **schema.stream_metadata},
        change=StreamChange(stream=stream),
    )
    if plan.stream_meta.get("inclusion") == "unsupported":
        plan.problems.append(f"{plan.label} is unsupported by Stitch and cannot be selected")
    method = _plan_method(plan, request)
    key = _plan_key(plan, request, method)
    plan.change.replication_method = method
    plan.change.replication_key = key if method == "INCREMENTAL" else None
    _plan_view_keys(plan, request)
    field_updates = _plan_fields(plan, request, key if method == "INCREMENTAL" else None)
    _finish_plan(plan, field_updates)
    return plan.change, plan.problems


def _plan_method(plan: _StreamPlan, request: StreamRequest) -> str | None:
    """The replication method the stream will have: forced by Stitch, asked for, or already set."""
    forced = forced_method(plan.stream_meta)
    current = plan.stream_meta.get("replication-method")
    method = request.replication_method
    if forced:
        if method and method != forced:
            plan.problems.append(
                f"{plan.label} is forced to {forced} replication by Stitch; {method} is not possible "
                "(leave replication_method out)"
            )
        return forced
    if method is None:
        if current is None:
            plan.problems.append(
                f"{plan.label} needs a replication_method: one of {', '.join(REPLICATION_METHODS)}"
                + _valid_keys_hint(plan.stream_meta)
            )
        return current
    if method != current:
        plan.stream_updates["replication-method"] = method
        plan.change.changes.append(f"replication method {current or 'unset'} -> {method}")
    return method


def _plan_key(plan: _StreamPlan, request: StreamRequest, method: str | None) -> str | None:
    """The replication key: INCREMENTAL streams need one (unless the method is forced), others none."""
    if method != "INCREMENTAL":
        if request.replication_key and method is not None:
            plan.problems.append(
                f"{plan.label}: replication_key only applies to INCREMENTAL replication (method is {method})"
            )
        return request.replication_key
    current = plan.stream_meta.get("replication-key")
    key = request.replication_key or current
    if not key:
        # A forced method means the tap keeps its own bookmark: no key to choose.
        if not forced_method(plan.stream_meta):
            plan.problems.append(
                f"{plan.label} replicates INCREMENTAL and needs a replication_key."
                + _valid_keys_hint(plan.stream_meta)
            )
        return key
    problem = _replication_key_problem(plan, key)
    if problem:
        plan.problems.append(f"{plan.label}: {problem}")
    if key != current and not plan.problems:
        plan.stream_updates["replication-key"] = key
        plan.change.changes.append(f"replication key {current or 'unset'} -> {key}")
    return key


def _replication_key_problem(plan: _StreamPlan, key: str) -> str | None:
    """Why ``key`` cannot be the stream's replication key, or None when it can."""
    valid_keys = plan.stream_meta.get("valid-replication-keys")
    if valid_keys:
        if key in valid_keys:
            return None
        return f"{key!r} is not a valid replication key; valid keys: {', '.join(valid_keys)}"
    if key not in plan.fields_meta:
        return f"replication key {key!r} is not a field.{_suggest(key, plan.fields_meta)}"
    if not _can_be_replication_key(plan.schema, key):
        return f"replication key {key!r} must be an integer or date-time field for INCREMENTAL"
    return None


def _plan_view_keys(plan: _StreamPlan, request: StreamRequest) -> None:
    """Database views need ``view-key-properties``: the ones asked for, which must be fields."""
    if request.view_key_properties is None:
        if plan.stream_meta.get("is-view") and not plan.stream_meta.get("view-key-properties"):
            plan.problems.append(
                f"{plan.label} is a database view and needs view_key_properties (its primary key fields)"
            )
        return
    unknown = [name for name in request.view_key_properties if name not in plan.fields_meta]
    for name in unknown:
        plan.problems.append(
            f"{plan.label}: view key property {name!r} is not a field.{_suggest(name, plan.fields_meta)}"
        )
    current = plan.stream_meta.get("view-key-properties")
    if not unknown and list(request.view_key_properties) != list(current or []):
        plan.stream_updates["view-key-properties"] = list(request.view_key_properties)
        plan.change.changes.append(f"view key properties -> {', '.join(request.view_key_properties)}")


def _plan_fields(plan: _StreamPlan, request: StreamRequest, key: str | None) -> list[dict[str, Any]]:
    """Field-level metadata to write: each wanted field (and the replication key) not yet replicated."""
    fields_meta = plan.fields_meta
    wanted: list[str] = []
    if request.fields == ALL_FIELDS:
        wanted = [
            name for name, meta in fields_meta.items() if meta.get("inclusion", "available") == "available"
        ]
    elif request.fields:
        wanted = [name for name in request.fields if _field_problem(plan, name) is None]
    if key and key in fields_meta and key not in wanted:
        if fields_meta[key].get("inclusion") == "unsupported":
            plan.problems.append(f"{plan.label}: replication key {key!r} is an unsupported field")
        else:
            wanted.append(key)  # the key field is selected along with the stream
    updates: list[dict[str, Any]] = []
    for name in wanted:
        if not is_field_replicated(fields_meta[name]):
            updates.append({"breadcrumb": ["properties", name], "metadata": {"selected": True}})
            plan.change.changes.append(f"field {name} selected")
    return updates


def _field_problem(plan: _StreamPlan, name: str) -> str | None:
    """Why field ``name`` cannot be selected (also recorded in the plan's problems), or None."""
    meta = plan.fields_meta.get(name)
    if meta is None:
        problem = f"{plan.label}: unknown field {name!r}.{_suggest(name, plan.fields_meta)}"
    elif meta.get("inclusion") == "unsupported":
        reason = meta.get("unsupported-description")
        problem = f"{plan.label}: field {name!r} is unsupported and cannot be selected" + (
            f" ({reason})" if reason else ""
        )
    else:
        return None
    plan.problems.append(problem)
    return problem


def _finish_plan(plan: _StreamPlan, field_updates: list[dict[str, Any]]) -> None:
    """Select the stream itself, order the metadata entries, and check fieldExclusions."""
    change, stream = plan.change, plan.stream
    selected = stream.selected if stream.selected is not None else plan.stream_meta.get("selected")
    if selected is not True:
        plan.stream_updates["selected"] = True
        change.changes.insert(0, "stream selected")
    if plan.stream_updates:
        # Stitch wants the stream selected before or alongside its fields: stream entry first.
        change.metadata.append({"breadcrumb": [], "metadata": plan.stream_updates})
    change.metadata.extend(field_updates)
    selected_now = {update["breadcrumb"][1] for update in field_updates}
    change.replicated_fields = [
        name for name, meta in plan.fields_meta.items() if is_field_replicated(meta) or name in selected_now
    ]
    for first, second in _excluded_pairs(plan.fields_meta, change.replicated_fields, selected_now):
        plan.problems.append(
            f"{plan.label}: fields {first!r} and {second!r} cannot be replicated together (Stitch's "
            "fieldExclusions); the job would fail at extraction"
        )


def _excluded_pairs(
    fields_meta: Mapping[str, Mapping[str, Any]], replicated: Sequence[str], selected_now: set[str]
) -> list[tuple[str, str]]:
    """Pairs of replicated fields that ``fieldExclusions`` forbids together, involving a field we select.

    Stitch may accept such a selection; the job then fails at extraction
    (https://www.stitchdata.com/docs/developers/stitch-connect/guides/field-selection-compatibility-rules).
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
