"""The one place that knows which Airflow 3 minor is installed.

The provider supports Airflow 3.1, 3.2 and 3.3 (``constraints/airflow-3.N.txt`` pin what is tested).
Names that moved between minors are imported here, and features that only newer minors have are
named here, so that no other module needs a ``try: import ... except ImportError``:

* ``conf`` is in ``airflow.sdk`` from 3.2; 3.1 only has ``airflow.configuration.conf``.
* The task-control exceptions (``TaskDeferred``, ``AirflowSkipException``, ...) are in
  ``airflow.sdk.exceptions`` from 3.2; 3.1 keeps them in ``airflow.exceptions``.
* ``amask_secret`` (masking without blocking the triggerer's event loop) is new in 3.3.
* ``ResumableJobMixin`` (crash-safe retries through the task state store) is new in 3.3; before it,
  every try attaches to the job still running on the source or starts one (the operator's own rule).
* The triggerer calls ``BaseTrigger.on_kill`` from 3.3 on; before it, killing a deferred task leaves
  the Stitch job running (documented in the README's compatibility table).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import airflow
from packaging.version import Version

if TYPE_CHECKING:
    from airflow.sdk import Context

#: The installed Airflow's release, e.g. ``3.2``.
AIRFLOW_VERSION = Version(Version(airflow.__version__).base_version)
AIRFLOW_V_3_2_PLUS = Version("3.2") <= AIRFLOW_VERSION
AIRFLOW_V_3_3_PLUS = Version("3.3") <= AIRFLOW_VERSION

if AIRFLOW_V_3_2_PLUS:
    from airflow.sdk import conf
    from airflow.sdk.exceptions import (
        AirflowFailException,
        AirflowRescheduleException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )
else:  # Airflow 3.1
    from airflow.configuration import conf  # type: ignore[assignment]
    from airflow.exceptions import (  # type: ignore[no-redef]
        AirflowFailException,
        AirflowRescheduleException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )

#: Whether the triggerer calls a trigger's ``on_kill`` when a user kills the deferred task.
TRIGGER_ON_KILL = AIRFLOW_V_3_3_PLUS
#: Whether ``ResumableJobMixin`` (the task state store) is available.
RESUMABLE_JOBS = AIRFLOW_V_3_3_PLUS

if RESUMABLE_JOBS:
    from airflow.sdk import ResumableJobMixin
else:

    class ResumableJobMixin:  # type: ignore[no-redef]
        """Airflow < 3.3: the same three steps in one try, with no state kept between tries."""

        def __init__(self, *, durable: bool = True, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.durable = durable

        def execute_resumable(self, context: Context) -> Any:
            external_id = self.submit_job(context)  # type: ignore[attr-defined]
            self.poll_until_complete(external_id, context)  # type: ignore[attr-defined]
            return self.get_job_result(external_id, context)  # type: ignore[attr-defined]


async def amask_secret(secret: str) -> None:
    """Register ``secret`` with the log masker from async code (the triggerer's event loop)."""
    if AIRFLOW_V_3_3_PLUS:
        from airflow.sdk.log import amask_secret as _amask

        await _amask(secret)
        return
    # Before 3.3 the sync call cannot block the loop: it masks in this process first, and its message to
    # the supervisor goes through asgiref's async_to_sync, which refuses to run on the event loop's
    # thread (an error Airflow suppresses) instead of waiting on it. Logs are masked in this process.
    from airflow.sdk.log import mask_secret

    mask_secret(secret)


__all__ = [
    "AIRFLOW_VERSION",
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "RESUMABLE_JOBS",
    "TRIGGER_ON_KILL",
    "AirflowFailException",
    "AirflowRescheduleException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "ResumableJobMixin",
    "TaskDeferred",
    "amask_secret",
    "conf",
]
