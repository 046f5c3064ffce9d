"""The emulator's whole state, built from a seed, plus operations shared by several endpoint families."""

from __future__ import annotations

import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_stitch.emulator.catalog import Catalog, load_catalog, parse_stream_def, stored_value
from airflow_provider_stitch.emulator.clock import now as wall_now
from airflow_provider_stitch.emulator.clock import time_uuid
from airflow_provider_stitch.emulator.config import EmulatorConfig
from airflow_provider_stitch.emulator.engine import JobEngine
from airflow_provider_stitch.emulator.models import (
    Account,
    ConnectionCheck,
    Destination,
    Durations,
    Source,
    Stream,
)
from airflow_provider_stitch.emulator.rate_limit import SlidingWindow
from airflow_provider_stitch.emulator.schedules import ScheduleRunner
from airflow_provider_stitch.emulator.seed import derive_name, load_seed, parse_durations, parse_scenario
from airflow_provider_stitch.emulator.warehouse import Warehouse


@dataclass
class OAuthCode:
    code: str
    client_id: int
    partner_id: str
    expires_at: float
    used: bool = False


class Backend:
    def __init__(self, config: EmulatorConfig, seed: dict[str, Any] | None = None) -> None:
        self.config = config
        self.catalog: Catalog = load_catalog()
        self.seed = seed if seed is not None else load_seed(config.seed_path)
        if config.warehouse_path is None:
            config.warehouse_path = Path(tempfile.mkdtemp(prefix="stitch-emulator-")) / "warehouse.duckdb"
        self.warehouse = Warehouse(config.warehouse_path)
        # Signs the log URLs the logs endpoint redirects to, like an S3 pre-signed URL.
        self.log_secret = secrets.token_bytes(16)
        self.rate = SlidingWindow(config.rate_limit, config.rate_limit_window)
        self.reset(wipe_warehouse=False)

    # -- lifecycle -----------------------------------------------------------------------------------
    def reset(self, *, wipe_warehouse: bool = True) -> None:
        if wipe_warehouse:
            self.warehouse.reset()
        self.engine = JobEngine(
            self.config.speed,
            self.warehouse,
            list_running_extractions=self.config.list_running_extractions,
        )
        # Back to the configured default: a test that switched schedules on does not leak into the next.
        self.schedules = ScheduleRunner(self.engine, enabled=self.config.run_schedules)
        self.accounts: dict[int, Account] = {}
        self.tokens: dict[str, int] = {}
        self.partners: dict[str, str] = {
            p["partner_id"]: p["partner_secret"] for p in self.seed.get("partners", [])
        }
        self.oauth_codes: dict[str, OAuthCode] = {}
        # Header names of each request to a served log URL (newest last), so tests can prove a client
        # sends a pre-signed URL nothing that S3 would refuse (see ``responses.jobs.served_log``).
        self.log_url_requests: list[dict[str, Any]] = []
        self.rate.clear()
        # Seconds the Stitch clock was stepped forward at run time (``step_clock``); reset restores 0.
        self.clock_step = 0.0
        self._counters: dict[str, int] = {}
        self._apply_seed(self.now())

    def now(self) -> float:
        """The emulated Stitch clock: the host's wall clock plus the configured ``clock_skew`` and what
        ``step_clock`` added since the last reset."""
        return wall_now() + self.config.clock_skew + self.clock_step

    def step_clock(self, seconds: float) -> float:
        """Step the Stitch clock ``seconds`` ahead of the host's, as if that time had passed at Stitch at
        once: what is due by then fires, and every later timestamp, the rate-limit window and OAuth code
        expiry follow the new time. Never backwards. Returns the new time."""
        if seconds < 0:
            raise ValueError(f"the clock only steps forward, got {seconds!r} seconds")
        self.clock_step += seconds
        return self.tick()

    def tick(self) -> float:
        now = self.now()
        self.engine.tick(now)
        self.schedules.sync(self.accounts.values(), now)
        return now

    def next_id(self, kind: str, floor: int) -> int:
        value = max(self._counters.get(kind, floor), floor) + 1
        self._counters[kind] = value
        return value

    def _bump(self, kind: str, used: int) -> None:
        self._counters[kind] = max(self._counters.get(kind, 0), used)

    # -- seed ----------------------------------------------------------------------------------------
    def _apply_seed(self, now: float) -> None:
        for raw in self.seed["accounts"]:
            account = Account(
                client_id=raw["stitch_client_id"],
                access_token=raw["access_token"],
                email=raw.get("email", f"user{raw['stitch_client_id']}@stitch-emulator.invalid"),
                first_name=raw.get("first_name", ""),
                last_name=raw.get("last_name", ""),
                company=raw.get("company", ""),
                region=raw.get("region", "us-east-1"),
                destination_limit=raw.get("destination_limit", 5),
            )
            account.features.update(raw.get("features", {}))
            self.add_account(account)
            for rd in raw.get("destinations", []):
                dtype = self.catalog.destination_types[rd["type"]]
                props = {
                    k: v.replace("{warehouse}", str(self.warehouse.path)) if isinstance(v, str) else v
                    for k, v in rd.get("properties", {}).items()
                }
                public, creds = self.split_credentials(props, dtype.properties)
                dest = Destination(
                    id=rd["id"],
                    client_id=account.client_id,
                    type=dtype,
                    name=rd.get("name", rd["type"]),
                    description=(rd.get("description") or "").replace("{warehouse}", str(self.warehouse.path))
                    or None,
                    properties=public,
                    credentials=creds,
                    created_at=now,
                    updated_at=now,
                )
                dest.check = ConnectionCheck(
                    name=f"{account.client_id}.{dest.id}.check.{time_uuid(now)}",
                    start_time=now,
                    completion_time=now,
                    discovery_exit_status=0,
                )
                account.destinations[dest.id] = dest
                self._bump("destination", dest.id)
            for rs in raw.get("sources", []):
                self._seed_source(account, rs, now)

    def _seed_source(self, account: Account, rs: dict[str, Any], now: float) -> None:
        stype = self.catalog.source_types[rs["type"]]
        public, creds = self.split_credentials(dict(rs.get("properties", {})), stype.properties)
        source = Source(
            id=rs["id"],
            client_id=account.client_id,
            type=stype,
            name=rs.get("name") or derive_name(rs["display_name"]),
            display_name=rs["display_name"],
            properties=public,
            credentials=creds,
            step="form",
            created_at=now,
            updated_at=now,
            mapped_destination_ids=[d.id for d in account.active_destinations()],
            durations=parse_durations(rs.get("durations", {}), "durations"),
            scenario=parse_scenario(rs.get("scenario", {}), None),
        )
        if rs.get("paused"):
            source.paused_at = _iso_now(now)
        account.sources[source.id] = source
        self._bump("source", source.id)
        if rs.get("streams") is not None:
            source.stream_templates = [parse_stream_def(s, "streams") for s in rs["streams"]]
        state = rs.get("state", "fully_configured")
        if state in ("field_selection", "fully_configured"):
            self.discover_streams(source)
            source.check = ConnectionCheck(
                name=f"{account.client_id}.{source.id}.check.{time_uuid(now)}",
                start_time=now,
                completion_time=now,
                discovery_exit_status=0,
            )
            for stream in source.streams.values():
                if stream.stream_name in rs.get("selected_streams", []):
                    stream.selected = True
                    stream.field_selected = {
                        f.name: True for f in stream.definition.fields if f.inclusion == "available"
                    }
            source.step = state if stype.singer else "fully_configured"
        elif state == "discover_schema":
            source.step = "discover_schema"
            self.start_source_check(account, source, now)
        if not stype.singer and state != "form":
            source.step = "fully_configured"
        if rs.get("replicated"):
            account.record_earlier_job(source, f"{account.client_id}.{source.id}.sync.{time_uuid(now)}", now)

    # -- accounts ------------------------------------------------------------------------------------
    def add_account(self, account: Account) -> None:
        self.accounts[account.client_id] = account
        self.tokens[account.access_token] = account.client_id
        self._bump("account", account.client_id)

    def account_for_token(self, token: str) -> Account | None:
        client_id = self.tokens.get(token)
        return self.accounts.get(client_id) if client_id is not None else None

    def email_in_use(self, email: str) -> bool:
        return any(a.email.lower() == email.lower() for a in self.accounts.values())

    # -- sources -------------------------------------------------------------------------------------
    @staticmethod
    def split_credentials(props: dict[str, Any], defs: Any) -> tuple[dict[str, str], dict[str, str]]:
        """Public and credential values, stored as the strings Stitch shows (``stored_value``)."""
        secret = {p.name for p in defs if p.credential}
        return (
            {k: stored_value(v) for k, v in props.items() if k not in secret},
            {k: stored_value(v) for k, v in props.items() if k in secret},
        )

    @staticmethod
    def setup_step(source: Source) -> str | None:
        """The first of the form and OAuth steps still missing a property it needs (None: both done)."""
        provided = source.all_properties()
        for step in ("form", "oauth"):
            needed = (p for p in source.type.properties if p.step == step and p.completes_step)
            if any(p.name not in provided for p in needed):
                return step
        return None

    def discover_streams(self, source: Source) -> None:
        """Discovery: create the source's streams from its type's templates (only once)."""
        if source.streams:
            return
        defs = source.stream_templates if source.stream_templates is not None else list(source.type.streams)
        values = {**source.properties}
        for sdef in defs:
            tap_stream_id = source.type.tap_stream_id_template.format_map(
                _Default({**values, "stream": sdef.stream_name})
            )
            stream = Stream(
                stream_id=self.next_id("stream", 100000), tap_stream_id=tap_stream_id, definition=sdef
            )
            source.streams[stream.stream_id] = stream

    def start_source_check(self, account: Account, source: Source, now: float) -> None:
        """Connection check plus discovery, started by creation and by property updates."""

        def done(check: ConnectionCheck, ts: float) -> None:
            if source.check is not check:
                return  # superseded by a newer check
            scenario = source.scenario
            props = source.all_properties()
            fails = scenario.connection_check == "fail" or (
                bool(scenario.connection_check_fail_when)
                and all(props.get(k) == v for k, v in scenario.connection_check_fail_when.items())
            )
            if fails:
                check.discovery_exit_status = 1
                check.discovery_error_message = scenario.connection_check_message
                return
            check.discovery_exit_status = 0
            self.discover_streams(source)
            if source.step in ("form", "discover_schema"):
                source.step = "fully_configured" if source.selected_streams() else "field_selection"
            source.updated_at = max(source.updated_at, ts)

        source.check = self.engine.start_check(
            account.client_id, source.id, now, source.durations, done, source
        )

    def refresh_configured_step(self, source: Source) -> None:
        if source.step == "field_selection" and source.selected_streams():
            source.step = "fully_configured"
        elif source.step == "fully_configured" and source.type.singer and not source.selected_streams():
            source.step = "field_selection"

    def start_destination_check(self, account: Account, dest: Destination, now: float) -> None:
        def done(check: ConnectionCheck, ts: float) -> None:
            check.discovery_exit_status = 0

        dest.check = self.engine.start_check(account.client_id, dest.id, now, Durations(), done)


class _Default(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return key


def _iso_now(now: float) -> str:
    from airflow_provider_stitch.emulator.clock import iso

    return iso(now) or ""
