"""Detection latency and triggerer cost of N concurrent deferred waits: shared poller vs a naive baseline.

Three processes per run, so that no figure measures another's work:

* the **emulator** (``--emulator``): its own process, with its own clock ticking every 1/50 of a window so
  that loads land when the engine says, not when a request happens to arrive; it records every jobs call;
* the **triggerer** (``--one``): N waits in one event loop, as a triggerer runs N deferred tasks, plus a
  probe measuring event-loop lag (how late a 10 ms sleep wakes) and the process's own RSS;
* this **driver**, which starts both, and judges the run from the emulator's call log and ground truth.

Modes:

* ``shared``: N ``StitchReplicationJobTrigger`` waits (one poller per account, a token bucket, log reads
  only when they can change the verdict), each deferring again after a checkpoint like the task does;
* ``naive``: what the anchors (Airbyte, dbt Cloud) do, on their schedule: every wait polls by itself every
  ``poll_interval`` with one status call per poll (the extractions list until our extraction completed,
  then the loads list), sharing one HTTP client, with the same wait rules (the selected streams stand in
  for the log, which it never reads).

Per row: the worst 10-minute window of the account's jobs calls (Stitch allows 30), detection latency
(the wait's event minus the moment the job's last load landed, ground truth) p50/p95/max, event-loop lag
p99, triggerer RSS added by the waits (peak during the run minus the RSS just before the waits start,
after imports and the jobs' start), and how many waits ended past their deadline. Time is compressed:
the emulator runs ``--scale`` times faster and the waits use the same ``time_scale``; latencies and
windows are in Stitch time. Each configuration runs ``--runs`` times; a row holds the medians and the
ranges (``runs``: every run's figures).

Usage::

    .venv/bin/python benchmarks/trigger_fanout.py                  # the full table, about 10 minutes
    .venv/bin/python benchmarks/trigger_fanout.py --only shared:40:40 --runs 1
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

SHOP_DB = 2001
CLIENT_ID = 1001
#: Phase lengths in emulated seconds: a job extracts for 5 minutes (plus its source's offset, see
#: seed_with_sources), then prepares and loads 3 streams.
DURATIONS = {"discovery": 30, "tap": 240, "target": 30, "preparation": 120, "load": 30}
POLL_INTERVAL = 60.0  # Stitch seconds, the operators' default
DEADLINE = 2 * 3600.0  # Stitch seconds after the waits start
CONFIGS = [(1, 10), (100, 10), (1000, 10), (40, 40)]  # (waits, distinct jobs); N=1 can only use one job
#: The stress rows, shared mode only: every job ends in step (see seed_with_sources).
TOGETHER_CONFIGS = [(1000, 10), (40, 40)]
RESULTS = Path(__file__).parent / "results" / "fanout.json"


def seed_with_sources(count: int, phase: float, together: bool = False) -> dict[str, Any]:
    """The default seed, with ``count`` sources shaped like shop_db (ids 2001, 2101, 2102, ...).

    Their extractions last 240 s plus an offset spread evenly over one poll interval, shifted by
    ``phase`` (0-1, one per run). With identical jobs started together, every job ended at the same
    moment relative to the passes, and a run's latency was whatever that one phase gave: the earlier
    40-job p50 of 64 s and the 1000-wait p50 of 49-121 s across runs were such draws (jobs ending just
    after a pass wait the whole interval). Real sources do not end in step; ``together`` keeps them in
    step anyway (every offset ``phase``), the stress case: every wait ends, or checkpoints, in one pass.
    """
    from airflow_provider_stitch.emulator.seed import add_source_copies, default_seed_text

    def durations(number: int) -> dict[str, float]:
        offset = ((phase + (0 if together else number / count)) % 1.0) * POLL_INTERVAL
        return dict(DURATIONS, tap=DURATIONS["tap"] + round(offset, 1))

    seed = json.loads(default_seed_text())
    add_source_copies(seed, count - 1, source_id=SHOP_DB, durations=durations)
    return seed


def source_ids(jobs: int) -> list[int]:
    return [SHOP_DB] + [2100 + n for n in range(1, jobs)]


# --- the emulator process ------------------------------------------------------------------------------


def emulator_process(jobs: int, scale: float, phase: float, together: bool) -> None:
    """Serve the emulator; answer ``dump`` (calls and ground truth) and ``stop`` on stdin."""
    logging.disable(logging.WARNING)
    from airflow_provider_stitch.emulator import EmulatorServer

    # A window longer than any run: the emulator's own counter then keeps every call's time.
    seed = seed_with_sources(jobs, phase, together)
    server = EmulatorServer(seed=seed, speed=scale, rate_limit_window=1e12)
    server.start()
    # The emulator writes every load into DuckDB, opening the file per stream load while the engine
    # holds its lock: with 40 jobs (120 stream loads landing together) its API stalled 16 s real, 800 s
    # of Stitch time at 50x, which the waits' latency then measured (it is what the earlier benchmark's
    # 568 s outlier looks like). The rows are irrelevant here: loads still land, with no rows written.
    from airflow_provider_stitch.emulator.warehouse import Warehouse

    class NoRows(Warehouse):
        def load(self, *args: Any, **kwargs: Any) -> int:
            return 0

    server.backend.engine.warehouse = NoRows(server.warehouse_path)
    print(json.dumps({"connection_uri": server.connection_uri}), flush=True)
    ticking = threading.Event()

    def tick() -> None:
        # The engine moves jobs on lazily, when a request arrives; ticking (advance by 0) lands loads
        # on time whether or not anyone polls, so latency measures the waits, not the engine.
        while not ticking.wait(600.0 / scale / 50):
            began = time.time()
            server.admin.advance(0)
            if os.environ.get("FANOUT_DEBUG") and time.time() - began > 0.5:
                print(f"emulator tick took {time.time() - began:.1f} s", file=sys.stderr, flush=True)

    threading.Thread(target=tick, daemon=True).start()
    for line in sys.stdin:
        if line.strip() == "dump":
            engine = server.backend.engine
            done = {name: job.last_ts for name, job in engine.jobs.items() if job.phase == "done"}
            calls = list(server.backend.rate._calls.get(CLIENT_ID, ()))
            print(json.dumps({"calls": calls, "done_at": done}), flush=True)
        elif line.strip() == "stop":
            break
    ticking.set()
    server.stop()


# --- the triggerer process -----------------------------------------------------------------------------


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def naive_wait(job: Any, hook: Any, interval: float, deadline: float) -> tuple[str, float]:
    """One wait polling by itself on the anchors' schedule: one status call per poll."""
    from airflow_provider_stitch.api.wait import ReplicationWait

    wait = ReplicationWait.start(job)
    while time.time() < deadline:
        try:
            progress = await naive_poll(wait, job, hook)
        except Exception:  # an overloaded emulator's timeouts: poll again next time, as a trigger would
            progress = wait.progress
        if progress.is_terminal:
            return progress.phase.value, time.time()
        await asyncio.sleep(max(0.0, min(interval, deadline - time.time())))
    return "timeout", time.time()


