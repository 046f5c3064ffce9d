"""Where a replication job is: the vocabulary every mode shares, and how our job's row is found.

The decisions themselves live in :mod:`airflow_provider_stitch.api.wait` (the replication wait, a state
machine). This module holds what it speaks in: phases, the job reference, per-stream progress, the
progress value (and the XCom value built from it), and the rules that find our job's row in Stitch's
extractions list (one row per source, the *last completed* extraction:
https://www.stitchdata.com/docs/developers/stitch-connect/api#list-last-extractions).

Phases: ``extracting`` -> ``preparing`` (extraction done, no awaited stream loaded yet) -> ``loading``
(some streams loaded) -> ``succeeded``; or ``failed`` / ``cancelled`` / ``unknown`` at any point.
"""

from __future__ import annotations

import datetime as dt
import enum
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_stitch.api.job_names import job_created_at
from airflow_provider_stitch.api.objects import Extraction, format_timestamp, parse_timestamp

TERMINATED = "terminated"


class Phase(str, enum.Enum):
    EXTRACTING = "extracting"
    PREPARING = "preparing"
    LOADING = "loading"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    #: The job ended, but what Stitch still shows cannot tell how (another job replaced the evidence).
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        return self in (Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED, Phase.UNKNOWN)


class WaitFor(str, enum.Enum):
    """How far a wait goes: until the extraction completed, or until every awaited stream loaded."""

    EXTRACTION = "extraction"
    LOADS = "loads"


#: Tolerance for the clocks of Airflow and Stitch disagreeing, wherever our clock meets Stitch's (both
#: NTP-synchronised hosts, as any TLS client must be). Larger would hide newer jobs from attached waits.
CLOCK_SKEW_MARGIN = dt.timedelta(seconds=10)


@dataclass(frozen=True)
class JobRef:
    """Which job we wait for.

    :param job_name: The name the start call returned; ``None`` when we attached to a job that was
        already running and whose name we do not know yet (learnt from its extraction row).
    :param started_after: When we started (or attached to) the job, by our clock.
    :param previous_job_name: When attaching: the job the source's row showed before the running one
        (``""``: the source showed none), so it is never taken for ours; ``None``: not known, and the
        match falls back to time (rows completed at or after ``started_after``).
    :param started_by_task: Whether this task started the job (or may have: a lost answer to its own
        start). Only such a job is ever stopped by the task.
    """

    source_id: int
    source_name: str
    job_name: str | None
    started_after: dt.datetime
    previous_job_name: str | None = None
    started_by_task: bool = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "source_id": self.source_id,
            "source_name": self.source_name,
            "job_name": self.job_name,
            "started_after": format_timestamp(self.started_after, precise=True),
            "started_by_task": self.started_by_task,
        }
        if self.previous_job_name is not None:
            data["previous_job_name"] = self.previous_job_name
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobRef:
        """The inverse of :meth:`to_dict` (trigger kwargs, task state, XCom)."""
        started_after = parse_timestamp(data.get("started_after"))
        if started_after is None:
            raise ValueError(f"A Stitch job reference needs 'started_after'; got {dict(data)!r}")
        previous = data.get("previous_job_name")
        return cls(
            source_id=int(data["source_id"]),
            source_name=str(data.get("source_name") or ""),
            job_name=data.get("job_name") or None,
            started_after=started_after,
            previous_job_name=None if previous is None else str(previous),
            started_by_task=bool(data.get("started_by_task", False)),
        )


@dataclass(frozen=True)
class StreamProgress:
    name: str
    status: str  # "loaded", "waiting", "failed", "unclear" (an error that may be a newer job's)
    loaded_at: dt.datetime | None = None
    error: str | None = None
    #: Why a stream still waits although its row shows something (e.g. an earlier job's load error).
    detail: str | None = None


