"""``kill -9`` of a blocking replication task's process mid-wait, on a real Airflow stack.

The task runner process dies as under the OOM killer: no ``on_kill``, no chance to say anything. Its
supervisor reports the try failed, Airflow schedules the retry, and the retry must find the job the
first try started (the task state store, ``ResumableJobMixin``) and wait for it: one Stitch job in the
emulator's ground truth, and a success with that job's data.
"""

from __future__ import annotations

import time

import pytest
from airflow_stack import AirflowStack, StackError

pytestmark = pytest.mark.deployment

DAG_ID = "stitch_blocking_replication"
TASK_ID = "replicate"
SHOP_DB = 2001
SHOP_DB_STREAMS = {"customers", "orders", "products"}


def _wait_job_saved(stack: AirflowStack, run, timeout: float = 60.0) -> str:
    """Until the running try has saved its job (XCom ``stitch_job``, pushed before it waits)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            job = stack.xcom(run, TASK_ID, "stitch_job")
        except StackError:
            job = None
        if job and job.get("job_name"):
            return str(job["job_name"])
        if time.monotonic() > deadline:
            raise StackError(
                f"the task saved no Stitch job in {timeout:g} s\n{stack.diagnostics(run, TASK_ID)}"
            )
        time.sleep(0.3)


def test_killed_blocking_task_retries_and_reattaches_to_the_same_job(fresh_stack: AirflowStack) -> None:
    stack = fresh_stack
    # 20 s of extraction at speed 20: the retry starts while the job still extracts.
    stack.emulator.update_scenario(SHOP_DB, durations={"tap": 400})
    run = stack.trigger(DAG_ID)
    ti = stack.wait_for_state(run, TASK_ID, "running", timeout=90)
    job_name = _wait_job_saved(stack, run)
    assert stack.extraction_row(SHOP_DB) is None or stack.extraction_row(SHOP_DB)["job_name"] != job_name

    ti = stack.task_instance(run, TASK_ID)
    assert ti["state"] == "running" and ti["try_number"] == 1, ti
    stack.kill_task_process(ti)

    ti = stack.wait_for_state(run, TASK_ID, "success", timeout=180, min_try_number=2)
    assert ti["try_number"] == 2, "the kill should cost exactly one try"
    first_try = stack.task_log(run, TASK_ID, 1)
    # The supervisor saw its task process die of our signal (and says so in the try's log).
    assert "Process terminated by signal" in first_try and '"signal_name":"SIGKILL"' in first_try.replace(
        " ", ""
    ), first_try[-3000:]
    second_try = stack.task_log(run, TASK_ID, 2)
    assert "Reconnecting to existing job" in second_try, second_try[-3000:]
    assert "Started Stitch job" not in second_try
    result = stack.xcom(run, TASK_ID)
    assert result["status"] == "succeeded" and result["job_name"] == job_name, result
    assert {name for name, s in result["streams"].items() if s["status"] == "loaded"} == SHOP_DB_STREAMS
    # Ground truth: one job on the source, the first try's, and it was never stopped.
    jobs = stack.emulator.jobs(SHOP_DB)
    assert [job["job_name"] for job in jobs] == [job_name], jobs
    assert jobs[0].get("stopped_by") is None, jobs[0]
