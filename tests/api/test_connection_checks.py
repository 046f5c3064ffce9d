"""Connection-check rules (https://www.stitchdata.com/docs/developers/stitch-connect/api#connection-checks--section): which check is ours, and whether it passed, failed or still runs."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_stitch.api.connection_checks import CheckState, judge_connection_check
from airflow_provider_stitch.api.objects import ConnectionCheck, parse_timestamp

SUBJECT = "source crm (2002)"


def _check(**fields: Any) -> ConnectionCheck:
    body = {
        "name": "1001.2002.check.new",
        "mode": "check",
        "status": "succeeded",
        "start_time": "2024-05-01T10:00:05Z",
        "completion_time": "2024-05-01T10:00:09Z",
        "error": False,
        "check_exit_status": 0,
        "discovery_exit_status": 0,
        "discovery_error_message": None,
        "tap_exit_status": None,
        "tap_error_message": None,
        "target_exit_status": None,
        "target_error_message": None,
    }
    body.update(fields)
    return ConnectionCheck.from_api(body)


def test_a_succeeded_check_passes() -> None:
    verdict = judge_connection_check(_check(), subject=SUBJECT)
    assert verdict.state is CheckState.SUCCEEDED
    assert verdict.to_dict() == {
        "status": "succeeded",
        "message": "Connection check 1001.2002.check.new for source crm (2002) succeeded.",
        "check_name": "1001.2002.check.new",
        "completion_time": "2024-05-01T10:00:09Z",
    }


def test_a_failed_check_carries_stitchs_reason() -> None:
    # The documented failure example: status failed, discovery exit 1, check_exit_status null.
    failed = _check(
        status="failed",
        error=True,
        check_exit_status=None,
        discovery_exit_status=1,
        discovery_error_message='FATAL: password authentication failed for user "stitch"',
    )
    verdict = judge_connection_check(failed, subject=SUBJECT)
    assert verdict.state is CheckState.FAILED
    assert verdict.message.endswith('failed: FATAL: password authentication failed for user "stitch"')


def test_a_failure_without_a_message_names_the_failing_exit_status() -> None:
    verdict = judge_connection_check(
        _check(status="failed", error=True, tap_exit_status=2, discovery_exit_status=0), subject=SUBJECT
    )
    assert verdict.state is CheckState.FAILED
    assert "tap exit status 2" in verdict.message


def test_a_running_check_is_not_final() -> None:
    running = _check(
        status="running", completion_time=None, check_exit_status=None, discovery_exit_status=None
    )
    verdict = judge_connection_check(running, subject=SUBJECT)
    assert verdict.state is CheckState.RUNNING
    assert not verdict.state.is_final


def test_the_previous_check_does_not_count_after_an_update() -> None:
    previous = _check(name="1001.2002.check.old", start_time="2024-05-01T09:00:00Z")
    by_name = judge_connection_check(previous, subject=SUBJECT, expected_name="1001.2002.check.new")
    assert by_name.state is CheckState.NOT_STARTED
    assert "previous connection check 1001.2002.check.old" in by_name.message

    # Without the new check's name, Stitch's own updated_at tells old from new.
    update_time = parse_timestamp("2024-05-01T10:00:05Z")
    assert (
        judge_connection_check(previous, subject=SUBJECT, started_after=update_time).state
        is CheckState.NOT_STARTED
    )
    assert (
        judge_connection_check(_check(), subject=SUBJECT, started_after=update_time).state
        is CheckState.SUCCEEDED
    )


def test_even_a_failed_previous_check_is_ignored_while_waiting_for_ours() -> None:
    old_failure = _check(name="1001.2002.check.old", status="failed", error=True, discovery_exit_status=1)
    verdict = judge_connection_check(old_failure, subject=SUBJECT, expected_name="1001.2002.check.new")
    assert verdict.state is CheckState.NOT_STARTED


@pytest.mark.parametrize("check", [None, ConnectionCheck.from_api({})])
def test_no_check_at_all_is_not_started(check: ConnectionCheck | None) -> None:
    verdict = judge_connection_check(check, subject=SUBJECT)
    assert verdict.state is CheckState.NOT_STARTED
    assert "no connection check for source crm (2002)" in verdict.message


def test_a_body_without_status_is_judged_by_its_exit_statuses() -> None:
    assert judge_connection_check(_check(status=None), subject=SUBJECT).state is CheckState.SUCCEEDED
    assert (
        judge_connection_check(_check(status=None, check_exit_status=1), subject=SUBJECT).state
        is CheckState.FAILED
    )


def test_an_update_time_with_milliseconds_does_not_hide_our_check() -> None:
    # Stitch's timestamps are usually whole seconds, but some carry milliseconds (anchor_time in https://www.stitchdata.com/docs/developers/stitch-connect/api#update-a-source): an update at
    # 10:00:05.400 and its check reported as started at 10:00:05 are the same second, not "before".
    update_time = parse_timestamp("2024-05-01T10:00:05.400Z")
    verdict = judge_connection_check(_check(), subject=SUBJECT, started_after=update_time)
    assert verdict.state is CheckState.SUCCEEDED
    previous = _check(name="1001.2002.check.old", start_time="2024-05-01T10:00:04Z")
    assert (
        judge_connection_check(previous, subject=SUBJECT, started_after=update_time).state
        is CheckState.NOT_STARTED
    )
