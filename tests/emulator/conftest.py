"""Fixtures for the emulator tests (the emulator fixtures themselves come from the package's pytest plugin)."""

from __future__ import annotations

import pytest

from airflow_provider_stitch.emulator import EmulatorServer

from ._support import Api


@pytest.fixture
def api(stitch_emulator: EmulatorServer) -> Api:
    return Api(stitch_emulator)
