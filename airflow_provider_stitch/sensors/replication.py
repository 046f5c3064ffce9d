"""StitchReplicationJobSensor: wait for a replication job's outcome (poke, reschedule or deferrable).

It waits either for a given job (``job_name``, usually the run operator's XCom) or, without a job name,
for the next extraction of the source that completes after ``started_after``. Its return value is the
run operator's: ``ReplicationProgress.to_result(...)``, the same in every mode.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import json
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_stitch.api.job_names import is_job_name, job_created_at, source_id_from_job_name
from airflow_provider_stitch.api.objects import parse_timestamp
from airflow_provider_stitch.api.progress import TIMEOUT, JobRef, WaitFor, outcome_message
from airflow_provider_stitch.api.wait import ReplicationWait
from airflow_provider_stitch.compat import AirflowSensorTimeout, conf
from airflow_provider_stitch.exceptions import StitchConfigurationError
from airflow_provider_stitch.lineage.assets import DEFAULT_ASSET_ALIAS
from airflow_provider_stitch.links import StitchSourceLink
from airflow_provider_stitch.operators.base import SourceReference, StitchBaseOperator, is_given
from airflow_provider_stitch.operators.replication import (
    _WAIT_FOR,
    DEFAULT_POLL_INTERVAL,
    _ReplicationWaitMixin,
    check_poll_interval,
)
from airflow_provider_stitch.operators.waiting import (
    BlockingWaitDriver,
    raise_for_outcome,
    save_wait_state,
    saved_wait,
    stop_if_ours_and_extracting,
    wall_deadline,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["StitchReplicationJobSensor"]


#: CPython 3.11's AST constructor is not safe across threads (two sensors poking at once in one process
#: raised "SystemError: AST constructor recursion depth mismatch" in the scenario suite).
_LITERAL_EVAL_LOCK = threading.Lock()


class StitchReplicationJobSensor(_ReplicationWaitMixin, BaseSensorOperator, StitchBaseOperator):
    """Wait until a Stitch replication job succeeded; fail with Stitch's reason if it failed.

    :param job_reference: The job to wait for as the run operator's XCom ``stitch_job`` says it, e.g.
        ``"{{ ti.xcom_pull(task_ids='start', key='stitch_job') }}"`` (a dict, or its rendered text).
        The safest way: it also covers a start task that attached to a running job whose name is not
        known yet (it names the job before that one, which is never taken for it). Templated.
    :param job_name: The job to wait for (``<client>.<source>.sync.<uuid>``), e.g.
        ``"{{ ti.xcom_pull(task_ids='start')['job_name'] }}"``. Its source is read from the name
        when ``source_id`` and ``source_name`` are not given. Templated.
    :param source_id: The source, by id. Templated.
    :param source_name: The source, by name or display name. Templated.
    :param started_after: Without ``job_name``: wait for the first extraction completing at or after this
        time. With ``job_name``: a job on the source that started after this time proves ours finished.
        ISO-8601 string or datetime; defaults to when the sensor first ran. Templated.
    :param wait_for: ``"loads"`` (default) or ``"extraction"``.
    :param deferrable: Wait in the triggerer. Defaults to ``[operators] default_deferrable``.
    :param poke_interval: Seconds between pokes (Stitch time; default 60, at least 20; stretched to the
        budget; the connection's ``time_scale`` divides it against the emulator).
    :param cancel_on_kill: Stop the job named by ``job_name`` when the sensor is killed or times out
        while the job is still extracting. Off by default, since a sensor usually watches a job it did
        not start; turn it on when the sensor is the only waiter of a job started with
        ``wait_for_completion=False``. A sensor without ``job_name`` never stops anything.
    :param stitch_conn_id: The Stitch connection. Templated.
    :param asset_alias: As the run operator's: the alias a successful wait emits one asset event per
        loaded stream through (declared as an outlet by the sensor); ``None`` emits nothing.

    ``timeout`` (BaseSensorOperator's, real seconds) and ``execution_timeout`` bound the wait in every
    mode; the deferred wait ends at the sooner of the two.
    """

    template_fields: Sequence[str] = (
        "job_reference",
        "job_name",
        "source_id",
        "source_name",
        "started_after",
        "stitch_conn_id",
    )
    operator_extra_links = (StitchSourceLink(),)
    ui_color = "#ffd700"

    def __init__(
        self,
        *,
        job_reference: dict[str, Any] | str | None = None,
        job_name: str | None = None,
        source_id: int | str | None = None,
        source_name: str | None = None,
        started_after: str | dt.datetime | None = None,
        stitch_conn_id: str = "stitch_default",
        wait_for: str = WaitFor.LOADS.value,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float = DEFAULT_POLL_INTERVAL,
        cancel_on_kill: bool = False,
        http_retry_policy: dict[str, Any] | None = None,
        asset_alias: str | None = DEFAULT_ASSET_ALIAS,
        **kwargs: Any,
    ) -> None:
        poke_interval = check_poll_interval(poke_interval, "poke_interval")
        super().__init__(
            poke_interval=poke_interval,
            stitch_conn_id=stitch_conn_id,
            http_retry_policy=http_retry_policy,
            **kwargs,
        )
        self._declare_asset_alias(asset_alias)
        if job_reference is not None and (
            job_name or is_given(source_id) or is_given(source_name) or started_after
        ):
            raise StitchConfigurationError(
                "job_reference names the job and its source: give it alone, without job_name, source_id, "
                "source_name or started_after."
            )
        if job_reference is None and not job_name and not is_given(source_id) and not is_given(source_name):
            raise StitchConfigurationError(
                "Give job_reference (the run operator's XCom 'stitch_job'), job_name, or the source "
                "(source_id or source_name)."
            )
        if is_given(source_id) or is_given(source_name):
            # A job name or reference names its source; a source given as well follows the one rule.
            SourceReference(source_id, source_name).check()
        if wait_for not in _WAIT_FOR:
            raise StitchConfigurationError(f"wait_for must be one of {_WAIT_FOR}; got {wait_for!r}")
        self.job_reference = job_reference
        self.job_name = job_name
        self.source_id = source_id
        self.source_name = source_name
        self.started_after = started_after
        self.wait_for = wait_for
        self.deferrable = deferrable
        self.poll_interval = poke_interval
        self.cancel_on_kill = cancel_on_kill
        self._driver: BlockingWaitDriver | None = None
        self._link: tuple[int, str | None] | None = None

    # --- what to wait for ---------------------------------------------------------------------------

    def _job(self, context: Context) -> JobRef:
        if self.job_reference is not None:
            return self._referenced_job()
        job_name = str(self.job_name).strip() if self.job_name not in (None, "") else None
        if job_name is not None and not is_job_name(job_name):
            raise StitchConfigurationError(
                f"job_name must be a Stitch job name (<client id>.<source id>.sync.<id>); got {job_name!r}. "
                "A start task that attached to a running job pushes job_name None until the job completes: "
                "wait in that task instead (wait_for_completion=True), or give this sensor the source and "
                "started_after, leaving job_name out."
            )
        if job_name and not is_given(self.source_id) and not is_given(self.source_name):
            self.source_id = source_id_from_job_name(job_name)
            if self.source_id is None:
                raise StitchConfigurationError(
                    f"Cannot read the source id from job name {job_name!r}; give source_id too."
                )
        source = self._resolve_source()
        named_source = source_id_from_job_name(job_name) if job_name else None
        if named_source is not None and named_source != source.id:
            raise StitchConfigurationError(
                f"Job {job_name!r} runs on source {named_source}, not on the given source {source.label}: "
                "the wait could never see it. Give the job's own source, or leave source_id and "
                "source_name out (the job name names its source)."
            )
        return JobRef(
            source.id,
            source.name,
            job_name or None,
            self._since(context),
            # Only the user can tell the sensor that the named job is theirs to stop.
            started_by_task=bool(job_name) and self.cancel_on_kill,
        )

    def _referenced_job(self) -> JobRef:
        reference: Any = self.job_reference
        if isinstance(reference, str):
            # Jinja renders the XCom dict as Python's repr unless the DAG renders native objects.
            try:
                with _LITERAL_EVAL_LOCK:
                    reference = ast.literal_eval(reference.strip())
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                try:
                    reference = json.loads(reference)
                except ValueError:
                    reference = None
        try:
            job = JobRef.from_dict(reference) if isinstance(reference, dict) else None
        except (KeyError, TypeError, ValueError):
            job = None
        if job is None or (job.job_name is not None and not is_job_name(job.job_name)):
            raise StitchConfigurationError(
                "job_reference must be the run operator's XCom 'stitch_job' (a dict with source_id, "
                f"started_after and a Stitch job name or null); got {self.job_reference!r}"
            )
        self.source_id, self.source_name = job.source_id, None
        source = self._resolve_source()
        # Only the user can tell the sensor that the job is theirs to stop.
        return dataclasses.replace(
            job, source_name=source.name, started_by_task=job.started_by_task and self.cancel_on_kill
        )

    def _since(self, context: Context) -> dt.datetime:
        if self.started_after not in (None, ""):
            since = parse_timestamp(self.started_after)
            if since is None:
                raise StitchConfigurationError(
                    f"started_after must be an ISO-8601 time or a datetime; got {self.started_after!r}"
                )
            return since
        created = job_created_at(self.job_name) if self.job_name else None
        if created is not None:
            # The job's own creation time: a job listed as started after it is newer than ours, even
            # when both finished before this sensor first ran.
            return created
        ti = context.get("ti")
        first: dt.datetime | None = None
        if ti is not None and self.reschedule and hasattr(ti, "get_first_reschedule_date"):
            first = ti.get_first_reschedule_date(context)
        first = first or getattr(ti, "start_date", None)
        return first or dt.datetime.now(dt.timezone.utc)

    # --- modes ----------------------------------------------------------------------------------------

    def _deadline(self, context: Context) -> float:
        ti = context.get("ti")
        deadline = wall_deadline(
            float(self.timeout), 1.0, self.execution_timeout, getattr(ti, "start_date", None)
        )
        assert deadline is not None
        return deadline

    def execute(self, context: Context) -> Any:
        if self.deferrable:
            job = self._job(context)
            client_id, url = self._link_data(job.source_id)
            self._push_before_waiting(context, job, client_id, url)
            # Defer at once: every jobs call of the wait then goes through the triggerer's shared poller.
            self._defer_wait(ReplicationWait.start(job, WaitFor(self.wait_for)), self._deadline(context))
        try:
            return super().execute(context)
        except AirflowSensorTimeout:
            if self.cancel_on_kill and self._driver is not None:
                stop_if_ours_and_extracting(self.hook, self._driver.wait, "Sensor timed out", self.log)
            raise

    def poke(self, context: Context) -> bool | PokeReturnValue:
        if self._driver is None:
            job = self._job(context)
            self._link = self._link_data(job.source_id)
            self._push_before_waiting(context, job, *self._link)
            # A rescheduled sensor is a new process: what earlier pokes established is in the store.
            wait = saved_wait(context, job, WaitFor(self.wait_for)) or ReplicationWait.start(
                job, WaitFor(self.wait_for)
            )
            self._driver = BlockingWaitDriver(self.hook, wait, self.log)
        assert self._link is not None
        driver = self._driver
        before = driver.wait.state.to_dict()
        progress = driver.poll_tolerantly()
        if driver.wait.state.to_dict() != before:
            save_wait_state(context, driver.wait)
        if not progress.is_terminal:
            # Stretch the next pause (read by BaseSensorOperator) to what this poke cost in budget.
            self.poke_interval = driver.interval(self.poll_interval, self._time_scale())
            return False
        client_id, url = self._link
        result = progress.to_result(stitch_client_id=client_id, url=url)
        return PokeReturnValue(True, self._succeeded(context, raise_for_outcome(progress, result)))

    def _timed_out(self, wait: ReplicationWait, result: dict[str, Any], detail: str | None = None) -> Any:
        """The deferred sensor's deadline: the same exception as a poke or reschedule sensor's timeout
        (so ``soft_fail`` and retries behave alike in every mode), after stopping the job if ours."""
        stopped = self.cancel_on_kill and stop_if_ours_and_extracting(
            self.hook, wait, "Sensor timed out", self.log
        )
        message = outcome_message(TIMEOUT, result, detail or "no outcome by the sensor's timeout")
        raise AirflowSensorTimeout(message + ("; the job was stopped" if stopped else ""))

    def on_kill(self) -> None:
        if self.cancel_on_kill and self._driver is not None:
            stop_if_ours_and_extracting(self.hook, self._driver.wait, "Sensor killed", self.log)
