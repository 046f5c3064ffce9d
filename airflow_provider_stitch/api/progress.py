"""The replication progress rules: given what Stitch returned, where is this job, and why.

One function, :func:`assess_progress`, decides for every mode (blocking wait, sensor poke, trigger).

What Stitch gives us (API reference §7, §8, §12):

* The extractions list holds only the **last completed** extraction per source. While our job runs,
  the source's row still shows an older job (or, on some servers, our job with null exit statuses).
* Exit statuses: null = running, 0 = success, non-zero = failure with ``*_description``. A stopped job
  shows null statuses with descriptions ``"Terminated"``.
* Loads are one row per (source ``name``, stream) with ``last_batch_loaded_at`` and ``error_state``,
  and no job name: a stream has loaded our data when ``last_batch_loaded_at >= completion_time`` of
  our extraction.

Phases: ``extracting`` -> ``preparing`` (extraction done, no awaited stream loaded yet) -> ``loading``
(some streams loaded) -> ``succeeded``; or ``failed`` / ``cancelled`` at any point.
"""

from __future__ import annotations

import datetime as dt
import enum
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_stitch.api.job_names import job_created_at
from airflow_provider_stitch.api.objects import Extraction, Load, format_timestamp, parse_timestamp

TERMINATED = "terminated"


class Phase(str, enum.Enum):
    EXTRACTING = "extracting"
    PREPARING = "preparing"
    LOADING = "loading"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED)


class WaitFor(str, enum.Enum):
    """How far a wait goes: until the extraction completed, or until every awaited stream loaded."""

    EXTRACTION = "extraction"
    LOADS = "loads"


@dataclass(frozen=True)
class JobRef:
    """Which job we wait for.

    :param job_name: The name the start call returned; ``None`` when we attached to a job that was
        already running (its name is learnt from the first extraction completing after ``started_after``).
    :param started_after: When we started (or attached to) the job, by our clock. Extractions that
        started before it cannot be ours.
    :param previous_job_name: When attaching: the job the source's row showed at that moment, which
        had completed before the running job we attach to, so it is never ours.
    """

    source_id: int
    source_name: str
    job_name: str | None
    started_after: dt.datetime
    previous_job_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {
            "source_id": self.source_id,
            "source_name": self.source_name,
            "job_name": self.job_name,
            "started_after": format_timestamp(self.started_after),
        }
        if self.previous_job_name:
            data["previous_job_name"] = self.previous_job_name
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobRef:
        """The inverse of :meth:`to_dict` (trigger kwargs, task state, XCom)."""
        started_after = parse_timestamp(data.get("started_after"))
        if started_after is None:
            raise ValueError(f"A Stitch job reference needs 'started_after'; got {dict(data)!r}")
        return cls(
            source_id=int(data["source_id"]),
            source_name=str(data.get("source_name") or ""),
            job_name=data.get("job_name") or None,
            started_after=started_after,
            previous_job_name=data.get("previous_job_name") or None,
        )


@dataclass(frozen=True)
class StreamProgress:
    name: str
    status: str  # "loaded", "waiting", "failed"
    loaded_at: dt.datetime | None = None
    error: str | None = None


@dataclass(frozen=True)
class ReplicationProgress:
    """Where a job is. ``needs`` tells the caller what to fetch next time (to spend no call in vain)."""

    phase: Phase
    job: JobRef
    reason: str
    extraction: Extraction | None = None
    streams: tuple[StreamProgress, ...] = ()
    superseded_by: str | None = None
    #: The caller should fetch loads (and the awaited stream list, if unknown) on its next poll.
    needs_loads: bool = False
    needs_awaited_streams: bool = False

    @property
    def job_name(self) -> str | None:
        if self.extraction is not None and self.job.job_name is None:
            return self.extraction.job_name
        return self.job.job_name

    @property
    def is_terminal(self) -> bool:
        return self.phase.is_terminal

    def summary(self) -> str:
        """One progress line, e.g. ``shop_db job 1001.2001.sync.ab12: loading 2/3 streams (...)``."""
        head = f"{self.job.source_name or self.job.source_id} job {self.job_name or '(awaiting its name)'}"
        if self.phase in (Phase.PREPARING, Phase.LOADING) and self.streams:
            done = [s.name for s in self.streams if s.status == "loaded"]
            waiting = [s.name for s in self.streams if s.status == "waiting"]
            parts = []
            if done:
                parts.append(f"{', '.join(done)} done")
            if waiting:
                parts.append(f"{', '.join(waiting)} waiting")
            return f"{head}: {self.phase.value} {len(done)}/{len(self.streams)} streams ({'; '.join(parts)})"
        return f"{head}: {self.phase.value} ({self.reason})"

    def to_result(self, *, stitch_client_id: int | None = None, url: str | None = None) -> dict[str, Any]:
        """The XCom value: the same in every mode, JSON-serialisable, no secrets."""
        extraction = self.extraction
        return {
            "source_id": self.job.source_id,
            "source_name": self.job.source_name,
            "job_name": self.job_name,
            "stitch_client_id": stitch_client_id,
            "status": self.phase.value,
            "reason": self.reason,
            "extraction_start": format_timestamp(extraction.start_time) if extraction else None,
            "extraction_completion": format_timestamp(extraction.completion_time) if extraction else None,
            "exit_statuses": extraction.exit_statuses if extraction else None,
            "streams": {
                s.name: {"status": s.status, "loaded_at": format_timestamp(s.loaded_at), "error": s.error}
                for s in self.streams
            },
            "superseded_by": self.superseded_by,
            "url": url,
        }


