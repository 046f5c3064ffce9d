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


def test_an_older_job_in_the_same_second_as_our_start_is_not_a_newer_one() -> None:
    """A retry right after a quick failure: the failed job's row shares our start's second."""
    import datetime as dt

    from airflow_provider_stitch.api.objects import Extraction
    from airflow_provider_stitch.api.progress import JobRef, Phase
    from airflow_provider_stitch.api.wait import assess_progress

    second = dt.datetime(2026, 11, 28, 13, 29, 49, tzinfo=dt.timezone.utc)
    failed_just_before = Extraction.from_api(
        {
            "job_name": "1001.2001.sync.older",
            "source_id": 2001,
            "start_time": "2026-11-28T13:29:49Z",
            "completion_time": "2026-11-28T13:29:49Z",
            "discovery_exit_status": 0,
            "tap_exit_status": 1,
            "tap_description": "boom",
            "target_exit_status": 0,
        }
    )
    ours = JobRef(2001, "shop_db", "1001.2001.sync.ours", second.replace(microsecond=700_000))
    progress = assess_progress(ours, [failed_just_before])
    assert progress.phase is Phase.EXTRACTING and progress.superseded_by is None
