"""In-memory state of the emulated Stitch accounts, and the JSON shapes the API returns for each object."""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_stitch.emulator.catalog import DestinationType, SourceType, StreamDef, card_steps
from airflow_provider_stitch.emulator.clock import iso, parse_iso

# Keys a client may write through PUT .../streams/metadata (Stitch's "non-discoverable" keys).
WRITABLE_METADATA_KEYS = ("selected", "replication-method", "replication-key", "view-key-properties")


@dataclass
class Durations:
    """Phase lengths in seconds at speed 1 (the engine divides them by ``--speed``)."""

    check: float = 3.0
    discovery: float = 2.0
    tap: float = 4.0
    target: float = 2.0
    preparation: float = 3.0
    load: float = 2.0

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return ("check", "discovery", "tap", "target", "preparation", "load")


@dataclass
class Scenario:
    """Per-source behaviour switches, set in the seed or at run time through ``/_emulator/scenarios``."""

    fail_discovery: str | None = None
    fail_tap: str | None = None
    fail_target: str | None = None
    exit_status: int = 1
    load_errors: dict[str, str] = field(default_factory=dict)
    zero_record_streams: list[str] = field(default_factory=list)
    slow_loads: dict[str, float] = field(default_factory=dict)
    connection_check: str = "pass"
    connection_check_message: str = 'FATAL: password authentication failed for user "stitch"'
    connection_check_fail_when: dict[str, str] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)
    # Seconds (at speed 1) after completion during which the job's log answers 404 as for an unknown job.
    log_unavailable_for: float = 0.0
    # Assumption, undocumented by Stitch: these streams' final batch loads during the extraction.
    early_final_batch_streams: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "fail_discovery": self.fail_discovery,
            "fail_tap": self.fail_tap,
            "fail_target": self.fail_target,
            "exit_status": self.exit_status,
            "load_errors": dict(self.load_errors),
            "zero_record_streams": list(self.zero_record_streams),
            "slow_loads": dict(self.slow_loads),
            "connection_check": self.connection_check,
            "connection_check_message": self.connection_check_message,
            "connection_check_fail_when": dict(self.connection_check_fail_when),
            "durations": dict(self.durations),
            "log_unavailable_for": self.log_unavailable_for,
            "early_final_batch_streams": list(self.early_final_batch_streams),
        }


