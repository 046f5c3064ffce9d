"""Two triggerers (HA) on one metadata DB, one Stitch account: is the jobs budget still kept?

Each triggerer process runs its own shared poller per account, so N triggerers would spend N budgets.
The provider bounds that by a documented share: the connection extra ``triggerers`` = N makes each
poller pace itself to 1/N of the budget (docs/replication.md). This starts a real Airflow stack
(scheduler, dag-processor, api-server, and ``--triggerers`` triggerer processes, SQLite metadata DB)
with the emulator, runs eight deferrable replications on eight sources of one account
(``benchmarks/ha_dags/``), and measures, per configuration:

* ``worst_window_calls``: the most jobs calls the account received in any 10 minutes of Stitch time
  (Stitch asks for at most 30), from the emulator's call counter sampled every 0.25 s;
* ``triggerers_used``: how many triggerer processes ran the waits (each takes at most
  ``[triggerer] capacity`` = 4 here, so eight waits must spread over two);
* the run's outcome and how long it took.

Configurations: one triggerer; two triggerers with the extra left at 1 (the doubling the share
prevents); two triggerers with ``triggerers`` = 2. Writes ``benchmarks/results/ha_triggerers.json``.

Usage::

    .venv/bin/python benchmarks/ha_triggerers.py              # the three configurations, ~12 minutes
    .venv/bin/python benchmarks/ha_triggerers.py --only 2:2
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo.airflow_stack import STITCH_CLIENT_ID, AirflowStack  # noqa: E402

DAGS = Path(__file__).parent / "ha_dags"
RESULTS = Path(__file__).parent / "results" / "ha_triggerers.json"
SPEED = 20.0
WINDOW = 600.0  # Stitch seconds
WAITS = 8
#: A 30-minute extraction: the waits poll through three budget windows before the loads land.
DURATIONS = {"discovery": 30, "tap": 1800, "target": 30, "preparation": 120, "load": 30}
CONFIGS = [(1, 1), (2, 1), (2, 2)]  # (triggerer processes, the connection's ``triggerers`` extra)


def worst_window(samples: list[tuple[float, int]], window: float) -> int:
    """The most calls in any ``window`` seconds, from (time, calls so far) samples."""
    worst = 0
    start = 0
    for at, count in samples:
        while samples[start][0] < at - window:
            start += 1
        # The sample just before the window started (or the first) is the count at its start.
        before = samples[start - 1][1] if start > 0 else 0
        worst = max(worst, count - before)
    return worst


def one_config(triggerers: int, extra: int) -> dict[str, Any]:
    env = {"AIRFLOW__TRIGGERER__CAPACITY": str(WAITS // 2), "AIRFLOW__CORE__PARALLELISM": str(WAITS)}
    stack = AirflowStack(
        DAGS,
        speed=SPEED,
        extra_env=env,
        triggerers=triggerers,
        triggerers_extra=extra,
        source_copies=WAITS,
        source_durations=DURATIONS,
    )
    with stack:
        admin = stack.emulator
        samples: list[tuple[float, int]] = []
        assignments: dict[int, int] = {}
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.25):
                calls = int(admin.stats()["jobs_calls"].get(str(STITCH_CLIENT_ID), 0))
                samples.append((time.monotonic(), calls))
                for triggerer_id, count in stack.query_db(
                    "SELECT triggerer_id, COUNT(*) FROM trigger WHERE triggerer_id IS NOT NULL "
                    "GROUP BY triggerer_id"
                ):
                    assignments[triggerer_id] = max(assignments.get(triggerer_id, 0), count)

        began = time.monotonic()
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        run = stack.trigger("stitch_ha_waits")
        deadline = began + 600.0
        while stack.run_state(run) in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(2.0)
        done.set()
        sampler.join()
        state = stack.run_state(run)
        tasks = {ti["task_id"]: ti["state"] for ti in stack.task_instances(run)}
        stack.settle()
    # The emulator's own window is 600 s of wall time; the whole run fits inside it, so its count is
    # the total so far, and any window of Stitch time is a difference of two samples.
    decreasing = any(b[1] < a[1] for a, b in itertools.pairwise(samples))
    return {
        "triggerers": triggerers,
        "triggerers_extra": extra,
        "waits": WAITS,
        "worst_window_calls": worst_window(samples, WINDOW / SPEED),
        "jobs_calls": samples[-1][1] if samples else 0,
        "triggerers_used": len(assignments),
        "most_waits_per_triggerer": sorted(assignments.values(), reverse=True),
        "run_state": state,
        "task_states": sorted(set(tasks.values())),
        "stitch_minutes": round((time.monotonic() - began) * SPEED / 60, 1),
        "counter_reset_seen": decreasing,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="TRIGGERERS:EXTRA")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    plan = [tuple(int(x) for x in spec.split(":")) for spec in args.only] if args.only else CONFIGS
    rows = []
    for triggerers, extra in plan:
        rows.append(one_config(triggerers, extra))
        print(json.dumps(rows[-1]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
