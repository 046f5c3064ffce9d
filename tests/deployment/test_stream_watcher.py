"""The AssetWatcher example on a real Airflow stack: its trigger runs in a real triggerer, keeps its
cursor in Airflow's asset state store, and fires once per Stitch-scheduled load, also after the
triggerer is killed (``kill -9``) and another one starts.

Its own stack (not the shared one of tests/deployment): a watcher polls for as long as its DAG exists,
and the shared stack's tests wait for no trigger to be left.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow_stack import AirflowStack, StackError

pytestmark = pytest.mark.deployment

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "stitch_scheduled_loads"
ASSET = "stitch_shop_db_loads"
SHOP_DB = 2001
STREAMS = {"customers", "orders", "products"}


class SchedulingStack(AirflowStack):
    """The stack with the scheduler creating DAG runs by schedule, asset-triggered runs among them (the
    shared stack turns that off: its DAGs only run when a test triggers them)."""

    def _airflow_env(self) -> dict[str, str]:
        return super()._airflow_env() | {"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "True"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowStack]:
    dags = tmp_path_factory.mktemp("watcher-dags")
    shutil.copy2(REPO / "example_dags" / "example_stitch_scheduled_loads.py", dags)
    with SchedulingStack(dags) as started:
        yield started


def asset_events(stack: AirflowStack) -> list[dict[str, Any]]:
    rows = stack.query_db(
        "SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE a.name = ? ORDER BY e.id",
        (ASSET,),
    )
    return [json.loads(extra)["payload"] for (extra,) in rows]


def cursor(stack: AirflowStack) -> dict[str, str] | None:
    rows = stack.query_db(
        "SELECT s.value FROM asset_state_store s JOIN asset a ON a.id = s.asset_id WHERE a.name = ?", (ASSET,)
    )
    return json.loads(rows[0][0]) if rows else None


def wait(what: str, check: Any, stack: AirflowStack, timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise StackError(f"{what} did not happen in {timeout} s\n{stack.diagnostics(lines=30)}")
        time.sleep(0.5)
    return value


def scheduled_job(stack: AirflowStack) -> dict[str, str]:
    """Stitch's own schedule starts a job (no Airflow task); its streams' real load times once done."""
    time.sleep(1.1)  # Stitch's timestamps have second precision
    name = stack.emulator.start_job(SHOP_DB, started_by="schedule")["job_name"]
    truth = wait("the scheduled job", lambda: (t := stack.emulator.job(name))["finished_at"] and t, stack, 60)
    return {stream: s["loaded_at"] for stream, s in truth["streams"].items() if s["load"] == "loaded"}


def test_fires_once_per_load_and_not_again_after_a_triggerer_restart(stack: AirflowStack) -> None:
    stack.wait_for_dag(DAG_ID)
    wait("the watcher's baseline in the asset state store", lambda: cursor(stack) is not None, stack)
    assert asset_events(stack) == []

    first = scheduled_job(stack)
    assert set(first) == STREAMS
    events = wait("3 asset events", lambda: len(e := asset_events(stack)) >= 3 and e, stack)
    assert {e["stream"]: e["loaded_at"] for e in events} == first
    # The DAG ran on them.
    runs = wait("a run of the DAG", lambda: stack.api("GET", f"/dags/{DAG_ID}/dagRuns")["dag_runs"], stack)
    assert runs[0]["run_type"] == "asset_triggered"
    run = wait(
        "the run's end",
        lambda: (
            (r := stack.api("GET", f"/dags/{DAG_ID}/dagRuns/{runs[0]['dag_run_id']}"))["state"]
            in ("success", "failed")
            and r
        ),
        stack,
    )
    assert run["state"] == "success"
    reported = stack.api(
        "GET",
        f"/dags/{DAG_ID}/dagRuns/{runs[0]['dag_run_id']}/taskInstances/report_loads/xcomEntries/return_value",
    )
    assert {load["stream"] for load in reported["value"]} <= STREAMS and reported["value"]

    stack.kill_triggerer()
    stack.start_triggerer()
    # Another triggerer picks the watcher up from the metadata DB and resumes from the stored cursor.
    stored = cursor(stack)
    time.sleep(15)  # several passes of the new triggerer (poll_interval 60 s at speed 20: 3 s)
    assert len(asset_events(stack)) == 3
    assert cursor(stack) == stored == first

    second = scheduled_job(stack)
    later = wait("3 more asset events", lambda: len(e := asset_events(stack)) >= 6 and e, stack)
    assert len(later) == 6
    assert {e["stream"]: (e["loaded_at"], e["previous_loaded_at"]) for e in later[3:]} == {
        stream: (second[stream], first[stream]) for stream in STREAMS
    }
