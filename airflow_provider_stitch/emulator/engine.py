"""The job clock: moves connection checks and replication jobs through their phases.

Phases are events due at wall-clock times. ``tick()`` fires the events that are due, in order: every API
request calls it first, and so does the server's background clock every 0.2 s (on the server's event loop,
so it never races a request), so jobs move on and rows land even when nobody polls. An event records the
time it was *due*, not the time somebody looked, so timestamps are what a real job would have produced.

``advance(seconds)`` makes pending events due earlier. A fired event schedules its successor from its own
due time, so the credit carries through the whole chain, while recorded timestamps are clamped to never
go backwards (``max(due, previous event)``) and never lie in the future.

Every job also keeps its *ground truth* (who started it, when each phase ended, what each stream
extracted and how its load went, and the final verdict), served by the admin API so that tests can judge
a client's verdict against what really happened. Loads of one table run in order, as in Stitch: a job's
load of a stream waits for any earlier job's pending load of that stream on the same source.
"""

from __future__ import annotations

import heapq
import logging
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_stitch.emulator import data
from airflow_provider_stitch.emulator.clock import iso, log_stamp, time_uuid
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
#: Who can start a job: the Connect API (``POST .../sync``), Stitch's own schedule, the admin API.
STARTERS = ("api", "schedule", "admin")
#: Who can stop one: the Connect API (``DELETE .../sync``) or the admin API.
STOPPERS = ("api", "admin")
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
class LoadPlan:
    """The scenario's load switches as they stood when the job's tap finished (its batches exist from then).

    Taken once per job, so changing the scenario between two jobs never changes the earlier job's loads.
    """

    errors: dict[str, str]
    slow: dict[str, float]
    early: list[str]


@dataclass
class StreamTruth:
    """What really happened to one stream of one job."""

    records: int
    # "pending" (will load), "loaded", "failed" (load error) or "none" (no records, or nothing will load).
    load: str = "none"
    loaded_at: float | None = None
    load_error: str | None = None
    # Its final batch loads during the extraction (scenario ``early_final_batch_streams``).
    early: bool = False
    # The earlier job whose pending load of the same table this load had to wait for.
    waited_for: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "load": self.load,
            "loaded_at": iso(self.loaded_at),
            "load_error": self.load_error,
            "early": self.early,
            "waited_for": self.waited_for,
        }


@dataclass
class Job:
    name: str
    account: Account
    source: Source
    extraction: Extraction
    started_by: str = "api"
    # discovery, tap, target (extracting), preparation (no load landed yet), loading, done.
    phase: str = "discovery"
    last_ts: float = 0.0
    logs: list[LogLine] = field(default_factory=list)
    batches: dict[str, StreamBatch] = field(default_factory=dict)
    pending_loads: int = 0
    # -- ground truth --------------------------------------------------------------------------------
    phase_ends: dict[str, float] = field(default_factory=dict)
    outcome: str | None = None  # extraction outcome: succeeded, failed, cancelled
    failed_step: str | None = None
    failure_description: str | None = None
    failure_exit_status: int | None = None
    stopped_by: str | None = None
    stopped_at: float | None = None
    stopped_in: str | None = None
    streams: dict[str, StreamTruth] = field(default_factory=dict)
    plan: LoadPlan | None = None
    replaced_by: str | None = None
    replaced_at: float | None = None
    log_hidden: bool = False
    log_available_at: float | None = None
    finished_at: float | None = None
    verdict: str | None = None

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

    def truth_json(self) -> dict[str, Any]:
        """The job's ground truth, as ``GET /_emulator/jobs/{job_name}`` serves it."""
        return {
            "job_name": self.name,
            "client_id": self.account.client_id,
            "source_id": self.source.id,
            "source_name": self.source.name,
            "started_by": self.started_by,
            "created_at": iso(self.extraction.start_time),
            "phase": self.phase,
            "phase_ends": {phase: iso(self.phase_ends.get(phase)) for phase in EXTRACTING},
            "completion_time": iso(self.extraction.completion_time),
            "extraction_outcome": self.outcome,
            "failed_step": self.failed_step,
            "failure_description": self.failure_description,
            "failure_exit_status": self.failure_exit_status,
            "stopped_by": self.stopped_by,
            "stopped_at": iso(self.stopped_at),
            "stopped_in": self.stopped_in,
            "streams": {name: s.to_json() for name, s in sorted(self.streams.items())},
            "log_available_at": iso(self.log_available_at),
            "replaced_by": self.replaced_by,
            "replaced_at": iso(self.replaced_at),
            "finished_at": iso(self.finished_at),
            "verdict": self.verdict,
        }


@dataclass
class PendingLoad:
    """One job's load of one table, waiting in that table's queue."""

    job: Job
    batch: StreamBatch
    # When its own load time came (None: not yet). It lands then, or after the load ahead of it.
    ready_at: float | None = None


