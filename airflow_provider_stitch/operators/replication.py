"""Run a Stitch replication job and wait until its data landed; stop a running job.

Thin on purpose: where a job is comes from :func:`~airflow_provider_stitch.api.progress.assess_progress`,
every request from :class:`~airflow_provider_stitch.hooks.stitch.StitchConnectHook`. This module wires
them into Airflow's lifecycle: templating, XCom, deferral, ``on_kill``, retries (``ResumableJobMixin``).

Behaviour common to every mode (blocking, deferrable, and the sensor):

* the job is saved before any wait: XCom ``stitch_job`` (and ``stitch_source`` for the extra link),
  and the task state store on Airflow >= 3.3, so a retried task reattaches instead of starting a
  duplicate;
* Stitch answering "already running" attaches to that job (``if_running="attach"``), fails or skips;
* the return value is ``ReplicationProgress.to_result(...)``, identical whatever the mode;
* a failed or cancelled job raises :class:`StitchReplicationError` naming source, job, phase and
  Stitch's reason; a timeout, a kill or a deadline stops the job (best-effort, logged) when it is still
  extracting.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, conf
from airflow.sdk.exceptions import AirflowSkipException

from airflow_provider_stitch.api import endpoints
from airflow_provider_stitch.api.budget import budget_interval
from airflow_provider_stitch.api.job_names import client_id_from_job_name
from airflow_provider_stitch.api.progress import (
    JobRef,
    Phase,
    ProgressLog,
    ReplicationProgress,
    WaitFor,
    assess_progress,
    attach_reference,
)
from airflow_provider_stitch.exceptions import (
    StitchConfigurationError,
    StitchError,
    StitchJobAlreadyRunningError,
    StitchReplicationError,
)
from airflow_provider_stitch.links import SOURCE_LINK_XCOM_KEY, StitchSourceLink, source_url
from airflow_provider_stitch.triggers.replication import (
    ERROR,
    TIMEOUT,
    StitchReplicationJobTrigger,
    check_poll_interval,
    event_for,
    outcome_message,
    replication_event,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_stitch.api.objects import Extraction, Source
    from airflow_provider_stitch.hooks.stitch import StitchConnectHook

try:  # Airflow >= 3.3: crash-safe retries through the task state store
    from airflow.sdk import ResumableJobMixin
except ImportError:  # pragma: no cover - older Airflow: every try starts (or attaches to) a job

    class ResumableJobMixin:  # type: ignore[no-redef]
        def __init__(self, *, durable: bool = True, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.durable = durable

        def execute_resumable(self, context: Context) -> Any:
            external_id = self.submit_job(context)  # type: ignore[attr-defined]
            self.poll_until_complete(external_id, context)  # type: ignore[attr-defined]
            return self.get_job_result(external_id, context)  # type: ignore[attr-defined]


#: XCom key of the job being waited for (``JobRef.to_dict()``), pushed before waiting.
JOB_XCOM_KEY = "stitch_job"
#: Default poll interval: one poll of a wait costs up to 3 jobs calls (extractions, log, loads).
DEFAULT_POLL_INTERVAL = budget_interval(3)
#: Default wait timeout: nothing waits forever.
DEFAULT_TIMEOUT = dt.timedelta(hours=24)
#: Extra time given to the framework's defer timeout beyond the trigger's own deadline, so the trigger's
#: timeout event (which stops the job) arrives first.
DEFER_TIMEOUT_MARGIN = 120.0
_WAIT_FOR = tuple(w.value for w in WaitFor)
_IF_RUNNING = ("attach", "fail", "skip")


def _seconds(value: float | dt.timedelta | None, name: str) -> float | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, dt.timedelta) else float(value)
    if seconds <= 0:
        raise StitchConfigurationError(f"{name} must be positive; got {value!r}")
    return seconds


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class ReplicationWatch:
    """Polls one job synchronously, for the blocking wait and the sensor's pokes.

    It makes the calls the shared poller makes, for one job: the extractions list, the job's log once
    to learn which streams had records, and loads once the extraction is done. While loading, our
    completed extraction row no longer changes, so it is reused and a poll costs one call (loads).
    """

    def __init__(self, hook: StitchConnectHook, job: JobRef, wait_for: WaitFor, log: Any = None) -> None:
        self.hook = hook
        self.log = log or hook.log
        self.job = job
        self.wait_for = wait_for
        self.awaited: list[str] | None = None
        self.last: ReplicationProgress = assess_progress(job, [], wait_for=wait_for)
        self.calls_last_poll = 0
        self._progress_log = ProgressLog()

    def poll_tolerantly(self) -> ReplicationProgress:
        """:meth:`poll`, but a transient failure (no answer, 429/5xx after the hook's retries) only logs
        and keeps the last progress, as the triggers do: an outage must not fail a wait in one mode
        and not in another."""
        from airflow_provider_stitch.triggers.shared_poller import poll_error_is_fatal

        try:
            return self.poll()
        except Exception as exc:
            if poll_error_is_fatal(exc):
                raise
            self.log.warning("Polling Stitch failed; trying again on the next poll: %s", exc)
            return self.last

    def poll(self) -> ReplicationProgress:
        calls = 0
        done_extraction = (
            self.last.extraction if self.last.phase in (Phase.PREPARING, Phase.LOADING) else None
        )
        extractions: list[Extraction]
        if done_extraction is not None:
            extractions = [done_extraction]
        else:
            extractions = self.hook.list_extractions()
            calls += _pages(len(extractions))
        progress = self._assess(extractions, None)
        if progress.needs_awaited_streams and progress.job_name:
            self.awaited = self._read_awaited_streams(progress.job_name)
            calls += 1
            progress = self._assess(extractions, None)
        if progress.needs_loads:
            loads = self.hook.list_loads()
            calls += _pages(len(loads))
            progress = self._assess(extractions, loads)
        self.calls_last_poll = calls
        self.last = progress
        if (line := self._progress_log.changed(progress)) is not None:
            self.log.info("%s", line)
        return progress

    def _assess(self, extractions: Sequence[Extraction], loads: Sequence[Any] | None) -> ReplicationProgress:
        return assess_progress(
            self.job, extractions, wait_for=self.wait_for, loads=loads, awaited_streams=self.awaited
        )

    def _read_awaited_streams(self, job_name: str) -> list[str]:
        client_id = client_id_from_job_name(job_name) or self.hook.get_client_id()
        return self.hook.run(endpoints.awaited_streams(client_id, job_name, self.job.source_id))

    def interval(self, poll_interval: float, time_scale: float) -> float:
        """The wished interval, stretched so that this wait alone stays within the account's budget."""
        return max(poll_interval, budget_interval(max(1, self.calls_last_poll)) / time_scale)


def _pages(rows: int) -> int:
    from airflow_provider_stitch.triggers.shared_poller import pages_for

    return pages_for(rows)


def raise_for_outcome(event: dict[str, Any]) -> dict[str, Any]:
    """Return the XCom value of a successful outcome; raise with Stitch's reason otherwise."""
    if event["status"] == Phase.SUCCEEDED.value:
        return dict(event["result"])
    raise StitchReplicationError(event["message"], result=event["result"])


def stop_if_extracting(hook: StitchConnectHook, result: dict[str, Any], why: str, log: Any) -> bool:
    """Stop the job of ``result`` (a ``to_result`` dict) when its extraction still runs; True if stopped.

    Best-effort and logged. A job past its extraction is left alone: ``DELETE .../sync`` would stop a
    newer job on the source, and Stitch loads what was extracted anyway.
    """
    source = f"{result.get('source_name')} ({result.get('source_id')})"
    job = result.get("job_name") or "(attached; name not known yet)"
    if result.get("status") != Phase.EXTRACTING.value:
        log.info("%s: Stitch job %s on %s is past its extraction; not stopping it", why, job, source)
        return False
    try:
        hook.stop_replication_job(int(result["source_id"]))
    except Exception as exc:
        log.warning("%s: could not stop the Stitch job %s on %s: %s", why, job, source, exc)
        return False
    log.info("%s: stopped the Stitch job %s on %s", why, job, source)
    return True


def resolve_source(hook: StitchConnectHook, source_id: int | str | None, source_name: str | None) -> Source:
    """The source named by the (rendered) arguments; refuses deleted sources."""
    if source_id not in (None, ""):
        try:
            number = int(str(source_id).strip())
        except ValueError:
            raise StitchConfigurationError(
                f"source_id must be a Stitch source id (an integer); got {source_id!r}"
            ) from None
        source = hook.get_source(number)
    elif source_name:
        source = hook.find_source(str(source_name))
    else:
        raise StitchConfigurationError("Give source_id or source_name (both rendered empty).")
    if source.is_deleted:
        raise StitchConfigurationError(f"Stitch source {source.label} is deleted.")
    return source


def check_one_source(source_id: int | str | None, source_name: str | None) -> None:
    if (source_id in (None, "")) == (not source_name):
        raise StitchConfigurationError(
            f"Give exactly one of source_id or source_name; got source_id={source_id!r}, "
            f"source_name={source_name!r}."
        )


class _ReplicationWaitMixin:
    """What the run operator and the sensor share: connection, source resolution, XCom, deferral."""

    stitch_conn_id: str
    source_id: int | str | None
    source_name: str | None
    wait_for: str
    poll_interval: float
    time_scale: float
    http_retry_policy: dict[str, Any] | None
    _watch: ReplicationWatch | None
    log: Any

    def _hook(self) -> StitchConnectHook:
        from airflow_provider_stitch.hooks.stitch import StitchConnectHook

        if getattr(self, "_cached_hook", None) is None:
            self._cached_hook = StitchConnectHook(self.stitch_conn_id, retry_policy=self.http_retry_policy)
        return self._cached_hook

    def _resolve_source(self) -> Source:
        return resolve_source(self._hook(), self.source_id, self.source_name)

    def _link_data(self, source_id: int) -> tuple[int, str | None]:
        hook = self._hook()
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

    def _trigger(
        self, job: JobRef, deadline: float | None, client_id: int, url: str | None, cancel_on_kill: bool
    ) -> StitchReplicationJobTrigger:
        return StitchReplicationJobTrigger(
            job=job.to_dict(),
            stitch_conn_id=self.stitch_conn_id,
            wait_for=self.wait_for,
            poll_interval=self.poll_interval,
            deadline=deadline,
            stitch_client_id=client_id,
            url=url,
            cancel_on_kill=cancel_on_kill,
            retry_policy=self._hook().settings.retry.to_dict(),
            time_scale=self.time_scale,
        )

    @staticmethod
    def _defer_timeout(deadline: float | None, poll_interval: float) -> dt.timedelta | None:
        if deadline is None:
            return None
        return dt.timedelta(
            seconds=max(0.0, deadline - time.time()) + 2 * poll_interval + DEFER_TIMEOUT_MARGIN
        )

    def _wait_blocking(
        self, job: JobRef, deadline: float | None, client_id: int, url: str | None, stop_on_timeout: bool
    ) -> dict[str, Any]:
        """The blocking wait: poll, sleep within budget, until an outcome or the deadline."""
        hook = self._hook()
        watch = ReplicationWatch(hook, job, WaitFor(self.wait_for), self.log)
        self._watch = watch
        while True:
            progress = watch.poll_tolerantly()
            if progress.is_terminal:
                return raise_for_outcome(event_for(progress, stitch_client_id=client_id, url=url))
            pause = watch.interval(self.poll_interval, self.time_scale)
            if deadline is not None and time.time() + pause > deadline:
                time.sleep(max(0.0, deadline - time.time()))
                progress = watch.poll_tolerantly()
                if progress.is_terminal:
                    return raise_for_outcome(event_for(progress, stitch_client_id=client_id, url=url))
                result = progress.to_result(stitch_client_id=client_id, url=url)
                event = replication_event(TIMEOUT, result, "no outcome by the deadline")
                return self._timed_out(event, stop_on_timeout)
            time.sleep(pause)

    def _timed_out(self, event: dict[str, Any], stop: bool) -> dict[str, Any]:
        message = event["message"]
        if stop and stop_if_extracting(self._hook(), event["result"], "Timed out", self.log):
            message += "; the job was stopped"
        raise StitchReplicationError(message, result=event["result"])

    def _complete_deferred(self, event: dict[str, Any], stop_on_timeout: bool) -> dict[str, Any]:
        """Turn the trigger's event into the return value, or an exception (stopping on timeout)."""
        status = str(event.get("status"))
        if status == TIMEOUT:
            return self._timed_out(event, stop_on_timeout)
        if status != ERROR:
            self.log.info("%s", outcome_message(status, event["result"]))
        return raise_for_outcome(event)


class StitchRunReplicationJobOperator(_ReplicationWaitMixin, ResumableJobMixin, BaseOperator):
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
        stopped when the wait times out (if ``cancel_on_kill``). ``None`` only with an
        ``execution_timeout``: nothing waits forever.
    :param if_running: When Stitch says a job already runs on the source: ``"attach"`` (default) waits
        for that job; ``"fail"`` fails the task; ``"skip"`` skips it (e.g. an hourly DAG whose previous
        run's job is still going, when downstream tasks should not run twice on the same data).
    :param cancel_on_kill: Stop the job when the task is killed, times out, or is marked failed while
        deferred (default True).
    :param http_retry_policy: Overrides the connection's HTTP retry settings (``RetryPolicy.to_dict()``).
    :param time_scale: Emulator tests only: scales every interval and the budget window down by this
        factor (the emulator's speed). Never set it against real Stitch.
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
        time_scale: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_one_source(source_id, source_name)
        if wait_for not in _WAIT_FOR:
            raise StitchConfigurationError(f"wait_for must be one of {_WAIT_FOR}; got {wait_for!r}")
        if if_running not in _IF_RUNNING:
            raise StitchConfigurationError(f"if_running must be one of {_IF_RUNNING}; got {if_running!r}")
        self.source_id = source_id
        self.source_name = source_name
        self.stitch_conn_id = stitch_conn_id
        self.wait_for_completion = wait_for_completion
        self.wait_for = wait_for
        self.deferrable = deferrable
        self.poll_interval = check_poll_interval(poll_interval, time_scale)
        self.timeout = _seconds(timeout, "timeout")
        if self.timeout is None and self.execution_timeout is None and wait_for_completion:
            raise StitchConfigurationError(
                "timeout=None would let the wait run forever: give a timeout (seconds or timedelta; "
                "default 24 h) or an execution_timeout."
            )
        self.if_running = if_running
        self.cancel_on_kill = cancel_on_kill
        self.http_retry_policy = http_retry_policy
        self.time_scale = time_scale
        self._watch: ReplicationWatch | None = None
        self._source: Source | None = None
        self._result: dict[str, Any] | None = None

    # --- execute -------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        self._source = self._resolve_source()
        if not self.wait_for_completion:
            job = JobRef.from_dict(self.submit_job(context))
            client_id, url = self._link_data(job.source_id)
            self._push_before_waiting(context, job, client_id, url)
            started = ReplicationProgress(Phase.EXTRACTING, job, "started; not waiting for the outcome")
            return started.to_result(stitch_client_id=client_id, url=url)
        return self.execute_resumable(context)

    def _deadline(self, context: Context) -> float | None:
        """Wall-clock deadline: the wait timeout, and the task's execution_timeout if sooner."""
        candidates = []
        if self.timeout is not None:
            candidates.append(time.time() + self.timeout)
        if self.execution_timeout is not None:
            ti = context.get("ti")
            start = getattr(ti, "start_date", None) or _now()
            candidates.append(start.timestamp() + self.execution_timeout.total_seconds())
        return min(candidates) if candidates else None

    # --- ResumableJobMixin ---------------------------------------------------------------------------

    def submit_job(self, context: Context) -> Any:
        """Start the job; on "already running", attach to it (or fail, per ``if_running``)."""
        assert self._source is not None
        source = self._source
        attempted_at = _now()
        try:
            job_name: str | None = self._hook().start_replication_job(source.id)
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
            why = (
                "our own start probably reached Stitch before its answer was lost"
                if exc.after_ambiguous_failure
                else "a job was already running"
            )
            job = attach_reference(source.id, source.name, attempted_at, self._extractions_at_attach())
            self.log.info(
                "Attaching to the running Stitch job %s on %s (%s)",
                job.job_name or "(name learnt when it completes)",
                source.label,
                why,
            )
            return job.to_dict()
        self.log.info("Started Stitch job %s on source %s", job_name, source.label)
        return JobRef(source.id, source.name, job_name, attempted_at).to_dict()

    def _extractions_at_attach(self) -> list[Extraction] | None:
        """The extractions list when attaching (one jobs call), so the job before ours is never taken
        for ours; None when it cannot be read (matching then goes by time alone)."""
        try:
            return self._hook().list_extractions()
        except StitchError as exc:
            self.log.warning("Could not list extractions while attaching (%s); matching by time only", exc)
            return None

    def get_job_status(self, external_id: Any, context: Context) -> str:
        """One poll of a job saved by an earlier try: its phase."""
        job = JobRef.from_dict(dict(external_id))
        self._watch = ReplicationWatch(self._hook(), job, WaitFor(self.wait_for), self.log)
        # An outage here must not fail the retry: the job then counts as running and we reattach.
        progress = self._watch.poll_tolerantly()
        if progress.phase is Phase.SUCCEEDED:
            client_id, url = self._link_data(job.source_id)
            self._result = progress.to_result(stitch_client_id=client_id, url=url)
        return progress.phase.value

    def is_job_active(self, status: str) -> bool:
        return status in (Phase.EXTRACTING.value, Phase.PREPARING.value, Phase.LOADING.value)

    def is_job_succeeded(self, status: str) -> bool:
        return status == Phase.SUCCEEDED.value

    # The mixin returns this method's value when it reconnects to a running job, so it returns the
    # result (its declared return type is None).
    def poll_until_complete(self, external_id: Any, context: Context) -> dict[str, Any]:  # type: ignore[override]
        job = JobRef.from_dict(dict(external_id))
        client_id, url = self._link_data(job.source_id)
        self._push_before_waiting(context, job, client_id, url)
        deadline = self._deadline(context)
        if self.deferrable:
            self.defer(
                trigger=self._trigger(job, deadline, client_id, url, self.cancel_on_kill),
                method_name="execute_complete",
                timeout=self._defer_timeout(deadline, self.poll_interval),
            )
        self._result = self._wait_blocking(job, deadline, client_id, url, self.cancel_on_kill)
        return self._result

    def get_job_result(self, external_id: Any, context: Context) -> Any:
        return self._result

    # --- resume, kill -------------------------------------------------------------------------------

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        return self._complete_deferred(event, self.cancel_on_kill)

    def on_kill(self) -> None:
        """The task is killed (or hit execution_timeout) while blocking: stop the job, best-effort."""
        if not self.cancel_on_kill or self._watch is None:
            return
        stop_if_extracting(self._hook(), self._watch.last.to_result(), "Task killed", self.log)


class StitchStopReplicationJobOperator(BaseOperator):
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
        super().__init__(**kwargs)
        check_one_source(source_id, source_name)
        self.source_id = source_id
        self.source_name = source_name
        self.stitch_conn_id = stitch_conn_id

    def execute(self, context: Context) -> Any:
        from airflow_provider_stitch.hooks.stitch import StitchConnectHook

        hook = StitchConnectHook(self.stitch_conn_id)
        source = resolve_source(hook, self.source_id, self.source_name)
        answer = hook.stop_replication_job(source.id)
        self.log.info("Asked Stitch to stop the job running on source %s", source.label)
        return {"source_id": source.id, "source_name": source.name, "answer": answer}
