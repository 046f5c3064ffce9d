"""The replication wait: one state machine that every mode drives.

The blocking loop, the sensor's pokes (poke and reschedule) and the trigger only feed a
:class:`ReplicationWait` with what Stitch returned and act on the :class:`ReplicationProgress` it
answers. What the wait has established lives in :class:`WaitState`, a JSON-serialisable value that the
modes carry across polls, reschedules (task state store) and triggerer restarts (trigger kwargs).

What Stitch gives us (https://www.stitchdata.com/docs/developers/stitch-connect/api#list-last-extractions and
#load--object of the same page):

* the extractions list holds only the **last completed** extraction per source; a newer job on the
  source replaces our row, so the row is remembered the first time it is seen and never re-read;
* loads are one row per (source ``name``, stream): the most recent load attempt, with no job name.
  ``last_batch_loaded_at`` is null while the row is in an error state, and ``error_state`` may be an
  earlier job's.

The rules (docs/replication.md states them for users):

1. **Our extraction.** The row with our job name (or, attached without a name, the first row completed
   after we attached that is not the job the source showed before). Once seen completed, it is final:
   no later job changes it. A newer job's row seen before ours means ours ended unseen: the outcome is
   ``unknown`` (Stitch keeps no history), never another job's.
2. **Loaded.** A stream loaded our data when its row shows ``last_batch_loaded_at`` at or after our
   completion time (second precision). Once established, final.
3. **Whose error.** Every loads listing taken before an extractions listing that still shows our job
   running is a *baseline*. A stream row in error that is identical to the baseline was there before our
   extraction completed: not ours (the stream keeps waiting; the reason names it), until it is the only
   thing left for :data:`STALE_ERROR_GRACE` after every other stream loaded. An error that differs
   is ours, unless a newer job's extraction has completed by then: that load attempt may be the newer
   job's, so the outcome is ``unknown``. A wait that began after our completion takes its first loads
   listing as the baseline (an error there may be an earlier job's, or ours: it waits under the same
   grace, so the verdict is right, only later).
4. **Which streams.** The streams our log shows with records; until the log can be read (it may 404
   right after completion) the selected streams stand in, and the log is asked again on the next poll.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_stitch.api.job_names import job_created_at
from airflow_provider_stitch.api.objects import Extraction, Load, format_timestamp, parse_timestamp
from airflow_provider_stitch.api.progress import (
    JobRef,
    Phase,
    ReplicationProgress,
    StreamProgress,
    WaitFor,
    at_second,
    extraction_outcome,
    find_our_extraction,
)

#: Seconds (Stitch time) a stream may keep showing the load error it had before our extraction completed,
#: once every other awaited stream has loaded, before the wait takes it for ours: the same error
#: repeated (a destination permission, say) cannot be told from the old one, and waiting for the
#: deadline (24 h by default) would hide it. A table loading more than this much slower than the
#: others while an old error stands is failed too; the reason says why.
STALE_ERROR_GRACE = 30 * 60.0

#: Seconds (Stitch time) after some awaited streams loaded while the others have not before the wait
#: reads the job's log, when only the selected streams stand in for it: a stream with no new records
#: never loads, and only the log says so. Loads of one job land in the same load cycle, so a stream
#: still missing this long after the first is more likely empty than late.
PARTIAL_LOAD_GRACE = 120.0
#: Seconds (Stitch time) after our extraction completed with nothing loaded yet before the wait reads
#: the log, when only the selected streams stand in for it: a job with no new records loads nothing.
EMPTY_LOAD_GRACE = 300.0


@dataclass(frozen=True)
class AwaitedStreams:
    """Which streams a job loads: from its log (``final``), or the selected streams standing in."""

    streams: tuple[str, ...]
    final: bool

    def to_dict(self) -> dict[str, Any]:
        return {"streams": list(self.streams), "final": self.final}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AwaitedStreams:
        return cls(tuple(sorted(str(s) for s in data.get("streams") or ())), bool(data.get("final")))


@dataclass(frozen=True)
class Wants:
    """What the next observation should include, so that no call is spent in vain."""

    extractions: bool
    #: List loads (before the extractions, so that a running extraction proves the loads were earlier).
    loads: bool
    #: The job whose log to read, to learn (or confirm) which streams it loads.
    log_of: str | None


def load_mark(load: Load) -> str:
    """A short fingerprint of one loads row, to tell a new load attempt from the one seen before."""
    body = json.dumps(
        {"at": format_timestamp(load.last_batch_loaded_at), "error": load.error_state},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()[:16]


@dataclass
class WaitState:
    """What one wait has established. JSON round-trip with :meth:`to_dict` / :meth:`from_dict`."""

    job: JobRef
    wait_for: WaitFor = WaitFor.LOADS
    #: Our extraction's row, once seen completed. Final.
    extraction: Extraction | None = None
    #: A newer job's row was seen before ours: ours ended, how is not knowable.
    replaced_by: str | None = None
    #: Marks of our source's loads rows in error in the latest listing proven to precede our
    #: completion (None: no such listing yet). Only errors need telling apart.
    loads_before: dict[str, str] | None = None
    #: The baseline is the first listing after our completion (the wait began too late for one before).
    baseline_after_completion: bool = False
    #: The earliest completion of a newer job on the source, seen after ours completed.
    newer_completed_at: dt.datetime | None = None
    awaited: AwaitedStreams | None = None
    #: Streams established as loaded with our data: stream -> last_batch_loaded_at. Final.
    loaded: dict[str, dt.datetime] = field(default_factory=dict)
    #: When (epoch seconds, our clock) only streams still showing their pre-completion error were left.
    stale_since: float | None = None
    #: When (epoch seconds, our clock) this wait first saw our extraction completed with nothing loaded,
    #: and first saw some awaited streams loaded but not all: the log-read graces count from these.
    unloaded_since: float | None = None
    partial_since: float | None = None
    #: Set for a try that reconnected to an earlier try's job: if that job ends without landing its
    #: data, the try starts a new one (a clear or a retry means "run again").
    restart_if_unsuccessful: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job.to_dict(),
            "wait_for": self.wait_for.value,
            "extraction": dict(self.extraction.raw) if self.extraction is not None else None,
            "replaced_by": self.replaced_by,
            "loads_before": dict(self.loads_before) if self.loads_before is not None else None,
            "baseline_after_completion": self.baseline_after_completion,
            "newer_completed_at": format_timestamp(self.newer_completed_at),
            "awaited": self.awaited.to_dict() if self.awaited is not None else None,
            "loaded": {k: format_timestamp(v) for k, v in self.loaded.items()},
            "stale_since": self.stale_since,
            "unloaded_since": self.unloaded_since,
            "partial_since": self.partial_since,
            "restart_if_unsuccessful": self.restart_if_unsuccessful,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WaitState:
        extraction = data.get("extraction")
        awaited = data.get("awaited")
        loads_before = data.get("loads_before")
        loaded = {}
        for stream, at in (data.get("loaded") or {}).items():
            moment = parse_timestamp(at)
            if moment is not None:
                loaded[str(stream)] = moment
        return cls(
            job=JobRef.from_dict(data["job"]),
            wait_for=WaitFor(data.get("wait_for") or WaitFor.LOADS.value),
            extraction=Extraction.from_api(dict(extraction)) if extraction else None,
            replaced_by=data.get("replaced_by") or None,
            loads_before={str(k): str(v) for k, v in loads_before.items()}
            if isinstance(loads_before, Mapping)
            else None,
            baseline_after_completion=bool(data.get("baseline_after_completion")),
            newer_completed_at=parse_timestamp(data.get("newer_completed_at")),
            awaited=AwaitedStreams.from_dict(awaited) if isinstance(awaited, Mapping) else None,
            loaded=loaded,
            stale_since=float(data["stale_since"]) if data.get("stale_since") is not None else None,
            unloaded_since=_epoch(data.get("unloaded_since")),
            partial_since=_epoch(data.get("partial_since")),
            restart_if_unsuccessful=bool(data.get("restart_if_unsuccessful")),
        )


class ReplicationWait:
    """Feed it snapshots with :meth:`observe`; it answers where our job is (see the module docstring)."""

    def __init__(
        self, state: WaitState, *, time_scale: float = 1.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.state = state
        #: Against the emulator (connection extra ``time_scale``), our seconds are this many of Stitch's.
        self.time_scale = time_scale
        self.clock = clock
        #: The latest loads listing (not persisted: a restarted wait lists loads again).
        self._loads: tuple[Load, ...] | None = None
        self.progress = self._decide()

    @classmethod
    def start(cls, job: JobRef, wait_for: WaitFor = WaitFor.LOADS) -> ReplicationWait:
        return cls(WaitState(job, wait_for))

    @property
    def job(self) -> JobRef:
        return self.state.job

    def checkpoint(self) -> tuple[object, ...]:
        """What a restarted wait could not learn again: our extraction's row (a newer job may replace
        it) and the earlier load errors seen before our extraction completed. When this changes, the
        drivers persist the state (trigger kwargs, task state store)."""
        state = self.state
        # A clean baseline is not worth a round trip: a wait restarted before our completion takes a new
        # one on its first pass, and the completion checkpoint carries it from then on.
        errors = tuple(sorted((state.loads_before or {}).items()))
        return (state.extraction.job_name if state.extraction else None, errors)

    def wants(self) -> Wants:
        state = self.state
        if self.progress.is_terminal:
            return Wants(extractions=False, loads=False, log_of=None)
        waits_for_loads = state.wait_for is WaitFor.LOADS
        if state.extraction is None:
            # Loads before the extractions: if ours is still running afterwards, they are a baseline.
            return Wants(extractions=True, loads=waits_for_loads, log_of=None)
        log_of = None
        if state.awaited is None or (not state.awaited.final and self._log_changes_verdict()):
            log_of = self.progress.job_name
        # After our completion the extractions still tell when a newer job completed (rule 3).
        return Wants(extractions=True, loads=True, log_of=log_of)

    def _log_changes_verdict(self) -> bool:
        """Whether reading the job's log could change what the selected streams (standing in) decide.

        The streams a log shows with records are among the selected ones, so once every selected
        stream loaded our data the log cannot add one to wait for: the wait succeeds without it. It
        can only *remove* streams (those with no new records, which never load), which matters when
        no selected stream is left to wait for but those: nothing loaded for :data:`EMPTY_LOAD_GRACE`,
        or some loaded and the rest missing for :data:`PARTIAL_LOAD_GRACE`. An empty stand-in always
        needs the log. Each read costs one call of the account's 30 per 10 minutes, so this is where
        the budget buys detection (issue 12: one read per job spent it within minutes at fan-out).
        """
        state, progress = self.state, self.progress
        if state.awaited is None or not state.awaited.streams:
            return True
        loaded = sum(1 for s in progress.streams if s.status == "loaded")
        now = self.clock()
        if loaded == 0:
            if state.unloaded_since is None:
                state.unloaded_since = now
            return (now - state.unloaded_since) * self.time_scale >= EMPTY_LOAD_GRACE
        if state.partial_since is None:
            state.partial_since = now
        return (now - state.partial_since) * self.time_scale >= PARTIAL_LOAD_GRACE

    def observe(
        self,
        *,
        extractions: Iterable[Extraction] | None = None,
        loads: Iterable[Load] | None = None,
        loads_listed_first: bool = False,
        awaited: AwaitedStreams | None = None,
    ) -> ReplicationProgress:
        """Take in what one poll returned (any part may be missing) and decide again."""
        load_rows = None if loads is None else tuple(loads)
        if awaited is not None and (self.state.awaited is None or not self.state.awaited.final):
            self.state.awaited = awaited
        if extractions is not None:
            self._observe_extractions(tuple(extractions), load_rows if loads_listed_first else None)
        if load_rows is not None:
            self._loads = load_rows
            self._observe_loads(load_rows)
        self.progress = self._decide()
        return self.progress

    # --- what each listing establishes ----------------------------------------------------------------

    def _observe_extractions(
        self, rows: tuple[Extraction, ...], earlier_loads: tuple[Load, ...] | None
    ) -> None:
        state = self.state
        if state.extraction is None and state.replaced_by is None:
            row, newer = find_our_extraction(state.job, rows)
            if row is not None and newer:
                state.replaced_by = row.job_name
            elif row is not None and extraction_outcome(row) is not None:
                state.extraction = row
                if state.job.job_name is None:
                    state.job = dataclasses.replace(state.job, job_name=row.job_name)
            elif earlier_loads is not None:
                # Ours still runs after these loads were listed: whatever they show predates our completion.
                state.loads_before = {
                    load.stream_name: load_mark(load)
                    for load in earlier_loads
                    if load.source_name == state.job.source_name and load.error_state is not None
                }
            return
        ours = state.extraction
        if ours is None:
            return
        for row in rows:
            if row.source_id != state.job.source_id or row.job_name == ours.job_name:
                continue
            completed = row.completion_time
            if completed is None or not _created_after(row, ours):
                continue
            if state.newer_completed_at is None or completed < state.newer_completed_at:
                state.newer_completed_at = completed

    def _observe_loads(self, rows: tuple[Load, ...]) -> None:
        state, ours = self.state, self.state.extraction
        outcome = extraction_outcome(ours) if ours is not None else None
        if (
            ours is None
            or ours.completion_time is None
            or outcome is None
            or outcome[0] is not Phase.SUCCEEDED
        ):
            return
        if state.loads_before is None:
            # No listing proved older than our completion (the wait began after it): what this first
            # look shows in error may be an earlier job's, so it is the baseline, marked as such.
            state.loads_before = {
                load.stream_name: load_mark(load)
                for load in rows
                if load.source_name == state.job.source_name and load.error_state is not None
            }
            state.baseline_after_completion = True
        completed = at_second(ours.completion_time)
        for load in rows:
            if load.source_name != state.job.source_name or load.stream_name in state.loaded:
                continue
            loaded_at = load.last_batch_loaded_at
            if load.error_state is None and loaded_at is not None and at_second(loaded_at) >= completed:
                state.loaded[load.stream_name] = loaded_at

    # --- the verdict --------------------------------------------------------------------------------

    def _decide(self) -> ReplicationProgress:
        state, loads = self.state, self._loads
        job = state.job
        if state.extraction is None:
            if state.replaced_by is not None:
                return ReplicationProgress(
                    Phase.UNKNOWN,
                    job,
                    f"it ended unseen: newer job {state.replaced_by} replaced its row in Stitch's "
                    "extractions list (which keeps only the last completed job per source), so its "
                    "outcome cannot be read",
                    superseded_by=state.replaced_by,
                )
            return ReplicationProgress(Phase.EXTRACTING, job, "not completed yet")
        row = state.extraction
        outcome = extraction_outcome(row)
        assert outcome is not None  # only completed rows are remembered
        phase, reason = outcome
        if phase is not Phase.SUCCEEDED or state.wait_for is WaitFor.EXTRACTION:
            return ReplicationProgress(phase, job, reason, extraction=row)
        if state.awaited is None:
            return ReplicationProgress(
                Phase.PREPARING,
                job,
                "extraction completed; finding which streams to wait for",
                extraction=row,
            )
        awaited = sorted(set(state.awaited.streams))
        if not awaited and state.awaited.final:
            return ReplicationProgress(
                Phase.SUCCEEDED,
                job,
                "extraction completed; no stream had new records, so nothing to load",
                extraction=row,
            )
        streams = tuple(self._stream(name, loads) for name in awaited)
        failed = [s for s in streams if s.status == "failed"]
        unclear = [s for s in streams if s.status == "unclear"]
        done = [s for s in streams if s.status == "loaded"]
        if failed:
            detail = "; ".join(f"{s.name}: {s.error}" for s in failed)
            return ReplicationProgress(
                Phase.FAILED, job, f"loading failed for {detail}", extraction=row, streams=streams
            )
        stale = [s for s in streams if s.status == "waiting" and s.error is not None]
        if stale and len(done) + len(stale) == len(streams) and self._stale_for_too_long():
            detail = "; ".join(f"{s.name}: {s.error}" for s in stale)
            minutes = STALE_ERROR_GRACE / 60
            streams = tuple(dataclasses.replace(s, status="failed") if s in stale else s for s in streams)
            return ReplicationProgress(
                Phase.FAILED,
                job,
                f"loading failed for {detail} (the error shown before our extraction completed still "
                f"stands {minutes:g} minutes after every other stream loaded; Stitch's loads carry no job "
                "name, so the same error repeated cannot be told from the old one)",
                extraction=row,
                streams=streams,
            )
        if unclear:
            detail = "; ".join(f"{s.name}: {s.error}" for s in unclear)
            return ReplicationProgress(
                Phase.UNKNOWN,
                job,
                "a load attempt failed after a newer job's extraction completed, so it may be that "
                f"job's: {detail}",
                extraction=row,
                streams=streams,
            )
        if len(done) == len(streams) and (state.awaited.final or streams):
            # Not final: every selected stream loaded our data; the log could only name fewer.
            return ReplicationProgress(
                Phase.SUCCEEDED, job, "every awaited stream loaded", extraction=row, streams=streams
            )
        if loads is None and not done:
            return ReplicationProgress(
                Phase.PREPARING,
                job,
                "extraction completed; loads not checked yet",
                extraction=row,
                streams=streams,
            )
        phase = Phase.LOADING if done else Phase.PREPARING
        return ReplicationProgress(
            phase, job, f"{len(done)} of {len(streams)} streams loaded", extraction=row, streams=streams
        )

    def _stream(self, name: str, loads: tuple[Load, ...] | None) -> StreamProgress:
        state = self.state
        if name in state.loaded:
            return StreamProgress(name, "loaded", state.loaded[name])
        row = None
        for load in loads or ():
            if load.source_name == state.job.source_name and load.stream_name == name:
                row = load
        if row is None:
            return StreamProgress(name, "waiting")
        if row.error_state is None:
            return StreamProgress(name, "waiting", row.last_batch_loaded_at, None, self._early(row))
        if state.loads_before is not None and state.loads_before.get(name) == load_mark(row):
            seen = (
                "already shown when this wait first looked, after our extraction completed (it may be an "
                "earlier job's)"
                if state.baseline_after_completion
                else "an earlier load error is still shown"
            )
            return StreamProgress(name, "waiting", None, row.error_message, f"{seen}: {row.error_message}")
        if state.newer_completed_at is not None:
            return StreamProgress(name, "unclear", None, row.error_message)
        return StreamProgress(name, "failed", None, row.error_message)

    def _stale_for_too_long(self) -> bool:
        """Whether only streams showing their pre-completion error are left, for ``STALE_ERROR_GRACE``
        seconds of Stitch time (our clock, times the time scale) since that was first seen."""
        now = self.clock()
        if self.state.stale_since is None:
            self.state.stale_since = now
        return (now - self.state.stale_since) * self.time_scale >= STALE_ERROR_GRACE

    def _early(self, row: Load) -> str | None:
        """Say so when a stream's last batch landed while our extraction ran: Stitch's docs do not say
        whether a long extraction loads batches before it completes; if it does, the stream's load can
        never be told from an earlier job's, and the wait runs to its deadline saying why."""
        ours, loaded_at = self.state.extraction, row.last_batch_loaded_at
        if ours is None or loaded_at is None or ours.start_time is None or ours.completion_time is None:
            return None
        if at_second(ours.start_time) <= at_second(loaded_at) < at_second(ours.completion_time):
            return (
                f"last loaded during our extraction ({format_timestamp(loaded_at)}, before it completed "
                f"at {format_timestamp(ours.completion_time)}); its next load counts"
            )
        return None


def _epoch(value: Any) -> float | None:
    return float(value) if value is not None else None


def _created_after(row: Extraction, ours: Extraction) -> bool:
    theirs, mine = job_created_at(row.job_name, precise=True), job_created_at(ours.job_name, precise=True)
    if theirs is not None and mine is not None:
        return theirs > mine
    return row.start_time is not None and ours.start_time is not None and row.start_time > ours.start_time


def assess_progress(
    job: JobRef,
    extractions: Iterable[Extraction],
    *,
    wait_for: WaitFor = WaitFor.LOADS,
    loads: Iterable[Load] | None = None,
    awaited_streams: Iterable[str] | None = None,
) -> ReplicationProgress:
    """What a wait that sees only this one snapshot decides (no memory, no baseline)."""
    wait = ReplicationWait.start(job, wait_for)
    awaited = None if awaited_streams is None else AwaitedStreams(tuple(sorted(set(awaited_streams))), True)
    return wait.observe(extractions=extractions, loads=loads, awaited=awaited)
