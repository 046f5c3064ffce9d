"""StitchStreamLoadedTrigger against the emulator, with loads started as Stitch's own schedule starts
them (``POST /_emulator/sources/{id}/jobs`` with ``started_by: "schedule"``: no Airflow task, no Connect
API call), judged against the emulator's ground truth.

The asset state store the triggerer gives event triggers (Airflow's metadata DB behind the supervisor)
is stood in for by :class:`AssetStateStore`, which has the same async interface.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from replication_support import SHOP_DB, STREAMS

from airflow_provider_stitch.api.objects import Load
from airflow_provider_stitch.api.progress import JobRef, WaitFor
from airflow_provider_stitch.api.wait import WaitState
from airflow_provider_stitch.exceptions import StitchConfigurationError
from airflow_provider_stitch.triggers import StitchStreamLoadedTrigger, shared_poller
from airflow_provider_stitch.triggers.replication import StitchReplicationJobTrigger
from airflow_provider_stitch.triggers.stream_loads import new_loads

FAST = {"poll_interval": 20}  # 0.1 s at the tests' time scale


class AssetStateStore:
    """One watched asset's state store: what ``BaseEventTrigger.asset_state_store`` offers."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def _single_accessor(self) -> AssetStateStore:
        return self

    async def aget(self, key: str, default: Any = None) -> Any:
        return json.loads(json.dumps(self.values.get(key, default)))

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = json.loads(json.dumps(value))


def watcher(store: AssetStateStore | None, **kwargs: Any) -> StitchStreamLoadedTrigger:
    """A trigger as the triggerer builds it: from its serialized kwargs, then given the store."""
    params: dict[str, Any] = {"source_id": SHOP_DB, **FAST, **kwargs}
    classpath, serialized = StitchStreamLoadedTrigger(**params).serialize()
    assert classpath == "airflow_provider_stitch.triggers.stream_loads.StitchStreamLoadedTrigger"
    trigger = StitchStreamLoadedTrigger(**json.loads(json.dumps(serialized)))
    trigger.asset_state_store = store  # type: ignore[assignment]
    return trigger


class Running:
    """A trigger's run() as the triggerer drives it: a task collecting every event it yields."""

    def __init__(self, trigger: StitchStreamLoadedTrigger) -> None:
        self.events: list[dict[str, Any]] = []
        self.task = asyncio.create_task(self._collect(trigger))

    async def _collect(self, trigger: StitchStreamLoadedTrigger) -> None:
        async for event in trigger.run():
            self.events.append(event.payload)

    async def until(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.events) < count and time.monotonic() < deadline:
            if self.task.done():
                self.task.result()
            await asyncio.sleep(0.05)
        return self.events

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def scheduled_job(emulator: Any) -> dict[str, Any]:
    """Stitch's schedule starts a job; returns its ground truth once it is done."""
    # Stitch's timestamps have second precision: loads of one stream in one second are one load. A
    # second later by the emulator's clock, this job's loads are in a later second than any before.
    await asyncio.to_thread(emulator.admin.step_clock, 1.0)
    job = await asyncio.to_thread(emulator.admin.start_job, SHOP_DB, "schedule")
    await asyncio.to_thread(emulator.admin.advance, 10_000)  # the whole job at once
    for _ in range(200):
        truth = await asyncio.to_thread(emulator.admin.job, job["job_name"])
        if truth["finished_at"]:
            assert truth["started_by"] == "schedule"
            return truth  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job['job_name']} did not finish")


LOADS_ROUTE = "GET /v4/{stitch_client_id}/loads"


def loads_polls(emulator: Any) -> int:
    """How many times the loads list was read since the emulator's last reset."""
    return int(emulator.admin.stats()["by_route"].get(LOADS_ROUTE, 0))


async def passes(emulator: Any, count: int) -> None:
    """Until the watchers have read the loads list ``count`` more times (each read is a pass)."""
    target = await asyncio.to_thread(loads_polls, emulator) + count
    for _ in range(400):
        if await asyncio.to_thread(loads_polls, emulator) >= target:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the watchers made fewer than {count} more passes")


