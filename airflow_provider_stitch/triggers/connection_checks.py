"""StitchConnectionCheckTrigger: wait, in the triggerer, until a source's or destination's check ends.

Fully async: the connection is read with ``aget_connection`` (inside the hook), one httpx client serves
the whole run, sleeps are ``asyncio.sleep``, and a wall-clock deadline (``deadline``, epoch seconds,
meaningful across processes) turns into a ``timeout`` event rather than an endless wait. The decision is
:func:`~airflow_provider_stitch.api.connection_checks.judge_connection_check`, the same one the
blocking operator uses, so both modes end the same way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

CHECK_TARGETS = ("source", "destination")


class StitchConnectionCheckTrigger(BaseTrigger):
    """Poll ``/v4/{target}s/{object_id}/last-connection-check`` until our check ends or time runs out.

    Event payload: ``{"status": "succeeded"|"failed"|"timeout"|"error", "message", "check_name",
    "completion_time", "target", "object_id"}``.

    :param target: ``"source"`` or ``"destination"``.
    :param object_id: The source or destination id.
    :param subject: How messages name the object, e.g. ``"source crm (2002)"``.
    :param expected_check_name: ``check_job_name`` of the check our update started, when known.
    :param started_after: ISO timestamp (Stitch's clock) our update happened at; used without a name.
    :param deadline: Wall-clock deadline, epoch seconds (the replication trigger's name too).
    :param poll_interval: Seconds between polls.
    :param http_retry_policy: The hook's retry policy as a dict (``RetryPolicy.to_dict()``).
    :param request_timeout: Per-request timeout in seconds (None: the connection's).
    :param end_time: The old name of ``deadline``, and ``retry_policy`` of ``http_retry_policy``:
        accepted so that a trigger serialized by an earlier release still resumes after an upgrade.
    """

    def __init__(
        self,
        *,
        stitch_conn_id: str,
        target: str,
        object_id: int,
        subject: str,
        deadline: float | None = None,
        poll_interval: float = 10.0,
        expected_check_name: str | None = None,
        started_after: str | None = None,
        http_retry_policy: dict[str, Any] | None = None,
        request_timeout: float | None = None,
        end_time: float | None = None,
        retry_policy: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if target not in CHECK_TARGETS:
            raise ValueError(f"target must be one of {CHECK_TARGETS}; got {target!r}")
        self.stitch_conn_id = stitch_conn_id
        self.target = target
        self.object_id = int(object_id)
        self.subject = subject
        if deadline is None:
            deadline = end_time
        if deadline is None:
            raise ValueError("deadline (epoch seconds) is required: nothing waits forever")
        self.deadline = float(deadline)
        self.poll_interval = float(poll_interval)
        self.expected_check_name = expected_check_name
        self.started_after = started_after
        self.http_retry_policy = http_retry_policy if http_retry_policy is not None else retry_policy
        self.request_timeout = request_timeout

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "stitch_conn_id": self.stitch_conn_id,
                "target": self.target,
                "object_id": self.object_id,
                "subject": self.subject,
                "deadline": self.deadline,
                "poll_interval": self.poll_interval,
                "expected_check_name": self.expected_check_name,
                "started_after": self.started_after,
                "http_retry_policy": self.http_retry_policy,
                "request_timeout": self.request_timeout,
            },
        )

    def _event(self, status: str, message: str, **fields: Any) -> TriggerEvent:
        payload = {
            "status": status,
            "message": message,
            "check_name": None,
            "completion_time": None,
            "target": self.target,
            "object_id": self.object_id,
        }
        payload.update(fields)
        return TriggerEvent(payload)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_stitch.api.connection_checks import CheckVerdict, judge_connection_check
        from airflow_provider_stitch.api.objects import ConnectionCheck, parse_timestamp
        from airflow_provider_stitch.exceptions import StitchError, StitchNotFoundError
        from airflow_provider_stitch.hooks.stitch import StitchConnectHook

        hook = StitchConnectHook(
            self.stitch_conn_id, http_retry_policy=self.http_retry_policy, timeout=self.request_timeout
        )
        started_after = parse_timestamp(self.started_after)
        verdict: CheckVerdict | None = None
        event: TriggerEvent
        try:
            # The event is yielded only after the HTTP client is closed: nothing resumes a trigger's
            # generator after its event, so a yield inside ``async with`` would leave it open.
            async with hook:
                # Against the emulator, the connection's time_scale extra compresses the interval.
                interval = self.poll_interval / (await hook.aget_settings()).time_scale
                while True:
                    check: ConnectionCheck | None
                    try:
                        if self.target == "source":
                            check = await hook.aget_last_connection_check(self.object_id)
                        else:
                            check = await hook.aget_destination_last_connection_check(self.object_id)
                    except StitchNotFoundError:
                        check = None  # no check yet: Stitch answers 404 until the first one exists
                    verdict = judge_connection_check(
                        check,
                        subject=self.subject,
                        expected_name=self.expected_check_name,
                        started_after=started_after,
                    )
                    if verdict.state.is_final:
                        event = self._event(**verdict.to_dict())
                        break
                    remaining = self.deadline - time.time()
                    if remaining <= 0:
                        event = self._event(
                            "timeout",
                            f"Gave up waiting for the connection check of {self.subject}: {verdict.message}",
                            check_name=verdict.check_name,
                        )
                        break
                    self.log.info("%s Next poll in %.1f s.", verdict.message, min(interval, remaining))
                    await asyncio.sleep(min(interval, remaining))
        except StitchError as exc:
            # Retries are already spent inside the hook; hand the reason to the task.
            event = self._event("error", f"Could not read the connection check of {self.subject}: {exc}")
        yield event