@dataclass(frozen=True)
class ReplicationProgress:
    """Where a job is, and why: what :class:`~airflow_provider_stitch.api.wait.ReplicationWait` answers."""

    phase: Phase
    job: JobRef
    reason: str
    extraction: Extraction | None = None
    streams: tuple[StreamProgress, ...] = ()
    #: The newer job whose row replaced ours before ours was seen (outcome ``unknown``).
    superseded_by: str | None = None

    @property
    def job_name(self) -> str | None:
        if self.extraction is not None and self.job.job_name is None:
            return self.extraction.job_name
        return self.job.job_name

    @property
    def is_terminal(self) -> bool:
        return self.phase.is_terminal

    def summary(self, *, with_job: bool = True) -> str:
        """One progress line, e.g. ``shop_db job 1001.2001.sync.ab12: loading 2/3 streams: ...``.

        Job names are long (about 50 characters): :class:`ProgressLog` names the job on its first line
        only (``with_job=False`` after), and the line uses no parentheses, since Stitch's reasons may.
        """
        head = str(self.job.source_name or self.job.source_id)
        if with_job:
            head = f"{head} job {self.job_name or '(name not known yet)'}"
        if self.phase in (Phase.PREPARING, Phase.LOADING) and self.streams:
            done = [s.name for s in self.streams if s.status == "loaded"]
            waiting = [s.name for s in self.streams if s.status == "waiting"]
            parts = []
            if done:
                parts.append(f"{', '.join(done)} done")
            if waiting:
                parts.append(f"{', '.join(waiting)} waiting")
            parts.extend(f"{s.name}: {s.detail}" for s in self.streams if s.detail)
            return f"{head}: {self.phase.value} {len(done)}/{len(self.streams)} streams: {'; '.join(parts)}"
        return f"{head}: {self.phase.value}, {self.reason}"

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
                s.name: {
                    "status": s.status,
                    "loaded_at": format_timestamp(s.loaded_at),
                    "error": s.error,
                    "detail": s.detail,
                }
                for s in self.streams
            },
            "superseded_by": self.superseded_by,
            "url": url,
        }


def at_second(value: dt.datetime) -> dt.datetime:
    """Stitch timestamps have second precision; compare ours at the same precision."""
    return value.replace(microsecond=0)


def find_our_extraction(job: JobRef, extractions: Iterable[Extraction]) -> tuple[Extraction | None, bool]:
    """Our source's row if it describes our job (or a newer one): ``(row, newer)``.

    * Same job name -> ours.
    * Attached without a name -> the source's row once it is not the job the source showed before
      ours (``previous_job_name``); a row created well after we attached is a job newer than ours,
      which means ours ended unseen. Without a known previous job, a row completed at or after our
      attach time (by our clock, so within the clocks' skew) is taken.
    * A different name created after ours -> a newer job: ours finished earlier (one job per source
      at a time), so the row replaced ours. Stitch's job names carry a time-based uuid, which orders
      jobs to the microsecond on Stitch's own clock; without one, a row that started in a later second
      than ours is newer.
    * Anything else -> an older job; ours is still running.
    """
    since = at_second(job.started_after)
    for row in extractions:
        if row.source_id != job.source_id:
            continue
        if job.job_name is not None:
            if row.job_name == job.job_name:
                return row, False
            return (row, True) if _is_newer(row, job.job_name, since) else (None, False)
        if job.previous_job_name is not None:
            if row.job_name == job.previous_job_name:
                return None, False
            # The job we attached to was running when we attached: a row created later is a newer job.
            created = job_created_at(row.job_name) or row.start_time
            if created is not None and created > since + CLOCK_SKEW_MARGIN:
                return row, True
            return row, False
        moment = row.completion_time or row.start_time
        if moment is not None and moment >= since:
            return row, False
        return None, False
    return None, False


def _is_newer(row: Extraction, our_job_name: str, since: dt.datetime) -> bool:
    theirs, ours = job_created_at(row.job_name, precise=True), job_created_at(our_job_name, precise=True)
    if theirs is not None and ours is not None:
        return theirs > ours
    # Strictly later: a newer job starts after ours ended, so it cannot share our start's second,
    # while an older job can (a retry right after a quick failure), and must not pass for newer.
    return row.start_time is not None and row.start_time > since


def source_row(source_id: int, extractions: Iterable[Extraction] | None) -> Extraction | None:
    return next((r for r in extractions or () if r.source_id == source_id), None)


def is_running_row(row: Extraction) -> bool:
    """A row of a job still running (servers that list running jobs show null statuses, no completion)."""
    return bool(row.job_name) and extraction_outcome(row) is None and row.completion_time is None


