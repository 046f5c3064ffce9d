"""The replication progress rules (layer 1): every phase and edge case, from API-shaped rows."""

from __future__ import annotations

import datetime as dt

import pytest

from airflow_provider_stitch.api.objects import Extraction, Load
from airflow_provider_stitch.api.progress import (
    JobRef,
    Phase,
    ProgressLog,
    WaitFor,
    attach_reference,
    awaited_streams_from,
)
from airflow_provider_stitch.api.wait import AwaitedStreams, ReplicationWait, Wants, assess_progress

T0 = dt.datetime(2026, 11, 28, 12, 0, 0, tzinfo=dt.timezone.utc)
JOB = "1001.2001.sync.aaaa"


def ts(seconds: float) -> str:
    return (T0 + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def extraction(
    job_name: str = JOB, start: float = 1, end: float | None = 30, **statuses: object
) -> Extraction:
    row = {
        "job_name": job_name,
        "source_id": 2001,
        "stitch_client_id": 1001,
        "source_type": "tap-postgres",
        "start_time": ts(start),
        "completion_time": ts(end) if end is not None else None,
        "discovery_exit_status": 0,
        "discovery_description": None,
        "tap_exit_status": 0,
        "tap_description": None,
        "target_exit_status": 0,
        "target_description": None,
    }
    row.update(statuses)
    return Extraction.from_api(row)


def load(stream: str, at: float | None, error: dict | None = None, source: str = "shop_db") -> Load:
    return Load.from_api(
        {
            "source_name": source,
            "stream_name": stream,
            "stitch_client_id": 1001,
            "last_batch_loaded_at": ts(at) if at is not None else None,
            "error_state": error,
        }
    )


def job(name: str | None = JOB, started: float = 0.4) -> JobRef:
    return JobRef(2001, "shop_db", name, T0 + dt.timedelta(seconds=started))


STREAMS = ["customers", "orders", "products"]


def test_not_listed_yet_is_extracting() -> None:
    progress = assess_progress(job(), [])
    assert progress.phase is Phase.EXTRACTING
    assert not progress.is_terminal


def test_older_job_in_the_row_means_ours_still_extracts() -> None:
    older = extraction("1001.2001.sync.old", start=-600, end=-500)
    assert assess_progress(job(), [older]).phase is Phase.EXTRACTING


def test_running_row_with_null_statuses_is_extracting() -> None:
    row = extraction(end=None, discovery_exit_status=0, tap_exit_status=None, target_exit_status=None)
    progress = assess_progress(job(), [row])
    assert progress.phase is Phase.EXTRACTING
    # A running row is not our extraction's outcome: only a completed one is remembered.
    assert progress.extraction is None


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ("discovery", "FATAL: password authentication failed"),
        ("tap", "HTTP 401"),
        ("target", "batch too big"),
    ],
)
def test_nonzero_exit_status_fails_with_stitch_reason(step: str, message: str) -> None:
    row = extraction(**{f"{step}_exit_status": 1, f"{step}_description": message})
    progress = assess_progress(job(), [row])
    assert progress.phase is Phase.FAILED
    assert step in progress.reason and message in progress.reason
    result = progress.to_result()
    assert result["status"] == "failed" and result["exit_statuses"][step] == 1


def test_terminated_is_cancelled() -> None:
    row = extraction(
        discovery_exit_status=None,
        tap_exit_status=None,
        target_exit_status=None,
        discovery_description="Terminated",
        tap_description="Terminated",
        target_description="Terminated",
    )
    assert assess_progress(job(), [row]).phase is Phase.CANCELLED


def test_completed_without_any_status_fails_rather_than_waiting_forever() -> None:
    row = extraction(discovery_exit_status=None, tap_exit_status=None, target_exit_status=None)
    progress = assess_progress(job(), [row])
    assert progress.phase is Phase.FAILED


def test_wait_for_extraction_succeeds_at_extraction_end() -> None:
    progress = assess_progress(job(), [extraction()], wait_for=WaitFor.EXTRACTION)
    assert progress.phase is Phase.SUCCEEDED
    assert progress.to_result()["extraction_completion"] == ts(30)


def test_loads_wait_asks_for_streams_then_loads() -> None:
    wait = ReplicationWait.start(job())
    assert wait.wants() == Wants(extractions=True, loads=True, log_of=None)
    first = wait.observe(extractions=[extraction()])
    assert first.phase is Phase.PREPARING
    assert wait.wants() == Wants(extractions=True, loads=True, log_of=JOB)
    second = wait.observe(awaited=AwaitedStreams(tuple(STREAMS), True))
    assert second.phase is Phase.PREPARING and wait.wants().log_of is None
    assert [s.status for s in second.streams] == ["waiting"] * 3


