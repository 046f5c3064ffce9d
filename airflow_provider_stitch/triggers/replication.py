"""StitchReplicationJobTrigger: the deferred wait for a replication job, in the triggerer.

Fully async (the hook's httpx path and ``aget_connection``; nothing blocks the event loop). It does
not poll by itself: it subscribes to its account's
:class:`~airflow_provider_stitch.triggers.shared_poller.SharedPoller` and feeds its
:class:`~airflow_provider_stitch.api.wait.ReplicationWait` with each snapshot.

What the wait has established travels in the ``state`` kwarg (a :class:`WaitState` dict). When it
establishes something a restart could not learn again (our extraction's row, which a newer job may
replace; an earlier job's load error seen before our extraction completed), the trigger ends with a
``checkpoint`` event: the task resumes for a moment and defers again with the new state in the
trigger's kwargs (stored by Airflow): when the first loads baseline is taken, when our
extraction is seen completed, and when the earlier load errors in the baseline change.

Event payload (the same keys for every status)::

    {"status": "succeeded" | "failed" | "cancelled" | "unknown" | "timeout" | "error" | "checkpoint",
     "message": "<one line for the task log / exception>",
     "result": <ReplicationProgress.to_result(...): the task's XCom value>,
     "state": <WaitState.to_dict()>,
     "deadline": <the wall-clock deadline, epoch seconds, or None>}
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_stitch.api.progress import (
    CHECKPOINT,
    ERROR,
    TIMEOUT,
    Phase,
    ProgressLog,
    ReplicationProgress,
    outcome_message,
)
from airflow_provider_stitch.api.wait import ReplicationWait, WaitState

if TYPE_CHECKING:
    from airflow_provider_stitch.hooks.stitch import StitchConnectHook
    from airflow_provider_stitch.triggers.shared_poller import Snapshot, Subscription

#: The trigger's own bound on stopping a job from ``on_kill`` (Airflow also bounds on_kill, at 30 s).
STOP_TIMEOUT = 20.0

#: Real seconds a trigger running in a triggerer holds its event after it started. Airflow (3.2 to 3.3.2
#: at least: apache/airflow#66374, #67287, #72716) can fail a task whose trigger fires before the
#: scheduler has drained the executor's "success" for the worker that just deferred: the resumed try is
#: then queued or running and the stale event reads as an external kill. A checkpoint re-defers while
#: the job's loads may land seconds later, which made that race likely (1 of 3 demo runs on 2 cores).
#: Real time, not Stitch time: it is the scheduler's latency, whatever the emulator's speed.
DEFERRAL_SETTLE = 15.0


class StitchReplicationJobTrigger(BaseTrigger):
    """Wait in the triggerer until a Stitch replication job succeeded, failed or was cancelled.

    :param state: What the wait has established (:meth:`WaitState.to_dict`): the job, what to wait
        for, and what earlier parts of the wait saw.
    :param stitch_conn_id: The Stitch Airflow connection.
    :param poll_interval: Seconds of Stitch time between polls wished for (the connection's
        ``time_scale`` divides it against the emulator); the shared poller may stretch it to stay within
        the account's budget.
    :param deadline: Wall-clock deadline (epoch seconds): a ``timeout`` event is yielded then.
    :param stitch_client_id: The client account (also in the result).
    :param url: The source's page in the Stitch app, for the result.
    :param cancel_on_kill: Stop the job when a user kills the deferred task (``on_kill``), if the task
        started it and its extraction still runs.
    :param http_retry_policy: The hook's retry policy (``RetryPolicy.to_dict()``), so the triggerer
        retries exactly like the worker. ``retry_policy``, its old name, is accepted so that a trigger
        serialized by an earlier release still resumes after an upgrade.
    """

    def __init__(
        self,
        *,
        state: dict[str, Any],
        stitch_conn_id: str = "stitch_default",
        poll_interval: float = 60.0,
        deadline: float | None = None,
        stitch_client_id: int | None = None,
        url: str | None = None,
        cancel_on_kill: bool = True,
        http_retry_policy: dict[str, Any] | None = None,
        retry_policy: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.state = dict(state)
        self.wait = ReplicationWait(WaitState.from_dict(self.state))
        self.stitch_conn_id = stitch_conn_id
        self.poll_interval = float(poll_interval)
        self.deadline = deadline
        self.stitch_client_id = stitch_client_id
        self.url = url
        self.cancel_on_kill = cancel_on_kill
        self.http_retry_policy = http_retry_policy if http_retry_policy is not None else retry_policy

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "state": self.state,
                "stitch_conn_id": self.stitch_conn_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "stitch_client_id": self.stitch_client_id,
                "url": self.url,
                "cancel_on_kill": self.cancel_on_kill,
                "http_retry_policy": self.http_retry_policy,
            },
        )

    def _hook(self) -> StitchConnectHook:
        from airflow_provider_stitch.hooks.stitch import StitchConnectHook

        return StitchConnectHook(self.stitch_conn_id, http_retry_policy=self.http_retry_policy)

    def _event(self, status: str, progress: ReplicationProgress, detail: str | None = None) -> dict[str, Any]:
        result = progress.to_result(stitch_client_id=self.stitch_client_id, url=self.url)
        return {
            "status": status,
            "message": outcome_message(status, result, detail),
            "result": result,
            "state": self.wait.state.to_dict(),
            "deadline": self.deadline,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        started = time.monotonic()
        # The wait leaves the shared poller before the event is yielded: whoever drives this generator
        # (the triggerer, dag.test(), a test) may never resume it after its one event.
        event = await self._wait()
        await self._settle(started, str(event["status"]))
        yield ReplicationEvent(payload=event)

    async def _settle(self, started: float, status: str) -> None:
        """Hold the event until :data:`DEFERRAL_SETTLE` after the trigger started, never past the deadline.

        Only in a real triggerer (which sets ``trigger_id``): ``dag.test()`` and tests run the
        trigger inline, with no executor whose late event could fail the task."""
        if self.trigger_id is None:
            return
        remaining = None if self.deadline is None else self.deadline - time.time()
        if (hold := settle_delay(time.monotonic() - started, remaining)) > 0:
            self.log.info(
                "Event %s ready; the task resumes in %.0f s (a guard against Airflow's deferral race)",
                status,
                hold,
            )
            await asyncio.sleep(hold)

    async def _wait(self) -> dict[str, Any]:
        from airflow_provider_stitch.triggers.shared_poller import (
            poll_error_is_fatal,
            resolve_account,
            subscribe,
        )

        try:
            # Once per connection for all waits starting together, not once per trigger.
            account = await resolve_account(self.stitch_conn_id, self._hook, self.stitch_client_id)
        except Exception as exc:
            return self._event(ERROR, self.wait.progress, str(exc))
        key, settings = account.key, account.settings
        self.wait.time_scale = settings.time_scale
        interval = self.poll_interval / settings.time_scale
        progress_log = ProgressLog()
        checkpoint = self.wait.checkpoint()
        wants_loads = self.wait.wants().loads
        async with subscribe(key, self._hook, interval, wants_loads, settings=settings) as subscription:
            while True:
                remaining = None if self.deadline is None else self.deadline - time.time()
                if remaining is not None and remaining <= 0:
                    detail = f"no outcome by the deadline ({_format_epoch(self.deadline)})"
                    return self._event(TIMEOUT, self.wait.progress, detail)
                snapshot = await subscription.next_snapshot(remaining)
                if snapshot is None:
                    continue
                try:
                    if snapshot.error is not None:
                        raise snapshot.error
                    remaining = None if self.deadline is None else max(0.0, self.deadline - time.time())
                    # A log read waits for budget and retries: never past the deadline.
                    progress = await asyncio.wait_for(self._observe(snapshot, subscription), remaining)
                except asyncio.TimeoutError:  # not the builtin TimeoutError before Python 3.11
                    continue
                except Exception as exc:
                    if poll_error_is_fatal(exc):
                        return self._event(ERROR, self.wait.progress, str(exc))
                    self.log.warning("Polling Stitch failed; trying again on the next pass: %s", exc)
                    continue
                subscription.wants_loads = self.wait.wants().loads
                if (line := progress_log.changed(progress)) is not None:
                    self.log.info("%s", line)
                if progress.is_terminal:
                    return self._event(progress.phase.value, progress)
                if self.wait.checkpoint() != checkpoint:
                    return self._event(CHECKPOINT, progress)

    async def _observe(self, snapshot: Snapshot, subscription: Subscription) -> ReplicationProgress:
        progress = self.wait.observe(
            extractions=snapshot.extractions,
            loads=snapshot.loads,
            loads_listed_first=snapshot.loads is not None,
        )
        if self.wait.state.extraction is not None and self.wait.state.awaited is None:
            # The selected streams (a free call, shared per source) stand in for the log, which costs a
            # jobs call: the wait reads it only when it could change the verdict (ReplicationWait.wants).
            progress = self.wait.observe(awaited=await subscription.selected_streams(self.wait.job.source_id))
        log_of = self.wait.wants().log_of
        if log_of:
            awaited = await subscription.awaited_streams(log_of, self.wait.job.source_id)
            progress = self.wait.observe(awaited=awaited)
        return progress

    async def on_kill(self) -> None:
        """A user killed the deferred task: stop the job if this task started it and it still extracts."""
        job = self.wait.job
        source = f"{job.source_name} ({job.source_id})"
        if not self.cancel_on_kill:
            return
        if not job.started_by_task:
            self.log.info(
                "Not stopping Stitch source %s: this task attached to a job it did not start", source
            )
            return
        if self.wait.progress.phase is not Phase.EXTRACTING:
            # Our extraction already ended: a DELETE now would stop some newer job on the source.
            self.log.info("Not stopping Stitch source %s: its extraction already ended", source)
            return
        try:
            async with self._hook() as hook:
                # Look once more: a DELETE stops whatever runs on the source, which must still be ours.
                extractions = await asyncio.wait_for(hook.alist_extractions(), STOP_TIMEOUT / 2)
                if self.wait.observe(extractions=extractions).phase is not Phase.EXTRACTING:
                    self.log.info("Not stopping Stitch source %s: its extraction just ended", source)
                    return
                await asyncio.wait_for(hook.astop_replication_job(job.source_id), STOP_TIMEOUT / 2)
        except Exception as exc:
            self.log.warning("Could not stop the Stitch job on source %s: %s", source, exc)
        else:
            self.log.info("Stopped the Stitch job %s on source %s", self.wait.progress.job_name, source)


def settle_delay(running_for: float, deadline_in: float | None) -> float:
    """Seconds a trigger that has run ``running_for`` seconds still holds its event (see
    :data:`DEFERRAL_SETTLE`); never beyond a deadline ``deadline_in`` seconds away."""
    hold = DEFERRAL_SETTLE - running_for
    if deadline_in is not None:
        hold = min(hold, deadline_in)
    return max(0.0, hold)


class ReplicationEvent(TriggerEvent):
    """The trigger's event, whose repr is its one-line outcome.

    The triggerer logs "Trigger fired event" with the event's repr, which for a plain TriggerEvent is
    the whole payload: the result, every stream and the wait's state.
    """

    def __repr__(self) -> str:
        payload = self.payload if isinstance(self.payload, dict) else {}
        return f"TriggerEvent<{payload.get('status')}: {payload.get('message')}>"


def _format_epoch(epoch: float | None) -> str:
    if epoch is None:
        return "none"
    return dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