@dataclass
class Stream:
    stream_id: int
    tap_stream_id: str
    definition: StreamDef
    selected: bool | None = None
    replication_method: str | None = None
    replication_key: str | None = None
    view_key_properties: list[str] | None = None
    field_selected: dict[str, bool | None] = field(default_factory=dict)
    # Successful extractions so far: drives the deterministic bookmark of the synthetic data.
    extract_count: int = 0

    @property
    def stream_name(self) -> str:
        return self.definition.stream_name

    def is_field_replicated(self, name: str) -> bool:
        """Stitch's field-selection rules (https://www.stitchdata.com/docs/developers/stitch-connect/guides/field-selection-compatibility-rules)."""
        fdef = self.definition.field(name)
        if fdef is None or fdef.inclusion == "unsupported":
            return False
        if fdef.inclusion == "automatic":
            return True
        selected = self.field_selected.get(name)
        # The table in the docs: (false, selected-by-default true) is still replicated.
        return bool(selected) or bool(fdef.selected_by_default)

    def replicated_fields(self) -> list[str]:
        return [f.name for f in self.definition.fields if self.is_field_replicated(f.name)]

    def effective_method(self) -> str:
        return (
            self.definition.forced_replication_method
            or self.replication_method
            or self.definition.replication_method
            or "FULL_TABLE"
        )

    def stream_metadata(self) -> dict[str, Any]:
        d = self.definition
        meta: dict[str, Any] = {"table-key-properties": list(d.key_properties)}
        if self.selected is not None:
            meta["selected"] = self.selected
        if d.forced_replication_method:
            meta["forced-replication-method"] = d.forced_replication_method
        if self.replication_method:
            meta["replication-method"] = self.replication_method
        if self.replication_key:
            meta["replication-key"] = self.replication_key
        if d.valid_replication_keys is not None:
            meta["valid-replication-keys"] = list(d.valid_replication_keys)
        if self.view_key_properties is not None:
            meta["view-key-properties"] = list(self.view_key_properties)
        meta["is-view"] = d.is_view
        return meta

    def to_json(self) -> dict[str, Any]:
        return {
            "selected": self.selected,
            "stream_id": self.stream_id,
            "tap_stream_id": self.tap_stream_id,
            "stream_name": self.stream_name,
            "metadata": self.stream_metadata(),
        }

    def json_schema(self) -> dict[str, Any]:
        types: dict[str, dict[str, Any]] = {
            "integer": {"type": ["null", "integer"]},
            "number": {"type": ["null", "number"]},
            "string": {"type": ["null", "string"]},
            "boolean": {"type": ["null", "boolean"]},
            "date-time": {"type": ["null", "string"], "format": "date-time"},
        }
        return {
            "type": "object",
            "properties": {f.name: dict(types[f.type]) for f in self.definition.fields},
        }

    def schema_json(self) -> dict[str, Any]:
        entries: list[dict[str, Any]] = [{"breadcrumb": [], "metadata": self.stream_metadata()}]
        for f in self.definition.fields:
            meta: dict[str, Any] = {"inclusion": f.inclusion, "selected-by-default": f.selected_by_default}
            if f.sql_datatype:
                meta["sql-datatype"] = f.sql_datatype
            if f.inclusion != "unsupported":
                meta["selected"] = self.field_selected.get(f.name)
            if f.unsupported_description:
                meta["unsupported-description"] = f.unsupported_description
            entries.append({"breadcrumb": ["properties", f.name], "metadata": meta})
        return {
            # Stitch returns the JSON Schema as a JSON-encoded *string*.
            "schema": json.dumps(self.json_schema()),
            "metadata": entries,
            "non-discoverable-metadata-keys": list(WRITABLE_METADATA_KEYS),
        }


@dataclass
class ConnectionCheck:
    name: str
    start_time: float
    completion_time: float | None = None
    discovery_exit_status: int | None = None
    discovery_error_message: str | None = None

    @property
    def status(self) -> str:
        if self.completion_time is None:
            return "running"
        return "succeeded" if self.discovery_exit_status == 0 else "failed"

    def to_json(self) -> dict[str, Any]:
        done = self.completion_time is not None
        failed = done and self.discovery_exit_status != 0
        return {
            "name": self.name,
            "mode": "check",
            "status": self.status,
            "start_time": iso(self.start_time),
            "completion_time": iso(self.completion_time),
            "error": bool(failed),
            # The documented failure example keeps check_exit_status null when discovery failed.
            "check_exit_status": (0 if not failed else None) if done else None,
            "discovery_exit_status": self.discovery_exit_status,
            "discovery_error_message": self.discovery_error_message,
            "tap_exit_status": None,
            "tap_error_message": None,
            "target_exit_status": None,
            "target_error_message": None,
        }


@dataclass
class ImportToken:
    token_id: int
    access_token: str
    created_at: float


