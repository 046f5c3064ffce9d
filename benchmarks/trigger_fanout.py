"""How many Stitch jobs calls do N concurrent deferred waits cost? Shared poller vs one poller per wait.

Runs N (default 10, 100, 1000) concurrent replication waits in one event loop against an in-process
emulator, as a triggerer would run N deferred tasks, and prints per run:

* jobs calls per 10 minutes: the emulator's own count of extractions/logs/loads calls, both the
  average over the run and the worst sliding 10-minute window (Stitch's budget is 30);
* HTTP 429s: the emulator enforces the budget in shared runs, so any excess would show here;
* detection latency: from the moment the job's last load landed (the emulator's clock) to the wait's
  event, median and max;
* memory: the run process's peak RSS above its baseline after the emulator started.

"shared" runs N ``StitchReplicationJobTrigger`` waits (they share one poller per account). "naive"
runs N benchmark-local loops making the same hook calls each on its own, the way a trigger that polls
by itself does.

Time is compressed: the emulator runs at ``--scale`` times real speed and the waits use the same
``time_scale`` (the connection extra), so "10 minutes" last ``600/scale`` real seconds and every
figure is reported in Stitch (emulated) time. Each run happens in its own subprocess so memory
figures do not mix.

Usage::

    .venv/bin/python benchmarks/trigger_fanout.py            # N = 10, 100, 1000; about 2 minutes
    .venv/bin/python benchmarks/trigger_fanout.py --waits 10 100 --jobs 5 --naive-max 100
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from importlib.resources import files
from typing import Any

SHOP_DB = 2001
#: Phase lengths in emulated seconds: a job extracts for 5 minutes, then prepares and loads 3 streams.
DURATIONS = {"discovery": 30, "tap": 240, "target": 30, "preparation": 120, "load": 30}
POLL_INTERVAL = 60.0  # emulated seconds, the operators' default
JOBS_ROUTES = ("GET /v4/{stitch_client_id}/extractions", "GET /v4/{stitch_client_id}/loads")


def seed_with_sources(count: int) -> dict[str, Any]:
    """The default seed, with ``count`` sources shaped like shop_db (ids 2001, 2101, 2102, ...)."""
    seed = json.loads(files("airflow_provider_stitch.emulator").joinpath("default_seed.json").read_text())
    account = seed["accounts"][0]
    shop_db = next(s for s in account["sources"] if s["id"] == SHOP_DB)
    shop_db["durations"] = dict(DURATIONS)
    for number in range(1, count):
        account["sources"].append(
            dict(shop_db, id=2100 + number, display_name=f"Shop DB {number}", name=f"shop_db_{number}")
        )
    return seed


def jobs_calls(stats: dict[str, Any], client_id: int) -> int:
    """The account's calls to the rate-limited endpoints: extractions, extraction logs, loads."""
    routes = stats["by_account_route"].get(str(client_id), {})
    return sum(n for route, n in routes.items() if route.startswith(JOBS_ROUTES))


async def naive_wait(job: Any, poll_interval: float, retry: dict[str, Any]) -> float:
    """One wait polling by itself (one client, ``poll_interval`` real seconds), same wait rules."""
    from airflow_provider_stitch.api import endpoints
    from airflow_provider_stitch.api.wait import ReplicationWait
    from airflow_provider_stitch.hooks.stitch import StitchConnectHook

    wait = ReplicationWait.start(job)
    async with StitchConnectHook(retry_policy=retry) as hook:
        while True:
            wants = wait.wants()
            loads = await hook.alist_loads() if wants.loads else None
            extractions = await hook.alist_extractions() if wants.extractions else None
            progress = wait.observe(
                extractions=extractions, loads=loads, loads_listed_first=loads is not None
            )
            log_of = wait.wants().log_of
            if log_of:
                awaited = await hook.arun(endpoints.awaited_streams(1001, log_of, job.source_id))
                progress = wait.observe(awaited=awaited)
            if progress.is_terminal:
                return time.time()
            await asyncio.sleep(poll_interval)


async def shared_wait(job: Any, poll_interval: float, scale: float, retry: dict[str, Any]) -> float:
    """One deferred wait: the trigger, and the trigger the task defers to again after a checkpoint."""
    from airflow_provider_stitch.api.wait import WaitState
    from airflow_provider_stitch.triggers.replication import StitchReplicationJobTrigger

    state = WaitState(job).to_dict()
    deadline = time.time() + 3600 / scale
    while True:
        trigger = StitchReplicationJobTrigger(
            state=state,
            poll_interval=poll_interval,
            stitch_client_id=1001,
            retry_policy=retry,
            deadline=deadline,
        )
        event = await anext(trigger.run())
        if event.payload["status"] != "checkpoint":
            break
        state = event.payload["state"]
    if event.payload["status"] != "succeeded":
        raise RuntimeError(event.payload["message"])
    return time.time()


