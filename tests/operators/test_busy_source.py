"""The replication wait on a busy source: one test per case of the busy-source issue, through the public
operators and sensor, against the emulator, judged with its ground truth (``admin.jobs``).

The tap lasts 30 Stitch seconds (1.5 s at speed 20) wherever a verdict depends on timestamps, so that
events that must be told apart never share one of Stitch's second-precision timestamps.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
from typing import Any

import pytest
from replication_modes import MODES, ONE_SECOND, run_in_mode, run_op
from replication_support import (
    FAST_RETRIES,
    SHOP_DB,
    TaskStateStore,
    drive_trigger,
    extraction_reads,
    make_context,
    needs_task_state_store,
    resume_deferrals,
    scenario,
)

from airflow_provider_stitch.api.http import ApiResponse, run_sync
from airflow_provider_stitch.compat import TaskDeferred
from airflow_provider_stitch.exceptions import StitchConfigurationError, StitchReplicationError
from airflow_provider_stitch.hooks.stitch import StitchConnectHook
from airflow_provider_stitch.sensors.replication import StitchReplicationJobSensor
from airflow_provider_stitch.triggers import shared_poller

LONG_TAP = {"tap": 30}


def truth(emulator: Any) -> list[dict[str, Any]]:
    return list(emulator.admin.jobs(SHOP_DB))


def wait_for(condition: Any, timeout: float = 20.0) -> Any:
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if value := condition():
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def our_job(emulator: Any) -> dict[str, Any]:
    return wait_for(lambda: next((j for j in truth(emulator) if j["started_by"] == "api"), None))  # type: ignore[no-any-return]


def run_admin_job(emulator: Any, **scenario_fields: Any) -> dict[str, Any]:
    """A job started outside the API (Stitch's schedule or the UI), run to its end."""
    scenario(emulator, **scenario_fields)
    name = emulator.admin.start_job(SHOP_DB, "admin")["job_name"]
    return wait_for(lambda: (job := emulator.admin.job(name))["verdict"] and job)  # type: ignore[no-any-return]


def in_background(action: Any) -> threading.Thread:
    thread = threading.Thread(target=action, daemon=True)
    thread.start()
    return thread


# --- 1. a newer job never decides our verdict ------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("newer", ["fails", "stopped"])
def test_a_newer_job_failing_while_our_loads_run_does_not_fail_ours(
    mode: str, newer: str, emulator: Any
) -> None:
    scenario(emulator, slow_loads={"orders": 40}, durations=LONG_TAP)

    def newer_job() -> None:
        ours = our_job(emulator)
        wait_for(lambda: emulator.admin.job(ours["job_name"])["extraction_outcome"])
        if newer == "fails":
            emulator.admin.update_scenario(SHOP_DB, fail_tap="the newer job's tap failed")
        name = emulator.admin.start_job(SHOP_DB, "schedule")["job_name"]
        if newer == "stopped":
            # Stopped well after the wait saw ours complete (a row replaced before any poll could see
            # it leaves our outcome unknowable: that case is the generated suite's).
            wait_for(lambda: emulator.admin.job(name)["phase"] == "tap")
            seen = extraction_reads(emulator)  # each read from now on lists ours, completed
            wait_for(lambda: extraction_reads(emulator) >= seen + 2)
            emulator.admin.stop_job(name)

    world = in_background(newer_job)
    result = run_in_mode(mode)
    world.join()
    jobs = {j["started_by"]: j for j in truth(emulator)}
    assert result["status"] == "succeeded" and result["job_name"] == jobs["api"]["job_name"]
    assert jobs["api"]["verdict"] == "succeeded"
    assert jobs["schedule"]["verdict"] in ("failed", "cancelled")
    assert result["superseded_by"] is None


# --- 2. an earlier job's load error is not ours ---------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_an_earlier_load_error_does_not_fail_a_healthy_job_loading_slower(mode: str, emulator: Any) -> None:
    earlier = run_admin_job(emulator, load_errors={"customers": "column too long"})
    assert earlier["streams"]["customers"]["load"] == "failed"
    scenario(emulator, slow_loads={"customers": 30}, durations=LONG_TAP)
    result = run_in_mode(mode)
    assert result["status"] == "succeeded"
    assert result["streams"]["customers"]["loaded_at"] >= result["extraction_completion"]
    assert our_job(emulator)["streams"]["customers"]["load"] == "loaded"


@pytest.mark.parametrize("mode", MODES)
def test_a_load_error_after_our_extraction_is_ours(mode: str, emulator: Any) -> None:
    run_admin_job(emulator, load_errors={"customers": "column too long"})
    scenario(emulator, load_errors={"customers": "permission denied for schema"}, durations=LONG_TAP)
    with pytest.raises(StitchReplicationError, match="permission denied") as failure:
        run_in_mode(mode)
    assert failure.value.result["status"] == "failed"
    assert wait_for(lambda: our_job(emulator)["verdict"]) == "failed"


# --- 3. the attach race -------------------------------------------------------------------------------


def test_a_running_job_that_completes_before_the_attach_listing_answers_is_not_lost(emulator: Any) -> None:
    scenario(emulator, durations={"tap": 10})
    theirs = emulator.admin.start_job(SHOP_DB, "schedule")["job_name"]
    # The listing made after "already running" answers only once their job has completed.
    emulator.admin.inject_fault("GET", "/v4/1001/extractions", kind="latency", latency=2.0, count=1)
    result = run_op(deferrable=False).execute(make_context())
    jobs = {j["job_name"]: j for j in truth(emulator)}
    assert jobs[theirs]["completion_time"] is not None
    # Their job was done; asked again, Stitch started ours, and the verdict is about ours.
    assert result["status"] == "succeeded" and jobs[result["job_name"]]["started_by"] == "api"
    assert all(j["stopped_by"] is None for j in jobs.values())


def test_attaching_waits_for_the_running_job_not_the_one_before(emulator: Any) -> None:
    before = run_admin_job(emulator)["job_name"]
    scenario(emulator, durations=LONG_TAP)
    theirs = emulator.admin.start_job(SHOP_DB, "schedule")["job_name"]
    result = run_op(deferrable=False).execute(make_context())
    assert result["status"] == "succeeded"
    assert result["job_name"] == theirs != before


# --- 4. a log that is not there yet -------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_log_missing_right_after_completion_is_asked_again(mode: str, emulator: Any) -> None:
    # Until the log answers, the selected streams stand in, and products (zero records) never loads.
    scenario(emulator, log_unavailable_for=40, zero_record_streams=["products"], durations=LONG_TAP)
    result = run_in_mode(mode)
    assert result["status"] == "succeeded"
    assert sorted(result["streams"]) == ["customers", "orders"]


# --- 5. a job the task only attached to is never stopped ------------------------------------------------


@pytest.mark.parametrize("deferrable", [False, True])
def test_a_task_that_only_attached_does_not_stop_the_job_when_it_times_out(
    deferrable: bool, emulator: Any
) -> None:
    scenario(emulator, durations={"tap": 2000})
    theirs = emulator.admin.start_job(SHOP_DB, "schedule")["job_name"]
    operator = run_op(deferrable=deferrable, timeout=ONE_SECOND)
    with pytest.raises(StitchReplicationError, match="timed out") as failure:
        if deferrable:
            with pytest.raises(TaskDeferred) as deferred:
                operator.execute(make_context())
            resume_deferrals(operator, make_context(), deferred.value)
        else:
            operator.execute(make_context())
    assert "the job was stopped" not in str(failure.value)
    assert emulator.admin.job(theirs)["stopped_by"] is None
    emulator.admin.stop_job(theirs)


def test_a_killed_trigger_of_an_attached_wait_leaves_the_job_alone(emulator: Any) -> None:
    scenario(emulator, durations={"tap": 2000})
    theirs = emulator.admin.start_job(SHOP_DB, "schedule")["job_name"]
    with pytest.raises(TaskDeferred) as deferred:
        run_op(deferrable=True).execute(make_context())
    asyncio.run(deferred.value.trigger.on_kill())
    assert emulator.admin.job(theirs)["stopped_by"] is None
    emulator.admin.stop_job(theirs)


# --- 6. a clear while deferred runs again ------------------------------------------------------------


@pytest.mark.parametrize(
    "order", ["on_kill first", pytest.param("new try first", marks=needs_task_state_store)]
)
def test_clearing_a_deferred_task_ends_with_landed_data(order: str, emulator: Any) -> None:
    """Airflow calls the old trigger's on_kill on a clear (it stops our job, still extracting); the new
    try reconnects through the task state store and must still end with landed data."""
    scenario(emulator, durations={"tap": 60})
    store = TaskStateStore()
    with pytest.raises(TaskDeferred) as first:
        run_op(deferrable=True).execute(make_context(store))
    old_trigger = first.value.trigger
    new_try, context = run_op(deferrable=True), make_context(store)
    if order == "on_kill first":
        asyncio.run(old_trigger.on_kill())
    with pytest.raises(TaskDeferred) as second:
        new_try.execute(context)
    if order == "new try first":
        asyncio.run(old_trigger.on_kill())
    scenario(emulator)
    result = resume_deferrals(new_try, context, second.value)
    jobs = truth(emulator)
    assert result["status"] == "succeeded" and result["job_name"] == jobs[-1]["job_name"]
    assert [j["verdict"] for j in jobs] == ["cancelled", "succeeded"]  # stopped by the clear, then ours


# --- 7. a retry never reports another job's outcome -------------------------------------------------------


def test_a_retry_after_a_stopped_job_starts_a_new_one_even_when_another_job_completed(emulator: Any) -> None:
    scenario(emulator, durations={"tap": 2000})
    store = TaskStateStore()
    in_background(
        lambda: emulator.admin.stop_job(
            wait_for(lambda: our_job(emulator)["phase"] == "tap" and our_job(emulator))["job_name"]
        )
    )
    with pytest.raises(StitchReplicationError, match="cancelled"):
        run_op(deferrable=False).execute(make_context(store))
    other = run_admin_job(emulator)["job_name"]  # someone else's job completes meanwhile
    result = run_op(deferrable=False).execute(make_context(store))
    jobs = {j["job_name"]: j for j in truth(emulator)}
    assert result["status"] == "succeeded" and result["job_name"] != other
    assert jobs[result["job_name"]]["started_by"] == "api" and result["superseded_by"] is None
    assert sum(1 for j in jobs.values() if j["started_by"] == "api") == 2


# --- 8. a sensor given a job name that is not one ------------------------------------------------------------


@pytest.mark.parametrize("job_name", ["None", "none", "1001.2001", "1001.2001.sync."])
def test_a_sensor_refuses_a_job_name_that_is_not_one_before_any_request(job_name: str, emulator: Any) -> None:
    before = emulator.admin.stats()["requests_total"]
    sensor = StitchReplicationJobSensor(task_id="wait", job_name=job_name, poke_interval=20, timeout=5)
    with pytest.raises(StitchConfigurationError, match="must be a Stitch job name"):
        sensor.execute(make_context())
    assert emulator.admin.stats()["requests_total"] == before  # not one Stitch API request


def test_a_sensor_waits_for_an_attached_start_through_its_job_reference(emulator: Any) -> None:
    run_admin_job(emulator)
    scenario(emulator, durations=LONG_TAP)
    theirs = emulator.admin.start_job(SHOP_DB, "schedule")["job_name"]
    context = make_context()
    started = run_op(wait_for_completion=False).execute(context)
    assert started["job_name"] is None  # attached: the name is not known yet
    reference = context["ti"].xcoms["stitch_job"]
    sensor = StitchReplicationJobSensor(
        task_id="wait", job_reference=repr(reference), poke_interval=20, http_retry_policy=FAST_RETRIES
    )
    result = sensor.execute(make_context())
    assert result["status"] == "succeeded" and result["job_name"] == theirs


# --- 9. one deadline rule ---------------------------------------------------------------------------------


def test_a_deferred_sensor_ends_by_its_execution_timeout_too(emulator: Any, hook: StitchConnectHook) -> None:
    job_name = hook.start_replication_job(SHOP_DB)
    sensor = StitchReplicationJobSensor(
        task_id="wait",
        job_name=job_name,
        deferrable=True,
        poke_interval=20,
        timeout=7 * 24 * 3600,
        execution_timeout=dt.timedelta(seconds=30),
    )
    context = make_context()
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context)
    started = context["ti"].start_date.timestamp()
    assert deferred.value.trigger.deadline <= started + 30


