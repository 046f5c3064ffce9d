"""Connection-check rules: given what Stitch returned, is the check we care about done, and did it pass?

Pure (no I/O, no Airflow): the blocking operator and the trigger both call :func:`judge_connection_check`
so they can never disagree. Facts from Stitch's connection-check docs
(https://www.stitchdata.com/docs/developers/stitch-connect/api#connection-checks--section):

- ``GET /v4/{sources|destinations}/{id}/last-connection-check`` returns only the *latest* check. There
  is no endpoint to start one: a check starts when the source is created or its properties are
  updated (a destination: when it is updated), and the updated object's ``check_job_name`` names it.
- ``status`` is ``running``, ``succeeded`` or ``failed``; success also means ``discovery_exit_status``
  0; a failure carries Stitch's reason in ``discovery_error_message`` (or the tap/target variants).

"Which check" matters: right after a property update, the last check may still be the previous one.
A check is ours when its name is the ``check_job_name`` the update returned or, when that is unknown,
when it started at or after the update (both times from Stitch's own clock, so no skew).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Any

from airflow_provider_stitch.api.objects import ConnectionCheck, format_timestamp


class CheckState(str, enum.Enum):
    """Where the connection check we wait for stands."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RUNNING = "running"
    #: Stitch still reports an older check than the one the property update started.
    NOT_STARTED = "not_started"

    @property
    def is_final(self) -> bool:
        return self in (CheckState.SUCCEEDED, CheckState.FAILED)


@dataclass(frozen=True)
class CheckVerdict:
    """The judgement of one poll: the state and a sentence a user can act on."""

    state: CheckState
    message: str
    check_name: str | None = None
    completion_time: dt.datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, used as trigger event payload and operator return value."""
        return {
            "status": self.state.value,
            "message": self.message,
            "check_name": self.check_name,
            "completion_time": format_timestamp(self.completion_time),
        }


def is_empty(check: ConnectionCheck | None) -> bool:
    """True when Stitch has no check to show (never checked: empty body or a 404 mapped to None)."""
    return check is None or (not check.name and check.status is None and check.start_time is None)


def is_ours(
    check: ConnectionCheck,
    *,
    expected_name: str | None = None,
    started_after: dt.datetime | None = None,
) -> bool:
    """Whether ``check`` is the one started by our update (see the module docstring)."""
    if expected_name:
        return check.name == expected_name
    if started_after is not None:
        # Compare at Stitch's usual second precision: ``updated_at`` may carry milliseconds while the
        # check's ``start_time`` does not, and the check then starts "before" the update that began it.
        return check.start_time is not None and _at_second(check.start_time) >= _at_second(started_after)
    return True


def _at_second(value: dt.datetime) -> dt.datetime:
    return value.replace(microsecond=0)


def _failed(check: ConnectionCheck) -> bool:
    if check.status == "failed" or check.error:
        return True
    statuses = (check.check_exit_status, check.discovery_exit_status, check.tap_exit_status)
    return any(status not in (None, 0) for status in statuses)


def _succeeded(check: ConnectionCheck) -> bool:
    if check.status == "succeeded":
        return True
    # Tolerate a body without ``status``: a completed check whose exit statuses are all 0 or null.
    return check.status is None and check.completion_time is not None and check.check_exit_status == 0


def judge_connection_check(
    check: ConnectionCheck | None,
    *,
    subject: str,
    expected_name: str | None = None,
    started_after: dt.datetime | None = None,
) -> CheckVerdict:
    """Decide where the connection check of ``subject`` (e.g. ``"source crm (2002)"``) stands.

    :param check: The last check Stitch reported, or None if it reported none.
    :param expected_name: The ``check_job_name`` our property update returned, when known.
    :param started_after: Stitch's ``updated_at`` of our update, used when the name is unknown.
    """
    if is_empty(check):
        return CheckVerdict(CheckState.NOT_STARTED, f"Stitch reports no connection check for {subject} yet.")
    assert check is not None
    if not is_ours(check, expected_name=expected_name, started_after=started_after):
        return CheckVerdict(
            CheckState.NOT_STARTED,
            f"Stitch still reports the previous connection check {check.name or '(unnamed)'} for {subject}; "
            "waiting for the check started by the update.",
            check_name=check.name,
        )
    name = check.name or "(unnamed)"
    if _failed(check):
        reason = check.failure_message or _exit_status_summary(check)
        return CheckVerdict(
            CheckState.FAILED,
            f"Connection check {name} for {subject} failed: {reason}",
            check_name=check.name,
            completion_time=check.completion_time,
        )
    if _succeeded(check):
        return CheckVerdict(
            CheckState.SUCCEEDED,
            f"Connection check {name} for {subject} succeeded.",
            check_name=check.name,
            completion_time=check.completion_time,
        )
    return CheckVerdict(
        CheckState.RUNNING, f"Connection check {name} for {subject} is running.", check_name=check.name
    )


def _exit_status_summary(check: ConnectionCheck) -> str:
    statuses = {
        "check": check.check_exit_status,
        "discovery": check.discovery_exit_status,
        "tap": check.tap_exit_status,
        "target": check.target_exit_status,
    }
    bad = [f"{phase} exit status {status}" for phase, status in statuses.items() if status not in (None, 0)]
    return ", ".join(bad) or "Stitch gave no reason (status 'failed')."