@dataclass
class Source:
    id: int
    client_id: int
    type: SourceType
    name: str
    display_name: str
    properties: dict[str, str]
    credentials: dict[str, str]
    step: str
    created_at: float
    updated_at: float
    streams: dict[int, Stream] = field(default_factory=dict)
    check: ConnectionCheck | None = None
    deleted_at: float | None = None
    paused_at: str | None = None
    description: str | None = None
    mapped_destination_ids: list[int] = field(default_factory=list)
    durations: Durations = field(default_factory=Durations)
    scenario: Scenario = field(default_factory=Scenario)
    tokens: list[ImportToken] = field(default_factory=list)
    # Seed-provided stream definitions replacing the type's templates at discovery time.
    stream_templates: list[StreamDef] | None = None
    # When the emulator's own schedule (``--run-schedules``) fires next; None when it does not run.
    scheduled_fire_at: float | None = None

    def stream_by_tap_id(self, tap_stream_id: str) -> Stream | None:
        return next((s for s in self.streams.values() if s.tap_stream_id == tap_stream_id), None)

    def selected_streams(self) -> list[Stream]:
        return [s for s in self.streams.values() if s.selected]

    def all_properties(self) -> dict[str, str]:
        return {**self.properties, **self.credentials}

    def provided_properties(self) -> dict[str, str]:
        """What the report card marks provided: the user's values and what Stitch sets itself."""
        return {**self.all_properties(), "image_version": "1.latest"}

    def schedule(self, now: float) -> dict[str, Any] | None:
        if self.step != "fully_configured" or self.deleted_at is not None or self.paused_at is not None:
            return None
        if not self.type.singer:
            return None
        cron = self.properties.get("cron_expression")
        if cron:
            # Computing Quartz fire times is out of scope; the next fire time is a documented approximation.
            return {
                "type": "cron",
                "cron_expression": cron,
                "next_fire_time": iso(math.ceil(now / 3600) * 3600),
            }
        default = self.type.details.get("default_scheduling_interval") or 60
        minutes = float(self.properties.get("frequency_in_minutes") or default)
        anchor = parse_iso(self.properties.get("anchor_time")) or self.created_at
        step = minutes * 60
        periods = max(0, math.floor((now - anchor) / step) + 1)
        # With --run-schedules the emulator really fires, at speed-scaled intervals: report that time.
        fire_at = self.scheduled_fire_at if self.scheduled_fire_at is not None else anchor + periods * step
        return {
            "type": "interval",
            "unit": "minute",
            "interval": minutes,
            "next_fire_time": iso(fire_at),
        }

    def report_card(self) -> dict[str, Any]:
        steps = self.type.step_types
        return {
            "type": self.type.type,
            "current_step": steps.index(self.step) + 1,
            "current_step_type": self.step,
            "steps": card_steps(steps, self.type.properties, self.provided_properties()),
        }

    def to_json(self, now: float) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "display_name": self.display_name,
            "type": self.type.type,
            "description": self.description,
            "properties": {**self.properties, "image_version": "1.latest", "product": "pipeline"},
            "schedule": self.schedule(now),
            "report_card": self.report_card(),
            "stitch_client_id": self.client_id,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "deleted_at": iso(self.deleted_at),
            "paused_at": self.paused_at,
            "system_paused_at": None,
            "mapped_destination_ids": list(self.mapped_destination_ids),
        }
        if self.check is not None:
            body["check_job_name"] = self.check.name
        return body


@dataclass
class Destination:
    id: int
    client_id: int
    type: DestinationType
    name: str
    description: str | None
    properties: dict[str, str]
    credentials: dict[str, str]
    created_at: float
    updated_at: float
    check: ConnectionCheck | None = None
    deleted_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        provided = {**self.properties, **self.credentials}
        steps = self.type.step_types
        body: dict[str, Any] = {
            "id": self.id,
            "type": self.type.type,
            "name": self.name,
            "description": self.description,
            "display_name": None,
            "properties": dict(self.properties),
            "stitch_client_id": self.client_id,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "deleted_at": iso(self.deleted_at),
            "paused_at": None,
            "system_paused_at": None,
            "report_card": {
                "type": self.type.type,
                "current_step": len(steps),
                "current_step_type": "fully_configured",
                "steps": card_steps(steps, self.type.properties, provided),
            },
        }
        if self.check is not None:
            body["check_job_name"] = self.check.name
        return body


