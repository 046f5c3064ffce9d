"""Run a replication wait in each mode, as Airflow would: shared by the replication tests.

* ``blocking``: the run operator waits in its worker (``deferrable=False``).
* ``reschedule``: the run operator only starts the job; a sensor in reschedule mode waits for it (given
  the operator's ``stitch_job`` reference), each poke by a new sensor instance, as Airflow runs a
  rescheduled sensor; what pokes establish survives in the task state store.
* ``deferrable``: the run operator defers; each trigger (rebuilt from ``serialize()``, as the triggerer
  does) is driven to its event, then ``execute_complete`` runs (and may defer again at a checkpoint).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import pytest
from replication_support import FAST_RETRIES, SHOP_DB, make_context, resume_deferrals

from airflow_provider_stitch.compat import AirflowRescheduleException, TaskDeferred
from airflow_provider_stitch.hooks.stitch import StitchConnectHook
from airflow_provider_stitch.operators.replication import JOB_XCOM_KEY, StitchRunReplicationJobOperator
from airflow_provider_stitch.sensors.replication import StitchReplicationJobSensor

FAST = {"poll_interval": 20}
#: Wait timeouts are in Stitch time: 200 s is one real second at the tests' time scale.
ONE_SECOND = 200
MODES = ["blocking", "reschedule", "deferrable"]
SLOW_EXTRACTION = {"durations": {"tap": 2000}}  # 100 s at speed 20: still extracting when we give up


def run_op(**kwargs: Any) -> StitchRunReplicationJobOperator:
    params: dict[str, Any] = {"task_id": "replicate", "source_id": SHOP_DB, "http_retry_policy": FAST_RETRIES}
    params.update(FAST)
    params.update(kwargs)
    return StitchRunReplicationJobOperator(**params)


def defer_and_resume(task: Any, context: dict[str, Any]) -> Any:
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(context)
    return resume_deferrals(task, context, deferred.value)


def sense_rescheduled(make_sensor: Callable[[], StitchReplicationJobSensor], context: dict[str, Any]) -> Any:
    """Run a reschedule-mode sensor to its end: a new instance per poke, as Airflow does."""
    ti = context["ti"]
    while True:
        try:
            return make_sensor().execute(context)
        except AirflowRescheduleException as reschedule:
            ti.first_reschedule = ti.first_reschedule or dt.datetime.now(dt.timezone.utc)
            time.sleep(
                max(0.0, (reschedule.reschedule_date - dt.datetime.now(dt.timezone.utc)).total_seconds())
            )


def run_in_mode(mode: str, context: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    """Run the job in ``mode`` and return the XCom value (or raise the task's exception)."""
    context = context or make_context()
    if mode == "blocking":
        return run_op(deferrable=False, **kwargs).execute(context)  # type: ignore[no-any-return]
    if mode == "deferrable":
        return defer_and_resume(run_op(deferrable=True, **kwargs), context)  # type: ignore[no-any-return]
    timeout = kwargs.pop("timeout", 60 * ONE_SECOND) / ONE_SECOND  # the sensor's timeout is real time
    run_op(wait_for_completion=False, **kwargs).execute(context)
    job = context["ti"].xcoms[JOB_XCOM_KEY]

    def sensor() -> StitchReplicationJobSensor:
        return StitchReplicationJobSensor(
            task_id="wait",
            job_reference=job,
            wait_for=kwargs.get("wait_for", "loads"),
            mode="reschedule",
            poke_interval=20,
            timeout=timeout,
            cancel_on_kill=kwargs.get("cancel_on_kill", True),
            http_retry_policy=FAST_RETRIES,
        )

    return sense_rescheduled(sensor, context)  # type: ignore[no-any-return]


def stopped_by(hook: StitchConnectHook) -> str | None:
    """The description of the shop_db row if its last job was stopped ("Terminated")."""
    rows = [row for row in hook.list_extractions() if row.source_id == SHOP_DB]
    return rows[0].tap_description if rows else None
