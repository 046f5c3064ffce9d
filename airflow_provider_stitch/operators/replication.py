"""Run a Stitch replication job and wait until its data landed; stop a running job.

Thin on purpose: where a job is comes from :class:`~airflow_provider_stitch.api.wait.ReplicationWait`,
every request from :class:`~airflow_provider_stitch.hooks.stitch.StitchConnectHook`. This module wires
them into Airflow's lifecycle: templating, XCom, deferral, ``on_kill``, retries (``ResumableJobMixin``).

Behaviour common to every mode (blocking, deferrable, and the sensor):

* the job is saved before any wait: XCom ``stitch_job`` (and ``stitch_source`` for the extra link),
  and the task state store on Airflow >= 3.3, so a retried task reattaches instead of starting a
  duplicate;
* Stitch answering "already running" attaches to that job (``if_running="attach"``), fails or skips;
* the return value is ``ReplicationProgress.to_result(...)``, identical whatever the mode;
* a failed, cancelled or unknown outcome raises :class:`StitchReplicationError` naming source, job,
  phase and Stitch's reason; a timeout, a kill or a deadline stops the job (best-effort, logged) when
  this task started it and it is still extracting;
* a try that reconnects to an earlier try's job starts a new job if that one ends without its data
  (a clear or a retry means "run again").
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_stitch.api import arguments
from airflow_provider_stitch.api.budget import MIN_POLL_INTERVAL, budget_interval
from airflow_provider_stitch.api.progress import (
    CHECKPOINT,
    ERROR,
    TIMEOUT,
    JobRef,
    Phase,
    ReplicationProgress,
    WaitFor,
    attach_reference,
    outcome_message,
    source_row,
)
from airflow_provider_stitch.api.wait import ReplicationWait, WaitState
from airflow_provider_stitch.compat import (
    AIRFLOW_VERSION,
    TRIGGER_ON_KILL,
    AirflowSkipException,
    ResumableJobMixin,
    conf,
)
from airflow_provider_stitch.exceptions import (
    StitchConfigurationError,
    StitchError,
    StitchJobAlreadyRunningError,
    StitchReplicationError,
)
from airflow_provider_stitch.lineage.assets import (
    DEFAULT_ASSET_ALIAS,
    LoadedTables,
    asset_alias_outlets,
    emit_load_events,
    look_up_loaded_tables,
)
from airflow_provider_stitch.links import SOURCE_LINK_XCOM_KEY, StitchSourceLink, source_url
from airflow_provider_stitch.operators.base import SourceReference, StitchBaseOperator, checked_event
from airflow_provider_stitch.operators.waiting import (
    BlockingWaitDriver,
    defer_timeout,
    raise_for_outcome,
    save_wait_state,
    saved_wait,
    stop_if_ours_and_extracting,
    timeout_error,
    wall_deadline,
)
from airflow_provider_stitch.triggers.replication import StitchReplicationJobTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_stitch.api.objects import Extraction, Source
    from airflow_provider_stitch.hooks.stitch import StitchConnectHook

#: XCom key of the job being waited for (``JobRef.to_dict()``), pushed before waiting.
JOB_XCOM_KEY = "stitch_job"
#: Default poll interval (Stitch time): one poll of a wait costs up to 3 jobs calls (loads, extractions,
#: log).
DEFAULT_POLL_INTERVAL = budget_interval(3)
#: Default wait timeout (Stitch time): nothing waits forever.
DEFAULT_TIMEOUT = dt.timedelta(hours=24)
_WAIT_FOR = tuple(w.value for w in WaitFor)
_IF_RUNNING = ("attach", "fail", "skip")
_WAIT_PHASES = (Phase.EXTRACTING, Phase.PREPARING, Phase.LOADING)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def check_poll_interval(poll_interval: Any, name: str = "poll_interval") -> float:
    """Refuse intervals below the floor: Stitch jobs take minutes, and the budget is 30 calls/10 min."""
    return arguments.seconds(
        poll_interval,
        name,
        minimum=MIN_POLL_INTERVAL,
        why="Stitch allows 30 jobs calls per 10 minutes per account; against the emulator, the "
        "connection's time_scale extra shortens every interval instead",
    )


class _ReplicationWaitMixin:
    """What the run operator and the sensor share: connection, source, XCom, and the three ways of
    driving one :class:`ReplicationWait` (blocking loop, poke, deferral round trips)."""

    stitch_conn_id: str
    source_id: int | str | None
    source_name: str | None
    wait_for: str
    poll_interval: float
    cancel_on_kill: bool
    http_retry_policy: dict[str, Any] | None
    hook: StitchConnectHook
    asset_alias: str | None
    outlets: list[Any]
    _loaded_tables: LoadedTables | None
    _driver: BlockingWaitDriver | None
    log: Any

    def _time_scale(self) -> float:
        return self.hook.settings.time_scale

    def _resolve_source(self) -> Source:
        return SourceReference(self.source_id, self.source_name).resolve(self.hook)

    def _link_data(self, source_id: int) -> tuple[int, str | None]:
        hook = self.hook
        client_id = hook.get_client_id()
        return client_id, source_url(hook.settings.app_url, client_id, source_id)

    def _push_before_waiting(self, context: Context, job: JobRef, client_id: int, url: str | None) -> None:
        ti = context["ti"]
        ti.xcom_push(
            key=SOURCE_LINK_XCOM_KEY,
            value={"source_id": job.source_id, "stitch_client_id": client_id, "url": url},
        )
        ti.xcom_push(key=JOB_XCOM_KEY, value=job.to_dict())
        if url:
            self.log.info("Stitch source page: %s", url)

    def _declare_asset_alias(self, asset_alias: str | None) -> None:
        """Declare the outlet load events are emitted through (no network, no heavy import)."""
        self.asset_alias = asset_alias
        self.outlets = [*self.outlets, *asset_alias_outlets(asset_alias)]

    def _succeeded(self, context: Context, result: dict[str, Any]) -> dict[str, Any]:
        """The task's result once the wait succeeded, with one asset event per loaded stream (and the
        tables kept for OpenLineage, which asks once the task completed)."""
        self._loaded_tables = look_up_loaded_tables(self.hook, result, self.log)
        self._lineage_result = result
        emit_load_events(context, self.asset_alias, self._loaded_tables, result, self.log)
        return result

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage (the ``[openlineage]`` extra): the source's streams in, their tables out, and a
        ``stitchReplication`` run facet with the job name and each stream's load time."""
        from airflow_provider_stitch.lineage.openlineage import replication_lineage

        return replication_lineage(
            getattr(self, "_lineage_result", None), getattr(self, "_loaded_tables", None)
        )

    def _restart(
        self, context: Context, wait: ReplicationWait, deadline: float | None
    ) -> ReplicationWait | None:
        """A new wait when ``wait`` ended without its data and the task should run again; else None."""
        return None

    # --- blocking ------------------------------------------------------------------------------------

    def _wait_blocking(
        self, context: Context, wait: ReplicationWait, deadline: float | None
    ) -> dict[str, Any]:
        """The blocking wait: poll, sleep within budget, until an outcome or the deadline."""
        client_id, url = self._link_data(wait.job.source_id)
        scale = self._time_scale()
        while True:
            driver = self._driver = BlockingWaitDriver(self.hook, wait, self.log)
            checkpoint = wait.checkpoint()
            while True:
                progress = driver.poll_tolerantly()
                if wait.checkpoint() != checkpoint:
                    checkpoint = wait.checkpoint()
                    save_wait_state(context, wait)
                if progress.is_terminal:
                    break
                pause = driver.interval(self.poll_interval, scale)
                if deadline is not None and time.time() + pause > deadline:
                    time.sleep(max(0.0, deadline - time.time()))
                    return self._timed_out(wait, progress.to_result(stitch_client_id=client_id, url=url))
                time.sleep(pause)
            result = progress.to_result(stitch_client_id=client_id, url=url)
            restarted = (
                self._restart(context, wait, deadline) if progress.phase is not Phase.SUCCEEDED else None
            )
            if restarted is None:
                return raise_for_outcome(progress, result)
            wait = restarted

    def _timed_out(self, wait: ReplicationWait, result: dict[str, Any], detail: str | None = None) -> Any:
        stopped = self.cancel_on_kill and stop_if_ours_and_extracting(self.hook, wait, "Timed out", self.log)
        raise timeout_error(result, detail or "no outcome by the deadline", stopped)

    # --- deferrable ---------------------------------------------------------------------------------

    def _defer_wait(self, wait: ReplicationWait, deadline: float | None) -> None:
        client_id, url = self._link_data(wait.job.source_id)
        trigger = StitchReplicationJobTrigger(
            state=wait.state.to_dict(),
            stitch_conn_id=self.stitch_conn_id,
            poll_interval=self.poll_interval,
            deadline=deadline,
            stitch_client_id=client_id,
            url=url,
            cancel_on_kill=self.cancel_on_kill,
            http_retry_policy=self.hook.settings.retry.to_dict(),
        )
        if self.cancel_on_kill and wait.job.started_by_task and not TRIGGER_ON_KILL:
            self.log.info(
                "Airflow %s does not call a trigger's on_kill (3.3 does): killing this task while it "
                "is deferred will not stop the Stitch job",
                AIRFLOW_VERSION,
            )
        self.defer(  # type: ignore[attr-defined]
            trigger=trigger,
            method_name="execute_complete",
            timeout=defer_timeout(deadline, self.poll_interval / self._time_scale()),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume from the trigger: defer again at a milestone, or turn its outcome into the result."""
        event = checked_event(
            event,
            {"status": str, "result": dict, "state": dict},
            statuses=(CHECKPOINT, TIMEOUT, ERROR, *(phase.value for phase in Phase)),
            what="StitchReplicationJobTrigger",
        )
        status = event["status"]
        wait = ReplicationWait(WaitState.from_dict(event["state"]))
        # Killed while resumed (between two deferrals), on_kill still knows the job and its phase.
        self._resumed_wait = wait
        deadline = event.get("deadline")
        if status == CHECKPOINT:
            # Keep what the trigger established in its kwargs (and the task state store): a triggerer
            # restart after this point still knows our extraction's outcome.
            save_wait_state(context, wait)
            self._defer_wait(wait, deadline)
        if status == TIMEOUT:
            return self._timed_out(wait, dict(event["result"]))
        if status == ERROR:
            raise StitchReplicationError(str(event.get("message")), result=dict(event["result"]))
        # The trigger's verdict: a wait rebuilt from its state lacks the loads it judged them by.
        result = dict(event["result"])
        if status == Phase.SUCCEEDED.value:
            self.log.info("%s", outcome_message(status, result))
            return self._succeeded(context, result)
        if restarted := self._restart(context, wait, deadline):
            self._defer_wait(restarted, deadline)
        raise StitchReplicationError(outcome_message(status, result), result=result)


class StitchRunReplicationJobOperator(_ReplicationWaitMixin, ResumableJobMixin, StitchBaseOperator):
    """Start a Stitch replication job and (by default) wait until its data landed in the destination.

    :param source_id: The source's id. Give this or ``source_name``. Templated.
    :param source_name: The source's name (destination schema) or display name, resolved when the task
        runs, never at DAG parse time. Templated.
    :param stitch_conn_id: The Stitch connection. Templated.
    :param wait_for_completion: Wait for the outcome (default). False returns right after the start.
    :param wait_for: ``"loads"`` (default): until every stream with new records is loaded;
        ``"extraction"``: until the extraction completed.
    :param deferrable: Wait in the triggerer, freeing the worker slot. Defaults to
        ``[operators] default_deferrable``.
    :param poll_interval: Seconds between polls (default 60; at least 20). Waits stretch it further
        when needed to stay within Stitch's 30 jobs calls per 10 minutes.
    :param timeout: How long to wait for the outcome (seconds or timedelta; default 24 h). The job is
        stopped when the wait times out (if ``cancel_on_kill`` and this task started it). ``None`` only
        with an ``execution_timeout``: nothing waits forever.
    :param if_running: When Stitch says a job already runs on the source: ``"attach"`` (default) waits
        for that job; ``"fail"`` fails the task; ``"skip"`` skips it (e.g. an hourly DAG whose previous
        run's job is still going, when downstream tasks should not run twice on the same data).
    :param cancel_on_kill: Stop the job when the task is killed, times out, or is marked failed while
        deferred (default True); only a job this task started, and only while it extracts.
    :param http_retry_policy: Overrides the connection's HTTP retry settings (``RetryPolicy.to_dict()``).
    :param asset_alias: The asset alias (declared as an outlet by the operator itself) through which a
        successful run emits one asset event per stream that loaded new records, on the asset naming
        its destination table (see ``docs/data-aware.md``). Default ``"stitch_loads"``; ``None`` emits
        nothing.

    Against the emulator, the connection's ``time_scale`` extra divides ``poll_interval`` and
    ``timeout`` (loopback hosts only), so DAGs keep their production values.
    """

    template_fields: Sequence[str] = ("source_id", "source_name", "stitch_conn_id")
    operator_extra_links = (StitchSourceLink(),)
    ui_color = "#ffd700"
    external_id_key = "stitch_replication_job"

    def __init__(
        self,
        *,
        source_id: int | str | None = None,
        source_name: str | None = None,
        stitch_conn_id: str = "stitch_default",
        wait_for_completion: bool = True,
        wait_for: str = WaitFor.LOADS.value,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float | dt.timedelta | None = DEFAULT_TIMEOUT,
        if_running: str = "attach",
        cancel_on_kill: bool = True,
        http_retry_policy: dict[str, Any] | None = None,
        asset_alias: str | None = DEFAULT_ASSET_ALIAS,
        **kwargs: Any,
    ) -> None:
        super().__init__(stitch_conn_id=stitch_conn_id, http_retry_policy=http_retry_policy, **kwargs)
        self.source_id = source_id
        self.source_name = source_name
        self.check_arguments(rendered=False)
        self._declare_asset_alias(asset_alias)
        if wait_for not in _WAIT_FOR:
            raise StitchConfigurationError(f"wait_for must be one of {_WAIT_FOR}; got {wait_for!r}")
        if if_running not in _IF_RUNNING:
            raise StitchConfigurationError(f"if_running must be one of {_IF_RUNNING}; got {if_running!r}")
        self.wait_for_completion = wait_for_completion
        self.wait_for = wait_for
        self.deferrable = deferrable
        self.poll_interval = check_poll_interval(poll_interval)
        self.timeout = arguments.seconds(timeout, "timeout", allow_none=True)
        if self.timeout is None and self.execution_timeout is None and wait_for_completion:
            raise StitchConfigurationError(
                "timeout=None would let the wait run forever: give a timeout (seconds or timedelta; "
                "default 24 h) or an execution_timeout."
            )
        self.if_running = if_running
        self.cancel_on_kill = cancel_on_kill
        self._driver: BlockingWaitDriver | None = None
        self._source: Source | None = None
        self._result: dict[str, Any] | None = None
        self._reconnected: ReplicationWait | None = None

    # --- execute -------------------------------------------------------------------------------

    def check_arguments(self, *, rendered: bool) -> None:
        SourceReference(self.source_id, self.source_name).check(rendered=rendered)

    def execute(self, context: Context) -> Any:
        self.check_arguments(rendered=True)
        self._source = self._resolve_source()
        if not self.wait_for_completion:
            job = JobRef.from_dict(self.submit_job(context))
            client_id, url = self._link_data(job.source_id)
            self._push_before_waiting(context, job, client_id, url)
            started = ReplicationProgress(Phase.EXTRACTING, job, "started; not waiting for the outcome")
            return started.to_result(stitch_client_id=client_id, url=url)
        return self._succeeded(context, self.execute_resumable(context))

    def _deadline(self, context: Context) -> float | None:
        ti = context.get("ti")
        return wall_deadline(
            self.timeout, self._time_scale(), self.execution_timeout, getattr(ti, "start_date", None)
        )

    # --- ResumableJobMixin ---------------------------------------------------------------------------

    def submit_job(self, context: Context) -> Any:
        """Start the job; on "already running", attach to it (or fail, per ``if_running``)."""
        source = self._source or self._resolve_source()
        first_listing: list[Extraction] | None = None
        for attempt in (1, 2):
            attempted_at = _now()
            try:
                job_name: str | None = self.hook.start_replication_job(source.id)
            except StitchJobAlreadyRunningError as exc:
                if self.if_running == "fail" and not exc.after_ambiguous_failure:
                    raise StitchReplicationError(
                        f"A Stitch job is already running on source {source.label} (if_running='fail'): "
                        f"{exc.message}"
                    ) from None
                if self.if_running == "skip" and not exc.after_ambiguous_failure:
                    raise AirflowSkipException(
                        f"A Stitch job is already running on source {source.label} (if_running='skip'); "
                        "not waiting for it."
                    ) from None
                if attempt == 1:
                    first_listing = self._extractions_at_attach()
                    job = attach_reference(
                        source.id,
                        source.name,
                        attempted_at,
                        first_listing,
                        started_by_task=exc.after_ambiguous_failure,
                    )
                    if job is None:
                        self.log.info(
                            "The job on %s may have finished while we asked; asking Stitch to start one "
                            "again",
                            source.label,
                        )
                        continue
                else:
                    # "Already running" again: the row listed after the first answer completed before
                    # the job running now (whichever job that is), so it is never ours. Listing again
                    # would race that job's own completion.
                    previous = source_row(source.id, first_listing)
                    job = JobRef(
                        source.id,
                        source.name,
                        None,
                        attempted_at,
                        previous.job_name if previous is not None else "",
                        started_by_task=exc.after_ambiguous_failure,
                    )
                why = (
                    "our own start probably reached Stitch before its answer was lost"
                    if exc.after_ambiguous_failure
                    else "a job was already running"
                )
                self.log.info(
                    "Attaching to the running Stitch job %s on %s (%s)",
                    job.job_name or "(name learnt when it completes)",
                    source.label,
                    why,
                )
                return job.to_dict()
            self.log.info("Started Stitch job %s on source %s", job_name, source.label)
            return JobRef(source.id, source.name, job_name, attempted_at, started_by_task=True).to_dict()
        raise AssertionError("unreachable")  # pragma: no cover

    def _extractions_at_attach(self) -> list[Extraction] | None:
        """The extractions list when attaching (one jobs call), so the job before ours is never taken
        for ours; None when it cannot be read (matching then goes by time alone)."""
        try:
            return self.hook.list_extractions()
        except StitchError as exc:
            self.log.warning("Could not list extractions while attaching (%s); matching by time only", exc)
            return None

    def get_job_status(self, external_id: Any, context: Context) -> str:
        """One poll of a job saved by an earlier try (and what that try established): its phase."""
        job = JobRef.from_dict(dict(external_id))
        wait = saved_wait(context, job, WaitFor(self.wait_for)) or ReplicationWait.start(
            job, WaitFor(self.wait_for)
        )
        self._driver = BlockingWaitDriver(self.hook, wait, self.log)
        # An outage here must not fail the retry: the job then counts as running and we reattach.
        progress = self._driver.poll_tolerantly()
        if progress.phase is Phase.SUCCEEDED:
            client_id, url = self._link_data(job.source_id)
            self._result = progress.to_result(stitch_client_id=client_id, url=url)
        elif progress.phase in _WAIT_PHASES:
            # We reconnect to an earlier try's job: if it ends without its data (a clear stops it from
            # the old trigger's on_kill; a user stops it), this try starts a new one.
            wait.state.restart_if_unsuccessful = True
            self._reconnected = wait
        else:
            self.log.info(
                "The earlier try's Stitch job ended %s (%s); starting a new one",
                progress.phase.value,
                progress.reason,
            )
        return progress.phase.value

    def is_job_active(self, status: str) -> bool:
        return status in tuple(p.value for p in _WAIT_PHASES)

    def is_job_succeeded(self, status: str) -> bool:
        return status == Phase.SUCCEEDED.value

    # The mixin returns this method's value when it reconnects to a running job, so it returns the
    # result (its declared return type is None).
    def poll_until_complete(self, external_id: Any, context: Context) -> dict[str, Any]:  # type: ignore[override]
        job = JobRef.from_dict(dict(external_id))
        wait = (
            self._reconnected
            if self._reconnected is not None and self._reconnected.job.source_id == job.source_id
            else None
        )
        wait = wait or ReplicationWait.start(job, WaitFor(self.wait_for))
        self._reconnected = None
        client_id, url = self._link_data(job.source_id)
        self._push_before_waiting(context, job, client_id, url)
        save_wait_state(context, wait)
        deadline = self._deadline(context)
        if self.deferrable:
            self._defer_wait(wait, deadline)
        self._result = self._wait_blocking(context, wait, deadline)
        return self._result

    def get_job_result(self, external_id: Any, context: Context) -> Any:
        return self._result

    def _restart(
        self, context: Context, wait: ReplicationWait, deadline: float | None
    ) -> ReplicationWait | None:
        if not wait.state.restart_if_unsuccessful:
            return None
        real_interval = self.poll_interval / self._time_scale()
        if deadline is not None and deadline - time.time() < 2 * real_interval:
            # No time left for a new job to land: report how the reconnected one ended instead.
            return None
        self.log.info(
            "The Stitch job this try reconnected to ended %s (%s); starting a new job, as a retry or a "
            "clear asks",
            wait.progress.phase.value,
            wait.progress.reason,
        )
        external_id = self.submit_job(context)
        store = context.get("task_state_store")
        if store is not None:
            store.set(self.external_id_key, external_id)
        job = JobRef.from_dict(external_id)
        client_id, url = self._link_data(job.source_id)
        self._push_before_waiting(context, job, client_id, url)
        restarted = ReplicationWait.start(job, WaitFor(self.wait_for))
        save_wait_state(context, restarted)
        return restarted

    # --- kill -------------------------------------------------------------------------------

    def on_kill(self) -> None:
        """The task is killed (or hit execution_timeout) while blocking: stop our job, best-effort."""
        wait = self._driver.wait if self._driver is not None else getattr(self, "_resumed_wait", None)
        if not self.cancel_on_kill or wait is None:
            return
        stop_if_ours_and_extracting(self.hook, wait, "Task killed", self.log)


class StitchStopReplicationJobOperator(StitchBaseOperator):
    """Stop the replication job running on a source (``DELETE /v4/sources/{id}/sync``).

    Stitch stops only what remains of the extraction; data already extracted is still loaded.

    :param source_id: The source's id. Give this or ``source_name``. Templated.
    :param source_name: The source's name or display name. Templated.
    :param stitch_conn_id: The Stitch connection. Templated.
    """

    template_fields: Sequence[str] = ("source_id", "source_name", "stitch_conn_id")
    ui_color = "#ffd700"

    def __init__(
        self,
        *,
        source_id: int | str | None = None,
        source_name: str | None = None,
        stitch_conn_id: str = "stitch_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(stitch_conn_id=stitch_conn_id, **kwargs)
        self.source_id = source_id
        self.source_name = source_name
        self.check_arguments(rendered=False)

    def check_arguments(self, *, rendered: bool) -> None:
        SourceReference(self.source_id, self.source_name).check(rendered=rendered)

    def execute(self, context: Context) -> Any:
        self.check_arguments(rendered=True)
        source = SourceReference(self.source_id, self.source_name).resolve(self.hook)
        answer = self.hook.stop_replication_job(source.id)
        self.log.info("Asked Stitch to stop the job running on source %s", source.label)
        return {"source_id": source.id, "source_name": source.name, "answer": answer}