async def naive_poll(wait: Any, job: Any, hook: Any) -> Any:
    """One status call (the extractions list, then, once ours completed, the loads list)."""
    from airflow_provider_stitch.api.wait import AwaitedStreams

    if wait.state.extraction is None:
        progress = wait.observe(extractions=await hook.alist_extractions())
        if wait.state.extraction is not None and wait.state.awaited is None:
            selected = [s.stream_name for s in await hook.alist_streams(job.source_id) if s.selected]
            progress = wait.observe(awaited=AwaitedStreams(tuple(sorted(selected)), final=False))
    else:
        progress = wait.observe(loads=await hook.alist_loads())
    return progress


async def shared_wait(job: Any, scale: float, deadline: float) -> tuple[str, float]:
    """One deferred wait: the trigger, and the trigger the task defers to again after a checkpoint."""
    from airflow_provider_stitch.api.wait import WaitState
    from airflow_provider_stitch.triggers.replication import StitchReplicationJobTrigger

    state = WaitState(job).to_dict()
    while True:
        trigger = StitchReplicationJobTrigger(
            state=state,
            poll_interval=POLL_INTERVAL,
            stitch_client_id=CLIENT_ID,
            retry_policy=RETRY,
            deadline=deadline,
        )
        event = await anext(trigger.run())
        if event.payload["status"] != "checkpoint":
            return str(event.payload["status"]), time.time()
        state = event.payload["state"]


RETRY = {"max_attempts": 5, "initial_delay": 0.05, "max_delay": 1.0, "max_elapsed": 30}


