"""pytest plugin (registered through the ``pytest11`` entry point): ``stitch_emulator`` fixtures.

``stitch_emulator`` shares one server per test session and resets it to the seed before each test, so it
is cheap; ``stitch_emulator_factory`` starts dedicated servers for non-default options.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_provider_stitch.emulator.server import EmulatorServer

# Fast enough that a whole demo job (about 19 s of phases at speed 1) finishes in about one second.
FIXTURE_SPEED = 20.0


@pytest.fixture(scope="session")
def _stitch_emulator_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    from airflow_provider_stitch.emulator.server import EmulatorServer

    server = EmulatorServer(
        speed=FIXTURE_SPEED, warehouse_path=tmp_path_factory.mktemp("stitch-emulator") / "warehouse.duckdb"
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def stitch_emulator(_stitch_emulator_session: EmulatorServer) -> EmulatorServer:
    """A running emulator with the default seed and fresh state.

    It runs at speed 20; ``admin.advance(seconds)`` skips ahead without sleeping.
    """
    _stitch_emulator_session.admin.reset()
    return _stitch_emulator_session


@pytest.fixture
def stitch_emulator_factory(tmp_path: Path) -> Iterator[Callable[..., EmulatorServer]]:
    """Start emulators with ``EmulatorServer`` keyword arguments; all are stopped after the test."""
    from airflow_provider_stitch.emulator.server import EmulatorServer

    servers: list[EmulatorServer] = []

    def factory(**kwargs: Any) -> EmulatorServer:
        kwargs.setdefault("warehouse_path", tmp_path / f"warehouse-{len(servers)}.duckdb")
        server = EmulatorServer(**kwargs)
        server.start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()