def one_run(mode: str, waits: int, jobs: int, scale: float) -> dict[str, Any]:
    """Run one configuration (in this process) and return its measurements."""
    logging.disable(logging.WARNING)
    from airflow_provider_stitch.api.progress import JobRef
    from airflow_provider_stitch.emulator import EmulatorServer
    from airflow_provider_stitch.hooks.stitch import StitchConnectHook

    window = 600.0 / scale
    server = EmulatorServer(
        seed=seed_with_sources(jobs),
        speed=scale,
        enforce_rate_limit=mode == "shared",
        rate_limit_window=window,
    )
    server.start()
    os.environ["AIRFLOW_CONN_STITCH_DEFAULT"] = server.connection_uri
    retry = {"max_attempts": 5, "initial_delay": 0.05, "max_delay": 1.0, "max_elapsed": 30}
    baseline_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    hook = StitchConnectHook()
    sources = [SHOP_DB] + [2100 + n for n in range(1, jobs)]
    started_after = dt.datetime.now(dt.timezone.utc)
    refs = []
    for source_id in sources:
        name = hook.start_replication_job(source_id)
        refs.append(JobRef(source_id, hook.get_source(source_id).name, name, started_after))
    calls_before = jobs_calls(server.admin.stats(), server.client_id)

    peak_window = 0
    sampling = threading.Event()

    def sample() -> None:
        nonlocal peak_window
        while not sampling.wait(window / 50):
            # The emulator moves jobs on lazily, when a request arrives; ticking it here (advance by 0)
            # keeps its warehouse loads from landing inside our polls and inflating the latency.
            server.admin.advance(0)
            peak_window = max(peak_window, server.admin.jobs_calls(server.client_id))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    interval = POLL_INTERVAL / scale
    began = time.time()

    async def all_waits() -> list[float]:
        if mode == "shared":
            # The trigger's poll_interval is Stitch time: the connection's time_scale divides it.
            coros = [shared_wait(refs[i % jobs], POLL_INTERVAL, scale, retry) for i in range(waits)]
        else:
            coros = [naive_wait(refs[i % jobs], interval, retry) for i in range(waits)]
        return await asyncio.gather(*coros)

    detected = asyncio.run(all_waits())
    elapsed = time.time() - began
    sampling.set()
    sampler.join()
    stats = server.admin.stats()
    done_at = {ref.job_name: server.backend.engine.jobs[ref.job_name].last_ts for ref in refs}
    latencies = [(detected[i] - done_at[refs[i % jobs].job_name]) * scale for i in range(waits)]
    calls = jobs_calls(stats, server.client_id) - calls_before
    server.stop()
    return {
        "mode": mode,
        "waits": waits,
        "jobs": jobs,
        "emulated_minutes": round(elapsed * scale / 60, 1),
        "real_seconds": round(elapsed, 1),
        "jobs_calls": calls,
        "calls_per_10_min": round(calls / (elapsed * scale) * 600, 1),
        "peak_calls_in_a_10_min_window": peak_window,
        "http_429": int(stats["by_status"].get("429", 0)),
        "latency_median_s": round(statistics.median(latencies), 1),
        "latency_max_s": round(max(latencies), 1),
        "added_rss_mb": round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline_rss) / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--waits", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument(
        "--jobs", type=int, default=10, help="distinct jobs (sources) the waits are spread over"
    )
    parser.add_argument("--scale", type=float, default=50.0, help="emulated seconds per real second")
    parser.add_argument("--naive-max", type=int, default=1000, help="skip naive runs above this N")
    parser.add_argument("--one", nargs=2, metavar=("MODE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        mode, waits = args.one[0], int(args.one[1])
        print(json.dumps(one_run(mode, waits, min(args.jobs, waits), args.scale)))
        return

    rows = []
    for waits in args.waits:
        for mode in ("shared", "naive"):
            if mode == "naive" and waits > args.naive_max:
                continue
            command = [sys.executable, __file__, "--one", mode, str(waits), "--jobs", str(args.jobs)]
            command += ["--scale", str(args.scale)]
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), file=sys.stderr)

    columns = [
        ("mode", "mode"),
        ("waits", "N"),
        ("jobs", "jobs"),
        ("calls_per_10_min", "calls/10min avg"),
        ("peak_calls_in_a_10_min_window", "peak/10min"),
        ("http_429", "429s"),
        ("latency_median_s", "latency med s"),
        ("latency_max_s", "latency max s"),
        ("added_rss_mb", "RSS +MB"),
        ("emulated_minutes", "emulated min"),
    ]
    print(" | ".join(title for _, title in columns))
    for row in rows:
        print(" | ".join(str(row[key]) for key, _ in columns))
    print(
        f"\nBudget: 30 jobs calls per 10 minutes per account. Time scale {args.scale:g}x; poll interval "
        f"{POLL_INTERVAL:g} s; latencies and rates in emulated (Stitch) time."
    )


if __name__ == "__main__":
    main()
