"""Seed files: the initial accounts, partners, sources and destinations (format in docs/emulator.md).

Validation happens before anything is built, and every problem is reported as one line naming the file and
the JSON path of the offending value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import fields as dc_fields
from importlib import resources
from pathlib import Path
from typing import Any

from airflow_provider_stitch.emulator.catalog import CatalogError, load_catalog, parse_stream_def
from airflow_provider_stitch.emulator.models import Durations, Scenario

SOURCE_STATES = ("form", "discover_schema", "field_selection", "fully_configured")
NAME_RE = re.compile(r"^[a-z_][a-z0-9_$]{0,48}$")


class SeedError(ValueError):
    """A seed file is unusable; ``str()`` is a one-line explanation."""


def default_seed_text() -> str:
    return (
        resources.files("airflow_provider_stitch.emulator").joinpath("default_seed.json").read_text("utf-8")
    )


def add_source_copies(
    seed: dict[str, Any],
    count: int,
    *,
    client_id: int = 1001,
    source_id: int = 2001,
    durations: Callable[[int], dict[str, float]] | None = None,
) -> list[int]:
    """Add ``count`` copies of one seeded source to its account (ids ``2101, 2102, ...``, names
    ``<name>_1, <name>_2, ...``), for benchmarks and load tests that need many distinct jobs.

    ``durations(n)`` gives copy ``n``'s phase lengths (``n = 0`` is the original). Returns every id,
    the original's first."""
    account = next(a for a in seed["accounts"] if a["stitch_client_id"] == client_id)
    original = next(s for s in account["sources"] if s["id"] == source_id)
    if durations is not None:
        original["durations"] = durations(0)
    ids = [source_id]
    for number in range(1, count + 1):
        copy = dict(
            original,
            id=source_id + 99 + number,
            display_name=f"{original.get('display_name', original['name'])} {number}",
            name=f"{original['name']}_{number}",
        )
        if durations is not None:
            copy["durations"] = durations(number)
        account["sources"].append(copy)
        ids.append(copy["id"])
    return ids


