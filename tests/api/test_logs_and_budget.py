"""Extraction-log parsing and the jobs-call budget (layer 1)."""

from __future__ import annotations

import pytest

from airflow_provider_stitch.api.budget import (
    MIN_POLL_INTERVAL,
    WINDOW_SECONDS,
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
