"""StitchReplicationJobSensor specifics (the mode x outcome matrix is in tests/operators)."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from replication_support import (
    FAST_RETRIES,
    SHOP_DB,
    FakeTaskInstance,
    extraction_reads,
    resume_deferrals,
    scenario,
    wait_until,
)

from airflow_provider_stitch.api.job_names import source_id_from_job_name
from airflow_provider_stitch.compat import AirflowSensorTimeout, AirflowSkipException, TaskDeferred
from airflow_provider_stitch.exceptions import StitchConfigurationError, StitchReplicationError
from airflow_provider_stitch.hooks.stitch import StitchConnectHook
from airflow_provider_stitch.sensors.replication import StitchReplicationJobSensor


def context() -> dict[str, Any]:
    return {"ti": FakeTaskInstance()}


FAST = {"poke_interval": 20, "http_retry_policy": FAST_RETRIES}


def sensor(**kwargs: Any) -> StitchReplicationJobSensor:
    return StitchReplicationJobSensor(task_id="wait", **FAST, **kwargs)


def test_source_is_read_from_the_job_name() -> None:
    assert source_id_from_job_name("1001.2001.sync.abc") == 2001
    assert source_id_from_job_name("not-a-job") is None


def test_poke_mode_waits_for_a_named_job(emulator: Any, hook: StitchConnectHook) -> None:
    job_name = hook.start_replication_job(SHOP_DB)
    ctx = context()
    result = sensor(job_name=job_name).execute(ctx)
    assert result["status"] == "succeeded" and result["job_name"] == job_name
    assert result["source_name"] == "shop_db"
    assert ctx["ti"].xcoms["stitch_source"]["url"] == result["url"]


def test_without_a_job_name_waits_for_the_next_completion_on_the_source(
    emulator: Any, hook: StitchConnectHook
) -> None:
    first = hook.start_replication_job(SHOP_DB)
    emulator.admin.advance(1000)  # an earlier job, already done before the sensor's time
    since = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
    wait = sensor(source_name="shop_db", started_after=since.isoformat())
    reads = extraction_reads(emulator)
    started: list[str] = []

    def next_job() -> None:
        # Once the sensor has looked (and seen only the earlier job), a job completes after its time.
        wait_until(lambda: extraction_reads(emulator) >= reads + 2)
        emulator.admin.step_clock(2.0)
        started.append(hook.start_replication_job(SHOP_DB))

    world = threading.Thread(target=next_job, daemon=True)
    world.start()
    result = wait.execute(context())
    assert result["status"] == "succeeded" and result["job_name"] != first
    world.join()
    assert result["job_name"] == started[0]


def test_failure_can_be_soft(emulator: Any, hook: StitchConnectHook) -> None:
    scenario(emulator, fail_tap="Response returned http error code 401")
    job_name = hook.start_replication_job(SHOP_DB)
    with pytest.raises(StitchReplicationError, match="http error code 401"):
        sensor(job_name=job_name).execute(context())
    with pytest.raises(AirflowSkipException):
        sensor(job_name=job_name, never_fail=True).execute(context())


def test_poke_mode_timeout_stops_the_job_when_asked(emulator: Any, hook: StitchConnectHook) -> None:
    scenario(emulator, durations={"tap": 2000})
    job_name = hook.start_replication_job(SHOP_DB)
    with pytest.raises(AirflowSensorTimeout):
        sensor(job_name=job_name, timeout=0.6, cancel_on_kill=True).execute(context())
    rows = [r for r in hook.list_extractions() if r.source_id == SHOP_DB]
    assert rows and rows[0].tap_description == "Terminated"


def test_timeout_leaves_the_job_running_by_default(emulator: Any, hook: StitchConnectHook) -> None:
    scenario(emulator, durations={"tap": 2000})
    job_name = hook.start_replication_job(SHOP_DB)
    with pytest.raises(AirflowSensorTimeout):
        sensor(job_name=job_name, timeout=0.5).execute(context())
    assert hook.list_extractions() == []  # not stopped: still running, so not listed as completed


def test_deferrable_sensor_defers_at_once_then_completes(emulator: Any, hook: StitchConnectHook) -> None:
    job_name = hook.start_replication_job(SHOP_DB)
    calls_before = emulator.admin.jobs_calls()
    wait = sensor(job_name=job_name, deferrable=True, timeout=120)
    with pytest.raises(TaskDeferred) as deferred:
        wait.execute(context())
    assert emulator.admin.jobs_calls() == calls_before  # no jobs call from the worker
    trigger = deferred.value.trigger
    assert trigger.deadline is not None and trigger.cancel_on_kill is False
    result = resume_deferrals(wait, context(), deferred.value)
    assert result["status"] == "succeeded" and result["job_name"] == job_name


def test_pokes_stretch_their_interval_to_the_budget(emulator: Any, hook: StitchConnectHook) -> None:
    scenario(emulator, durations={"tap": 2000})
    wait = sensor(job_name=hook.start_replication_job(SHOP_DB))
    assert wait.poke(context()) is False
    # Two jobs calls (loads, then extractions): 40 s of budget, divided by the time scale 200.
    assert wait.poke_interval == pytest.approx(0.2)
    scenario(emulator)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"source_id": 1, "source_name": "shop_db"},
        {"job_name": "1001.2001.sync.x", "wait_for": "nothing"},
        {"job_name": "1001.2001.sync.x", "poke_interval": 1},
        {"job_name": "1001.2001.sync.x", "poke_interval": "60"},
        {"job_name": "1001.2001.sync.x", "http_retry_policy": "fast"},
    ],
)
def test_bad_arguments_are_refused_at_construction(kwargs: dict[str, Any]) -> None:
    params = {**FAST, **kwargs}
    with pytest.raises(StitchConfigurationError):
        StitchReplicationJobSensor(task_id="wait", **params)


def test_unreadable_started_after_is_explained(emulator: Any) -> None:
    with pytest.raises(StitchConfigurationError, match="started_after"):
        sensor(source_id=SHOP_DB, started_after="yesterday").execute(context())


def test_a_job_name_of_another_source_is_refused_before_waiting(emulator: Any) -> None:
    # Job 1001.2001.* runs on shop_db (2001): with crm (2002) named too, the wait could never match.
    with pytest.raises(StitchConfigurationError, match=r"2001.*crm \(2002\)"):
        sensor(job_name="1001.2001.sync.abc", source_name="crm", timeout=3).execute(context())
    with pytest.raises(StitchConfigurationError, match="2002"):
        sensor(job_name="1001.2001.sync.abc", source_id=2002, timeout=3).execute(context())


def test_a_job_superseded_before_the_sensor_first_runs_is_recognised_as_unknown(
    emulator: Any, hook: StitchConnectHook
) -> None:
    """The sensor starts after our job and a newer one both finished: the newer row must not look older,
    nor lend ours its outcome: Stitch no longer shows how ours ended."""
    ours = hook.start_replication_job(SHOP_DB)
    emulator.admin.advance(1000)
    emulator.admin.step_clock(1.0)  # the newer job starts in a later second than ours
    newer = hook.start_replication_job(SHOP_DB)
    emulator.admin.advance(1000)
    ctx = context()
    # And the sensor starts later still, by its task instance's clock (and Stitch's).
    ctx["ti"].start_date = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=3)
    emulator.admin.step_clock(3.0)
    with pytest.raises(StitchReplicationError, match="cannot be told") as failure:
        sensor(job_name=ours, wait_for="extraction", timeout=5).execute(ctx)
    assert failure.value.result["status"] == "unknown"
    assert failure.value.result["superseded_by"] == newer
    assert failure.value.result["extraction_completion"] is None  # never the newer job's times
