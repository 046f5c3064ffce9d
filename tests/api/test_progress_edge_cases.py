"""Edge cases of the progress rules, as the operators, sensors and triggers chain them."""

from __future__ import annotations

from airflow_provider_stitch.api.logs import stream_record_counts
from airflow_provider_stitch.api.progress import awaited_streams_from

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


def awaited(log_text: str) -> list[str]:
    """What every wait does: parse the log, then pick the streams (selected ones as the fallback)."""
    return awaited_streams_from(stream_record_counts(log_text), SELECTED)


def test_a_log_with_only_zero_counts_awaits_no_stream() -> None:
    # Stitch never loads a stream without records: waiting for one would only run into the deadline.
    assert awaited(ALL_ZERO_LOG) == []


def test_a_log_with_some_zero_counts_awaits_only_streams_with_records() -> None:
    assert awaited(SOME_ZERO_LOG) == ["orders"]


def test_a_log_without_counts_falls_back_to_selected_streams() -> None:
    assert awaited(NO_COUNTS_LOG) == SELECTED