def test_the_blocking_wait_and_the_trigger_time_out_alike(emulator: Any) -> None:
    scenario(emulator, durations={"tap": 2000})  # 100 s of tap: far longer than the 2 s timeout
    outcomes = {}
    for mode in ("blocking", "deferrable"):
        with pytest.raises(StitchReplicationError, match="timed out while extracting") as failure:
            run_in_mode(mode, timeout=2 * ONE_SECOND)
        outcomes[mode] = {**failure.value.result, "job_name": None}, str(failure.value)
    assert outcomes["blocking"][0] == outcomes["deferrable"][0]
    assert outcomes["blocking"][0]["status"] == "extracting"
    assert (
        "the job was stopped" in outcomes["blocking"][1]
        and "the job was stopped" in outcomes["deferrable"][1]
    )
    # By the emulator's clock: each wait gave up at its timeout, not before it, and not at the job's end
    # (Stitch was still in the tap when the timed-out task stopped the job it had started). Its
    # timestamps have second precision: a job stopped 2 s after it started shows at least 1 s.
    jobs = truth(emulator)
    assert [(j["started_by"], j["stopped_by"], j["stopped_in"]) for j in jobs] == [("api", "api", "tap")] * 2
    for job in jobs:
        ran = dt.datetime.fromisoformat(job["stopped_at"]) - dt.datetime.fromisoformat(job["created_at"])
        assert ran >= dt.timedelta(seconds=1), job


