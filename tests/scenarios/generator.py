"""Generated busy-source scenarios: what happens around one replication wait, drawn from a seed.

Pure and deterministic: ``generate(seed)`` always gives the same :class:`Scenario`. The runner plays it
against the emulator in each mode; the judge compares the provider's verdict with the emulator's truth.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

STREAMS = ("customers", "orders", "products")
MODES = ("blocking", "deferrable", "sensor")

#: Stitch seconds per phase of every job in a scenario (the emulator divides them by its speed). The
#: tap is long enough (1.8 s of wall time at speed 20) that an earlier job's loads and our extraction's
#: completion never share one of Stitch's second-precision timestamps, and that a sensor's first poke,
#: even on a loaded machine, comes before our extraction completes (so it has a loads baseline).
DURATIONS = {"discovery": 1, "tap": 36, "target": 2, "preparation": 4, "load": 2}


@dataclass(frozen=True)
class Scenario:
    seed: int
    #: An earlier job on the source whose load of this stream failed (its error is still shown).
    earlier_load_error: str | None = None
    #: Our job's own failure: "discovery", "tap", "target", or "load:<stream>".
    failure: str | None = None
    zero_record_streams: tuple[str, ...] = ()
    slow_load_stream: str | None = None
    log_unavailable_for: float = 0.0
    #: A job someone else started is running when our task starts: the task attaches to it.
    attach: bool = False
    #: A newer job starts on the source once our extraction completed: "succeeds", "fails" or "stopped".
    newer_job: str | None = None
    newer_started_by: str = "schedule"
    #: Our job is stopped in Stitch's UI (admin) while it extracts.
    stopped_by_user: bool = False
    #: 5xx or 429 burst on the jobs endpoints: (status, count).
    fault_burst: tuple[int, int] | None = None
    #: The wait's deadline comes before the job can finish (a long extraction).
    times_out: bool = False
    #: Deferrable mode: the triggerer restarts this many Stitch seconds into the wait.
    triggerer_restart_after: float | None = None
    #: Blocking mode: the worker crashes after this many polls; the retry resumes from the task state.
    worker_crash_after_polls: int | None = None
    #: Deferrable mode: the task is cleared while deferred ("before": the old trigger's on_kill runs
    #: before the new try starts; "after": right after the new try reconnected).
    clear: str | None = None
    #: Blocking mode: try 1's job is stopped, a newer job then completes, and the task retries.
    retry_after_stop: bool = False
    tags: tuple[str, ...] = field(default=())

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, False, (), 0.0) and k != "tags"}


def generate(seed: int) -> Scenario:
    rng = random.Random(seed)
    fields: dict[str, Any] = {"seed": seed}
    tags: list[str] = []

    def chance(p: float) -> bool:
        return rng.random() < p

    if chance(0.3):
        fields["earlier_load_error"] = rng.choice(STREAMS)
        tags.append("earlier-error")
    if chance(0.25):
        fields["failure"] = rng.choice(["discovery", "tap", "target", *(f"load:{s}" for s in STREAMS)])
        tags.append("failure")
    if chance(0.25):
        fields["zero_record_streams"] = tuple(sorted(rng.sample(STREAMS, rng.choice([1, 1, 2, 3]))))
        tags.append("zero-records")
    if chance(0.25):
        fields["slow_load_stream"] = rng.choice(STREAMS)
        tags.append("slow-load")
    if chance(0.2):
        fields["log_unavailable_for"] = float(rng.choice([4, 10, 30]))
        tags.append("log-404")
    if chance(0.15):
        fields["attach"] = True
        tags.append("attach")
    if chance(0.35):
        fields["newer_job"] = rng.choice(["succeeds", "fails", "stopped"])
        fields["newer_started_by"] = rng.choice(["schedule", "admin"])
        tags.append("newer-job")
    if chance(0.1):
        fields["stopped_by_user"] = True
        tags.append("user-stop")
    if chance(0.2):
        fields["fault_burst"] = (rng.choice([500, 502, 503, 429]), rng.choice([1, 2, 3]))
        tags.append("faults")
    if chance(0.08):
        fields["times_out"] = True
        tags.append("timeout")
    # Process-level events, each played in the mode where it lives.
    if chance(0.3):
        fields["triggerer_restart_after"] = float(rng.choice([2, 10, 26, 34]))
        tags.append("triggerer-restart")
    if chance(0.25):
        fields["worker_crash_after_polls"] = rng.choice([1, 2, 4, 8])
        tags.append("worker-crash")
    if chance(0.2) and not fields.get("attach"):
        fields["clear"] = rng.choice(["before", "after"])
        tags.append("clear")
    if chance(0.1) and not fields.get("attach"):
        fields["retry_after_stop"] = True
        tags.append("retry-after-stop")
    fields["tags"] = tuple(tags)
    return Scenario(**fields)
