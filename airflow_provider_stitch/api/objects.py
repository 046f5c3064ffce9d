"""Typed views of the Stitch objects the provider reasons about.

Parsing is tolerant on purpose: fields the docs call optional or unstable may be absent, null, or of a
neighbouring type (ids as strings, ``tap_name`` vs ``source_type``). Each object keeps its ``raw`` dict
so callers lose nothing the API returned.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

UTC = dt.timezone.utc


def parse_timestamp(value: Any) -> dt.datetime | None:
    """Parse Stitch's ISO-8601 timestamps (``2020-06-19T15:09:38Z``, with or without fractions)."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_timestamp(value: dt.datetime | None, *, precise: bool = False) -> str | None:
    """The inverse of :func:`parse_timestamp`, ``Z`` suffix: second precision (Stitch's), or
    microseconds when ``precise`` (our own clock's moments, kept exactly across serialisation)."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ" if precise else "%Y-%m-%dT%H:%M:%SZ")


def _int_or_none(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Source:
    id: int
    name: str
    display_name: str | None
    type: str
    stitch_client_id: int | None
    current_step_type: str | None
    paused_at: dt.datetime | None
    deleted_at: dt.datetime | None
    check_job_name: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Source:
        report_card = data.get("report_card") or {}
        return cls(
            id=int(data["id"]),
            name=str(data.get("name") or ""),
            display_name=data.get("display_name"),
            type=str(data.get("type") or ""),
            stitch_client_id=_int_or_none(data.get("stitch_client_id")),
            current_step_type=report_card.get("current_step_type"),
            paused_at=parse_timestamp(data.get("paused_at")),
            deleted_at=parse_timestamp(data.get("deleted_at")),
            check_job_name=data.get("check_job_name"),
            raw=data,
        )

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def is_paused(self) -> bool:
        return self.paused_at is not None

    @property
    def label(self) -> str:
        """How logs and errors name the source: its schema name and id."""
        return f"{self.name or self.display_name or 'source'} ({self.id})"


@dataclass(frozen=True)
class Extraction:
    """One row of the extractions list: the *last completed* extraction of one source."""

    job_name: str
    source_id: int
    stitch_client_id: int | None
    tap_name: str | None
    start_time: dt.datetime | None
    completion_time: dt.datetime | None
    discovery_exit_status: int | None
    discovery_description: str | None
    tap_exit_status: int | None
    tap_description: str | None
    target_exit_status: int | None
    target_description: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Extraction:
        return cls(
            job_name=str(data.get("job_name") or ""),
            source_id=int(data["source_id"]),
            stitch_client_id=_int_or_none(data.get("stitch_client_id")),
            # The attribute table says tap_name, every example says source_type: accept both
            # (https://www.stitchdata.com/docs/developers/stitch-connect/api#extraction--object).
            tap_name=data.get("tap_name") or data.get("source_type"),
            start_time=parse_timestamp(data.get("start_time")),
            completion_time=parse_timestamp(data.get("completion_time")),
            discovery_exit_status=_int_or_none(data.get("discovery_exit_status")),
            discovery_description=data.get("discovery_description"),
            tap_exit_status=_int_or_none(data.get("tap_exit_status")),
            tap_description=data.get("tap_description"),
            target_exit_status=_int_or_none(data.get("target_exit_status")),
            target_description=data.get("target_description"),
            raw=data,
        )

    @property
    def exit_statuses(self) -> dict[str, int | None]:
        return {
            "discovery": self.discovery_exit_status,
            "tap": self.tap_exit_status,
            "target": self.target_exit_status,
        }

    @property
    def descriptions(self) -> dict[str, str | None]:
        return {
            "discovery": self.discovery_description,
            "tap": self.tap_description,
            "target": self.target_description,
        }


@dataclass(frozen=True)
class Load:
    """One row of the loads list: the most recent load attempt of one (source, stream)."""

    source_name: str
    stream_name: str
    stitch_client_id: int | None
    last_batch_loaded_at: dt.datetime | None
    error_state: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Load:
        error_state = data.get("error_state")
        return cls(
            source_name=str(data.get("source_name") or ""),
            stream_name=str(data.get("stream_name") or ""),
            stitch_client_id=_int_or_none(data.get("stitch_client_id")),
            last_batch_loaded_at=parse_timestamp(data.get("last_batch_loaded_at")),
            error_state=error_state if isinstance(error_state, dict) and error_state else None,
            raw=data,
        )

    @property
    def error_message(self) -> str | None:
        """The most useful text in ``error_state``, whose structure Stitch says may change."""
        if not self.error_state:
            return None
        data = self.error_state.get("notification_data")
        if isinstance(data, dict):
            for key in ("warehouse_message", "message", "exception_message", "error"):
                if data.get(key):
                    return str(data[key])
        chain = self.error_state.get("exception_chain")
        if isinstance(chain, list) and chain and isinstance(chain[0], dict) and chain[0].get("message"):
            return str(chain[0]["message"])
        return json.dumps(self.error_state)[:500]


@dataclass(frozen=True)
class ConnectionCheck:
    name: str | None
    status: str | None
    start_time: dt.datetime | None
    completion_time: dt.datetime | None
    error: bool
    check_exit_status: int | None
    discovery_exit_status: int | None
    discovery_error_message: str | None
    tap_exit_status: int | None
    tap_error_message: str | None
    target_exit_status: int | None
    target_error_message: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> ConnectionCheck:
        return cls(
            name=data.get("name"),
            status=data.get("status"),
            start_time=parse_timestamp(data.get("start_time")),
            completion_time=parse_timestamp(data.get("completion_time")),
            error=bool(data.get("error")),
            check_exit_status=_int_or_none(data.get("check_exit_status")),
            discovery_exit_status=_int_or_none(data.get("discovery_exit_status")),
            discovery_error_message=data.get("discovery_error_message"),
            tap_exit_status=_int_or_none(data.get("tap_exit_status")),
            tap_error_message=data.get("tap_error_message"),
            target_exit_status=_int_or_none(data.get("target_exit_status")),
            target_error_message=data.get("target_error_message"),
            raw=data,
        )

    @property
    def is_running(self) -> bool:
        return self.status == "running" or (self.status is None and self.completion_time is None)

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded" and not self.error

    @property
    def failure_message(self) -> str | None:
        """Stitch's own reason for a failed check (discovery first, then tap, then target)."""
        for message in (self.discovery_error_message, self.tap_error_message, self.target_error_message):
            if message:
                return message
        return None