def test_preparing_loading_succeeded() -> None:
    stale = [load(s, at=-100) for s in STREAMS]  # loads of an earlier job
    progress = assess_progress(job(), [extraction()], loads=stale, awaited_streams=STREAMS)
    assert progress.phase is Phase.PREPARING

    partial = [load("customers", 35), load("orders", 36), load("products", -100)]
    progress = assess_progress(job(), [extraction()], loads=partial, awaited_streams=STREAMS)
    assert progress.phase is Phase.LOADING
    assert progress.summary() == (
        "shop_db job 1001.2001.sync.aaaa: loading 2/3 streams: customers, orders done; products waiting"
    )

    done = [*partial[:2], load("products", 30)]  # same second as completion counts as loaded
    progress = assess_progress(job(), [extraction()], loads=done, awaited_streams=STREAMS)
    assert progress.phase is Phase.SUCCEEDED
    assert progress.to_result()["streams"]["products"] == {
        "status": "loaded",
        "loaded_at": ts(30),
        "error": None,
        "detail": None,
    }


def test_loads_of_other_sources_do_not_count() -> None:
    other = [load(s, 40, source="crm") for s in STREAMS]
    progress = assess_progress(job(), [extraction()], loads=other, awaited_streams=STREAMS)
    assert progress.phase is Phase.PREPARING


def test_null_loaded_at_without_error_is_waiting() -> None:
    rows = [load("customers", None)]
    progress = assess_progress(job(), [extraction()], loads=rows, awaited_streams=["customers"])
    assert progress.phase is Phase.PREPARING


def test_error_state_fails_with_warehouse_message() -> None:
    error = {"notification_data": {"warehouse_message": "permission denied for schema shop_db", "error": "X"}}
    rows = [load("customers", 35), load("orders", None, error=error)]
    wait = ReplicationWait.start(job())
    # Seen running with clean loads first: the error that appears after is our load attempt's.
    wait.observe(extractions=[], loads=[load("orders", -100)], loads_listed_first=True)
    progress = wait.observe(
        extractions=[extraction()], loads=rows, awaited=AwaitedStreams(("customers", "orders"), True)
    )
    assert progress.phase is Phase.FAILED
    assert "orders: permission denied for schema shop_db" in progress.reason


def test_no_stream_with_records_succeeds_without_loads() -> None:
    progress = assess_progress(job(), [extraction()], awaited_streams=[])
    assert progress.phase is Phase.SUCCEEDED
    assert "nothing to load" in progress.reason


def test_attached_job_is_the_first_completion_after_attaching() -> None:
    attached = job(name=None, started=10)
    running_before = extraction("1001.2001.sync.prev", start=-300, end=-200)
    assert assess_progress(attached, [running_before]).phase is Phase.EXTRACTING
    # The job we attached to began before we attached; it is ours once it completes after that.
    ours = extraction("1001.2001.sync.bbbb", start=5, end=40)
    progress = assess_progress(attached, [ours], wait_for=WaitFor.EXTRACTION)
    assert progress.phase is Phase.SUCCEEDED
    assert progress.job_name == "1001.2001.sync.bbbb"


def test_a_newer_row_seen_before_ours_makes_the_outcome_unknown_not_the_newer_jobs() -> None:
    newer = extraction("1001.2001.sync.newer", start=100, end=130)
    progress = assess_progress(job(), [newer], wait_for=WaitFor.EXTRACTION)
    assert progress.phase is Phase.UNKNOWN
    assert progress.extraction is None  # never another job's times
    assert progress.superseded_by == "1001.2001.sync.newer"
    assert progress.to_result()["superseded_by"] == "1001.2001.sync.newer"


def test_rows_of_other_sources_are_ignored() -> None:
    other = Extraction.from_api({**extraction().raw, "source_id": 9999})
    assert assess_progress(job(), [other]).phase is Phase.EXTRACTING


def test_awaited_streams_prefer_the_log_then_selected() -> None:
    assert awaited_streams_from({"orders": 5, "customers": None}, ["customers", "orders", "products"]) == [
        "customers",
        "orders",
    ]
    assert awaited_streams_from(None, ["orders", "customers"]) == ["customers", "orders"]
    # Streams the log shows with zero records get no new load: never wait for them.
    assert awaited_streams_from({"orders": 0, "customers": 0}, ["orders", "customers"]) == []
    # A log that names no stream at all says nothing: fall back to the selected streams.
    assert awaited_streams_from({}, ["orders"]) == ["orders"]
    assert awaited_streams_from({}, None) == []


def test_progress_log_reports_changes_and_reminds_while_nothing_changes() -> None:
    now = [0.0]
    tracker = ProgressLog(heartbeat=600, clock=lambda: now[0])
    progress = assess_progress(job(), [])
    assert tracker.changed(progress) == progress.summary()
    now[0] = 300
    assert tracker.changed(assess_progress(job(), [])) is None
    now[0] = 660
    assert (
        tracker.changed(assess_progress(job(), []))
        == f"{progress.summary(with_job=False)}; unchanged for 11 min"
    )
    now[0] = 700
    assert tracker.changed(assess_progress(job(), [])) is None
    done = assess_progress(job(), [extraction()], wait_for=WaitFor.EXTRACTION)
    # The job is named once; later lines give only the source, the phase and the reason.
    assert tracker.changed(done) == done.summary(with_job=False) == "shop_db: succeeded, " + done.reason
    assert "(" not in progress.summary() and progress.summary().count("1001.2001") == 1


