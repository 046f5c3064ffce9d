"""The job clock: moves connection checks and replication jobs through their phases.

Phases are events due at wall-clock times. ``tick()`` fires the events that are due, in order: every API
request calls it first, and so does the server's background clock every 0.2 s (on the server's event loop,
so it never races a request), so jobs move on and rows land even when nobody polls. An event records the
time it was *due*, not the time somebody looked, so timestamps are what a real job would have produced.

``advance(seconds)`` makes pending events due earlier. A fired event schedules its successor from its own
due time, so the credit carries through the whole chain, while recorded timestamps are clamped to never
go backwards (``max(due, previous event)``) and never lie in the future.
"""

from __future__ import annotations

import heapq
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_stitch.emulator import data
from airflow_provider_stitch.emulator.clock import log_stamp
from airflow_provider_stitch.emulator.models import (
    Account,
    ConnectionCheck,
    Durations,
    Extraction,
    Load,
    Source,
    Stream,
)
from airflow_provider_stitch.emulator.warehouse import Warehouse

log = logging.getLogger(__name__)

EXTRACTING = ("discovery", "tap", "target")
FLUSH_MARKER = "com.stitchdata.target-stitch-avro.flush-pipeline - send-stream-record-count-impl"


@dataclass
class LogLine:
    ts: float
    location: str
    level: str
    message: str

    def render(self) -> str:
        return f"{log_stamp(self.ts)} {self.location} - {self.level} {self.message}"


@dataclass
class StreamBatch:
    stream: Stream
    job_index: int
    fields: list[str]
    rows: list[dict[str, Any]]


@dataclass
class Job:
    name: str
    account: Account
    source: Source
    extraction: Extraction
    phase: str = "discovery"
    last_ts: float = 0.0
    logs: list[LogLine] = field(default_factory=list)
    batches: dict[str, StreamBatch] = field(default_factory=dict)
    pending_loads: int = 0

    @property
    def extracting(self) -> bool:
        return self.phase in EXTRACTING

    def stamp(self, due: float) -> float:
        self.last_ts = max(due, self.last_ts)
        return self.last_ts

    def log(self, ts: float, location: str, level: str, message: str) -> None:
        # Lines of one event get distinct, increasing milliseconds so the order survives sorting.
        ts = max(ts, self.logs[-1].ts + 0.001) if self.logs else ts
        self.logs.append(LogLine(ts, location, level, message))

    def log_text(self) -> str:
        return "".join(line.render() + "\n" for line in self.logs)


@dataclass(order=True)
class _Event:
    due: float
    seq: int
    action: Callable[[float], None] = field(compare=False)