@dataclass(frozen=True)
class Stream:
    stream_id: int
    tap_stream_id: str
    stream_name: str
    selected: bool | None
    metadata: dict[str, Any]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Stream:
        metadata = data.get("metadata")
        return cls(
            stream_id=int(data["stream_id"]),
            tap_stream_id=str(data.get("tap_stream_id") or ""),
            stream_name=str(data.get("stream_name") or ""),
            selected=data.get("selected"),
            metadata=metadata if isinstance(metadata, dict) else {},
            raw=data,
        )


@dataclass(frozen=True)
class StreamSchema:
    """A stream's JSON schema (decoded from the JSON string Stitch returns) and its metadata entries."""

    schema: dict[str, Any]
    metadata: list[dict[str, Any]]
    non_discoverable_metadata_keys: list[str]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> StreamSchema:
        schema = data.get("schema")
        if isinstance(schema, str):
            schema = json.loads(schema) if schema.strip() else {}
        return cls(
            schema=schema if isinstance(schema, dict) else {},
            metadata=list(data.get("metadata") or []),
            non_discoverable_metadata_keys=list(data.get("non-discoverable-metadata-keys") or []),
            raw=data,
        )

    def metadata_for(self, breadcrumb: list[str]) -> dict[str, Any]:
        for entry in self.metadata:
            if list(entry.get("breadcrumb") or []) == breadcrumb:
                return dict(entry.get("metadata") or {})
        return {}

    @property
    def stream_metadata(self) -> dict[str, Any]:
        return self.metadata_for([])

    @property
    def field_metadata(self) -> dict[str, dict[str, Any]]:
        """Field name -> its metadata, for every ``["properties", <field>]`` breadcrumb."""
        fields: dict[str, dict[str, Any]] = {}
        for entry in self.metadata:
            crumb = list(entry.get("breadcrumb") or [])
            if len(crumb) == 2 and crumb[0] == "properties":
                fields[crumb[1]] = dict(entry.get("metadata") or {})
        return fields


@dataclass(frozen=True)
class Page:
    """One page of a paginated list (extractions, loads)."""

    data: list[dict[str, Any]]
    page: int
    total: int | None
    next_path: str | None


def parse_page(body: Any, page: int) -> Page:
    if isinstance(body, list):  # tolerate an unwrapped list
        return Page(data=body, page=page, total=len(body), next_path=None)
    if not isinstance(body, dict):
        raise ValueError(f"expected a paginated object, got {type(body).__name__}")
    links = body.get("links") or {}
    next_path = links.get("next") if isinstance(links, dict) else None
    return Page(
        data=list(body.get("data") or []),
        page=_int_or_none(body.get("page")) or page,
        total=_int_or_none(body.get("total")),
        next_path=next_path or None,
    )
