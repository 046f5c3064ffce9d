"""The pre-signed log URL gets no header of ours: the emulator refuses, as S3 does, what was not signed."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_stitch.hooks import StitchConnectHook

SHOP_DB = 2001
#: What requests and httpx send on their own for a GET; none of them is part of S3's signature.
CLIENT_DEFAULTS = {"host", "user-agent", "accept", "accept-encoding", "connection"}


def _finished_job(stitch_conn: Any, hook: StitchConnectHook) -> str:
    job_name = hook.start_replication_job(SHOP_DB)
    stitch_conn.admin.advance(10_000)
    return job_name


def _only_client_defaults(seen: dict[str, Any]) -> None:
    assert set(seen["headers"]) <= CLIENT_DEFAULTS, seen
    assert "content-type" not in seen["headers"] and "authorization" not in seen["headers"]
    assert seen["accept"] in (None, "*/*")  # not our application/json


def test_sync_log_download_sends_no_extra_headers(stitch_conn: Any, hook: StitchConnectHook) -> None:
    job_name = _finished_job(stitch_conn, hook)
    assert "replicated" in hook.get_extraction_logs(job_name)
    (seen,) = stitch_conn.admin.log_requests()
    assert seen["job_name"] == job_name
    _only_client_defaults(seen)


async def test_async_log_download_sends_no_extra_headers(stitch_conn: Any) -> None:
    hook = StitchConnectHook(timeout=2)
    job_name = _finished_job(stitch_conn, hook)
    async with hook:
        assert "replicated" in await hook.aget_extraction_logs(job_name)
    (seen,) = stitch_conn.admin.log_requests()
    _only_client_defaults(seen)
    hook.close()


@pytest.mark.parametrize("authenticated", [False, True])
def test_api_requests_still_carry_json_headers(hook: StitchConnectHook, authenticated: bool) -> None:
    # Only the absolute (pre-signed) URL loses them; Stitch's own API keeps JSON and the bearer token.
    from airflow_provider_stitch.api.http import ApiRequest

    headers = hook._headers(ApiRequest("GET", "/v4/sources", authenticated=authenticated), hook.settings)
    assert headers["Accept"] == "application/json"
    assert ("Authorization" in headers) is authenticated