@dataclass(order=True)
class Event:
    due: float
    seq: int
    action: Callable[[float], None] = field(compare=False)


class JobEngine:
    def __init__(self, speed: float, warehouse: Warehouse, *, list_running_extractions: bool = False) -> None:
        self.speed = speed
        self.warehouse = warehouse
        # With the flag a running job's row replaces the previous one in the list as soon as it starts.
        self.list_running_extractions = list_running_extractions
        self._events: list[Event] = []
        self._seq = 0
        self.jobs: dict[str, Job] = {}
        self.running: dict[tuple[int, int], Job] = {}
        # Per (client id, source id, stream name): the loads of that table not landed yet, oldest first.
        self._lanes: dict[tuple[int, int, str], deque[PendingLoad]] = {}
        self._landed_at: dict[tuple[int, int, str], float] = {}
        # The latest timestamp any job recorded: a job started by an event that ``advance`` made due in
        # the past starts no earlier, so a source's jobs never overlap in time.
        self.floor = 0.0

    # -- clock ---------------------------------------------------------------------------------------
    def schedule(self, due: float, action: Callable[[float], None]) -> Event:
        self._seq += 1
        event = Event(due, self._seq, action)
        heapq.heappush(self._events, event)
        return event

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

    def _stamp(self, job: Job, due: float) -> float:
        ts = job.stamp(due)
        self.floor = max(self.floor, ts)
        return ts

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
        check = ConnectionCheck(name=f"{client_id}.{owner_id}.check.{time_uuid(now)}", start_time=now)
        length = self.duration(source, "check") if source is not None else durations.check / self.speed

        def finish(due: float) -> None:
            check.completion_time = max(due, check.start_time)
            on_done(check, check.completion_time)

        self.schedule(now + length, finish)
        return check

    # -- replication jobs ----------------------------------------------------------------------------
    def start_job(self, account: Account, source: Source, now: float, started_by: str = "api") -> Job:
        if started_by not in STARTERS:
            raise ValueError(f"started_by must be one of {', '.join(STARTERS)}, got {started_by!r}")
        now = max(now, self.floor)
        self.floor = now
        name = f"{account.client_id}.{source.id}.sync.{uuid.uuid1()}"
        extraction = Extraction(
            job_name=name,
            client_id=account.client_id,
            source_id=source.id,
            tap_name=source.type.tap_name,
            start_time=now,
        )
        job = Job(
            name=name,
            account=account,
            source=source,
            extraction=extraction,
            started_by=started_by,
            last_ts=now,
        )
        self.jobs[name] = job
        self.running[(account.client_id, source.id)] = job
        if self.list_running_extractions:
            self._replace_row(job, now)
        job.log(now, "main", "INFO", f"Starting replication job {name}")
        job.log(now, "main", "INFO", f"Running discovery for source {source.name} ({source.type.tap_name})")
        self.schedule(now + self.duration(source, "discovery"), lambda due: self._discovery_done(job, due))
        return job

    def running_job(self, client_id: int, source_id: int) -> Job | None:
        return self.running.get((client_id, source_id))

    def _replace_row(self, job: Job, ts: float) -> None:
        """``job`` takes the source's row in the extractions list: the job shown until now is replaced."""
        shown = job.account.extractions.get(job.source.id)
        previous = self.jobs.get(shown.job_name) if shown is not None else None
        if previous is not None and previous is not job and previous.replaced_by is None:
            previous.replaced_by = job.name
            previous.replaced_at = ts

    def _discovery_done(self, job: Job, due: float) -> None:
        if job.phase != "discovery":
            return
        ts = self._stamp(job, due)
        job.phase_ends["discovery"] = ts
        ext, scenario = job.extraction, job.source.scenario
        if scenario.fail_discovery:
            ext.discovery_exit_status = scenario.exit_status
            ext.discovery_description = scenario.fail_discovery
            job.log(ts, "main", "CRITICAL", f"Discovery failed: {scenario.fail_discovery}")
            self._fail(job, ts, due, "discovery", scenario.fail_discovery, scenario.exit_status)
            return
        ext.discovery_exit_status = 0
        job.log(ts, "main", "INFO", "Discovery exited with status 0")
        job.log(ts, "tap", "INFO", f"Starting {job.source.type.tap_name}")
        job.phase = "tap"
        self.schedule(due + self.duration(job.source, "tap"), lambda d: self._tap_done(job, d))

    def _tap_done(self, job: Job, due: float) -> None:
        if job.phase != "tap":
            return
        ts = self._stamp(job, due)
        job.phase_ends["tap"] = ts
        ext, scenario, source = job.extraction, job.source.scenario, job.source
        job.plan = LoadPlan(
            errors=dict(scenario.load_errors),
            slow=dict(scenario.slow_loads),
            early=list(scenario.early_final_batch_streams),
        )
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
            job.streams[stream.stream_name] = StreamTruth(records=len(rows))
            job.log(ts, "tap", "INFO", f'replicated {len(rows)} records from "{stream.stream_name}" endpoint')
        if scenario.fail_tap:
            ext.tap_exit_status = scenario.exit_status
            ext.tap_description = scenario.fail_tap
            # The documented failure example: the target still exits cleanly when the tap dies.
            ext.target_exit_status = 0
            job.log(ts, "tap", "CRITICAL", scenario.fail_tap)
            job.log(ts, "main", "INFO", f"Tap exited with status {scenario.exit_status}")
            self._fail(job, ts, due, "tap", scenario.fail_tap, scenario.exit_status)
            return
        ext.tap_exit_status = 0
        job.log(ts, "main", "INFO", "Tap exited with status 0")
        job.phase = "target"
        target = self.duration(source, "target")
        # Assumed behaviour (Stitch's docs are silent): a long extraction's final batch of these streams
        # loads while the target still runs, half-way through it, so before completion_time.
        for batch in job.batches.values():
            if batch.rows and batch.stream.stream_name in job.plan.early:
                job.streams[batch.stream.stream_name].early = True
                self._queue_load(job, batch, due + target / 2)
        self.schedule(due + target, lambda d: self._target_done(job, d))

    def _target_done(self, job: Job, due: float) -> None:
        if job.phase != "target":
            return
        ts = self._stamp(job, due)
        job.phase_ends["target"] = ts
        ext, scenario = job.extraction, job.source.scenario
        if scenario.fail_target:
            ext.target_exit_status = scenario.exit_status
            ext.target_description = scenario.fail_target
            job.log(ts, "target", "CRITICAL", scenario.fail_target)
            job.log(ts, "main", "INFO", f"Target exited with status {scenario.exit_status}")
            self._fail(job, ts, due, "target", scenario.fail_target, scenario.exit_status)
            return
        for name, batch in job.batches.items():
            if batch.rows and not job.streams[name].early:
                job.log(ts, "target", "INFO", f"{FLUSH_MARKER} {name}")
        ext.target_exit_status = 0
        job.log(ts, "main", "INFO", "Target exited with status 0")
        self._finish_extraction(job, ts, due, "succeeded")
        self._schedule_loads(job, due)
        self._settle(job, ts)

    def _fail(self, job: Job, ts: float, due: float, step: str, description: str, exit_status: int) -> None:
        job.failed_step = step
        job.failure_description = description
        job.failure_exit_status = exit_status
        self._finish_extraction(job, ts, due, "failed")
        self._settle(job, ts)

    def _finish_extraction(self, job: Job, ts: float, due: float, outcome: str) -> None:
        job.extraction.completion_time = ts
        job.outcome = outcome
        if not self.list_running_extractions:  # with the flag its row has shown since it started
            self._replace_row(job, ts)
        job.account.extractions[job.source.id] = job.extraction
        self.running.pop((job.account.client_id, job.source.id), None)
        landed = any(s.load in ("loaded", "failed") for s in job.streams.values())
        job.phase = "loading" if landed else "preparation"
        if outcome == "succeeded":
            for batch in job.batches.values():
                if batch.rows:
                    # The bookmark moves only once the extraction committed its state.
                    batch.stream.extract_count = batch.job_index
        if outcome == "cancelled":
            job.log(ts, "main", "CRITICAL", "Terminated")
        else:
            succeeded = outcome == "succeeded"
            job.log(
                ts,
                "main",
                "INFO" if succeeded else "CRITICAL",
                "Replication job succeeded" if succeeded else "Replication job failed",
            )
        # The log object may show up only a while after completion (scenario log_unavailable_for).
        delay = max(0.0, float(job.source.scenario.log_unavailable_for)) / self.speed
        if delay > 0:
            job.log_hidden = True

            def reveal(d: float) -> None:
                job.log_hidden = False
                job.log_available_at = max(d, ts)

            # From the due time, like every successor event, so advance() credit carries through.
            self.schedule(due + delay, reveal)
        else:
            job.log_available_at = ts

    def _schedule_loads(self, job: Job, due: float) -> None:
        """After the extraction: a load per stream with new records, early ones already queued excepted."""
        source = job.source
        start = due + self.duration(source, "preparation")
        step = self.duration(source, "load")
        slow = job.plan.slow if job.plan is not None else {}
        # Streams with no new records produce no load at all (their load row keeps its old timestamp).
        loading = [b for n, b in job.batches.items() if b.rows and not job.streams[n].early]
        for i, batch in enumerate(loading):
            extra = float(slow.get(batch.stream.stream_name, 0.0)) / self.speed
            self._queue_load(job, batch, start + step * (i + 1) + extra)

    def _queue_load(self, job: Job, batch: StreamBatch, due: float) -> None:
        key = (job.account.client_id, job.source.id, batch.stream.stream_name)
        pending = PendingLoad(job, batch)
        lane = self._lanes.setdefault(key, deque())
        lane.append(pending)
        job.pending_loads += 1
        job.streams[batch.stream.stream_name].load = "pending"
        self.schedule(due, lambda d: self._load_due(key, pending, d))

    def _load_due(self, key: tuple[int, int, str], pending: PendingLoad, due: float) -> None:
        pending.ready_at = due
        lane = self._lanes[key]
        if lane[0] is pending:
            self._land(key, pending, due)
        else:
            # An earlier job's load of this table has not landed: Stitch loads one table in order.
            pending.job.streams[pending.batch.stream.stream_name].waited_for = lane[0].job.name

    def _land(self, key: tuple[int, int, str], pending: PendingLoad, due: float) -> None:
        job, batch = pending.job, pending.batch
        # Never before the previous load of this table, whatever clamping did to either job's clock.
        ts = self._stamp(job, max(due, self._landed_at.get(key, due)))
        self._landed_at[key] = ts
        self._load_done(job, batch, ts)
        lane = self._lanes[key]
        lane.popleft()
        if not lane:
            del self._lanes[key]
        elif lane[0].ready_at is not None:
            # The next job's load was held back by this one: it takes its own load time from now.
            following = lane[0]
            step = self.duration(following.job.source, "load")
            self.schedule(due + step, lambda d: self._land(key, following, d))
        self._settle(job, ts)

    def _load_done(self, job: Job, batch: StreamBatch, ts: float) -> None:
        source, account = job.source, job.account
        name = batch.stream.stream_name
        truth = job.streams[name]
        if job.phase == "preparation":
            job.phase = "loading"
        key = (source.name, name)
        row = account.loads.setdefault(key, Load(account.client_id, source.name, name))
        message = job.plan.errors.get(name) if job.plan is not None else None
        if message is None:
            types = {f.name: f.type for f in batch.stream.definition.fields}
            try:
                self.warehouse.load(
                    source.name,
                    name,
                    [(f, types[f]) for f in batch.fields],
                    list(batch.stream.definition.key_properties),
                    batch.rows,
                    job.extraction.completion_time or ts,
                )
            except Exception as exc:
                # A broken warehouse file must not take the API down; surface it as a load error instead.
                log.exception("warehouse load failed for %s.%s", *key)
                message = str(exc)
        if message is not None:
            row.last_batch_loaded_at = None
            row.error_state = _error_state(message, name)
            truth.load, truth.load_error = "failed", message
        else:
            row.last_batch_loaded_at = ts
            row.error_state = None
            truth.load, truth.loaded_at = "loaded", ts
        if truth.early:
            job.log(ts, "target", "INFO", f"{FLUSH_MARKER} {name}")
        job.pending_loads -= 1

    def _settle(self, job: Job, ts: float) -> None:
        """Once the extraction is over and no load is pending, the job is finished: give its verdict."""
        if job.outcome is None or job.pending_loads > 0 or job.verdict is not None:
            return
        job.phase = "done"
        job.finished_at = ts
        if job.outcome == "cancelled":
            job.verdict = "cancelled"
        elif job.outcome == "failed" or any(s.load == "failed" for s in job.streams.values()):
            job.verdict = "failed"
        else:
            job.verdict = "succeeded"

    def stop(self, job: Job, now: float, stopped_by: str = "api") -> None:
        """DELETE .../sync: what remains of the extraction is cancelled; the row reads "Terminated".

        Data already extracted still gets loaded (https://www.stitchdata.com/docs/developers/stitch-connect/api#stop-a-job):
        once the tap has finished (the target phase), its records load as after a completed extraction.
        """
        if stopped_by not in STOPPERS:
            raise ValueError(f"stopped_by must be one of {', '.join(STOPPERS)}, got {stopped_by!r}")
        extracted = job.phase == "target"
        ts = self._stamp(job, now)
        job.stopped_by, job.stopped_at, job.stopped_in = stopped_by, ts, job.phase
        ext = job.extraction
        for phase in EXTRACTING:
            setattr(ext, f"{phase}_exit_status", None)
            setattr(ext, f"{phase}_description", "Terminated")
        self._finish_extraction(job, ts, now, "cancelled")
        if extracted:
            self._schedule_loads(job, ts)
        self._settle(job, ts)


def _error_state(message: str, stream_name: str) -> dict[str, Any]:
    """The (explicitly unstable) ``error_state`` of https://www.stitchdata.com/docs/developers/stitch-connect/api#load--object."""
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