def triggerer_process(mode: str, waits: int, jobs: int, scale: float) -> dict[str, Any]:
    if os.environ.get("FANOUT_DEBUG"):
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(created).2f %(message)s")
    else:
        logging.disable(logging.WARNING)
    from airflow_provider_stitch.api.progress import JobRef
    from airflow_provider_stitch.hooks.stitch import StitchConnectHook

    hook = StitchConnectHook()
    started_after = dt.datetime.now(dt.timezone.utc)
    refs = []
    for source_id in source_ids(jobs):
        name = hook.start_replication_job(source_id)
        refs.append(JobRef(source_id, hook.get_source(source_id).name, name, started_after))
    hook.close()

    async def run() -> dict[str, Any]:
        lags: list[float] = []
        peak = [rss_mib()]
        baseline = peak[0]
        stop = asyncio.Event()

        async def probe() -> None:
            loop = asyncio.get_running_loop()
            n = 0
            while not stop.is_set():
                before = loop.time()
                await asyncio.sleep(0.01)
                lags.append((loop.time() - before - 0.01) * 1000)
                if os.environ.get("FANOUT_DEBUG") and lags[-1] > 30:
                    print(f"lag {lags[-1]:.0f} ms at {(time.time() - began) * scale:.0f} s", file=sys.stderr)
                n += 1
                if n % 10 == 0:
                    peak[0] = max(peak[0], rss_mib())

        if os.environ.get("FANOUT_DEBUG"):
            import gc

            gc_began = [0.0]

            def on_gc(phase: str, info: dict[str, Any]) -> None:
                if phase == "start":
                    gc_began[0] = time.perf_counter()
                elif (took := time.perf_counter() - gc_began[0]) > 0.02:
                    print(f"gc gen{info['generation']} {took * 1000:.0f} ms", file=sys.stderr)

            gc.callbacks.append(on_gc)
        probing = asyncio.create_task(probe())
        began = time.time()
        deadline = began + DEADLINE / scale
        if mode == "shared":
            results = await asyncio.gather(
                *(shared_wait(refs[i % jobs], scale, deadline) for i in range(waits))
            )
        else:
            async with StitchConnectHook(retry_policy=RETRY) as shared_hook:  # one client for all waits
                results = await asyncio.gather(
                    *(
                        naive_wait(refs[i % jobs], shared_hook, POLL_INTERVAL / scale, deadline)
                        for i in range(waits)
                    )
                )
        stop.set()
        await probing
        lags.sort()
        return {
            "began": began,
            "deadline": deadline,
            "results": [[refs[i % jobs].job_name, status, at] for i, (status, at) in enumerate(results)],
            "loop_lag_ms_p99": lags[int(0.99 * (len(lags) - 1))] if lags else 0.0,
            "rss_mib": peak[0] - baseline,
        }

    return asyncio.run(run())


# --- the driver ------------------------------------------------------------------------------------------


def worst_window(calls: list[float], window: float) -> int:
    calls = sorted(calls)
    worst, first = 0, 0
    for last, at in enumerate(calls):
        while at - calls[first] >= window:
            first += 1
        worst = max(worst, last - first + 1)
    return worst


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def run_phase(number: int) -> float:
    """Where run ``number``'s jobs end relative to the passes (see :func:`seed_with_sources`): seeded,
    so both modes and every rerun of the table see the same phases."""
    return random.Random(number).random()


