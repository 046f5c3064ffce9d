"""The replication wait (layer 1): what it remembers between snapshots, and whose evidence it trusts."""

from __future__ import annotations

import json
from typing import Any

from test_progress import STREAMS, extraction, job, load

from airflow_provider_stitch.api.progress import Phase, WaitFor
from airflow_provider_stitch.api.wait import (
    EMPTY_LOAD_GRACE,
    PARTIAL_LOAD_GRACE,
    STALE_ERROR_GRACE,
    AwaitedStreams,
    ReplicationWait,
    WaitState,
    Wants,
)

ALL = AwaitedStreams(tuple(STREAMS), True)
EARLIER = {"notification_data": {"warehouse_message": "column too long"}}
OURS = {"notification_data": {"warehouse_message": "permission denied"}}


def running_then_completed(**completed: Any) -> ReplicationWait:
    """A wait that saw our job run (with a loads baseline showing an earlier error), then complete."""
    wait = ReplicationWait.start(job())
    baseline = [load("customers", None, EARLIER), load("orders", -50), load("products", -50)]
    assert wait.observe(extractions=[], loads=baseline, loads_listed_first=True).phase is Phase.EXTRACTING
    wait.observe(extractions=[extraction(**completed)], awaited=ALL)
    return wait


def round_trip(wait: ReplicationWait) -> ReplicationWait:
    return ReplicationWait(WaitState.from_dict(json.loads(json.dumps(wait.state.to_dict()))))


def test_our_row_once_seen_is_final_whatever_a_newer_job_does_later() -> None:
    wait = running_then_completed()
    failed_newer = extraction("1001.2001.sync.newer", start=100, end=130, tap_exit_status=1)
    progress = wait.observe(extractions=[failed_newer], loads=[load(s, 40) for s in STREAMS])
    assert progress.phase is Phase.SUCCEEDED and progress.extraction is not None
    assert progress.extraction.job_name == job().job_name
    # ... and after a restart from the serialised state (trigger kwargs, task state store).
    again = round_trip(wait)
    assert (
        again.observe(extractions=[failed_newer], loads=[load(s, 40) for s in STREAMS]).phase
        is Phase.SUCCEEDED
    )


def test_an_error_seen_before_our_completion_is_not_ours_until_it_changes() -> None:
    wait = running_then_completed()
    waiting = wait.observe(loads=[load("customers", None, EARLIER), load("orders", 35), load("products", 36)])
    assert waiting.phase is Phase.LOADING
    customers = next(s for s in waiting.streams if s.name == "customers")
    assert customers.status == "waiting" and "earlier load error" in (customers.detail or "")
    loaded = wait.observe(loads=[load("customers", 40), load("orders", 35), load("products", 36)])
    assert loaded.phase is Phase.SUCCEEDED


def test_an_error_that_differs_from_the_baseline_is_ours() -> None:
    wait = running_then_completed()
    progress = wait.observe(loads=[load("customers", None, OURS), load("orders", 35), load("products", 36)])
    assert progress.phase is Phase.FAILED and "permission denied" in progress.reason


def test_a_wait_begun_after_completion_takes_its_first_look_as_the_baseline() -> None:
    wait = ReplicationWait.start(job())
    first = [load("customers", None, EARLIER), load("orders", 35), load("products", 36)]
    progress = wait.observe(extractions=[extraction()], loads=first, awaited=ALL)
    customers = next(s for s in progress.streams if s.name == "customers")
    assert progress.phase is Phase.LOADING and "first looked" in (customers.detail or "")
    # It loads: ours landed. An error that changes afterwards is a new attempt: ours.
    assert wait.observe(loads=[load("customers", 40), *first[1:]]).phase is Phase.SUCCEEDED
    other = ReplicationWait.start(job())
    other.observe(extractions=[extraction()], loads=first, awaited=ALL)
    assert other.observe(loads=[load("customers", None, OURS), *first[1:]]).phase is Phase.FAILED


def test_an_error_after_a_newer_job_completed_may_be_the_newer_jobs() -> None:
    wait = running_then_completed()
    newer = extraction("1001.2001.sync.zzzz", start=60, end=90)
    progress = wait.observe(extractions=[newer], loads=[load("customers", None, OURS)])
    assert progress.phase is Phase.UNKNOWN and "newer job" in progress.reason


def test_the_same_error_standing_long_after_every_other_stream_loaded_is_taken_for_ours() -> None:
    now = [1000.0]
    wait = running_then_completed()
    wait = ReplicationWait(wait.state, time_scale=1.0, clock=lambda: now[0])
    rows = [load("customers", None, EARLIER), load("orders", 35), load("products", 36)]
    assert wait.observe(loads=rows).phase is Phase.LOADING
    now[0] += STALE_ERROR_GRACE - 1
    assert wait.observe(loads=rows).phase is Phase.LOADING
    now[0] += 2
    progress = wait.observe(loads=rows)
    assert progress.phase is Phase.FAILED and "cannot be told from the old one" in progress.reason