def test_result_is_json_serialisable_and_has_every_key() -> None:
    import json

    progress = assess_progress(
        job(), [extraction()], loads=[load(s, 31) for s in STREAMS], awaited_streams=STREAMS
    )
    result = progress.to_result(stitch_client_id=1001, url="https://app.stitchdata.com/client/1001")
    assert json.loads(json.dumps(result)) == result
    assert set(result) == {
        "source_id",
        "source_name",
        "job_name",
        "stitch_client_id",
        "status",
        "reason",
        "extraction_start",
        "extraction_completion",
        "exit_statuses",
        "streams",
        "superseded_by",
        "url",
    }


def uuid1_job(seconds: float, source: int = 2001) -> str:
    """A job name whose version-1 uuid says it was created ``seconds`` after T0 (as Stitch's are)."""
    import uuid

    ticks = int(
        (
            (T0 + dt.timedelta(seconds=seconds)) - dt.datetime(1582, 10, 15, tzinfo=dt.timezone.utc)
        ).total_seconds()
        * 10**7
    )
    fields = (
        ticks & 0xFFFFFFFF,
        (ticks >> 32) & 0xFFFF,
        ((ticks >> 48) & 0x0FFF) | 0x1000,
        0x80,
        0x01,
        0x02FC00000001,
    )
    return f"1001.{source}.sync.{uuid.UUID(fields=fields)}"


def test_newer_job_in_the_same_second_is_told_apart_by_its_uuid() -> None:
    ours = uuid1_job(0.2)
    newer = uuid1_job(0.7)  # created later, started in the same second as our start
    row = extraction(newer, start=0.8, end=0.9)
    progress = assess_progress(JobRef(2001, "shop_db", ours, T0), [row], wait_for=WaitFor.EXTRACTION)
    assert progress.superseded_by == newer


def test_older_job_in_the_same_second_is_told_apart_by_its_uuid() -> None:
    older = uuid1_job(-0.5)
    ours = uuid1_job(0.2)
    row = extraction(older, start=0, end=0.1)  # a quick failure right before our retry
    assert assess_progress(JobRef(2001, "shop_db", ours, T0), [row]).phase is Phase.EXTRACTING


def test_attached_wait_never_takes_the_job_it_saw_at_attach_time() -> None:
    previous = "1001.2001.sync.prev"
    attached = JobRef(2001, "shop_db", None, T0 + dt.timedelta(seconds=10), previous_job_name=previous)
    # The previous job completed in the same second as our attach: without the name it would pass.
    same_second = extraction(previous, start=-300, end=10)
    assert assess_progress(attached, [same_second]).phase is Phase.EXTRACTING
    ours = extraction("1001.2001.sync.running", start=5, end=40)
    assert assess_progress(attached, [ours], wait_for=WaitFor.EXTRACTION).job_name == "1001.2001.sync.running"


def test_job_ref_round_trips() -> None:
    ref = JobRef(2001, "shop_db", None, T0, previous_job_name="1001.2001.sync.prev")
    assert JobRef.from_dict(ref.to_dict()) == ref
    plain = JobRef(2001, "shop_db", JOB, T0)
    assert JobRef.from_dict(plain.to_dict()) == plain


def test_attach_reference_from_the_extractions_listed_at_attach_time() -> None:
    completed = extraction("1001.2001.sync.prev", start=-900, end=-600)
    ref = attach_reference(2001, "shop_db", T0, [completed])
    assert ref is not None and (ref.job_name, ref.previous_job_name) == (None, "1001.2001.sync.prev")
    running = extraction(
        "1001.2001.sync.now", start=-5, end=None, tap_exit_status=None, target_exit_status=None
    )
    ref = attach_reference(2001, "shop_db", T0, [running])
    assert ref is not None and (ref.job_name, ref.previous_job_name) == ("1001.2001.sync.now", None)
    # Nothing completed yet on the source: the first row to appear is the running job.
    ref = attach_reference(2001, "shop_db", T0, [])
    assert ref is not None and (ref.job_name, ref.previous_job_name) == (None, "")
    # The list could not be read: match by time.
    ref = attach_reference(2001, "shop_db", T0, None)
    assert ref is not None and (ref.job_name, ref.previous_job_name) == (None, None)


def test_attach_race_a_row_completed_around_our_attempt_is_undecided() -> None:
    """The running job may have completed before the listing answered: neither ours for sure, nor the
    one before; the operator settles it by asking Stitch to start again."""
    for end in (-5, 0, 5):
        row = extraction("1001.2001.sync.just_done", start=-300, end=end)
        assert attach_reference(2001, "shop_db", T0, [row]) is None
