"""The retry policy, driven through the real sync driver with a scripted transport (no sockets)."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_stitch.api import endpoints
from airflow_provider_stitch.api.http import ApiRequest, ApiResponse, run_sync
from airflow_provider_stitch.api.retry import RetryPolicy, with_retries
from airflow_provider_stitch.api.wait import AwaitedStreams
from airflow_provider_stitch.exceptions import (
    FailureKind,
    StitchAPIError,
    StitchJobAlreadyRunningError,
    StitchTransportError,
)


class ScriptedTransport:
    """Answers requests from a script: an ApiResponse, or an exception to raise."""

    def __init__(self, *script: ApiResponse | Exception) -> None:
        self.script = list(script)
        self.sent: list[ApiRequest] = []
        self.waits: list[float] = []

    def send(self, request: ApiRequest) -> ApiResponse:
        self.sent.append(request)
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)

    def run(self, operation, policy: RetryPolicy | None = None):  # type: ignore[no-untyped-def]
        program = with_retries(operation, policy or RetryPolicy(max_attempts=4, initial_delay=0.5))
        return run_sync(program, self.send, self.sleep)


OK_SOURCES = ApiResponse(200, b'[{"id": 1, "name": "a", "type": "platform.x", "stitch_client_id": 7}]')


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried(status: int, caplog: pytest.LogCaptureFixture) -> None:
    transport = ScriptedTransport(ApiResponse(status, b"oops"), OK_SOURCES)
    with caplog.at_level(logging.WARNING):
        sources = transport.run(endpoints.list_sources())
    assert [s.id for s in sources] == [1]
    assert len(transport.sent) == 2 and len(transport.waits) == 1
    assert f"HTTP {status}" in caplog.text and "attempt 1 of 4" in caplog.text


def test_retry_after_is_honoured() -> None:
    transport = ScriptedTransport(ApiResponse(429, b"{}", {"Retry-After": "7"}), OK_SOURCES)
    transport.run(endpoints.list_sources())
    assert transport.waits[0] >= 7.0


def test_retry_after_is_capped_by_max_delay() -> None:
    transport = ScriptedTransport(ApiResponse(429, b"{}", {"Retry-After": "9999"}), OK_SOURCES)
    transport.run(endpoints.list_sources(), RetryPolicy(max_attempts=3, max_delay=5, max_elapsed=60))
    assert transport.waits == [5.0]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409])
def test_other_4xx_are_never_retried(status: int) -> None:
    transport = ScriptedTransport(ApiResponse(status, b'{"message": "no"}'))
    with pytest.raises(StitchAPIError) as info:
        transport.run(endpoints.list_sources())
    assert info.value.status == status
    assert len(transport.sent) == 1 and transport.waits == []


def test_attempts_are_bounded() -> None:
    transport = ScriptedTransport(*[ApiResponse(503, b"down")] * 4)
    with pytest.raises(StitchAPIError) as info:
        transport.run(endpoints.list_sources())
    assert info.value.status == 503
    assert len(transport.sent) == 4 and len(transport.waits) == 3


def test_total_time_is_bounded() -> None:
    transport = ScriptedTransport(ApiResponse(429, b"{}", {"Retry-After": "30"}), OK_SOURCES)
    with pytest.raises(StitchAPIError):
        transport.run(endpoints.list_sources(), RetryPolicy(max_attempts=5, max_delay=60, max_elapsed=10))
    assert len(transport.sent) == 1


def test_waits_grow_exponentially_with_jitter() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=8.0)
    for attempt, bound in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (6, 8.0)]:
        samples = [policy.backoff(attempt) for _ in range(200)]
        assert max(samples) <= bound and min(samples) >= 0
        assert max(samples) > bound / 2  # jitter spreads over the whole range


def test_connection_errors_are_retried() -> None:
    transport = ScriptedTransport(
        StitchTransportError("refused", failure=FailureKind.NOT_SENT),
        StitchTransportError("reset", failure=FailureKind.AMBIGUOUS),
        OK_SOURCES,
    )
    assert transport.run(endpoints.list_sources())[0].stitch_client_id == 7
    assert len(transport.sent) == 3


def test_non_idempotent_request_is_not_resent_after_an_ambiguous_failure() -> None:
    transport = ScriptedTransport(StitchTransportError("read timeout", failure=FailureKind.AMBIGUOUS))
    with pytest.raises(StitchTransportError, match="may have reached Stitch"):
        transport.run(endpoints.create_source(display_name="Shop", type="platform.postgres"))
    assert len(transport.sent) == 1


def test_non_idempotent_request_is_not_resent_after_a_5xx_but_is_after_a_429() -> None:
    transport = ScriptedTransport(ApiResponse(500, b"boom"))
    with pytest.raises(StitchAPIError):
        transport.run(endpoints.create_source(display_name="Shop", type="platform.postgres"))
    assert len(transport.sent) == 1
    created = ApiResponse(200, b'{"id": 5, "name": "shop", "type": "platform.postgres"}')
    transport = ScriptedTransport(ApiResponse(429, b"{}"), created)
    assert transport.run(endpoints.create_source(display_name="Shop", type="platform.postgres")).id == 5


def test_non_idempotent_request_is_resent_when_it_never_left() -> None:
    created = ApiResponse(200, b'{"id": 5, "name": "shop", "type": "platform.postgres"}')
    transport = ScriptedTransport(StitchTransportError("refused", failure=FailureKind.NOT_SENT), created)
    assert transport.run(endpoints.create_source(display_name="Shop", type="platform.postgres")).id == 5


def test_start_job_resent_after_lost_answer_reports_the_running_job_as_probably_ours() -> None:
    running = ApiResponse(200, b'{"error": {"type": "already_running", "message": "one already exists"}}')
    transport = ScriptedTransport(
        StitchTransportError("read timeout", failure=FailureKind.AMBIGUOUS), running
    )
    with pytest.raises(StitchJobAlreadyRunningError) as info:
        transport.run(endpoints.start_replication_job(2001))
    assert info.value.after_ambiguous_failure is True
    assert info.value.source_id == 2001 and info.value.status == 200


def test_start_job_already_running_without_earlier_failure() -> None:
    running = ApiResponse(200, b'{"error": {"type": "already_running", "message": "one already exists"}}')
    with pytest.raises(StitchJobAlreadyRunningError) as info:
        ScriptedTransport(running).run(endpoints.start_replication_job(2001))
    assert info.value.after_ambiguous_failure is False


def test_start_job_returns_its_name() -> None:
    started = ApiResponse(200, b'{"job_name": "1001.2001.sync.abc"}')
    transport = ScriptedTransport(started)
    assert transport.run(endpoints.start_replication_job(2001)) == "1001.2001.sync.abc"
    assert transport.sent[0].json_body == {}


def test_start_job_without_job_name_is_an_error() -> None:
    with pytest.raises(StitchAPIError, match="no job_name"):
        ScriptedTransport(ApiResponse(200, b"{}")).run(endpoints.start_replication_job(2001))


def test_policy_round_trips_and_validates() -> None:
    policy = RetryPolicy(max_attempts=3, initial_delay=0.25, max_delay=4, max_elapsed=30)
    assert RetryPolicy.from_dict(policy.to_dict()) == policy
    assert RetryPolicy.from_dict(None) == RetryPolicy()
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(max_attempts=0)


def page(rows: list[dict], page_number: int, total: int, next_path: str | None) -> ApiResponse:
    import json

    links = {"next": next_path} if next_path else {}
    return ApiResponse(
        200, json.dumps({"data": rows, "page": page_number, "total": total, "links": links}).encode()
    )


def extraction_row(source_id: int, job: str = "j") -> dict:
    return {
        "job_name": f"1001.{source_id}.sync.{job}",
        "source_id": source_id,
        "start_time": "2026-11-28T10:00:00Z",
    }


def test_pagination_follows_relative_next_links() -> None:
    transport = ScriptedTransport(
        page([extraction_row(i) for i in range(1, 101)], 1, 150, "/v4/1001/extractions?page=2"),
        page([extraction_row(i) for i in range(101, 151)], 2, 150, None),
    )
    rows = transport.run(endpoints.list_extractions(1001))
    assert [r.source_id for r in rows] == list(range(1, 151))
    assert transport.sent[0].params == {"page": 1}
    assert transport.sent[1].path == "/v4/1001/extractions?page=2"
    assert all(request.jobs_endpoint for request in transport.sent)


def test_an_absolute_next_link_stays_on_the_configured_api_host() -> None:
    # links.next is documented as relative; an absolute one (another host, say) must not receive the
    # bearer token: the page is fetched from the connection's own base URL.
    transport = ScriptedTransport(
        page([extraction_row(1)], 1, 2, "https://elsewhere.example/v4/1001/extractions?page=2"),
        page([extraction_row(2)], 2, 2, None),
    )
    rows = transport.run(endpoints.list_extractions(1001))
    assert [r.source_id for r in rows] == [1, 2]
    assert not transport.sent[1].is_absolute
    assert transport.sent[1].path == "/v4/1001/extractions?page=2"


def test_pagination_keeps_one_row_per_source_when_records_shift() -> None:
    # A row that moved between pages shows up twice; the later sighting wins.
    transport = ScriptedTransport(
        page([extraction_row(1, "old"), extraction_row(2)], 1, 3, "/v4/1001/extractions?page=2"),
        page([extraction_row(1, "new")], 2, 3, None),
    )
    rows = transport.run(endpoints.list_extractions(1001))
    assert [(r.source_id, r.job_name) for r in rows] == [(1, "1001.1.sync.new"), (2, "1001.2.sync.j")]


def test_pagination_stops_on_an_empty_page() -> None:
    transport = ScriptedTransport(page([], 1, 0, "/v4/1001/loads?page=2"))
    assert transport.run(endpoints.list_loads(1001)) == []
    assert len(transport.sent) == 1


def test_logs_redirect_is_followed_without_authentication() -> None:
    transport = ScriptedTransport(
        ApiResponse(302, b"", {"Location": "https://logs.example.com/1001.2001.sync.x?signature=abc"}),
        ApiResponse(
            200, b'2026-11-28 12:00:00,000Z tap - INFO replicated 3 records from "orders" endpoint\n'
        ),
    )
    text = transport.run(endpoints.get_extraction_logs(1001, "1001.2001.sync.x"))
    assert "replicated 3 records" in text
    assert transport.sent[0].authenticated and transport.sent[0].jobs_endpoint
    assert not transport.sent[1].authenticated and transport.sent[1].is_absolute


def test_import_token_listing_accepts_both_documented_shapes() -> None:
    transport = ScriptedTransport(ApiResponse(200, b"[815713587]"))
    assert transport.run(endpoints.list_import_tokens(5)) == [{"token_id": 815713587, "created_at": None}]
    transport = ScriptedTransport(
        ApiResponse(200, b'[{"token_id": 9, "created_at": "2021-08-19T00:00:00Z"}]')
    )
    assert transport.run(endpoints.list_import_tokens(5)) == [
        {"token_id": 9, "created_at": "2021-08-19T00:00:00Z"}
    ]


def test_pagination_stops_at_the_page_cap_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(endpoints, "MAX_PAGES", 3)
    transport = ScriptedTransport(
        *[page([extraction_row(i)], i, 999, f"/v4/1001/extractions?page={i + 1}") for i in range(1, 4)]
    )
    with caplog.at_level(logging.WARNING):
        rows = transport.run(endpoints.list_extractions(1001))
    assert len(rows) == 3 and len(transport.sent) == 3
    assert "after 3 pages" in caplog.text


STREAMS_BODY = (
    b'[{"stream_id": 1, "tap_stream_id": "customers", "stream_name": "customers", "selected": true},'
    b' {"stream_id": 2, "tap_stream_id": "orders", "stream_name": "orders", "selected": true},'
    b' {"stream_id": 3, "tap_stream_id": "audit", "stream_name": "audit", "selected": false}]'
)
LOG_302 = ApiResponse(302, b"", {"Location": "https://logs.example.com/x?signature=s"})


def test_awaited_streams_come_from_the_log() -> None:
    log_text = b'x tap - INFO replicated 4 records from "orders" endpoint\ny tap - INFO replicated 0 records from "customers" endpoint'
    transport = ScriptedTransport(LOG_302, ApiResponse(200, log_text))
    assert transport.run(endpoints.awaited_streams(1001, "1001.2001.sync.x", 2001)) == AwaitedStreams(
        ("orders",), final=True
    )
    assert len(transport.sent) == 2  # no streams call needed


def test_awaited_streams_without_a_log_are_the_selected_streams() -> None:
    transport = ScriptedTransport(
        ApiResponse(404, b'{"error": "no such job"}'), ApiResponse(200, STREAMS_BODY)
    )
    # A log not there yet: the selected streams stand in, not final, so the wait asks for the log again.
    assert transport.run(endpoints.awaited_streams(1001, "1001.2001.sync.x", 2001)) == AwaitedStreams(
        ("customers", "orders"), final=False
    )


def test_awaited_streams_do_not_guess_when_the_log_is_unreachable() -> None:
    transport = ScriptedTransport(*[ApiResponse(503, b"down")] * 4)
    with pytest.raises(StitchAPIError) as info:
        transport.run(endpoints.awaited_streams(1001, "1001.2001.sync.x", 2001))
    assert info.value.status == 503  # the caller retries on its next poll instead
