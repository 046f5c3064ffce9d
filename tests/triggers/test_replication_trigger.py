"""StitchReplicationJobTrigger and its shared poller, in one event loop, against the emulator."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from typing import Any

import pytest
from replication_support import FAST_RETRIES, SHOP_DB, scenario

from airflow_provider_stitch.api.budget import BURST, budget_interval
from airflow_provider_stitch.api.http import ApiResponse, run_sync
from airflow_provider_stitch.api.progress import JobRef, WaitFor
from airflow_provider_stitch.api.wait import AwaitedStreams, WaitState
from airflow_provider_stitch.hooks.stitch import StitchConnectHook
from airflow_provider_stitch.triggers import replication as replication_trigger
from airflow_provider_stitch.triggers import shared_poller
from airflow_provider_stitch.triggers.replication import StitchReplicationJobTrigger, settle_delay
from airflow_provider_stitch.triggers.shared_poller import (
    PASS_BUDGET_SHARE,
    AccountKey,
    SharedPoller,
    poll_error_is_fatal,
)

LOG_ROUTE = "GET /v4/{stitch_client_id}/extractions/{job_name}"
EXTRACTIONS_ROUTE = "GET /v4/{stitch_client_id}/extractions"


async def polls(emulator: Any, count: int) -> None:
    """Until the extractions list has been read ``count`` times since the emulator's reset: the poller
    has made that many passes (and seen the answer of all but the last)."""
    for _ in range(500):
        stats = await asyncio.to_thread(emulator.admin.stats)
        if stats["by_route"].get(EXTRACTIONS_ROUTE, 0) >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"fewer than {count} polls")


def start(hook: StitchConnectHook) -> JobRef:
    started_after = dt.datetime.now(dt.timezone.utc)
    return JobRef(
        SHOP_DB, "shop_db", hook.start_replication_job(SHOP_DB), started_after, started_by_task=True
    )


def trigger_for(job: JobRef, wait_for: str = "loads", **kwargs: Any) -> StitchReplicationJobTrigger:
    params: dict[str, Any] = {
        "state": WaitState(job, WaitFor(wait_for)).to_dict(),
        "poll_interval": 20,
        "stitch_client_id": 1001,
        "http_retry_policy": FAST_RETRIES,
        "deadline": time.time() + 60,
    }
    params.update(kwargs)
    return StitchReplicationJobTrigger(**params)


def rebuilt(trigger: StitchReplicationJobTrigger) -> StitchReplicationJobTrigger:
    """What a triggerer does after a restart: import the class path, pass the (JSON) kwargs back."""
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_stitch.triggers.replication.StitchReplicationJobTrigger"
    return StitchReplicationJobTrigger(**json.loads(json.dumps(kwargs)))


async def first_event(trigger: StitchReplicationJobTrigger) -> dict[str, Any]:
    return (await anext(trigger.run())).payload  # type: ignore[no-any-return]


def deferred_again(
    trigger: StitchReplicationJobTrigger, event: dict[str, Any]
) -> StitchReplicationJobTrigger:
    """The trigger the task defers to after a ``checkpoint`` event: the same, with the new state."""
    _, kwargs = trigger.serialize()
    return StitchReplicationJobTrigger(**json.loads(json.dumps({**kwargs, "state": event["state"]})))


async def final_event(trigger: StitchReplicationJobTrigger) -> dict[str, Any]:
    """Run the trigger, and the trigger the task would defer to after each ``checkpoint`` event."""
    while True:
        event = await first_event(trigger)
        if event["status"] != "checkpoint":
            return event
        trigger = deferred_again(trigger, event)


async def until_extracted(
    trigger: StitchReplicationJobTrigger,
) -> tuple[StitchReplicationJobTrigger, dict[str, Any]]:
    """Drive checkpoints until the one where our extraction is known; the trigger deferred to then."""
    while True:
        event = await first_event(trigger)
        assert event["status"] == "checkpoint", event
        trigger = deferred_again(trigger, event)
        if event["state"]["extraction"] is not None:
            return trigger, event


def test_serialize_round_trips_and_holds_no_secret(emulator: Any, hook: StitchConnectHook) -> None:
    trigger = trigger_for(start(hook), url="https://app.example/x", cancel_on_kill=False)
    again = rebuilt(trigger)
    assert again.serialize() == trigger.serialize()
    assert emulator.token not in json.dumps(trigger.serialize())
    assert again.http_retry_policy == FAST_RETRIES


async def test_the_extraction_milestone_ends_the_trigger_with_what_it_established(
    emulator: Any, hook: StitchConnectHook
) -> None:
    """Our extraction seen completed: the trigger hands its state back, so the task defers again with it
    in the trigger's kwargs (a later restart then cannot forget it)."""
    scenario(emulator, durations={"preparation": 2000})
    job = start(hook)
    _, event = await until_extracted(trigger_for(job))
    state = WaitState.from_dict(event["state"])
    assert state.extraction is not None and state.extraction.job_name == job.job_name
    assert state.loads_before is not None  # loads listed while our extraction still ran


