"""Edge cases of the progress rules found while wiring them into operators, sensors and triggers."""

from __future__ import annotations

from airflow_provider_stitch.api.logs import stream_record_counts
from airflow_provider_stitch.api.progress import awaited_streams_from, awaited_streams_from_log

ALL_ZERO_LOG = (
    '2026-11-28 12:00:01,000Z tap - INFO replicated 0 records from "customers" endpoint\n'
    '2026-11-28 12:00:01,001Z tap - INFO replicated 0 records from "orders" endpoint\n'
    "2026-11-28 12:00:02,000Z main - INFO Target exited with status 0\n"
)
SOME_ZERO_LOG = (
    '2026-11-28 12:00:01,000Z tap - INFO replicated 0 records from "customers" endpoint\n'
    '2026-11-28 12:00:01,001Z tap - INFO replicated 7 records from "orders" endpoint\n'
    "2026-11-28 12:00:02,000Z target - INFO com.stitchdata.target-stitch-avro.flush-pipeline - "
    "send-stream-record-count-impl orders\n"
)
NO_COUNTS_LOG = "2026-11-28 12:00:01,000Z main - INFO Starting replication job\n"
SELECTED = ["customers", "orders", "products"]


def test_a_log_with_only_zero_counts_awaits_no_stream() -> None:
    # Chaining the log parser into awaited_streams_from loses this case: zero counts are dropped, so
    # the empty result falls back to the selected streams, and a wait for loads that never come
    # would run into its deadline.
    assert awaited_streams_from(stream_record_counts(ALL_ZERO_LOG), SELECTED) == SELECTED
    assert awaited_streams_from_log(ALL_ZERO_LOG, SELECTED) == []


def test_a_log_with_some_zero_counts_awaits_only_streams_with_records() -> None:
    assert awaited_streams_from_log(SOME_ZERO_LOG, SELECTED) == ["orders"]


def test_a_log_without_counts_or_no_log_falls_back_to_selected_streams() -> None:
    assert awaited_streams_from_log(NO_COUNTS_LOG, SELECTED) == SELECTED
    assert awaited_streams_from_log(None, ["orders", "customers", "orders"]) == ["customers", "orders"]
    assert awaited_streams_from_log(None, None) == []