def loaded(truth: dict[str, Any]) -> dict[str, str]:
    return {name: s["loaded_at"] for name, s in truth["streams"].items() if s["load"] == "loaded"}


async def baseline_taken(store: AssetStateStore) -> None:
    for _ in range(200):
        if store.values:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the watcher took no baseline")


async def test_fires_once_per_stream_load_of_a_scheduled_job_and_not_for_the_baseline(emulator: Any) -> None:
    before = await scheduled_job(emulator)  # loaded before the watcher started: the baseline
    store = AssetStateStore()
    running = Running(watcher(store))
    await baseline_taken(store)
    truth = await scheduled_job(emulator)
    events = await running.until(3)
    await passes(emulator, 3)  # many more passes: nothing reported twice
    await running.stop()
    assert sorted(loaded(truth)) == STREAMS
    assert {e["stream"]: e["loaded_at"] for e in running.events} == loaded(truth)
    assert len(running.events) == 3
    assert {e["stream"]: e["previous_loaded_at"] for e in events} == loaded(before)
    assert {(e["source_id"], e["source_name"], e["stitch_client_id"]) for e in events} == {
        (SHOP_DB, "shop_db", 1001)
    }
    assert shared_poller.active_pollers() == []


async def test_a_rebuilt_trigger_does_not_report_a_load_again_and_reports_later_ones(emulator: Any) -> None:
    store = AssetStateStore()
    running = Running(watcher(store))
    await baseline_taken(store)
    first = await scheduled_job(emulator)
    assert len(await running.until(3)) == 3
    await running.stop()  # the triggerer restarts

    again = Running(watcher(store))
    await passes(emulator, 3)
    assert again.events == []
    second = await scheduled_job(emulator)
    events = await again.until(3)
    await again.stop()
    assert {e["stream"]: e["loaded_at"] for e in events} == loaded(second)
    assert {e["stream"]: e["previous_loaded_at"] for e in events} == loaded(first)


async def test_loads_while_no_triggerer_runs_become_one_event_per_stream(emulator: Any) -> None:
    store = AssetStateStore()
    running = Running(watcher(store))
    await baseline_taken(store)
    await running.stop()
    await scheduled_job(emulator)
    latest = await scheduled_job(emulator)  # two loads of each stream while nothing watched
    restarted = Running(watcher(store))
    events = await restarted.until(3)
    await passes(emulator, 3)
    await restarted.stop()
    assert len(restarted.events) == 3
    assert {e["stream"]: e["loaded_at"] for e in events} == loaded(latest)


async def test_only_the_given_streams_and_by_source_name(emulator: Any) -> None:
    store = AssetStateStore()
    running = Running(watcher(store, source_id=None, source_name="Shop DB", streams=["orders"]))
    await baseline_taken(store)
    truth = await scheduled_job(emulator)
    await running.until(1)
    await passes(emulator, 3)
    await running.stop()
    assert [(e["stream"], e["loaded_at"]) for e in running.events] == [("orders", loaded(truth)["orders"])]


async def test_without_a_state_store_the_cursor_is_kept_in_memory(emulator: Any) -> None:
    before = await scheduled_job(emulator)  # loaded before the watcher started: its baseline
    running = Running(watcher(None))
    await passes(emulator, 2)  # the first pass, the baseline, is over once the second one reads
    truth = await scheduled_job(emulator)
    events = await running.until(3)
    await passes(emulator, 3)  # the cursor moved on: nothing reported twice
    await running.stop()
    assert len(running.events) == 3
    assert {e["stream"]: e["loaded_at"] for e in events} == loaded(truth)
    assert {e["stream"]: e["previous_loaded_at"] for e in events} == loaded(before)