async def test_success_event_carries_the_result(emulator: Any, hook: StitchConnectHook) -> None:
    event = await final_event(trigger_for(start(hook), url="https://app.example/s"))
    assert event["status"] == "succeeded"
    assert event["result"]["status"] == "succeeded" and event["result"]["url"] == "https://app.example/s"
    assert "succeeded" in event["message"]
    assert shared_poller.active_pollers() == []  # the poll loop stopped with its last waiter


async def test_the_fired_event_line_is_the_outcome_only(emulator: Any, hook: StitchConnectHook) -> None:
    """The triggerer logs "Trigger fired event" with the event's repr: one short outcome, job named once."""
    job = start(hook)
    trigger = trigger_for(job)
    while True:
        event = await anext(trigger.run())
        if event.payload["status"] != "checkpoint":
            break
        trigger = deferred_again(trigger, event.payload)
    line = repr(event)
    assert line.startswith("TriggerEvent<succeeded: Stitch job ")
    assert line.count(job.job_name) == 1 and "'streams'" not in line and "state" not in line
    assert len(line) < 300


async def test_resumes_after_a_triggerer_restart(emulator: Any, hook: StitchConnectHook) -> None:
    scenario(emulator, durations={"tap": 30, "preparation": 12})
    job = start(hook)
    trigger = trigger_for(job)
    running = asyncio.create_task(first_event(trigger))
    # The triggerer goes away mid-wait, once the wait has seen the job extracting.
    await polls(emulator, 2)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert shared_poller.active_pollers() == []
    # A new triggerer rebuilds it from its kwargs alone and finishes the wait.
    event = await final_event(rebuilt(trigger))
    assert event["status"] == "succeeded" and event["result"]["job_name"] == job.job_name


def test_the_settle_hold_ends_at_the_deadline_and_after_the_settle_time() -> None:
    settle = replication_trigger.DEFERRAL_SETTLE
    assert settle_delay(0.0, None) == settle
    assert settle_delay(settle - 4.0, None) == 4.0
    assert settle_delay(settle + 1.0, None) == 0.0
    assert settle_delay(0.0, 2.5) == 2.5  # never past the deadline
    assert settle_delay(0.0, -1.0) == 0.0


