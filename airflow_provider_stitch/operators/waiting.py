"""How Airflow tasks drive the replication wait: the blocking loop, the deferral round trip, the task
state store, and stopping a job.

The decisions are :class:`~airflow_provider_stitch.api.wait.ReplicationWait`'s; this module only feeds it
(:class:`BlockingWaitDriver` with the sync hook, the trigger with the shared poller) and maps its answers
onto Airflow: a return value, a :class:`StitchReplicationError`, a deferral, a stop.

Time: ``poll_interval`` and ``timeout`` are in Stitch time. Against the emulator the connection's
``time_scale`` extra (loopback only) divides them, so the example DAGs keep production values.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_stitch.api import endpoints
from airflow_provider_stitch.api.budget import budget_interval
from airflow_provider_stitch.api.job_names import client_id_from_job_name
from airflow_provider_stitch.api.progress import (
    TIMEOUT,
    JobRef,
    Phase,
    ProgressLog,
    ReplicationProgress,
    WaitFor,
    outcome_message,
)
from airflow_provider_stitch.api.wait import ReplicationWait, WaitState
from airflow_provider_stitch.exceptions import StitchReplicationError

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_stitch.hooks.stitch import StitchConnectHook

#: Task state store key of the wait's established state (Airflow >= 3.3): survives reschedules,
#: retries and worker crashes.
WAIT_STATE_KEY = "stitch_wait_state"
#: Extra time given to the framework's defer timeout beyond the trigger's own deadline, so the trigger's
#: timeout event (which may stop the job) arrives first.
DEFER_TIMEOUT_MARGIN = 120.0


def pages_for(rows: int) -> int:
    from airflow_provider_stitch.triggers.shared_poller import pages_for as pages

    return pages(rows)


class BlockingWaitDriver:
    """Polls one wait with the sync hook, for the blocking operator and the sensor's pokes.

    A poll makes what the wait wants: the loads list (before the extractions, so that a job still
    running afterwards proves them older), the extractions list, and the job's log when the wait needs
    it; then it logs one progress line per change.
    """

    def __init__(self, hook: StitchConnectHook, wait: ReplicationWait, log: Any) -> None:
        self.hook = hook
        self.wait = wait
        wait.time_scale = hook.settings.time_scale
        self.log = log
        self.calls_last_poll = 0
        self._progress_log = ProgressLog()

    @property
    def progress(self) -> ReplicationProgress:
        return self.wait.progress

    def poll_tolerantly(self) -> ReplicationProgress:
        """:meth:`poll`, but a transient failure (no answer, 429/5xx after the hook's retries) only logs
        and keeps the last progress, as the triggers do: an outage must not fail a wait in one mode
        and not in another."""
        from airflow_provider_stitch.triggers.shared_poller import poll_error_is_fatal

        try:
            return self.poll()
        except Exception as exc:
            if poll_error_is_fatal(exc):
                raise
            self.log.warning("Polling Stitch failed; trying again on the next poll: %s", exc)
            return self.wait.progress

    def poll(self) -> ReplicationProgress:
        calls = 0
        wants = self.wait.wants()
        loads = self.hook.list_loads() if wants.loads else None
        calls += pages_for(len(loads)) if loads is not None else 0
        extractions = self.hook.list_extractions() if wants.extractions else None
        calls += pages_for(len(extractions)) if extractions is not None else 0
        progress = self.wait.observe(
            extractions=extractions, loads=loads, loads_listed_first=loads is not None
        )
        log_of = self.wait.wants().log_of
        if log_of:
            client_id = client_id_from_job_name(log_of) or self.hook.get_client_id()
            awaited = self.hook.run(endpoints.awaited_streams(client_id, log_of, self.wait.job.source_id))
            calls += 1
            progress = self.wait.observe(awaited=awaited)
        self.calls_last_poll = calls
        if (line := self._progress_log.changed(progress)) is not None:
            self.log.info("%s", line)
        return progress

    def interval(self, poll_interval: float, time_scale: float) -> float:
        """Real seconds to the next poll: the wished interval, stretched so that this wait alone stays
        within the account's budget, both in Stitch time and divided by the connection's time scale."""
        return max(poll_interval, budget_interval(max(1, self.calls_last_poll))) / time_scale


def raise_for_outcome(progress: ReplicationProgress, result: dict[str, Any]) -> dict[str, Any]:
    """Return the XCom value of a successful outcome; raise with Stitch's reason otherwise."""
    if progress.phase is Phase.SUCCEEDED:
        return result
    raise StitchReplicationError(outcome_message(progress.phase.value, result), result=result)


def stop_if_ours_and_extracting(hook: StitchConnectHook, wait: ReplicationWait, why: str, log: Any) -> bool:
    """Stop the wait's job if this task started it and its extraction still runs; True if stopped.

    Best-effort and logged. ``DELETE .../sync`` stops whatever runs on the source, so a job this task
    only attached to is left alone, and so is one past its extraction (the DELETE would hit a newer
    job; Stitch loads what was extracted anyway). The extractions are listed once more right before
    the DELETE, for the same reason.
    """
    job = wait.job
    source = f"{job.source_name} ({job.source_id})"
    name = wait.progress.job_name or "(attached; name not known yet)"
    if not job.started_by_task:
        log.info(
            "%s: not stopping Stitch job %s on %s: this task attached to it, not started it",
            why,
            name,
            source,
        )
        return False
    if wait.progress.phase is not Phase.EXTRACTING:
        log.info("%s: Stitch job %s on %s is past its extraction; not stopping it", why, name, source)
        return False
    try:
        if wait.observe(extractions=hook.list_extractions()).phase is not Phase.EXTRACTING:
            log.info(
                "%s: Stitch job %s on %s just finished its extraction; not stopping it", why, name, source
            )
            return False
        hook.stop_replication_job(job.source_id)
    except Exception as exc:
        log.warning("%s: could not stop the Stitch job %s on %s: %s", why, name, source, exc)
        return False
    log.info("%s: stopped the Stitch job %s on %s", why, name, source)
    return True


def save_wait_state(context: Context, wait: ReplicationWait) -> None:
    """Keep what the wait established in the task state store (Airflow >= 3.3), for reschedules,
    retries and worker crashes; older Airflow has no store, and a new wait starts from the job."""
    store = context.get("task_state_store")
    if store is not None:
        store.set(WAIT_STATE_KEY, wait.state.to_dict())


def saved_wait(context: Context, job: JobRef, wait_for: WaitFor) -> ReplicationWait | None:
    """The wait saved for ``job`` by an earlier poke or try, if there is one for that same job."""
    store = context.get("task_state_store")
    data = store.get(WAIT_STATE_KEY) if store is not None else None
    if not isinstance(data, dict):
        return None
    try:
        state = WaitState.from_dict(data)
    except (KeyError, TypeError, ValueError):
        return None
    same = state.job.source_id == job.source_id and (
        (job.job_name is not None and state.job.job_name == job.job_name)
        or state.job.started_after == job.started_after
    )
    if not same or state.wait_for is not wait_for:
        return None
    return ReplicationWait(state)


def wall_deadline(
    timeout: float | None,
    time_scale: float,
    execution_timeout: dt.timedelta | None,
    ti_start: dt.datetime | None,
) -> float | None:
    """Wall-clock deadline (epoch seconds): the wait timeout (Stitch time, divided by the time scale),
    and the task's execution_timeout (real time, from the try's start) if sooner."""
    candidates = []
    if timeout is not None:
        candidates.append(time.time() + timeout / time_scale)
    if execution_timeout is not None:
        start = ti_start or dt.datetime.now(dt.timezone.utc)
        candidates.append(start.timestamp() + execution_timeout.total_seconds())
    return min(candidates) if candidates else None


def defer_timeout(deadline: float | None, real_poll_interval: float) -> dt.timedelta | None:
    if deadline is None:
        return None
    return dt.timedelta(
        seconds=max(0.0, deadline - time.time()) + 2 * real_poll_interval + DEFER_TIMEOUT_MARGIN
    )


def timeout_error(result: dict[str, Any], detail: str, stopped: bool) -> StitchReplicationError:
    message = outcome_message(TIMEOUT, result, detail)
    if stopped:
        message += "; the job was stopped"
    return StitchReplicationError(message, result=result)
