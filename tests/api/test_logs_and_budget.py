"""Extraction-log parsing and the jobs-call budget (layer 1)."""

from __future__ import annotations

import pytest

from airflow_provider_stitch.api.budget import (
    BURST,
    JOBS_CALLS_PER_WINDOW,
    MIN_POLL_INTERVAL,
    WINDOW_SECONDS,
    JobsCallPacer,
    JobsCallWindow,
    budget_interval,
)
from airflow_provider_stitch.api.logs import stream_record_counts

LOG = """\
2026-11-28 12:00:01,123Z main - INFO Starting extraction
2026-11-28 12:00:02,000Z tap - INFO replicated 40 records from "customers" endpoint
2026-11-28 12:00:03,000Z tap - INFO replicated 0 records from "products" endpoint
2026-11-28 12:00:03,500Z tap - INFO replicated 2 records from "orders" endpoint
2026-11-28 12:00:04,000Z target - INFO com.stitchdata.target-stitch-avro.flush-pipeline - send-stream-record-count-impl customers
2026-11-28 12:00:04,100Z target - INFO com.stitchdata.target-stitch-avro.flush-pipeline - send-stream-record-count-impl invoices
2026-11-28 12:00:05,000Z tap - INFO replicated 3 records from "orders" endpoint
"""


def test_record_counts_from_both_line_formats() -> None:
    assert stream_record_counts(LOG) == {"customers": 40, "products": 0, "orders": 5, "invoices": None}


def test_unknown_log_format_names_nothing() -> None:
    assert stream_record_counts("2026-11-28 12:00:01,123Z main - INFO hello\n") == {}


def test_budget_interval_keeps_thirty_calls_per_ten_minutes() -> None:
    # One extractions call a poll: 30 polls in 600 s -> 20 s.
    assert budget_interval(1) == pytest.approx(20.0)
    # Extractions + loads each poll: 40 s.
    assert budget_interval(2) == pytest.approx(40.0)
    # Leaving half the budget to others doubles it.
    assert budget_interval(2, share=0.5) == pytest.approx(80.0)
    assert budget_interval(0) == MIN_POLL_INTERVAL
    assert budget_interval(0.1) == MIN_POLL_INTERVAL


def test_sliding_window_paces_calls() -> None:
    now = [1000.0]
    window = JobsCallWindow(limit=30, clock=lambda: now[0])
    window.record(29)
    assert window.wait_for(1) == 0.0
    window.record()
    assert window.used() == 30
    assert window.wait_for(1) == pytest.approx(WINDOW_SECONDS)
    now[0] += 300
    window.record(1)
    assert window.wait_for(2) == pytest.approx(300.0)
    now[0] += 300  # the first 30 calls leave the window
    assert window.used() == 1
    assert window.wait_for(29) == 0.0
    assert window.wait_for(40) == WINDOW_SECONDS


def _greedy(pacer: JobsCallPacer, now: list[float], until: float, calls: list[float]) -> None:
    """Spend as fast as the pacer allows until ``until`` (Stitch seconds), recording each call."""
    while True:
        wait = pacer.wait_for(1)
        if now[0] + wait >= until:
            now[0] = until
            return
        now[0] += wait
        pacer.take(1)
        calls.append(now[0])


def _worst_window(calls: list[float]) -> int:
    return max(sum(1 for c in calls if start <= c < start + WINDOW_SECONDS) for start in calls)


def test_the_pacer_never_bursts_and_never_exceeds_the_budget_in_any_window() -> None:
    now = [0.0]
    pacer = JobsCallPacer(clock=lambda: now[0])
    calls: list[float] = []
    _greedy(pacer, now, 3 * WINDOW_SECONDS, calls)
    assert _worst_window(calls) <= JOBS_CALLS_PER_WINDOW
    # Smooth: no two calls closer than the refill allows, beyond the small burst.
    assert max(sum(1 for c in calls if start <= c < start + 1.0) for start in calls) <= BURST


def test_a_restarted_process_cannot_burst_on_top_of_the_old_ones_calls() -> None:
    now = [0.0]
    calls: list[float] = []
    old = JobsCallPacer(clock=lambda: now[0])
    _greedy(old, now, 700.0, calls)
    # The old process idles a while (its bucket fills up: the burst), spends it, and dies.
    now[0] += 100.0
    old.take(1)
    old.take(1)
    calls += [now[0], now[0]]
    # A new triggerer process: a new pacer, knowing nothing of the old calls.
    new = JobsCallPacer(clock=lambda: now[0])
    _greedy(new, now, now[0] + 2 * WINDOW_SECONDS, calls)
    assert _worst_window(calls) <= JOBS_CALLS_PER_WINDOW
    # The sliding window the poller used before would have let the new process spend 30 at once.
    window = JobsCallWindow(limit=30, clock=lambda: now[0])
    assert window.wait_for(30) == 0


def test_triggerers_split_the_budget() -> None:
    now = [0.0]
    calls: list[float] = []
    pacers = [JobsCallPacer(share=0.5, clock=lambda: now[0]) for _ in range(2)]
    for step in range(1, 1801):
        now[0] = step
        for pacer in pacers:
            if pacer.wait_for(1) == 0:
                pacer.take(1)
                calls.append(now[0])
    assert _worst_window(calls) <= JOBS_CALLS_PER_WINDOW
    assert _worst_window(calls) >= JOBS_CALLS_PER_WINDOW - 2 * BURST  # and they do use it


def test_unplanned_pages_are_paid_back() -> None:
    now = [0.0]
    pacer = JobsCallPacer(clock=lambda: now[0])
    now[0] = 100.0
    pacer.charge(5)  # a listing turned out to have five more pages than planned
    # The full bucket (the burst) paid for two of them; the next call waits for the other three too.
    assert pacer.wait_for(1) == pytest.approx((5 + 1 - pacer.burst) / pacer.rate)
