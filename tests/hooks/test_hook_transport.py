"""Retries, timeouts, redirects and secrets, over real HTTP with the emulator's fault injection."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from airflow_provider_stitch.api import endpoints
from airflow_provider_stitch.exceptions import (
    StitchAPIError,
    StitchJobAlreadyRunningError,
    StitchTransportError,
)
from airflow_provider_stitch.hooks import StitchConnectHook

TOKEN = "ac_emulator_demo_token"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_then_success(
    stitch_conn: Any,
    hook: StitchConnectHook,
    status: int,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stitch_conn.admin.inject_fault("GET", "/v4/sources", status=status, count=2)
    with caplog.at_level(logging.WARNING):
        assert hook.list_sources()
    # Airflow's structlog writes task-hook logs to stdout; plain logging goes to caplog.
    logged = caplog.text + capsys.readouterr().out
    assert logged.count(f"HTTP {status}") == 2
    assert "retrying in" in logged


@pytest.mark.parametrize("retry_after", [None, 0.05])
def test_429_then_success(stitch_conn: Any, hook: StitchConnectHook, retry_after: float | None) -> None:
    stitch_conn.admin.inject_fault("GET", "/v4/sources", status=429, retry_after=retry_after, count=1)
    assert hook.list_sources()


def test_retries_give_up_with_the_last_error(stitch_conn: Any, hook: StitchConnectHook) -> None:
    stitch_conn.admin.inject_fault("GET", "/v4/sources", status=503, count=10)
    with pytest.raises(StitchAPIError) as info:
        hook.list_sources()
    assert info.value.status == 503


def test_dropped_connection_is_retried(stitch_conn: Any, hook: StitchConnectHook) -> None:
    stitch_conn.admin.inject_fault("GET", "/v4/sources", kind="drop", count=1)
    assert hook.list_sources()


def test_timeout_is_retried_then_succeeds(stitch_conn: Any, hook: StitchConnectHook) -> None:
    stitch_conn.admin.inject_fault("GET", "/v4/sources", kind="latency", latency=3, count=1)
    assert hook.list_sources()  # the hook's timeout is 2 s: first attempt times out, second answers


def test_html_error_page_is_summarised(stitch_conn: Any, hook: StitchConnectHook) -> None:
    stitch_conn.admin.inject_fault("GET", "/v4/sources/2001", kind="html", status=502, count=10)
    with pytest.raises(StitchAPIError) as info:
        hook.get_source(2001)
    assert info.value.status == 502
    assert "<" not in info.value.message


def test_malformed_json_is_reported(stitch_conn: Any, hook: StitchConnectHook) -> None:
    stitch_conn.admin.inject_fault("GET", "/v4/sources/2001", kind="malformed", count=1)
    with pytest.raises(StitchAPIError, match="malformed JSON"):
        hook.get_source(2001)


def test_start_job_after_a_lost_answer_never_starts_a_duplicate(
    stitch_conn: Any, hook: StitchConnectHook
) -> None:
    # The first POST reaches the emulator but answers after the hook's 2 s timeout; the hook resends.
    stitch_conn.admin.inject_fault("POST", "/v4/sources/2001/sync", kind="latency", latency=3, count=1)
    try:
        job_name = hook.start_replication_job(2001)
        assert job_name.startswith("1001.2001.sync.")
    except StitchJobAlreadyRunningError as exc:
        # The delayed first attempt won the race: the resend reports it, flagged as probably ours.
        assert exc.after_ambiguous_failure is True
    # Either way exactly one job runs on the source.
    with pytest.raises(StitchJobAlreadyRunningError) as info:
        hook.start_replication_job(2001)
    assert info.value.after_ambiguous_failure is False


def test_create_source_is_not_resent_after_a_lost_answer(stitch_conn: Any, hook: StitchConnectHook) -> None:
    stitch_conn.admin.inject_fault("POST", "/v4/sources", kind="latency", latency=3, count=1)
    with pytest.raises(StitchTransportError, match="may have reached Stitch"):
        hook.create_source(display_name="Once Only", type="platform.hubspot")
    assert len([s for s in hook.list_sources() if s.display_name == "Once Only"]) <= 1


def test_unreachable_server(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "stitch", "host": "http://127.0.0.1:9", "password": TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_STITCH_DEFAULT", json.dumps(conn))
    hook = StitchConnectHook(http_retry_policy={"max_attempts": 2, "initial_delay": 0.01})
    with pytest.raises(StitchTransportError, match="No answer from Stitch") as raised:
        hook.list_sources()
    # What the connection form's Test button shows: the cause in words and how many attempts were made.
    assert "connection refused" in str(raised.value)
    assert "gave up after 2 attempts" in str(raised.value)
    assert TOKEN not in str(raised.value)


async def test_unreachable_server_async_names_the_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "stitch", "host": "http://127.0.0.1:9", "password": TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_STITCH_DEFAULT", json.dumps(conn))
    hook = StitchConnectHook(retry_policy={"max_attempts": 1})
    with pytest.raises(StitchTransportError, match=r"connection refused.*gave up after 1 attempt"):
        await hook.arun(endpoints.list_sources())


def test_unknown_host_names_the_dns_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "stitch", "host": "https://stitch.invalid", "password": TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_STITCH_DEFAULT", json.dumps(conn))
    ok, message = StitchConnectHook(retry_policy={"max_attempts": 1}).test_connection()
    assert not ok
    assert "DNS lookup failed" in message and "gave up after 1 attempt" in message


def test_secrets_never_appear_in_logs_or_errors(
    stitch_conn: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    conn = json.loads(stitch_conn.connection_uri)
    conn["extra"] = {"partner_id": "oc_emulator_partner", "partner_secret": "oc_emulator_partner_secret"}
    monkeypatch.setenv("AIRFLOW_CONN_STITCH_DEFAULT", json.dumps(conn))
    hook = StitchConnectHook(http_retry_policy={"max_attempts": 2, "initial_delay": 0.01})
    stitch_conn.admin.inject_fault("GET", "/v4/sources", status=503, count=5)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(StitchAPIError) as info:
            hook.list_sources()
        account = hook.create_account(first_name="A", last_name="B", company="C", email="sec@example.com")
    captured = capsys.readouterr()
    texts = [
        str(info.value),
        repr(info.value),
        caplog.text,
        captured.out,
        captured.err,
        repr(hook),
        repr(account),
    ]
    for secret in (TOKEN, "oc_emulator_partner_secret", account.access_token):
        assert all(secret not in text for text in texts)


def test_an_unreachable_log_url_keeps_its_presigned_credentials_out_of_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow_provider_stitch.api.http import ApiRequest

    conn = {"conn_type": "stitch", "host": "http://127.0.0.1:9", "password": TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_STITCH_DEFAULT", json.dumps(conn))
    hook = StitchConnectHook()
    # Where Stitch's logs endpoint redirects: a pre-signed S3 URL whose query string is a credential.
    url = "http://127.0.0.1:9/1001.2001.sync.ab12?X-Amz-Security-Token=presigned-secret&X-Amz-Signature=s1g"
    with pytest.raises(StitchTransportError) as info:
        hook._send(ApiRequest("GET", url, authenticated=False), settings=hook.settings)
    assert "presigned-secret" not in str(info.value)
    assert "s1g" not in str(info.value)
    assert "pre-signed log URL" in str(info.value)
