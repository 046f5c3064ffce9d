"""The generated-scenario suite's emulator: one account with a pool of busy sources, one per worker."""

from __future__ import annotations

import json
import queue
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

# The suite's modules import each other by name, as tests/support's do.
sys.path.insert(0, str(Path(__file__).parent))

from runner import SPEED, TIME_SCALE

#: Scenarios run side by side, each on its own source (its own destination schema) of one account.
WORKERS = 12
FIRST_SOURCE_ID = 5001


def _seed() -> dict[str, Any]:
    seed = json.loads(
        resources.files("airflow_provider_stitch.emulator").joinpath("default_seed.json").read_text()
    )
    account = seed["accounts"][0]
    template = next(s for s in account["sources"] if s["name"] == "shop_db")
    account["sources"] = [
        {**template, "id": FIRST_SOURCE_ID + i, "display_name": f"Busy {i:02d}", "name": f"busy_{i:02d}"}
        for i in range(WORKERS)
    ]
    return seed


@pytest.fixture(scope="session")
def scenario_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from airflow_provider_stitch.emulator.server import EmulatorServer

    server = EmulatorServer(
        seed=_seed(), speed=SPEED, warehouse_path=tmp_path_factory.mktemp("scenarios") / "warehouse.duckdb"
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def scenario_sources(scenario_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> queue.Queue[tuple[int, str]]:
    """The pool of sources, and ``stitch_default`` pointing at the emulator in the suite's time scale."""
    connection = json.loads(scenario_emulator.connection_uri)
    connection["extra"]["time_scale"] = TIME_SCALE
    monkeypatch.setenv("AIRFLOW_CONN_STITCH_DEFAULT", json.dumps(connection))
    pool: queue.Queue[tuple[int, str]] = queue.Queue()
    for i in range(WORKERS):
        pool.put((FIRST_SOURCE_ID + i, f"busy_{i:02d}"))
    return pool
