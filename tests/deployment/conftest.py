"""The real Airflow stack shared by tests/deployment (deselect them with ``-m "not deployment"``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow_stack import AirflowStack, airflow_stack

DAGS_FOLDER = Path(__file__).parent / "dags"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "deployment: runs on a real Airflow stack (api-server, scheduler, dag-processor, triggerer); "
        "slow, deselect with -m 'not deployment'",
    )


@pytest.fixture(scope="session")
def stack() -> Iterator[AirflowStack]:
    began = time.monotonic()
    with airflow_stack(DAGS_FOLDER) as started:
        print(f"\nAirflow stack up in {time.monotonic() - began:.1f} s: {started.startup_seconds}")
        yield started
    print(f"\nAirflow stack stopped: {started.stop_seconds}")


@pytest.fixture
def fresh_stack(stack: AirflowStack) -> Iterator[AirflowStack]:
    """The shared stack with the emulator back at its seed; afterwards, runs left unfinished are failed
    and their triggers gone, so that nothing of one test polls or stops jobs during the next."""
    stack.settle()
    stack.emulator.reset()
    yield stack
    stack.settle()