def load_seed(path: Path | str | None) -> dict[str, Any]:
    """Read and validate a seed file (the packaged default when ``path`` is None)."""
    origin = str(path) if path is not None else "default_seed.json"
    try:
        text = Path(path).read_text("utf-8") if path is not None else default_seed_text()
    except OSError as exc:
        raise SeedError(f"seed {origin}: cannot read file ({exc.strerror or exc})") from exc
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SeedError(
            f"seed {origin}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    try:
        validate_seed(raw)
    except (SeedError, CatalogError) as exc:
        raise SeedError(f"seed {origin}: {exc}") from exc
    return raw


def _need(cond: bool, where: str, problem: str) -> None:
    if not cond:
        raise SeedError(f"{where}: {problem}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_scenario(raw: object, base: Scenario | None, where: str = "scenario") -> Scenario:
    """Build a Scenario from JSON; ``base`` is the scenario being patched (None = start from defaults)."""
    if not isinstance(raw, dict):
        raise SeedError(f"{where}: must be an object")
    current = (base or Scenario()).to_json()
    known = set(current)
    for key, value in raw.items():
        if key not in known:
            raise SeedError(f"{where}.{key}: unknown scenario field (known: {', '.join(sorted(known))})")
        current[key] = value
    w = where
    for key in ("fail_discovery", "fail_tap", "fail_target"):
        _need(
            current[key] is None or (isinstance(current[key], str) and current[key] != ""),
            f"{w}.{key}",
            "must be a non-empty string (the failure description) or null",
        )
    _need(
        _is_int(current["exit_status"]) and current["exit_status"] != 0,
        f"{w}.exit_status",
        "must be a non-zero integer",
    )
    _need(
        current["connection_check"] in ("pass", "fail"), f"{w}.connection_check", 'must be "pass" or "fail"'
    )
    _need(
        isinstance(current["connection_check_message"], str),
        f"{w}.connection_check_message",
        "must be a string",
    )
    for key in ("load_errors", "connection_check_fail_when"):
        value = current[key]
        _need(
            isinstance(value, dict) and all(isinstance(v, str) for v in value.values()),
            f"{w}.{key}",
            "must map names to strings",
        )
    for key in ("zero_record_streams", "early_final_batch_streams"):
        names = current[key]
        _need(
            isinstance(names, list) and all(isinstance(v, str) for v in names),
            f"{w}.{key}",
            "must be a list of stream names",
        )
    delay = current["log_unavailable_for"]
    _need(
        isinstance(delay, (int, float)) and not isinstance(delay, bool) and delay >= 0,
        f"{w}.log_unavailable_for",
        "must be a non-negative number of seconds",
    )
    for key in ("slow_loads", "durations"):
        value = current[key]
        _need(
            isinstance(value, dict)
            and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in value.values()
            ),
            f"{w}.{key}",
            "must map names to non-negative numbers of seconds",
        )
    for key in current["durations"]:
        _need(
            key in Durations.field_names(),
            f"{w}.durations.{key}",
            f"unknown phase (known: {', '.join(Durations.field_names())})",
        )
    current["log_unavailable_for"] = float(current["log_unavailable_for"])
    return Scenario(**current)


def parse_durations(raw: object, where: str) -> Durations:
    _need(isinstance(raw, dict), where, "must be an object")
    assert isinstance(raw, dict)
    known = {f.name for f in dc_fields(Durations)}
    for key, value in raw.items():
        _need(key in known, f"{where}.{key}", f"unknown phase (known: {', '.join(sorted(known))})")
        _need(
            isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0,
            f"{where}.{key}",
            "must be a non-negative number of seconds",
        )
    return Durations(**{k: float(v) for k, v in raw.items()})


def validate_seed(raw: object) -> None:
    catalog = load_catalog()
    _need(isinstance(raw, dict), "top level", "must be a JSON object")
    assert isinstance(raw, dict)
    unknown = set(raw) - {"partners", "accounts", "_comment"}
    _need(not unknown, "top level", f"unknown key(s) {sorted(unknown)}")
    partners = raw.get("partners", [])
    _need(isinstance(partners, list), "partners", "must be a list")
    for i, p in enumerate(partners):
        _need(
            isinstance(p, dict)
            and isinstance(p.get("partner_id"), str)
            and isinstance(p.get("partner_secret"), str),
            f"partners[{i}]",
            "needs string partner_id and partner_secret",
        )
    accounts = raw.get("accounts")
    _need(isinstance(accounts, list) and bool(accounts), "accounts", "must be a non-empty list")
    client_ids: set[int] = set()
    tokens: set[str] = set()
    source_ids: set[int] = set()
    dest_ids: set[int] = set()
    assert isinstance(accounts, list)
    for i, acc in enumerate(accounts):
        w = f"accounts[{i}]"
        _need(isinstance(acc, dict), w, "must be an object")
        cid = acc.get("stitch_client_id")
        _need(_is_int(cid) and cid > 0, f"{w}.stitch_client_id", "must be a positive integer")
        _need(cid not in client_ids, f"{w}.stitch_client_id", f"duplicate id {cid}")
        client_ids.add(cid)
        token = acc.get("access_token")
        _need(isinstance(token, str) and bool(token), f"{w}.access_token", "must be a non-empty string")
        _need(token not in tokens, f"{w}.access_token", "duplicate token")
        tokens.add(token)
        _need(isinstance(acc.get("email", ""), str), f"{w}.email", "must be a string")
        limit = acc.get("destination_limit", 5)
        _need(_is_int(limit) and limit >= 0, f"{w}.destination_limit", "must be a non-negative integer")
        feats = acc.get("features", {})
        _need(
            isinstance(feats, dict) and all(isinstance(v, bool) for v in feats.values()),
            f"{w}.features",
            "must map feature names to booleans",
        )
        for j, dest in enumerate(acc.get("destinations", [])):
            dw = f"{w}.destinations[{j}]"
            _need(isinstance(dest, dict), dw, "must be an object")
            _need(
                _is_int(dest.get("id")) and dest["id"] not in dest_ids, f"{dw}.id", "must be a unique integer"
            )
            dest_ids.add(dest["id"])
            _need(
                dest.get("type") in catalog.destination_types,
                f"{dw}.type",
                f"unknown destination type {dest.get('type')!r} "
                f"(known: {', '.join(catalog.destination_types)})",
            )
            _need(isinstance(dest.get("properties", {}), dict), f"{dw}.properties", "must be an object")
        names: set[str] = set()
        for j, src in enumerate(acc.get("sources", [])):
            sw = f"{w}.sources[{j}]"
            _need(isinstance(src, dict), sw, "must be an object")
            _need(
                _is_int(src.get("id")) and src["id"] not in source_ids, f"{sw}.id", "must be a unique integer"
            )
            source_ids.add(src["id"])
            stype = src.get("type")
            _need(
                stype in catalog.source_types,
                f"{sw}.type",
                f"unknown source type {stype!r} (known: {', '.join(catalog.source_types)})",
            )
            _need(
                isinstance(src.get("display_name"), str) and bool(src["display_name"]),
                f"{sw}.display_name",
                "must be a non-empty string",
            )
            name = src.get("name") or derive_name(src["display_name"])
            _need(bool(NAME_RE.match(name)), f"{sw}.name", f"invalid source name {name!r}")
            _need(name not in names, f"{sw}.name", f"duplicate source name {name!r}")
            names.add(name)
            props = src.get("properties", {})
            _need(
                isinstance(props, dict) and all(isinstance(v, str) for v in props.values()),
                f"{sw}.properties",
                "must map property names to strings",
            )
            strangers = sorted(k for k in props if catalog.source_types[stype].property(k) is None)
            _need(not strangers, f"{sw}.properties", f"not in the {stype} form: {', '.join(strangers)}")
            state = src.get("state", "fully_configured")
            _need(state in SOURCE_STATES, f"{sw}.state", f"must be one of {', '.join(SOURCE_STATES)}")
            streams = src.get("streams")
            stream_names = [s.stream_name for s in catalog.source_types[stype].streams]
            if streams is not None:
                _need(isinstance(streams, list), f"{sw}.streams", "must be a list")
                stream_names = [
                    parse_stream_def(s, f"{sw}.streams[{k}]").stream_name for k, s in enumerate(streams)
                ]
            selected = src.get("selected_streams", [])
            _need(isinstance(selected, list), f"{sw}.selected_streams", "must be a list")
            for s in selected:
                _need(
                    s in stream_names,
                    f"{sw}.selected_streams",
                    f"unknown stream {s!r} (known: {stream_names})",
                )
            if state == "fully_configured" and catalog.source_types[stype].singer:
                _need(
                    bool(selected),
                    f"{sw}.selected_streams",
                    "a fully_configured source needs a selected stream",
                )
            if "durations" in src:
                parse_durations(src["durations"], f"{sw}.durations")
            if "scenario" in src:
                parse_scenario(src["scenario"], None, f"{sw}.scenario")
            _need(isinstance(src.get("paused", False), bool), f"{sw}.paused", "must be a boolean")
            replicated = src.get("replicated", False)
            _need(isinstance(replicated, bool), f"{sw}.replicated", "must be a boolean")
            _need(
                not replicated or (state == "fully_configured" and catalog.source_types[stype].singer),
                f"{sw}.replicated",
                "only a fully_configured Singer source can have replicated before",
            )


def derive_name(display_name: str) -> str:
    """Stitch derives the schema name: lowercase, runs of other characters become ``_``, trimmed."""
    return re.sub(r"[^a-z0-9]+", "_", display_name.lower()).strip("_")