def test_the_grace_counts_in_stitch_time() -> None:
    now = [0.0]
    wait = running_then_completed()
    wait = ReplicationWait(wait.state, time_scale=200.0, clock=lambda: now[0])
    rows = [load("customers", None, EARLIER), load("orders", 35), load("products", 36)]
    wait.observe(loads=rows)
    now[0] += STALE_ERROR_GRACE / 200 + 0.01
    assert wait.observe(loads=rows).phase is Phase.FAILED


def test_a_missing_log_is_asked_again_only_when_it_could_change_the_verdict() -> None:
    now = [1000.0]
    wait = ReplicationWait(WaitState(job()), clock=lambda: now[0])
    wait.observe(extractions=[extraction()])
    assert wait.wants().log_of == job().job_name  # nothing stands in yet
    stand_in = wait.observe(awaited=AwaitedStreams(tuple(STREAMS), final=False))
    # The selected streams stand in: while none has loaded, the log is not worth a call yet ...
    assert stand_in.phase is Phase.PREPARING and wait.wants().log_of is None
    now[0] += EMPTY_LOAD_GRACE - 1
    assert wait.wants().log_of is None
    # ... until nothing has loaded for the grace: a job with no new records never loads.
    now[0] += 1
    assert wait.wants().log_of == job().job_name
    logged = wait.observe(awaited=AwaitedStreams(("orders",), final=True))
    assert [s.name for s in logged.streams] == ["orders"] and wait.wants().log_of is None
    assert wait.observe(loads=[load("orders", 31)]).phase is Phase.SUCCEEDED


def test_every_selected_stream_loaded_succeeds_without_the_log() -> None:
    wait = ReplicationWait.start(job())
    wait.observe(extractions=[extraction()], awaited=AwaitedStreams(tuple(STREAMS), final=False))
    progress = wait.observe(loads=[load(s, 31) for s in STREAMS])
    # The log names at most the selected streams: with all of them loaded it cannot add one.
    assert progress.phase is Phase.SUCCEEDED
    assert wait.wants().log_of is None


def test_a_stream_still_missing_after_the_others_loaded_asks_for_the_log() -> None:
    now = [1000.0]
    wait = ReplicationWait(WaitState(job()), clock=lambda: now[0], time_scale=10.0)
    wait.observe(extractions=[extraction()], awaited=AwaitedStreams(tuple(STREAMS), final=False))
    partial = [load("customers", 31), load("orders", 32), load("products", -50)]
    assert wait.observe(loads=partial).phase is Phase.LOADING
    assert wait.wants().log_of is None
    now[0] += PARTIAL_LOAD_GRACE / 10  # Stitch time: our seconds times the time scale
    assert wait.wants().log_of == job().job_name
    # The log says products had no new records: it never loads, and the wait is done.
    done = wait.observe(awaited=AwaitedStreams(("customers", "orders"), final=True))
    assert done.phase is Phase.SUCCEEDED
    # The graces survive a restart (they travel in the trigger's state).
    assert round_trip(wait).state.partial_since == wait.state.partial_since


def test_an_empty_stand_in_needs_the_log_now() -> None:
    wait = ReplicationWait.start(job())
    wait.observe(extractions=[extraction()], awaited=AwaitedStreams((), final=False))
    assert wait.progress.phase is not Phase.SUCCEEDED
    assert wait.wants().log_of == job().job_name


def test_what_each_poll_asks_for() -> None:
    wait = ReplicationWait.start(job(), WaitFor.EXTRACTION)
    assert wait.wants() == Wants(extractions=True, loads=False, log_of=None)
    wait.observe(extractions=[extraction()])
    assert wait.progress.phase is Phase.SUCCEEDED
    assert wait.wants() == Wants(extractions=False, loads=False, log_of=None)


def test_a_checkpoint_marks_what_a_restart_could_not_learn_again() -> None:
    wait = ReplicationWait.start(job())
    first = wait.checkpoint()
    wait.observe(extractions=[], loads=[load("orders", -5)], loads_listed_first=True)
    assert wait.checkpoint() == first  # a clean baseline: a restarted wait takes a new one
    wait.observe(extractions=[], loads=[load("customers", None, EARLIER)], loads_listed_first=True)
    with_error = wait.checkpoint()
    assert with_error != first
    wait.observe(extractions=[extraction()])
    assert wait.checkpoint() != with_error


def test_loads_listed_after_the_extractions_are_no_baseline() -> None:
    wait = ReplicationWait.start(job())
    wait.observe(extractions=[], loads=[load("customers", None, EARLIER)], loads_listed_first=False)
    assert wait.state.loads_before is None


def test_a_stream_last_loaded_during_our_extraction_says_so() -> None:
    wait = ReplicationWait.start(job())
    progress = wait.observe(
        extractions=[extraction(start=1, end=30)], loads=[load("orders", 20)], awaited=ALL
    )
    orders = next(s for s in progress.streams if s.name == "orders")
    assert orders.status == "waiting" and "during our extraction" in (orders.detail or "")
