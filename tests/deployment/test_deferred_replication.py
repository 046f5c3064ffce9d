"""Deferral, clear, mark-failed and a triggerer crash, on a real Airflow stack (demo/airflow_stack.py).

``dag.test()`` runs triggers inline in the test process; these behaviours live in Airflow's own
processes, so here the task runs in a LocalExecutor worker, waits in a separate triggerer process, and is
cleared, marked failed or orphaned through the REST API and signals, as a user or a crash would.
"""

from __future__ import annotations

import time

import pytest
from airflow_stack import AirflowStack, StackError

pytestmark = pytest.mark.deployment

DAG_ID = "stitch_deferred_replication"
TASK_ID = "replicate"
SHOP_DB = 2001
SHOP_DB_STREAMS = {"customers", "orders", "products"}


def _assert_landed(stack: AirflowStack, result: dict) -> None:
    """The XCom says every stream loaded, and the rows are in the emulator's warehouse."""
    assert result["status"] == "succeeded", result
    assert {name for name, s in result["streams"].items() if s["status"] == "loaded"} == SHOP_DB_STREAMS
    counts = stack.warehouse_counts("shop_db")
    assert set(counts) == SHOP_DB_STREAMS and all(counts.values()), counts


def _wait_extraction_row(stack: AirflowStack, job_name: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        row = stack.extraction_row(SHOP_DB)
        if row is not None and row["job_name"] == job_name:
            return row
        if time.monotonic() > deadline:
            raise StackError(f"no completed extraction of {job_name} (row: {row})\n{stack.diagnostics()}")
        time.sleep(0.5)


def test_deferrable_replication_completes_through_the_triggerer(fresh_stack: AirflowStack) -> None:
    stack = fresh_stack
    run = stack.trigger(DAG_ID)

    stack.wait_for_state(run, TASK_ID, "deferred", timeout=90)
    ti = stack.wait_for_state(run, TASK_ID, "success", timeout=120)

    assert ti["try_number"] == 1
    _assert_landed(stack, stack.xcom(run, TASK_ID))
    assert stack.jobs_started(SHOP_DB) == 1
    # The wait ran in the triggerer, not in the worker: the triggerer wrote its part of the task log.
    trigger_log = stack.wait_for_trigger_started(run, TASK_ID, timeout=5)
    assert "Trigger fired event" in trigger_log
    # At the stack's speed the job ends seconds after the deferral (and after a checkpoint's re-deferral,
    # if the trigger sees the extraction complete before the loads): a real triggerer held each event
    # (Airflow's deferral race, triggers/replication.py DEFERRAL_SETTLE); dag.test() never does.
    folder = stack.home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run.run_id}" / f"task_id={TASK_ID}"
    parts = [path.read_text(errors="replace") for path in folder.glob("attempt=1.log.trigger.*.log")]
    assert parts, folder
    assert all("the task resumes in" in part for part in parts), parts


def test_clear_while_deferred_ends_with_landed_data(fresh_stack: AirflowStack) -> None:
    """A cleared task's new try ends with landed data (design: Cleanup)."""
    stack = fresh_stack
    # Long enough an extraction that the clear lands while the first try's job still extracts.
    stack.emulator.update_scenario(SHOP_DB, durations={"tap": 200})  # 10 s at speed 20
    run = stack.trigger(DAG_ID)
    stack.wait_for_state(run, TASK_ID, "deferred", timeout=90)

    stack.clear(run, TASK_ID)

    ti = stack.wait_for_state(run, TASK_ID, "success", timeout=180, min_try_number=2)
    assert ti["try_number"] == 2
    _assert_landed(stack, stack.xcom(run, TASK_ID))


def test_triggerer_killed_mid_wait_another_one_finishes_the_wait(fresh_stack: AirflowStack) -> None:
    stack = fresh_stack
    stack.emulator.update_scenario(SHOP_DB, durations={"tap": 200})  # 10 s at speed 20
    run = stack.trigger(DAG_ID)
    stack.wait_for_state(run, TASK_ID, "deferred", timeout=90)
    # Really mid-wait: the trigger runs in the triggerer and the job is still extracting.
    stack.wait_for_trigger_started(run, TASK_ID)
    job_name = stack.xcom(run, TASK_ID, "stitch_job")["job_name"]
    row = stack.extraction_row(SHOP_DB)
    assert row is None or row["job_name"] != job_name, "the job finished before the kill"

    stack.kill_triggerer()
    stack.start_triggerer()

    ti = stack.wait_for_state(run, TASK_ID, "success", timeout=180)
    assert ti["try_number"] == 1
    result = stack.xcom(run, TASK_ID)
    assert result["job_name"] == job_name
    _assert_landed(stack, result)
    assert stack.jobs_started(SHOP_DB) == 1


def test_mark_failed_while_deferred_stops_the_job(fresh_stack: AirflowStack) -> None:
    stack = fresh_stack
    stack.emulator.update_scenario(SHOP_DB, durations={"tap": 6000})  # 5 min at speed 20
    run = stack.trigger(DAG_ID)
    stack.wait_for_state(run, TASK_ID, "deferred", timeout=90)
    job_name = stack.xcom(run, TASK_ID, "stitch_job")["job_name"]
    # Marked failed before a triggerer picks the trigger up, nothing runs on_kill (Airflow only kills
    # running triggers): mark it failed while the triggerer really waits.
    stack.wait_for_trigger_started(run, TASK_ID)

    stack.mark(run, TASK_ID, "failed")

    row = _wait_extraction_row(stack, job_name, timeout=60)
    assert {row[f"{phase}_description"] for phase in ("discovery", "tap", "target")} == {"Terminated"}, row
    truth = stack.emulator.job(job_name)
    assert (truth["stopped_by"], truth["stopped_in"], truth["verdict"]) == ("api", "tap", "cancelled"), truth
    assert stack.task_instance(run, TASK_ID)["state"] == "failed"
    assert stack.jobs_started(SHOP_DB) == 1