async def test_in_a_triggerer_a_quick_event_waits_out_the_deferral_race(
    emulator: Any,
    hook: StitchConnectHook,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A trigger run by a real triggerer (``trigger_id`` set) that knows its outcome soon after it
    started hands it over only :data:`DEFERRAL_SETTLE` after its start, for the scheduler to drain the
    deferring worker's exit event first; never past the deadline, and never outside a triggerer."""
    monkeypatch.setattr(replication_trigger, "DEFERRAL_SETTLE", 2.0)
    scenario(emulator, durations={"tap": 0})
    in_triggerer = trigger_for(start(hook))
    in_triggerer.trigger_id = 7
    began = time.monotonic()
    event = await first_event(in_triggerer)
    # Our extraction seen completed (and perhaps its loads too), well within the settle time.
    assert event["status"] in ("checkpoint", "succeeded")
    assert time.monotonic() - began >= 2.0
    assert f"Event {event['status']} ready; the task resumes in" in capsys.readouterr().out

    inline = trigger_for(start(hook))  # no trigger_id: dag.test() or a test drives it
    assert (await first_event(inline))["status"] in ("checkpoint", "succeeded")
    assert "the task resumes in" not in capsys.readouterr().out

    scenario(emulator, durations={"tap": 2000})
    late = trigger_for(start(hook), deadline=time.time() + 0.3)
    late.trigger_id = 7
    assert (await first_event(late))["status"] == "timeout"
    assert "the task resumes in" not in capsys.readouterr().out  # the deadline had passed: nothing held


async def test_deadline_yields_a_timeout_event(emulator: Any, hook: StitchConnectHook) -> None:
    scenario(emulator, durations={"tap": 2000})  # 100 s of tap at the emulator's speed
    job = start(hook)
    deadline = time.time() + 0.8
    # (wait_for only keeps a broken trigger from hanging the suite.)
    event = await asyncio.wait_for(final_event(trigger_for(job, deadline=deadline)), timeout=30)
    assert event["status"] == "timeout" and event["result"]["status"] == "extracting"
    assert "timed out while extracting" in event["message"]
    assert event["deadline"] == deadline
    # The event came at the deadline, not at the job's end: by the emulator's ground truth the job is
    # still in its tap, and the trigger stopped polling (no pass after its event).
    truth = await asyncio.to_thread(emulator.admin.job, job.job_name)
    assert truth["phase"] == "tap" and truth["completion_time"] is None
    assert shared_poller.active_pollers() == []
    # A trigger whose deadline has already passed (a triggerer that took it up late) answers at once:
    # not a single poll more.
    reads = (await asyncio.to_thread(emulator.admin.stats))["by_route"][EXTRACTIONS_ROUTE]
    late = await asyncio.wait_for(final_event(trigger_for(job, deadline=time.time() - 1)), timeout=30)
    assert late["status"] == "timeout" and "no outcome by the deadline" in late["message"]
    assert (await asyncio.to_thread(emulator.admin.stats))["by_route"][EXTRACTIONS_ROUTE] == reads


async def test_fatal_error_ends_the_wait(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = StitchConnectHook(http_retry_policy=FAST_RETRIES)
    job = start(hook)
    conn = json.loads(emulator.connection_uri)
    conn["password"] = "ac_revoked"
    monkeypatch.setenv("AIRFLOW_CONN_STITCH_DEFAULT", json.dumps(conn))
    event = await final_event(trigger_for(job))
    assert event["status"] == "error" and "401" in event["message"]
    assert "ac_revoked" not in json.dumps(event)


async def test_on_kill_stops_a_job_still_extracting(emulator: Any, hook: StitchConnectHook) -> None:
    scenario(emulator, durations={"tap": 2000})
    trigger = trigger_for(start(hook))
    running = asyncio.create_task(first_event(trigger))
    await polls(emulator, 2)  # the wait has seen our job extracting
    running.cancel()
    await trigger.on_kill()
    rows = [r for r in await hook.alist_extractions() if r.source_id == SHOP_DB]
    assert rows and rows[0].tap_description == "Terminated"


async def test_on_kill_leaves_a_job_alone_when_asked_or_past_extraction(
    emulator: Any, hook: StitchConnectHook
) -> None:
    scenario(emulator, durations={"tap": 2000})
    await trigger_for(start(hook), cancel_on_kill=False).on_kill()
    assert hook.list_extractions() == []  # still running: nothing stopped it
    # A job this task only attached to is never stopped: it is someone else's.
    attached = JobRef(SHOP_DB, "shop_db", None, dt.datetime.now(dt.timezone.utc), "")
    await trigger_for(attached).on_kill()
    assert hook.list_extractions() == []
    hook.stop_replication_job(SHOP_DB)
    scenario(emulator, durations={"preparation": 2000})
    trigger, _ = await until_extracted(trigger_for(start(hook)))
    await trigger.on_kill()  # past extraction: a DELETE would hit the next job, so none is sent
    assert int(emulator.admin.stats()["by_route"].get("DELETE /v4/sources/{source_id}/sync", 0)) == 1


async def test_many_waits_share_one_poller(
    emulator: Any, hook: StitchConnectHook, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups: list[str] = []
    real_lookup = StitchConnectHook.aget_connection

    async def counted(conn_id: str) -> Any:
        lookups.append(conn_id)
        return await real_lookup(conn_id)

    monkeypatch.setattr(StitchConnectHook, "aget_connection", staticmethod(counted))
    job = start(hook)
    triggers = [trigger_for(job) for _ in range(50)]
    before = emulator.admin.jobs_calls()
    logs_before = emulator.admin.stats()["by_route"].get(LOG_ROUTE, 0)
    events = await asyncio.gather(*(final_event(t) for t in triggers))
    # The connection is looked up (and its secrets masked) once for all 50, not once each.
    assert lookups == ["stitch_default"]
    # Every selected stream loaded: the log could not change the verdict, so it was never read.
    assert emulator.admin.stats()["by_route"].get(LOG_ROUTE, 0) == logs_before
    assert {e["status"] for e in events} == {"succeeded"}
    assert len({json.dumps(e["result"], sort_keys=True) for e in events}) == 1
    calls = emulator.admin.jobs_calls() - before
    # A handful of passes (loads, then extractions) and one log read, not 50 times that; the waits
    # that come back after the extraction milestone join again, still one poller.
    assert calls < 25, calls


async def test_the_pass_that_sees_the_extraction_succeed_also_judges_the_loads(
    emulator: Any, hook: StitchConnectHook
) -> None:
    job = start(hook)
    emulator.admin.advance(1000)  # extraction and every load are done before the wait begins
    before = emulator.admin.stats()["by_route"]
    event = await first_event(trigger_for(job, poll_interval=6000.0))  # a second pass: 30 s later
    assert event["status"] == "succeeded"
    after = emulator.admin.stats()["by_route"]

    def calls(route: str) -> int:
        return int(after.get(route, 0)) - int(before.get(route, 0))

    # One pass: loads, then extractions (ours completed), judged together; no milestone round trip.
    assert calls("GET /v4/{stitch_client_id}/extractions") == 1
    assert calls("GET /v4/{stitch_client_id}/loads") == 1


def test_poll_interval_stretches_to_the_budget() -> None:
    key = AccountKey("http://127.0.0.1", 1001, time_scale=1.0)
    poller = SharedPoller(key, StitchConnectHook())
    poller.subscribers.add(shared_poller.Subscription(poller, poll_interval=1.0))
    # The bucket refills (30 * share - burst) calls per 600 s: a one-call pass every ~27 s.
    refill = (30 * PASS_BUDGET_SHARE - BURST) / 600
    assert poller.interval() == pytest.approx(1 / refill)
    assert poller.interval() > budget_interval(1, share=PASS_BUDGET_SHARE)
    poller._calls_per_pass = 4  # extractions and loads, two pages each
    assert poller.interval() == pytest.approx(4 / refill)
    # Two triggerers on the account (connection extra "triggerers": 2): each paces to half.
    halved = SharedPoller(key, StitchConnectHook(), triggerers=2)
    halved.subscribers.add(shared_poller.Subscription(halved, poll_interval=1.0))
    assert halved.interval() == pytest.approx(1 / ((15 * PASS_BUDGET_SHARE - BURST) / 600))


def test_which_poll_errors_end_a_wait() -> None:
    from airflow_provider_stitch.exceptions import (
        StitchAPIError,
        StitchAuthenticationError,
        StitchRateLimitError,
        StitchTransportError,
    )

    assert not poll_error_is_fatal(StitchTransportError("reset"))
    assert not poll_error_is_fatal(StitchRateLimitError("slow down", status=429))
    assert not poll_error_is_fatal(StitchAPIError("oops", status=503))
    assert poll_error_is_fatal(StitchAuthenticationError("no", status=401))
    assert poll_error_is_fatal(StitchAPIError("bad", status=400))
    assert poll_error_is_fatal(RuntimeError("bug"))


async def test_a_listing_longer_than_the_whole_budget_still_gets_polled() -> None:
    # 31 pages of loads (3,100 stream rows) cost more than the 30 calls a window holds: the pass must
    # wait for an empty window and go ahead, not wait for room that can never exist.
    key = AccountKey("http://127.0.0.1", 1001, time_scale=1_000_000.0)
    poller = SharedPoller(key, StitchConnectHook())
    await asyncio.wait_for(poller._spend(31), timeout=5)
    assert poller.stats.jobs_calls == 31


async def test_a_cancelled_wait_reading_the_log_does_not_cancel_the_others() -> None:
    # Two waits on one job share one log read, run by whichever asked first. When that wait is
    # cancelled (its task killed), the other must still learn the streams, not be cancelled too.
    reading, answer = asyncio.Event(), asyncio.Event()

    class SlowLogHook:
        reads = 0

        async def arun(self, operation: Any) -> Any:
            # The log read, served by a scripted transport once the test lets it answer.
            SlowLogHook.reads += 1
            reading.set()
            await answer.wait()
            log_text = b'tap - INFO replicated 3 records from "orders" endpoint'
            return run_sync(operation, lambda request: ApiResponse(200, log_text), lambda seconds: None)

    key = AccountKey("http://127.0.0.1", 1001, time_scale=1_000_000.0)
    poller = SharedPoller(key, SlowLogHook())  # type: ignore[arg-type]
    first = asyncio.create_task(poller.awaited_streams("1001.2001.sync.ab", SHOP_DB))
    await asyncio.wait_for(reading.wait(), timeout=5)  # the first wait's read is under way
    second = asyncio.create_task(poller.awaited_streams("1001.2001.sync.ab", SHOP_DB))
    for _ in range(5):  # let the second wait join the read in flight
        await asyncio.sleep(0)
    first.cancel()
    for _ in range(5):
        await asyncio.sleep(0)
    answer.set()
    assert await asyncio.wait_for(second, timeout=5) == AwaitedStreams(("orders",), final=True)
    assert first.cancelled()
    assert SlowLogHook.reads == 2  # the cancelled wait's read died with it: the other read it again