@dataclass
class Extraction:
    job_name: str
    client_id: int
    source_id: int
    tap_name: str
    start_time: float
    completion_time: float | None = None
    discovery_exit_status: int | None = None
    discovery_description: str | None = None
    tap_exit_status: int | None = None
    tap_description: str | None = None
    target_exit_status: int | None = None
    target_description: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "job_name": self.job_name,
            "stitch_client_id": self.client_id,
            "source_id": self.source_id,
            # Every documented example says source_type; the attribute table says tap_name. Emit both.
            "source_type": self.tap_name,
            "tap_name": self.tap_name,
            "start_time": iso(self.start_time),
            "completion_time": iso(self.completion_time),
            "discovery_exit_status": self.discovery_exit_status,
            "discovery_description": self.discovery_description,
            "tap_exit_status": self.tap_exit_status,
            "tap_description": self.tap_description,
            "target_exit_status": self.target_exit_status,
            "target_description": self.target_description,
        }


@dataclass
class Load:
    client_id: int
    source_name: str
    stream_name: str
    last_batch_loaded_at: float | None = None
    error_state: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "stitch_client_id": self.client_id,
            "source_name": self.source_name,
            "stream_name": self.stream_name,
            "last_batch_loaded_at": iso(self.last_batch_loaded_at),
            "error_state": self.error_state,
        }


@dataclass
class CustomEmail:
    id: int
    client_id: int
    email_address: str
    created_at: float
    modified_at: float
    disabled_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "client_id": self.client_id,
            "email_address": self.email_address,
            "created_at": iso(self.created_at),
            "modified_at": iso(self.modified_at),
            "disabled_at": self.disabled_at,
        }


@dataclass
class Hook:
    id: int
    client_id: int
    destination_id: int
    url: str
    created_at: float
    modified_at: float
    disabled_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "client_id": self.client_id,
            "type": "post_load",
            "version": 1,
            # The docs show destination_id both at top level and inside config; emit both.
            "destination_id": self.destination_id,
            "config": {"url": self.url, "destination_id": self.destination_id},
            "created_at": iso(self.created_at),
            "modified_at": iso(self.modified_at),
            "disabled_at": iso(self.disabled_at),
        }


@dataclass
class Account:
    client_id: int
    access_token: str
    email: str
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    region: str = "us-east-1"
    destination_limit: int = 5
    custom_email_limit: int = 10
    hook_limit: int = 10
    features: dict[str, bool] = field(
        default_factory=lambda: {"cron_scheduling": True, "custom_emails": True, "hooks": True}
    )
    sources: dict[int, Source] = field(default_factory=dict)
    destinations: dict[int, Destination] = field(default_factory=dict)
    custom_emails: dict[int, CustomEmail] = field(default_factory=dict)
    hooks: dict[int, Hook] = field(default_factory=dict)
    # One row per source: its last *completed* extraction (Stitch keeps no history in this list).
    extractions: dict[int, Extraction] = field(default_factory=dict)
    # One row per (source name, stream name): the most recent load attempt.
    loads: dict[tuple[str, str], Load] = field(default_factory=dict)
    jobs_calls: deque[float] = field(default_factory=deque)

    def active_destinations(self) -> list[Destination]:
        return [d for d in self.destinations.values() if d.deleted_at is None]

    def record_earlier_job(self, source: Source, job_name: str, at: float) -> None:
        """Rows left by a successful job that ran before the emulator started (the seed's
        ``"replicated": true``): the source's extraction row and one load of each selected stream with
        records (not in the scenario's ``zero_record_streams``), all at ``at``. Such a job has no log,
        no ground truth and no rows in the warehouse."""
        self.extractions[source.id] = Extraction(
            job_name=job_name,
            client_id=self.client_id,
            source_id=source.id,
            tap_name=source.type.tap_name,
            start_time=at,
            completion_time=at,
            discovery_exit_status=0,
            tap_exit_status=0,
            target_exit_status=0,
        )
        for stream in source.selected_streams():
            if stream.stream_name in source.scenario.zero_record_streams:
                continue
            self.loads[(source.name, stream.stream_name)] = Load(
                self.client_id, source.name, stream.stream_name, last_batch_loaded_at=at
            )
