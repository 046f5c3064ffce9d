"""Stitch Connect emulator: a local, faithful Stitch Connect API with a job engine and a DuckDB warehouse.

Heavy imports (FastAPI, uvicorn) are deferred until ``EmulatorServer`` is first used, so importing this
package (the pytest plugin does) costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_stitch.emulator.client import EmulatorAdmin
    from airflow_provider_stitch.emulator.seed import SeedError
    from airflow_provider_stitch.emulator.server import EmulatorServer, create_app

__all__ = ["EmulatorAdmin", "EmulatorServer", "SeedError", "create_app"]


def __getattr__(name: str) -> Any:
    if name in ("EmulatorServer", "create_app"):
        from airflow_provider_stitch.emulator import server

        return getattr(server, name)
    if name == "EmulatorAdmin":
        from airflow_provider_stitch.emulator.client import EmulatorAdmin

        return EmulatorAdmin
    if name == "SeedError":
        from airflow_provider_stitch.emulator.seed import SeedError

        return SeedError
    raise AttributeError(name)