# --- 10. one poller per account, a bounded log cache -------------------------------------------------------


def test_two_connection_ids_for_one_account_share_one_poller(
    emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    monkeypatch.setenv("AIRFLOW_CONN_STITCH_OTHER", os.environ["AIRFLOW_CONN_STITCH_DEFAULT"])
    scenario(emulator, durations=LONG_TAP)
    with pytest.raises(TaskDeferred) as first:
        run_op(deferrable=True).execute(make_context())
    with pytest.raises(TaskDeferred) as second:
        run_op(deferrable=True, stitch_conn_id="stitch_other", if_running="attach").execute(make_context())
    seen: list[int] = []

    async def both() -> list[Any]:
        async def count() -> None:
            while True:
                seen.append(len(shared_poller.active_pollers()))
                await asyncio.sleep(0.02)

        counter = asyncio.ensure_future(count())
        triggers = (first.value.trigger, second.value.trigger)
        events = await asyncio.gather(*(anext(t.run()) for t in triggers))
        counter.cancel()
        return list(events)

    events = asyncio.run(both())
    # Both wait through our 1.5 s extraction, on one poller, to the completion checkpoint (or, when a
    # loaded machine lets the first pass come after the loads too, straight to success: same for both).
    statuses = [e.payload["status"] for e in events]
    assert statuses in (["checkpoint", "checkpoint"], ["succeeded", "succeeded"])
    assert seen and max(seen) == 1


def test_the_shared_log_cache_is_bounded() -> None:
    class ScriptedLogHook:
        async def arun(self, operation: Any) -> Any:
            log_text = b'tap - INFO replicated 3 records from "orders" endpoint'
            return run_sync(operation, lambda request: ApiResponse(200, log_text), lambda seconds: None)

    key = shared_poller.AccountKey("http://127.0.0.1", 1001, time_scale=1_000_000.0)
    poller = shared_poller.SharedPoller(key, ScriptedLogHook())  # type: ignore[arg-type]

    async def read_many() -> None:
        for n in range(shared_poller.LOG_CACHE_SIZE + 20):
            await poller.awaited_streams(f"1001.2001.sync.{n}", SHOP_DB)

    asyncio.run(read_many())
    assert poller.cached_logs() == shared_poller.LOG_CACHE_SIZE


# --- 12. settled with the emulator: early batches, clock skew ------------------------------------------------


def test_a_stream_whose_last_batch_loaded_during_the_extraction_times_out_saying_why(emulator: Any) -> None:
    """Stitch's docs do not say whether a long extraction loads a stream's last batch before it
    completes. If it does, that load cannot be told from an earlier job's: the wait does not guess
    success; it runs to its deadline and says why."""
    scenario(emulator, early_final_batch_streams=["products"], durations={"target": 60})
    with pytest.raises(StitchReplicationError, match="timed out") as failure:
        run_in_mode("blocking", timeout=8 * ONE_SECOND)
    products = failure.value.result["streams"]["products"]
    assert products["status"] == "waiting" and "during our extraction" in products["detail"]


def test_a_stitch_clock_ahead_of_ours_changes_no_verdict(
    stitch_emulator_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    skewed = stitch_emulator_factory(speed=20, clock_skew=90)
    connection = json.loads(skewed.connection_uri)
    connection["extra"]["time_scale"] = 200
    monkeypatch.setenv("AIRFLOW_CONN_STITCH_DEFAULT", json.dumps(connection))
    skewed.admin.set_scenario(
        SHOP_DB, durations={"discovery": 1, "tap": 1, "target": 1, "preparation": 1, "load": 1}
    )
    assert run_op(deferrable=False).execute(make_context())["status"] == "succeeded"
    with pytest.raises(TaskDeferred) as deferred:
        run_op(deferrable=True).execute(make_context())
    assert drive_trigger(deferred.value.trigger)["status"] in ("checkpoint", "succeeded")
