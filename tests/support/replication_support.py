"""Shared by the replication operator, sensor and trigger tests: the emulator's shop_db with short
phases, fast HTTP retries, and the small part of a task instance the components use.

Registered as a pytest plugin by tests/conftest.py, so its fixtures (``emulator``, ``hook``) are
available to every test.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_stitch import compat
from airflow_provider_stitch.compat import TaskDeferred
from airflow_provider_stitch.hooks.stitch import StitchConnectHook

SHOP_DB = 2001
STREAMS = ["customers", "orders", "products"]

#: The connection's time scale in these tests: 20 s of Stitch time (the poll floor) is 0.1 s.
TIME_SCALE = 200.0
#: Every phase of a shop_db job takes 1 emulated second (1/20 s at the fixture's speed 20).
SHORT_PHASES = {"discovery": 1, "tap": 1, "target": 1, "preparation": 1, "load": 1}
FAST_RETRIES = {"max_attempts": 5, "initial_delay": 0.01, "max_delay": 0.05, "max_elapsed": 5}


EXTRACTIONS_ROUTE = "GET /v4/{stitch_client_id}/extractions"


def extraction_reads(emulator: Any) -> int:
    """Reads of the extractions list since the emulator's last reset (admin calls are not counted):
    how many times the waits have looked."""
    return int(emulator.admin.stats()["by_route"].get(EXTRACTIONS_ROUTE, 0))


def wait_until(condition: Any, timeout: float = 20.0) -> Any:
    """``condition()``'s first truthy value; the timeout only keeps a broken test from hanging."""
    until = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < until, "condition not met in time"
        time.sleep(0.02)
    return value


def scenario(emulator: Any, **fields: Any) -> None:
    """Set shop_db's scenario, with short phases unless the scenario says otherwise."""
    emulator.admin.set_scenario(
        SHOP_DB, **{**fields, "durations": {**SHORT_PHASES, **fields.get("durations", {})}}
    )


class FakeTaskInstance:
    """What the components use of a task instance: XCom, dates, stats tags."""

    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}
        self.start_date = dt.datetime.now(dt.timezone.utc)
        self.stats_tags: dict[str, str] = {}
        self.first_reschedule: dt.datetime | None = None

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = json.loads(json.dumps(value))  # XCom values must survive JSON

    def get_first_reschedule_date(self, context: Any) -> dt.datetime | None:
        return self.first_reschedule


class TaskStateStore(dict):  # type: ignore[type-arg]
    """The task state store survives retries of a task; a dict does in tests."""

    def set(self, key: str, value: Any, **_: Any) -> None:
        self[key] = value


def make_context(store: TaskStateStore | None = None) -> dict[str, Any]:
    """A task's context: its instance, its state store, and Airflow's own outlet event accessors (where
    a successful wait adds its asset events)."""
    from airflow.sdk.execution_time.context import OutletEventAccessors

    return {
        "ti": FakeTaskInstance(),
        "task_state_store": store if store is not None else TaskStateStore(),
        "outlet_events": OutletEventAccessors(),
    }


@pytest.fixture
def emulator(stitch_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The emulator as ``stitch_default`` (intervals divided by :data:`TIME_SCALE`), shop_db with short
    phases."""
    connection = json.loads(stitch_emulator.connection_uri)
    connection["extra"]["time_scale"] = TIME_SCALE
    monkeypatch.setenv("AIRFLOW_CONN_STITCH_DEFAULT", json.dumps(connection))
    scenario(stitch_emulator)
    return stitch_emulator


@pytest.fixture
def hook(emulator: Any) -> Iterator[StitchConnectHook]:
    hook = StitchConnectHook(http_retry_policy=FAST_RETRIES)
    yield hook
    hook.close()


def drive_trigger(trigger: Any) -> dict[str, Any]:
    """Rebuild the trigger from its serialized form, as the triggerer does, and get its one event."""
    classpath, kwargs = trigger.serialize()
    module, name = classpath.rsplit(".", 1)
    rebuilt = getattr(importlib.import_module(module), name)(**json.loads(json.dumps(kwargs)))

    async def first_event() -> dict[str, Any]:
        return (await anext(rebuilt.run())).payload  # type: ignore[no-any-return]

    return asyncio.run(first_event())


def resume_deferrals(task: Any, context: dict[str, Any], deferred: TaskDeferred) -> Any:
    """Drive each deferral's trigger and resume the task, as the triggerer and a worker would, until the
    task returns or raises (a wait defers again once its extraction completed)."""
    while True:
        assert deferred.method_name == "execute_complete"
        event = drive_trigger(deferred.trigger)
        try:
            return task.execute_complete(context, event)
        except TaskDeferred as again:
            deferred = again


#: Tests of retries that resume through the task state store (``ResumableJobMixin``, Airflow 3.3+). On
#: older minors a retry attaches through Stitch's "already running" answer instead, which
#: test_already_running_attaches_to_that_job covers on every minor.
needs_task_state_store = pytest.mark.skipif(
    not compat.RESUMABLE_JOBS,
    reason=f"Airflow {compat.AIRFLOW_VERSION} has no ResumableJobMixin task state store (3.3+)",
)

#: dag.test() of a task that defers, on Airflow 3.2 only: Airflow 3.2.2's in-process execution API fails
#: to build its task-state schema (PydanticUserError: "Model 'TITerminalStatePayload' needs a
#: discriminator field for key ti_state_discriminator") as the task defers, inside Airflow's own code,
#: with pydantic 2.12.5 and 2.14.4 and cadwyn 7.0.0 and 9.0.0 alike. 3.1 and 3.3 run these tests.
dag_test_defers = pytest.mark.skipif(
    compat.AIRFLOW_V_3_2_PLUS and not compat.AIRFLOW_V_3_3_PLUS,
    reason="Airflow 3.2.2's dag.test() cannot run a deferring task (TITerminalStatePayload schema error)",
)