def one_run(mode: str, waits: int, jobs: int, scale: float, number: int, endings: str) -> dict[str, Any]:
    phase = run_phase(number)
    emulator = subprocess.Popen(
        [sys.executable, __file__, "--emulator", str(jobs), "--scale", str(scale), "--phase", str(phase)]
        + (["--together"] if endings == "together" else []),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert emulator.stdin is not None and emulator.stdout is not None
    try:
        uri = json.loads(emulator.stdout.readline())["connection_uri"]
        env = dict(os.environ, AIRFLOW_CONN_STITCH_DEFAULT=uri)
        command = [sys.executable, __file__, "--one", mode, str(waits), str(jobs), "--scale", str(scale)]
        out = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
        run = json.loads(out.strip().splitlines()[-1])
        emulator.stdin.write("dump\n")
        emulator.stdin.flush()
        truth = json.loads(emulator.stdout.readline())
        emulator.stdin.write("stop\n")
        emulator.stdin.flush()
    finally:
        if emulator.poll() is None:
            emulator.stdin.write("stop\n") if not emulator.stdin.closed else None
        try:
            emulator.wait(timeout=60)
        except subprocess.TimeoutExpired:
            emulator.kill()
    calls = [at for at in truth["calls"] if at >= run["began"]]
    latencies, past, not_succeeded = [], 0, 0
    for job_name, status, at in run["results"]:
        if status != "succeeded":
            not_succeeded += 1
        elif job_name in truth["done_at"]:
            latencies.append((at - truth["done_at"][job_name]) * scale)
        if (at - run["deadline"]) * scale > 1.0:  # more than a Stitch second late
            past += 1
    return {
        "worst_window_calls": worst_window(calls, 600.0 / scale),
        "jobs_calls": len(calls),
        "latency_s": {
            "p50": round(percentile(latencies, 0.5), 1) if latencies else None,
            "p95": round(percentile(latencies, 0.95), 1) if latencies else None,
            "max": round(max(latencies), 1) if latencies else None,
        },
        "loop_lag_ms_p99": round(run["loop_lag_ms_p99"], 1),
        "rss_mib": round(run["rss_mib"], 1),
        "past_deadline": past,
        "not_succeeded": not_succeeded,
        "stitch_minutes": round((max(at for _, _, at in run["results"]) - run["began"]) * scale / 60, 1),
    }


def summarise(mode: str, waits: int, jobs: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    def median_and_range(values: list[Any]) -> Any:
        values = [v for v in values if v is not None]
        if not values:
            return None
        return round(statistics.median(values), 1)

    def spread(values: list[Any]) -> list[Any]:
        values = [v for v in values if v is not None]
        return [min(values), max(values)] if values else []

    row: dict[str, Any] = {"mode": mode, "waits": waits, "jobs": jobs}
    row["worst_window_calls"] = median_and_range([r["worst_window_calls"] for r in runs])
    row["latency_s"] = {q: median_and_range([r["latency_s"][q] for r in runs]) for q in ("p50", "p95", "max")}
    for key in ("loop_lag_ms_p99", "rss_mib", "past_deadline"):
        row[key] = median_and_range([r[key] for r in runs])
    row["ranges"] = {
        "worst_window_calls": spread([r["worst_window_calls"] for r in runs]),
        "latency_p50_s": spread([r["latency_s"]["p50"] for r in runs]),
        "latency_p95_s": spread([r["latency_s"]["p95"] for r in runs]),
        "latency_max_s": spread([r["latency_s"]["max"] for r in runs]),
        "loop_lag_ms_p99": spread([r["loop_lag_ms_p99"] for r in runs]),
        "rss_mib": spread([r["rss_mib"] for r in runs]),
        "past_deadline": spread([r["past_deadline"] for r in runs]),
    }
    row["runs"] = runs
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=50.0, help="emulated seconds per real second")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", nargs="+", metavar="MODE:WAITS:JOBS", help="run just these rows")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--emulator", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--phase", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--together", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.emulator is not None:
        emulator_process(args.emulator, args.scale, args.phase, args.together)
        return
    if args.one:
        mode, waits, jobs = args.one[0], int(args.one[1]), int(args.one[2])
        print(json.dumps(triggerer_process(mode, waits, jobs, args.scale)))
        return

    if args.only:
        specs = [spec.split(":") for spec in args.only]
        plan = [(s[0], int(s[1]), int(s[2]), s[3] if len(s) > 3 else "staggered") for s in specs]
    else:
        plan = [(mode, w, min(j, w), "staggered") for w, j in CONFIGS for mode in ("shared", "naive")]
        plan += [("shared", w, j, "together") for w, j in TOGETHER_CONFIGS]
    rows = []
    for mode, waits, jobs, endings in plan:
        runs = []
        for number in range(args.runs):
            runs.append(one_run(mode, waits, jobs, args.scale, number, endings))
            print(
                json.dumps(
                    {"mode": mode, "waits": waits, "jobs": jobs, "endings": endings, "run": number + 1}
                    | runs[-1]
                )
            )
        rows.append(summarise(mode, waits, jobs, runs) | {"endings": endings})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    header = (
        "mode   | waits | jobs | job ends  | worst window | p50 s | p95 s | max s | lag p99 ms | RSS MiB "
        "| late"
    )
    print(header)
    for row in rows:
        lat = row["latency_s"]
        print(
            f"{row['mode']:<6} | {row['waits']:>5} | {row['jobs']:>4} | {row['endings']:<9} | "
            f"{row['worst_window_calls']!s:>12} | "
            f"{lat['p50']!s:>5} | {lat['p95']!s:>5} | {lat['max']!s:>5} | {row['loop_lag_ms_p99']!s:>10} | "
            f"{row['rss_mib']!s:>7} | {row['past_deadline']}"
        )
    print(
        f"\nBudget: 30 jobs calls per 10 minutes per account. Time scale {args.scale:g}x; poll interval "
        f"{POLL_INTERVAL:g} s; latencies and windows in Stitch time; medians of {args.runs} runs."
    )


if __name__ == "__main__":
    main()
