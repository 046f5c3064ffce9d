"""StitchReplicationJobTrigger: the deferred wait for a replication job, in the triggerer.

Fully async (the hook's httpx path and ``aget_connection``; nothing blocks the event loop), and
stateless between runs: everything it needs is in its kwargs, so a triggerer restart rebuilds it from
``serialize()`` and it resumes where Stitch is (it re-reads the job's log once, nothing else is lost).

It does not poll by itself: it subscribes to its account's
:class:`~airflow_provider_stitch.triggers.shared_poller.SharedPoller`, and runs the one progress function
(:func:`~airflow_provider_stitch.api.progress.assess_progress`) on each snapshot.

Event payload (the same keys for every outcome)::

    {"status": "succeeded" | "failed" | "cancelled" | "timeout" | "error",
     "message": "<one line for the task log / exception>",
     "result": <ReplicationProgress.to_result(...): the task's XCom value>}
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_stitch.api.budget import MIN_POLL_INTERVAL
from airflow_provider_stitch.api.progress import (
    JobRef,
    Phase,
    ProgressLog,
    ReplicationProgress,
    WaitFor,
    assess_progress,
)
from airflow_provider_stitch.exceptions import StitchConfigurationError

if TYPE_CHECKING:
    from airflow_provider_stitch.hooks.stitch import StitchConnectHook
    from airflow_provider_stitch.triggers.shared_poller import Snapshot

#: The trigger's own bound on stopping a job from ``on_kill`` (Airflow also bounds on_kill, at 30 s).
STOP_TIMEOUT = 20.0
TIMEOUT = "timeout"
ERROR = "error"


def check_poll_interval(poll_interval: float, time_scale: float) -> float:
    """Refuse intervals below the floor: Stitch jobs take minutes, and the budget is 30 calls/10 min."""
    if time_scale <= 0:
        raise StitchConfigurationError(f"time_scale must be positive; got {time_scale!r}")
    floor = MIN_POLL_INTERVAL / time_scale
    if poll_interval < floor:
        raise StitchConfigurationError(
            f"poll_interval must be at least {MIN_POLL_INTERVAL:g} s (Stitch allows 30 jobs calls per 10 "
            f"minutes per account); got {poll_interval!r}. Only tests against the emulator may go lower, "
            "by setting time_scale to the emulator's speed."
        )
    return float(poll_interval)


def outcome_message(status: str, result: dict[str, Any], detail: str | None = None) -> str:
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
    streams = result.get("streams") or {}
    during = "loading" if any(s.get("status") == "failed" for s in streams.values()) else "extraction"
    word = "was cancelled" if status == Phase.CANCELLED.value else "failed"
    return f"Stitch job {job} on {source} {word} during {during}: {reason}"


def replication_event(status: str, result: dict[str, Any], detail: str | None = None) -> dict[str, Any]:
    return {"status": status, "message": outcome_message(status, result, detail), "result": result}


def event_for(
    progress: ReplicationProgress, *, stitch_client_id: int | None, url: str | None
) -> dict[str, Any]:
    """The event (and, for the blocking paths, the same outcome) of a terminal progress."""
    return replication_event(
        progress.phase.value, progress.to_result(stitch_client_id=stitch_client_id, url=url)
    )


class StitchReplicationJobTrigger(BaseTrigger):
    """Wait in the triggerer until a Stitch replication job succeeded, failed or was cancelled.

    :param job: The job, as :meth:`JobRef.to_dict` (``source_id``, ``source_name``, ``job_name`` or
        None when attached to an already running job, ``started_after``).
    :param stitch_conn_id: The Stitch Airflow connection.
    :param wait_for: ``"loads"`` (every awaited stream loaded) or ``"extraction"``.
    :param poll_interval: Seconds between polls wished for; the shared poller may stretch it to stay
        within the account's budget.
    :param deadline: Wall-clock deadline (epoch seconds): a ``timeout`` event is yielded then.
    :param stitch_client_id: The client account (the key of the shared poller; also in the result).
    :param url: The source's page in the Stitch app, for the result.
    :param cancel_on_kill: Stop the job when a user kills the deferred task (``on_kill``).
    :param retry_policy: The hook's retry policy (``RetryPolicy.to_dict()``), so the triggerer retries
        exactly like the worker.
    :param time_scale: Emulator tests only: divides every interval and the budget window (the emulator's
        speed). Never set it against real Stitch.
    """

    def __init__(
        self,
        *,
        job: dict[str, Any],
        stitch_conn_id: str = "stitch_default",
        wait_for: str = WaitFor.LOADS.value,
        poll_interval: float = 60.0,
        deadline: float | None = None,
        stitch_client_id: int | None = None,
        url: str | None = None,
        cancel_on_kill: bool = True,
        retry_policy: dict[str, Any] | None = None,
        time_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.job = dict(job)
        self.job_ref = JobRef.from_dict(self.job)
        self.stitch_conn_id = stitch_conn_id
        self.wait_for = WaitFor(wait_for)
        self.poll_interval = check_poll_interval(poll_interval, time_scale)
        self.deadline = deadline
        self.stitch_client_id = stitch_client_id
        self.url = url
        self.cancel_on_kill = cancel_on_kill
        self.retry_policy = retry_policy
        self.time_scale = time_scale
        self._last_progress = assess_progress(self.job_ref, [], wait_for=self.wait_for)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job": self.job,
                "stitch_conn_id": self.stitch_conn_id,
                "wait_for": self.wait_for.value,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "stitch_client_id": self.stitch_client_id,
                "url": self.url,
                "cancel_on_kill": self.cancel_on_kill,
                "retry_policy": self.retry_policy,
                "time_scale": self.time_scale,
            },
        )

    def _hook(self) -> StitchConnectHook:
        from airflow_provider_stitch.hooks.stitch import StitchConnectHook

        return StitchConnectHook(self.stitch_conn_id, retry_policy=self.retry_policy)

    def _result(self, progress: ReplicationProgress) -> dict[str, Any]:
        return progress.to_result(stitch_client_id=self.stitch_client_id, url=self.url)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # The wait leaves the shared poller before the event is yielded: whoever drives this generator
        # (the triggerer, dag.test(), a test) may never resume it after its one event.
        yield TriggerEvent(await self._wait())

    async def _wait(self) -> dict[str, Any]:
        from airflow_provider_stitch.triggers.shared_poller import AccountKey, poll_error_is_fatal, subscribe

        hook = self._hook()
        try:
            settings = await hook.aget_settings()
            client_id = self.stitch_client_id or await hook.aget_client_id()
        except Exception as exc:
            return replication_event(ERROR, self._result(self._last_progress), str(exc))
        key = AccountKey(self.stitch_conn_id, settings.base_url, client_id, self.time_scale)
        progress_log = ProgressLog()
        awaited: list[str] | None = None
        loads_job = self.job_ref if self.wait_for is WaitFor.LOADS else None
        async with subscribe(key, self._hook, self.poll_interval, loads_job) as subscription:
            while True:
                remaining = None if self.deadline is None else self.deadline - time.time()
                if remaining is not None and remaining <= 0:
                    detail = f"no outcome by the deadline ({_format_epoch(self.deadline)})"
                    return replication_event(TIMEOUT, self._result(self._last_progress), detail)
                snapshot = await subscription.next_snapshot(remaining)
                if snapshot is None:
                    continue
                try:
                    if snapshot.error is not None:
                        raise snapshot.error
                    progress, awaited = await self._assess(snapshot, subscription.awaited_streams, awaited)
                except Exception as exc:
                    if poll_error_is_fatal(exc):
                        return replication_event(ERROR, self._result(self._last_progress), str(exc))
                    self.log.warning("Polling Stitch failed; trying again on the next pass: %s", exc)
                    continue
                self._last_progress = progress
                subscription.wants_loads = progress.needs_loads
                if (line := progress_log.changed(progress)) is not None:
                    self.log.info("%s", line)
                if progress.is_terminal:
                    return event_for(progress, stitch_client_id=self.stitch_client_id, url=self.url)

    async def _assess(
        self, snapshot: Snapshot, read_awaited: Any, awaited: list[str] | None
    ) -> tuple[ReplicationProgress, list[str] | None]:
        def assess() -> ReplicationProgress:
            return assess_progress(
                self.job_ref,
                snapshot.extractions,
                wait_for=self.wait_for,
                loads=snapshot.loads,
                awaited_streams=awaited,
            )

        progress = assess()
        if progress.needs_awaited_streams and progress.job_name:
            awaited = await read_awaited(progress.job_name, self.job_ref.source_id)
            progress = assess()
        return progress, awaited

    async def on_kill(self) -> None:
        """A user killed the deferred task: stop the job (best-effort, bounded), unless it is done."""
        if not self.cancel_on_kill:
            return
        source = f"{self.job_ref.source_name} ({self.job_ref.source_id})"
        if self._last_progress.phase is not Phase.EXTRACTING:
            # Our extraction already ended: a DELETE now would stop some newer job on the source.
            self.log.info("Not stopping Stitch source %s: its extraction already ended", source)
            return
        try:
            async with self._hook() as hook:
                await asyncio.wait_for(hook.astop_replication_job(self.job_ref.source_id), STOP_TIMEOUT)
        except Exception as exc:
            self.log.warning("Could not stop the Stitch job on source %s: %s", source, exc)
        else:
            self.log.info("Stopped the Stitch job %s on source %s", self._last_progress.job_name, source)


def _format_epoch(epoch: float | None) -> str:
    if epoch is None:
        return "none"
    return dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
