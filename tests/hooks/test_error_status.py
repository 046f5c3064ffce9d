"""``StitchAPIError.status_code`` is the HTTP status Stitch answered with (never a default 500)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_stitch.exceptions import (
    StitchAPIError,
    StitchAuthenticationError,
    StitchJobAlreadyRunningError,
    StitchNotFoundError,
    StitchTransportError,
)
from airflow_provider_stitch.hooks import StitchConnectHook


def test_a_400_says_400(hook: StitchConnectHook) -> None:
    with pytest.raises(StitchAPIError) as info:
        hook.create_source(type="platform.no-such-type", display_name="Nope")
    assert info.value.code == "InvalidType"
    assert info.value.status_code == 400
    assert info.value.status == 400  # the older name is the same value


def test_a_404_says_404(hook: StitchConnectHook) -> None:
    with pytest.raises(StitchNotFoundError) as info:
        hook.get_source(999999)
    assert (info.value.status_code, info.value.status) == (404, 404)


async def test_a_404_says_404_async(stitch_conn: Any) -> None:
    hook = StitchConnectHook(timeout=2)
    async with hook:
        with pytest.raises(StitchNotFoundError) as info:
            await hook.aget_source(999999)
    assert info.value.status_code == 404


def test_a_401_says_401(stitch_conn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = json.loads(stitch_conn.connection_uri)
    conn["password"] = "not-a-token-the-emulator-knows"
    monkeypatch.setenv("AIRFLOW_CONN_STITCH_DEFAULT", json.dumps(conn))
    hook = StitchConnectHook(http_retry_policy={"max_attempts": 1}, timeout=2)
    with pytest.raises(StitchAuthenticationError) as info:
        hook.list_sources()
    assert info.value.status_code == 401
    hook.close()


def test_an_error_in_a_200_body_says_200(hook: StitchConnectHook) -> None:
    hook.start_replication_job(2001)
    with pytest.raises(StitchJobAlreadyRunningError) as info:
        hook.start_replication_job(2001)
    assert info.value.status_code == 200  # Stitch answers already_running with HTTP 200


def test_the_status_is_per_instance() -> None:
    a = StitchAPIError("bad", status=400)
    b = StitchAPIError("gone", status=404)
    a.status = 418  # the compatibility alias writes through
    assert (a.status_code, b.status_code) == (418, 404)
    # No HTTP answer, so no HTTP status: a transport error carries none (no borrowed 500).
    assert not hasattr(StitchTransportError("no answer"), "status_code")


def test_no_connection_check_yet_is_not_found_with_404(hook: StitchConnectHook) -> None:
    # A source still at its form step has never been checked; the emulator answers the declared 404.
    created = hook.create_source(type="platform.postgres", display_name="Never Checked")
    with pytest.raises(StitchNotFoundError) as info:
        hook.get_last_connection_check(created.id)
    assert info.value.status_code == 404 and info.value.code == "NotFound"