async def test_watchers_and_replication_waits_share_one_poller(emulator: Any, hook: Any) -> None:
    store = AssetStateStore()
    watching = Running(watcher(store))
    await baseline_taken(store)
    job = JobRef(SHOP_DB, "shop_db", hook.start_replication_job(SHOP_DB), _now(), started_by_task=True)
    waiting = asyncio.create_task(replication_outcome(WaitState(job, WaitFor.LOADS).to_dict()))
    seen: set[tuple[int, int]] = set()  # (pollers, subscribers of the first) while both run
    while not waiting.done():
        pollers = shared_poller.active_pollers()
        seen.add((len(pollers), len(pollers[0].subscribers) if pollers else 0))
        await asyncio.sleep(0.01)
    assert (1, 2) in seen and all(count == 1 for count, _ in seen)
    outcome = await waiting
    assert outcome["status"] == "succeeded"
    events = await watching.until(3)
    await watching.stop()
    # The watcher saw the loads of the job an Airflow task started too: a load is a load.
    assert {e["stream"]: e["loaded_at"] for e in events} == {
        name: s["loaded_at"] for name, s in outcome["result"]["streams"].items()
    }


async def replication_outcome(state: dict[str, Any]) -> dict[str, Any]:
    """A deferred replication wait to its outcome, deferring again at each checkpoint."""
    while True:
        trigger = StitchReplicationJobTrigger(state=state, poll_interval=20, deadline=time.time() + 30)
        event: dict[str, Any] = (await anext(trigger.run())).payload
        if event["status"] != "checkpoint":
            return event
        state = event["state"]


def _now() -> Any:
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"source_id": 1, "source_name": "x"},
        {"source_id": 1, "streams": "orders"},
        {"source_id": 1, "poll_interval": 5},
    ],
    ids=["no-source", "both", "streams-string", "too-fast"],
)
def test_bad_arguments_are_refused_at_parse_time(kwargs: dict[str, Any]) -> None:
    with pytest.raises(StitchConfigurationError):
        StitchStreamLoadedTrigger(**kwargs)


def test_new_loads_skip_other_sources_unloaded_rows_and_old_loads() -> None:
    def row(source: str, stream: str, at: str | None) -> Load:
        return Load.from_api({"source_name": source, "stream_name": stream, "last_batch_loaded_at": at})

    rows = [
        row("shop_db", "orders", "2024-01-01T00:00:10Z"),
        row("shop_db", "customers", "2024-01-01T00:00:05Z"),
        row("shop_db", "products", None),
        row("crm", "orders", "2024-01-01T00:00:20Z"),
    ]
    cursor = {"orders": "2024-01-01T00:00:00Z", "customers": "2024-01-01T00:00:05Z"}
    assert [(s, p) for s, _, p in new_loads(rows, "shop_db", None, cursor)] == [
        ("orders", "2024-01-01T00:00:00Z")
    ]


async def test_a_transient_poll_error_is_only_logged(emulator: Any) -> None:
    store = AssetStateStore()
    running = Running(watcher(store))
    await baseline_taken(store)
    await asyncio.to_thread(emulator.admin.inject_fault, "GET", "/v4/1001/loads", status=503, count=8)
    truth = await scheduled_job(emulator)
    # Eight 503s cost real retry backoff, then the paced poller waits for a token: allow for both.
    events = await running.until(3, timeout=40.0)
    await running.stop()
    assert {e["stream"]: e["loaded_at"] for e in events} == loaded(truth)
    assert not await asyncio.to_thread(emulator.admin.faults)  # every injected failure was met


class SeveralAssets(AssetStateStore):
    """The store of a trigger watching several assets: Airflow's accessors then refuse a single one."""

    def _single_accessor(self) -> AssetStateStore:
        raise ValueError("Task has 2 concrete inlets and outlets")


async def test_a_trigger_watching_several_assets_keeps_its_cursor_in_memory(emulator: Any) -> None:
    before = await scheduled_job(emulator)  # loaded before the watcher started: its baseline
    store = SeveralAssets()
    running = Running(watcher(store))
    await passes(emulator, 2)  # the first pass, the baseline, is over once the second one reads
    truth = await scheduled_job(emulator)
    events = await running.until(3)
    await passes(emulator, 3)  # the cursor moved on: nothing reported twice
    await running.stop()
    assert len(running.events) == 3
    assert {e["stream"]: e["loaded_at"] for e in events} == loaded(truth)
    assert {e["stream"]: e["previous_loaded_at"] for e in events} == loaded(before)
    assert store.values == {}
