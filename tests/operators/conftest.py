"""Operator fixtures: the emulator as Stitch connections, a real Airflow API server, and a task runner.

Connections are environment variables, as users set them; the Airflow API server is a real
``airflow api-server`` subprocess (``tests/support/airflow_api_server.py``, fixture ``airflow_api`` in
``tests/conftest.py``), started once per session.
"""

from __future__ import annotations

import asyncio
import importlib
import json
from collections.abc import Callable
from typing import Any

import airflow_api_server
import pytest

from airflow_provider_stitch.compat import TaskDeferred


@pytest.fixture
def stitch_conns(stitch_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``stitch_default``: the seeded account 1001; ``stitch_partner``: partner credentials only."""
    monkeypatch.setenv("AIRFLOW_CONN_STITCH_DEFAULT", stitch_emulator.connection_uri)
    monkeypatch.setenv(
        "AIRFLOW_CONN_STITCH_PARTNER",
        stitch_emulator.partner_connection_uri,
    )
    return stitch_emulator


@pytest.fixture
def airflow_api_conn(
    airflow_api: airflow_api_server.AirflowApiServer, monkeypatch: pytest.MonkeyPatch
) -> Any:
    monkeypatch.setenv("AIRFLOW_CONN_AIRFLOW_API", airflow_api.connection_uri)
    return airflow_api


def run_trigger(trigger: Any) -> dict[str, Any]:
    """Rebuild the trigger from its serialized form (as the triggerer does) and run it to its event."""
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**json.loads(json.dumps(kwargs)))

    async def first_event() -> dict[str, Any]:
        async for event in rebuilt.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(first_event())


@pytest.fixture
def run_operator() -> Callable[..., Any]:
    """Execute an operator as a task would: deferral goes through a real trigger run and resume."""

    def run(operator: Any, context: dict[str, Any] | None = None) -> Any:
        context = context or {}
        try:
            return operator.execute(context)
        except TaskDeferred as deferred:
            event = run_trigger(deferred.trigger)
            return getattr(operator, deferred.method_name)(context, event=event, **(deferred.kwargs or {}))

    return run