class JobEngine:
    def __init__(self, speed: float, warehouse: Warehouse) -> None:
        self.speed = speed
        self.warehouse = warehouse
        self._events: list[_Event] = []
        self._seq = 0
        self.jobs: dict[str, Job] = {}
        self.running: dict[tuple[int, int], Job] = {}

    # -- clock ---------------------------------------------------------------------------------------
    def _schedule(self, due: float, action: Callable[[float], None]) -> None:
        self._seq += 1
        heapq.heappush(self._events, _Event(due, self._seq, action))

    def tick(self, now: float) -> None:
        while self._events and self._events[0].due <= now:
            event = heapq.heappop(self._events)
            event.action(event.due)

    def advance(self, seconds: float, now: float) -> None:
        for event in self._events:
            event.due -= seconds
        heapq.heapify(self._events)
        self.tick(now)

    def pending_events(self) -> int:
        return len(self._events)

    def duration(self, source: Source, phase: str) -> float:
        override = source.scenario.durations.get(phase)
        base = float(override) if override is not None else float(getattr(source.durations, phase))
        return max(0.0, base) / self.speed

    # -- connection checks ---------------------------------------------------------------------------
    def start_check(
        self,
        client_id: int,
        owner_id: int,
        now: float,
        durations: Durations,
        on_done: Callable[[ConnectionCheck, float], None],
        source: Source | None = None,
    ) -> ConnectionCheck:
        check = ConnectionCheck(name=f"{client_id}.{owner_id}.check.{uuid.uuid4()}", start_time=now)
        length = self.duration(source, "check") if source is not None else durations.check / self.speed

        def finish(due: float) -> None:
            check.completion_time = max(due, check.start_time)
            on_done(check, check.completion_time)

        self._schedule(now + length, finish)
        return check

    # -- replication jobs ----------------------------------------------------------------------------
    def start_job(self, account: Account, source: Source, now: float) -> Job:
        name = f"{account.client_id}.{source.id}.sync.{uuid.uuid1()}"
        extraction = Extraction(
            job_name=name,
            client_id=account.client_id,
            source_id=source.id,
            tap_name=source.type.tap_name,
            start_time=now,
        )
        job = Job(name=name, account=account, source=source, extraction=extraction, last_ts=now)
        self.jobs[name] = job
        self.running[(account.client_id, source.id)] = job
        job.log(now, "main", "INFO", f"Starting replication job {name}")
        job.log(now, "main", "INFO", f"Running discovery for source {source.name} ({source.type.tap_name})")
        self._schedule(now + self.duration(source, "discovery"), lambda due: self._discovery_done(job, due))
        return job

    def running_job(self, client_id: int, source_id: int) -> Job | None:
        return self.running.get((client_id, source_id))

    def _discovery_done(self, job: Job, due: float) -> None:
        if job.phase != "discovery":
            return
        ts = job.stamp(due)
        ext, scenario = job.extraction, job.source.scenario
        if scenario.fail_discovery:
            ext.discovery_exit_status = scenario.exit_status
            ext.discovery_description = scenario.fail_discovery
            job.log(ts, "main", "CRITICAL", f"Discovery failed: {scenario.fail_discovery}")
            self._finish_extraction(job, ts, succeeded=False)
            return
        ext.discovery_exit_status = 0
        job.log(ts, "main", "INFO", "Discovery exited with status 0")
        job.log(ts, "tap", "INFO", f"Starting {job.source.type.tap_name}")
        job.phase = "tap"
        self._schedule(due + self.duration(job.source, "tap"), lambda d: self._tap_done(job, d))

    def _tap_done(self, job: Job, due: float) -> None:
        if job.phase != "tap":
            return
        ts = job.stamp(due)
        ext, scenario, source = job.extraction, job.source.scenario, job.source
        for stream in source.selected_streams():
            job_index = stream.extract_count + 1
            fields = stream.replicated_fields()
            if stream.stream_name in scenario.zero_record_streams:
                rows: list[dict[str, Any]] = []
            else:
                rows = data.extract_batch(
                    source.name,
                    stream.definition,
                    job_index,
                    fields,
                    stream.effective_method() == "FULL_TABLE",
                )
            job.batches[stream.stream_name] = StreamBatch(stream, job_index, fields, rows)
            job.log(ts, "tap", "INFO", f'replicated {len(rows)} records from "{stream.stream_name}" endpoint')
        if scenario.fail_tap:
            ext.tap_exit_status = scenario.exit_status
            ext.tap_description = scenario.fail_tap
            # The documented failure example: the target still exits cleanly when the tap dies.
            ext.target_exit_status = 0
            job.log(ts, "tap", "CRITICAL", scenario.fail_tap)
            job.log(ts, "main", "INFO", f"Tap exited with status {scenario.exit_status}")
            self._finish_extraction(job, ts, succeeded=False)
            return
        ext.tap_exit_status = 0
        job.log(ts, "main", "INFO", "Tap exited with status 0")
        job.phase = "target"
        self._schedule(due + self.duration(source, "target"), lambda d: self._target_done(job, d))

    def _target_done(self, job: Job, due: float) -> None:
        if job.phase != "target":
            return
        ts = job.stamp(due)
        ext, scenario = job.extraction, job.source.scenario
        if scenario.fail_target:
            ext.target_exit_status = scenario.exit_status
            ext.target_description = scenario.fail_target
            job.log(ts, "target", "CRITICAL", scenario.fail_target)
            job.log(ts, "main", "INFO", f"Target exited with status {scenario.exit_status}")
            self._finish_extraction(job, ts, succeeded=False)
            return
        for batch in job.batches.values():
            if batch.rows:
                job.log(ts, "target", "INFO", f"{FLUSH_MARKER} {batch.stream.stream_name}")
        ext.target_exit_status = 0
        job.log(ts, "main", "INFO", "Target exited with status 0")
        self._finish_extraction(job, ts, succeeded=True)
        self._schedule_loads(job, due)

    def _finish_extraction(self, job: Job, ts: float, *, succeeded: bool) -> None:
        job.extraction.completion_time = ts
        job.account.extractions[job.source.id] = job.extraction
        self.running.pop((job.account.client_id, job.source.id), None)
        job.phase = "preparation" if succeeded else "failed"
        if succeeded:
            for batch in job.batches.values():
                if batch.rows:
                    # The bookmark moves only once the extraction committed its state.
                    batch.stream.extract_count = batch.job_index
        job.log(
            ts,
            "main",
            "INFO" if succeeded else "CRITICAL",
            "Replication job succeeded" if succeeded else "Replication job failed",
        )

    def _schedule_loads(self, job: Job, due: float) -> None:
        source = job.source
        start = due + self.duration(source, "preparation")
        step = self.duration(source, "load")
        # Streams with no new records produce no load at all (their load row keeps its old timestamp).
        loading = [b for b in job.batches.values() if b.rows]
        job.pending_loads = len(loading)
        if not loading:
            job.phase = "succeeded"
            return
        for i, batch in enumerate(loading):
            slow = float(source.scenario.slow_loads.get(batch.stream.stream_name, 0.0)) / self.speed
            self._schedule(start + step * (i + 1) + slow, self._load_action(job, batch))

    def _load_action(self, job: Job, batch: StreamBatch) -> Callable[[float], None]:
        return lambda due: self._load_done(job, batch, due)

    def _load_done(self, job: Job, batch: StreamBatch, due: float) -> None:
        ts = job.stamp(due)
        job.phase = "loading"
        source, account = job.source, job.account
        key = (source.name, batch.stream.stream_name)
        row = account.loads.setdefault(key, Load(account.client_id, source.name, batch.stream.stream_name))
        message = source.scenario.load_errors.get(batch.stream.stream_name)
        if message is not None:
            row.last_batch_loaded_at = None
            row.error_state = _error_state(message, batch.stream.stream_name)
        else:
            types = {f.name: f.type for f in batch.stream.definition.fields}
            try:
                self.warehouse.load(
                    source.name,
                    batch.stream.stream_name,
                    [(f, types[f]) for f in batch.fields],
                    list(batch.stream.definition.key_properties),
                    batch.rows,
                    job.extraction.completion_time or ts,
                )
            except Exception as exc:
                # A broken warehouse file must not take the API down; surface it as a load error instead.
                log.exception("warehouse load failed for %s.%s", *key)
                row.last_batch_loaded_at = None
                row.error_state = _error_state(str(exc), batch.stream.stream_name)
            else:
                row.last_batch_loaded_at = ts
                row.error_state = None
        job.pending_loads -= 1
        if job.pending_loads == 0:
            job.phase = "succeeded"

    def stop(self, job: Job, now: float) -> None:
        """DELETE .../sync: what remains of the extraction is cancelled; the row reads "Terminated".

        Data already extracted still gets loaded (reference §6): once the tap has finished (the target
        phase), its records load as after a completed extraction.
        """
        extracted = job.phase == "target"
        ts = job.stamp(now)
        ext = job.extraction
        for phase in EXTRACTING:
            setattr(ext, f"{phase}_exit_status", None)
            setattr(ext, f"{phase}_description", "Terminated")
        ext.completion_time = ts
        job.account.extractions[job.source.id] = ext
        self.running.pop((job.account.client_id, job.source.id), None)
        job.phase = "terminated"
        job.log(ts, "main", "CRITICAL", "Terminated")
        if extracted:
            self._schedule_loads(job, ts)


def _error_state(message: str, stream_name: str) -> dict[str, Any]:
    """The (explicitly unstable) shape of reference §8."""
    return {
        "notification_data": {
            "message": f"Loading {stream_name} failed",
            "exception_message": message,
            "warehouse_error_code": 500151,
            "error": "LOADER_WAREHOUSE_ERROR",
            "new_column": None,
            "status": "ERROR",
            "warehouse_sql_state": "HY000",
            "action": "load-records",
            "warehouse_message": message,
            "column": None,
        },
        "exception_chain": [
            {
                "class": "clojure.lang.ExceptionInfo",
                "message": message,
                "chain_sequence_num": 0,
                "action": "load-records",
            }
        ],
    }
