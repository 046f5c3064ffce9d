"""One operator base and one source reference: the same rules for every operator and the sensor."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from airflow_provider_stitch.exceptions import StitchConfigurationError, StitchError
from airflow_provider_stitch.hooks.stitch import StitchConnectHook
from airflow_provider_stitch.operators import (
    SourceReference,
    StitchBaseOperator,
    StitchConnectionCheckOperator,
    StitchPauseSourceOperator,
    StitchRunReplicationJobOperator,
    StitchSelectStreamsOperator,
    StitchStopReplicationJobOperator,
)
from airflow_provider_stitch.sensors import StitchReplicationJobSensor

SOURCE_OPERATORS: list[Any] = [
    StitchRunReplicationJobOperator,
    StitchStopReplicationJobOperator,
    StitchPauseSourceOperator,
    StitchConnectionCheckOperator,
    lambda **kw: StitchSelectStreamsOperator(streams=["owners"], **kw),
]


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ({}, "got neither|Give the object to check"),
        ({"source_id": 1, "source_name": "crm"}, "got both"),
        ({"source_id": "", "source_name": "  "}, "got neither|Give the object to check"),
        ({"source_id": "abc"}, "source_id must be a numeric Stitch id"),
        ({"source_id": 0}, "source_id must be a positive Stitch id"),
        ({"source_name": 5}, "source_name must be a string"),
    ],
)
@pytest.mark.parametrize("make", SOURCE_OPERATORS)
def test_every_operator_refuses_a_bad_source_reference_at_parse_time(
    make: Any, reference: dict[str, Any], message: str
) -> None:
    with pytest.raises(StitchConfigurationError, match=message):
        make(task_id="t", **reference)


def test_the_sensor_follows_the_same_rule_when_it_is_given_a_source() -> None:
    with pytest.raises(StitchConfigurationError, match="got both"):
        StitchReplicationJobSensor(task_id="s", source_id=1, source_name="crm")
    with pytest.raises(StitchConfigurationError, match="source_id must be a numeric Stitch id"):
        StitchReplicationJobSensor(task_id="s", source_id="abc")


def test_a_templated_value_is_checked_once_rendered_before_any_request() -> None:
    op = StitchPauseSourceOperator(task_id="p", source_id="{{ params.source }}")  # cannot be checked yet
    op.source_id = "not-a-number"  # what the template rendered to
    with pytest.raises(StitchConfigurationError, match="source_id must be a numeric Stitch id"):
        op.execute({})  # no connection is configured: the check runs before the hook is used
    op.source_id = ""
    with pytest.raises(StitchConfigurationError, match=r"neither \(both rendered empty\)"):
        op.execute({})


def test_a_deleted_source_is_refused_the_same_way_everywhere(stitch_conns: Any) -> None:
    hook = StitchConnectHook()
    created = hook.create_source(
        display_name="Soon Gone",
        type="platform.hubspot",
        properties={
            "start_date": "2024-01-01T00:00:00Z",
            "client_id": "app",
            "client_secret": "app-secret",
            "redirect_uri": "https://example.com/callback",
            "refresh_token": "refresh-x",
        },
    )
    hook.delete_source(created.id)
    for op in (
        StitchPauseSourceOperator(task_id="p", source_id=created.id),
        StitchStopReplicationJobOperator(task_id="s", source_id=created.id),
        StitchConnectionCheckOperator(task_id="c", source_id=created.id),
    ):
        with pytest.raises(StitchConfigurationError, match=r"is deleted: name an active source"):
            op.execute({})


def test_one_hook_per_task_built_with_the_retry_override(stitch_conns: Any) -> None:
    op = StitchBaseOperator(task_id="b", http_retry_policy={"max_attempts": 2, "initial_delay": 0.01})
    assert op.hook is op.hook
    assert op.hook.settings.retry.max_attempts == 2
    with pytest.raises(StitchConfigurationError, match="http_retry_policy has unknown key"):
        StitchBaseOperator(task_id="b", http_retry_policy={"retries": 3})


def test_source_reference_resolves_by_id_or_name(stitch_conns: Any) -> None:
    hook = StitchConnectHook()
    by_name = SourceReference(source_name="crm").resolve(hook)
    assert SourceReference(source_id=str(by_name.id)).resolve(hook).id == by_name.id


def test_timeouts_accept_a_timedelta(stitch_conns: Any) -> None:
    check = StitchConnectionCheckOperator(task_id="c", source_id=1, timeout=dt.timedelta(minutes=5))
    assert check.timeout == 300
    assert StitchConnectHook(timeout=dt.timedelta(seconds=7)).settings.timeout == 7
    with pytest.raises(StitchConfigurationError, match="timeout must be a positive duration"):
        StitchConnectHook(timeout=0)


def test_the_old_retry_name_on_the_hook_still_works_but_not_with_the_new_one(stitch_conns: Any) -> None:
    old_name = StitchConnectHook(retry_policy={"max_attempts": 2, "initial_delay": 0.01})
    assert old_name.settings.retry.max_attempts == 2
    # And it is what the hook does: two attempts, then the error.
    stitch_conns.admin.inject_fault("GET", "/v4/sources", status=503, count=5)
    with pytest.raises(StitchError, match="503"):
        old_name.list_sources()
    assert stitch_conns.admin.stats()["faults_served"] == 2
    with pytest.raises(StitchConfigurationError, match="Give http_retry_policy only"):
        StitchConnectHook(retry_policy={"max_attempts": 2}, http_retry_policy={"max_attempts": 3})


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ("succeeded", "expected a dict, got str"),
        ({"status": "succeeded", "message": "ok", "target": "source"}, "'object_id' missing"),
        (
            {"status": "done", "message": "ok", "target": "source", "object_id": 1},
            "status 'done' is not one of",
        ),
        ({"status": 1, "message": "ok", "target": "source", "object_id": 1}, "'status' is int"),
    ],
)
def test_the_connection_check_refuses_a_foreign_or_damaged_event(event: Any, message: str) -> None:
    op = StitchConnectionCheckOperator(task_id="c", source_id=1)
    with pytest.raises(StitchError, match=rf"not StitchConnectionCheckTrigger's: .*{message}"):
        op.execute_complete({}, event)


def test_the_replication_wait_refuses_an_event_of_another_trigger() -> None:
    op = StitchRunReplicationJobOperator(task_id="r", source_id=1)
    check_event = {"status": "succeeded", "message": "ok", "target": "source", "object_id": 1}
    with pytest.raises(
        StitchError, match=r"not StitchReplicationJobTrigger's: 'result' missing; 'state' missing"
    ):
        op.execute_complete({}, check_event)