def _at_second(value: dt.datetime) -> dt.datetime:
    """Stitch timestamps have second precision; compare ours at the same precision."""
    return value.replace(microsecond=0)


def find_our_extraction(job: JobRef, extractions: Iterable[Extraction]) -> tuple[Extraction | None, bool]:
    """Our source's row if it describes our job (or a newer one): ``(row, superseded)``.

    * Same job name -> ours.
    * We attached without a name -> the source's row once it completed at/after our attach time and
      is not the job the row showed when we attached (the job already running when we attached may
      have started before us, so its start time won't do).
    * A different name created after ours -> a newer job: ours finished earlier (one job per source
      at a time), so the row supersedes ours. Stitch's job names carry a time-based uuid, which orders
      jobs to the microsecond; without one, a row that started in a later second than ours is newer.
    * Anything else -> an older job; ours is still running.
    """
    since = _at_second(job.started_after)
    for row in extractions:
        if row.source_id != job.source_id:
            continue
        if job.job_name is not None and row.job_name == job.job_name:
            return row, False
        if job.job_name is None:
            moment = row.completion_time or row.start_time
            if row.job_name != job.previous_job_name and moment is not None and moment >= since:
                return row, False
            return None, False
        return (row, True) if _is_newer(row, job.job_name, since) else (None, False)
    return None, False


def _is_newer(row: Extraction, our_job_name: str, since: dt.datetime) -> bool:
    theirs, ours = job_created_at(row.job_name, precise=True), job_created_at(our_job_name, precise=True)
    if theirs is not None and ours is not None:
        return theirs > ours
    # Strictly later: a newer job starts after ours ended, so it cannot share our start's second,
    # while an older job can (a retry right after a quick failure), and must not pass for newer.
    return row.start_time is not None and row.start_time > since


def attach_reference(
    source_id: int, source_name: str, attempted_at: dt.datetime, extractions: Iterable[Extraction] | None
) -> JobRef:
    """The job to wait for after Stitch answered "already running", from the extractions listed then.

    A row still running (servers that list running jobs) *is* that job: we learn its name. A completed
    row is the job before it, so it is never ours. With no list (it could not be read), matching
    falls back to time alone.
    """
    row = next((r for r in extractions or () if r.source_id == source_id), None)
    if row is not None and row.job_name and _extraction_outcome(row) is None and row.completion_time is None:
        return JobRef(source_id, source_name, row.job_name, attempted_at)
    previous = row.job_name if row is not None and row.job_name else None
    return JobRef(source_id, source_name, None, attempted_at, previous_job_name=previous)


def _extraction_outcome(row: Extraction) -> tuple[Phase, str] | None:
    """Terminal outcome of the extraction in ``row``, or None while it still runs."""
    statuses = row.exit_statuses
    descriptions = row.descriptions
    for step in ("discovery", "tap", "target"):
        status = statuses[step]
        if status not in (None, 0):
            description = descriptions[step] or "no description"
            return Phase.FAILED, f"{step} exited with status {status}: {description}"
    if any((d or "").strip().lower() == TERMINATED for d in descriptions.values()):
        return Phase.CANCELLED, "the extraction was stopped (Terminated)"
    if all(status == 0 for status in statuses.values()):
        return Phase.SUCCEEDED, "extraction completed"
    if row.completion_time is not None and all(status is None for status in statuses.values()):
        # Completed with no status and no "Terminated": not a documented shape; treat as failed, not
        # as running, so the wait ends instead of running into its deadline.
        return Phase.FAILED, "Stitch reported the extraction complete without exit statuses"
    return None


