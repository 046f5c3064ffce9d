"""Hook fixtures: a StitchConnectHook wired to a fresh emulator through a real Airflow connection."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_stitch.hooks import StitchConnectHook

FAST_RETRIES = {"max_attempts": 4, "initial_delay": 0.01, "max_delay": 0.05, "max_elapsed": 5}


@pytest.fixture
def stitch_conn(stitch_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Register the emulator as connection ``stitch_default`` (env var, as users would)."""
    monkeypatch.setenv("AIRFLOW_CONN_STITCH_DEFAULT", stitch_emulator.connection_uri)
    return stitch_emulator


@pytest.fixture
def hook(stitch_conn: Any) -> Iterator[StitchConnectHook]:
    hook = StitchConnectHook(http_retry_policy=FAST_RETRIES, timeout=2)
    yield hook
    hook.close()