def completed_near_or_after(row: Extraction, moment: dt.datetime) -> bool:
    """Whether ``row`` completed after ``moment`` (our clock), or too close to it to tell across clocks."""
    return row.completion_time is not None and row.completion_time >= at_second(moment) - CLOCK_SKEW_MARGIN


def attach_reference(
    source_id: int,
    source_name: str,
    attempted_at: dt.datetime,
    extractions: Iterable[Extraction] | None,
    *,
    started_by_task: bool = False,
) -> JobRef | None:
    """The job to wait for after Stitch answered "already running", from the extractions listed then.

    * A row still running (servers that list running jobs) *is* that job: we learn its name.
    * A row completed clearly before our attempt is the job before the running one: never ours.
    * No row: the source has no completed job yet, so the first row to appear is the running job.
    * A row completed after our attempt, or too close to it to tell across two clocks, may be the
      running job that finished meanwhile, or the one before it: ``None``, and the caller asks Stitch to
      start a job again, which settles it (a new job is then ours; "already running" proves that row
      was the one before).
    * No list (it could not be read): match by time alone.
    """
    if extractions is None:
        return JobRef(source_id, source_name, None, attempted_at, started_by_task=started_by_task)
    row = source_row(source_id, extractions)
    if row is None:
        return JobRef(source_id, source_name, None, attempted_at, "", started_by_task=started_by_task)
    if is_running_row(row):
        return JobRef(source_id, source_name, row.job_name, attempted_at, started_by_task=started_by_task)
    if completed_near_or_after(row, attempted_at):
        return None
    return JobRef(source_id, source_name, None, attempted_at, row.job_name, started_by_task=started_by_task)


def extraction_outcome(row: Extraction) -> tuple[Phase, str] | None:
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
    if row.completion_time is not None:
        # Completed with statuses missing and no "Terminated": not a documented shape; treat it as
        # failed, not as running, so the wait ends instead of running into its deadline.
        missing = ", ".join(step for step, status in statuses.items() if status is None)
        return Phase.FAILED, f"Stitch reported the extraction complete without exit statuses for {missing}"
    return None


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
    #: The job name the last line gave; a line names the job only when it is new.
    _named: str | None = field(default=None, repr=False)

    def changed(self, progress: ReplicationProgress) -> str | None:
        line = progress.summary(with_job=progress.job_name != self._named)
        now = self.clock()
        if progress.summary(with_job=False) != self.last:
            self.last, self._since, self._reminded = progress.summary(with_job=False), now, now
            self._named = progress.job_name
            return line
        if now - self._reminded >= self.heartbeat:
            self._reminded = now
            return f"{line}; unchanged for {int((now - self._since) // 60)} min"
        return None


#: Statuses of a wait that are not phases of the job: the wait ran out of time, could not go on, or
#: established something a restart could not learn again (``ReplicationWait.checkpoint``).
TIMEOUT = "timeout"
ERROR = "error"
CHECKPOINT = "checkpoint"


def outcome_message(status: str, result: Mapping[str, Any], detail: str | None = None) -> str:
    """One line naming the source, the job, the phase and Stitch's own reason."""
    source = f"{result.get('source_name') or 'source'} ({result.get('source_id')})"
    job = result.get("job_name") or "(name not known yet)"
    reason = detail or result.get("reason") or ""
    if status == Phase.SUCCEEDED.value:
        return f"Stitch job {job} on {source} succeeded: {reason}"
    if status == TIMEOUT:
        return f"Stitch job {job} on {source} timed out while {result.get('status')}: {reason}"
    if status == ERROR:
        return f"Waiting for Stitch job {job} on {source} failed while {result.get('status')}: {reason}"
    if status == CHECKPOINT:
        return f"Stitch job {job} on {source}: {reason}"
    if status == Phase.UNKNOWN.value:
        return f"Stitch job {job} on {source} ended, but its outcome cannot be told: {reason}"
    streams = result.get("streams") or {}
    during = "loading" if any(s.get("status") == "failed" for s in streams.values()) else "extraction"
    word = "was cancelled" if status == Phase.CANCELLED.value else "failed"
    return f"Stitch job {job} on {source} {word} during {during}: {reason}"