def assess_progress(
    job: JobRef,
    extractions: Iterable[Extraction],
    *,
    wait_for: WaitFor = WaitFor.LOADS,
    loads: Iterable[Load] | None = None,
    awaited_streams: Iterable[str] | None = None,
) -> ReplicationProgress:
    """Decide where ``job`` is.

    :param extractions: The latest extractions list (every page).
    :param loads: The latest loads list, or None when it was not fetched on this poll.
    :param awaited_streams: The streams whose load proves the data landed (streams the log shows had
        records, else the selected streams), or None when not known yet.
    """
    row, superseded = find_our_extraction(job, extractions)
    if row is None:
        return ReplicationProgress(Phase.EXTRACTING, job, "extraction running (not listed as completed yet)")
    outcome = _extraction_outcome(row)
    superseded_by = row.job_name if superseded else None
    if outcome is None:
        return ReplicationProgress(Phase.EXTRACTING, job, "extraction running", extraction=row)
    phase, reason = outcome
    if superseded:
        reason = f"{reason} (by newer job {row.job_name}; ours finished before it started)"
    if phase is not Phase.SUCCEEDED or wait_for is WaitFor.EXTRACTION:
        return ReplicationProgress(phase, job, reason, extraction=row, superseded_by=superseded_by)

    if awaited_streams is None:
        return ReplicationProgress(
            Phase.PREPARING,
            job,
            "extraction completed; finding which streams to wait for",
            extraction=row,
            superseded_by=superseded_by,
            needs_loads=True,
            needs_awaited_streams=True,
        )
    awaited = sorted(set(awaited_streams))
    if not awaited:
        return ReplicationProgress(
            Phase.SUCCEEDED,
            job,
            "extraction completed; no stream had new records, so nothing to load",
            extraction=row,
            superseded_by=superseded_by,
        )
    if loads is None:
        return ReplicationProgress(
            Phase.PREPARING,
            job,
            "extraction completed; loads not checked yet",
            extraction=row,
            streams=tuple(StreamProgress(name, "waiting") for name in awaited),
            superseded_by=superseded_by,
            needs_loads=True,
        )
    streams = _stream_progress(job.source_name, awaited, loads, row)
    failed = [s for s in streams if s.status == "failed"]
    done = [s for s in streams if s.status == "loaded"]
    common: Mapping[str, Any] = {"extraction": row, "streams": streams, "superseded_by": superseded_by}
    if failed:
        detail = "; ".join(f"{s.name}: {s.error}" for s in failed)
        return ReplicationProgress(Phase.FAILED, job, f"loading failed for {detail}", **common)
    if len(done) == len(streams):
        return ReplicationProgress(Phase.SUCCEEDED, job, "every awaited stream loaded", **common)
    phase = Phase.LOADING if done else Phase.PREPARING
    return ReplicationProgress(
        phase, job, f"{len(done)} of {len(streams)} streams loaded", needs_loads=True, **common
    )


def _stream_progress(
    source_name: str, awaited: list[str], loads: Iterable[Load], extraction: Extraction
) -> tuple[StreamProgress, ...]:
    by_stream = {load.stream_name: load for load in loads if load.source_name == source_name}
    completed = extraction.completion_time
    result = []
    for name in awaited:
        load = by_stream.get(name)
        if load is None:
            result.append(StreamProgress(name, "waiting"))
        elif load.error_state is not None:
            result.append(StreamProgress(name, "failed", load.last_batch_loaded_at, load.error_message))
        elif load.last_batch_loaded_at is not None and (
            completed is None or load.last_batch_loaded_at >= completed
        ):
            result.append(StreamProgress(name, "loaded", load.last_batch_loaded_at))
        else:
            result.append(StreamProgress(name, "waiting", load.last_batch_loaded_at))
    return tuple(result)


def awaited_streams_from(
    record_counts: Mapping[str, int | None] | None, selected_streams: Iterable[str] | None
) -> list[str]:
    """Streams to wait for: those the log shows had records; else (no usable log) every selected stream.

    Streams with zero new records never get a new load, so waiting for them would never end.
    """
    if record_counts:
        return sorted(stream for stream, count in record_counts.items() if count != 0)
    return sorted(set(selected_streams or []))


@dataclass
class ProgressLog:
    """Decides which progress lines to log: one per change, plus a reminder while nothing changes.

    Long extractions can run for hours without a change; the reminder every ``heartbeat`` seconds
    shows the wait is alive and how long the phase has lasted.
    """

    heartbeat: float = 600.0
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    last: str | None = field(default=None)
    _since: float = field(default=0.0, repr=False)
    _reminded: float = field(default=0.0, repr=False)

    def changed(self, progress: ReplicationProgress) -> str | None:
        line = progress.summary()
        now = self.clock()
        if line != self.last:
            self.last, self._since, self._reminded = line, now, now
            return line
        if now - self._reminded >= self.heartbeat:
            self._reminded = now
            return f"{line}; unchanged for {int((now - self._since) // 60)} min"
        return None
