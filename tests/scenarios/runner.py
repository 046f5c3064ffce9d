"""Play one generated scenario against the emulator in one mode, through the public operators/sensor.

Everything around the wait happens as on a busy Stitch account: an earlier job's load error, someone
else's job running when the task starts, Stitch's schedule starting a newer job while our loads run,
a user stopping our job, 5xx/429 bursts; and around the task as in Airflow: a triggerer restart (the
trigger rebuilt from ``serialize()``), a worker crash and its retry (the task state store survives),
a clear while deferred (the old trigger's ``on_kill`` runs, a new try starts).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import importlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from generator import DURATIONS, STREAMS, Scenario
from replication_support import FAST_RETRIES, TaskStateStore
from replication_support import make_context as _make_context

from airflow_provider_stitch.compat import AirflowRescheduleException, AirflowSensorTimeout, TaskDeferred
from airflow_provider_stitch.exceptions import StitchReplicationError
from airflow_provider_stitch.hooks.stitch import StitchConnectHook
from airflow_provider_stitch.operators.replication import JOB_XCOM_KEY, StitchRunReplicationJobOperator
from airflow_provider_stitch.sensors.replication import StitchReplicationJobSensor

#: The connection's time scale: 20 Stitch seconds (the poll floor) are 0.1 s.
TIME_SCALE = 200.0
#: The emulator's speed: a Stitch second of a job phase lasts 1/20 s.
SPEED = 20.0
#: Wait timeout in real seconds (converted to the operator's Stitch time by TIME_SCALE).
TIMEOUT_S = 60.0
SHORT_TIMEOUT_S = 1.5
SETTLE_S = 30.0


class WorkerCrash(BaseException):
    """The worker process died: no on_kill, no exception handling, nothing runs after it."""


@dataclass
class Run:
    scenario: Scenario
    mode: str
    source_id: int
    source_name: str
    began: float = 0.0
    ended: float = 0.0
    deadline_s: float = TIMEOUT_S
    outcome: str = "none"
    result: dict[str, Any] | None = None
    message: str = ""
    #: The job someone else started, running when the task began (the task attaches to it).
    attached_to: str | None = None
    #: The job references the task pushed (XCom ``stitch_job``), in order: what it waited for.
    refs: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    truth: list[dict[str, Any]] = field(default_factory=list)


class _CrashingHook(StitchConnectHook):
    def __init__(self, conn_id: str, crash_after: int) -> None:
        super().__init__(conn_id, http_retry_policy=FAST_RETRIES)
        self.calls = 0
        self.crash_after = crash_after

    def list_extractions(self) -> Any:
        self.calls += 1
        if self.calls > self.crash_after:
            raise WorkerCrash()
        return super().list_extractions()


class _RecordingTaskInstance:
    """Wraps the test task instance: every ``stitch_job`` push is recorded on the run."""

    def __init__(self, ti: Any, run: Run) -> None:
        self._ti, self._run = ti, run

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ti, name)

    def xcom_push(self, key: str, value: Any) -> None:
        if key == JOB_XCOM_KEY:
            self._run.refs.append(json.loads(json.dumps(value)))
        self._ti.xcom_push(key, value)


class ScenarioRunner:
    def __init__(self, emulator: Any, source_id: int, source_name: str) -> None:
        self.emulator = emulator
        self.admin = emulator.admin
        self.source_id = source_id
        self.source_name = source_name

    # --- set-up ----------------------------------------------------------------------------------

    def _jobs(self) -> list[dict[str, Any]]:
        return list(self.admin.jobs(self.source_id))

    def _settle(self, timeout: float = SETTLE_S) -> None:
        """End the world around a run: stop what still extracts (as a user would), wait for its loads."""
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            pending = [j for j in self._jobs() if j["verdict"] is None]
            if not pending:
                return
            for job in pending:
                if job["phase"] in ("discovery", "tap", "target"):
                    with contextlib.suppress(Exception):
                        self.admin.stop_job(job["job_name"])
            time.sleep(0.05)

    def _wait_job(self, job_name: str, key: str, timeout: float = SETTLE_S) -> dict[str, Any]:
        until = time.monotonic() + timeout
        while True:
            job = self.admin.job(job_name)
            if job.get(key) is not None or time.monotonic() > until:
                return job
            time.sleep(0.05)

    def _scenario(self, **fields: Any) -> None:
        self.admin.set_scenario(self.source_id, **{"durations": dict(DURATIONS), **fields})

    def _our_scenario(self, s: Scenario) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if s.failure in ("discovery", "tap", "target"):
            fields[f"fail_{s.failure}"] = f"our {s.failure} failed (seed {s.seed})"
        elif s.failure:
            stream = s.failure.split(":", 1)[1]
            fields["load_errors"] = {stream: f"our load of {stream} failed (seed {s.seed})"}
        if s.zero_record_streams:
            fields["zero_record_streams"] = list(s.zero_record_streams)
        if s.slow_load_stream:
            fields["slow_loads"] = {s.slow_load_stream: 8}
        if s.log_unavailable_for:
            fields["log_unavailable_for"] = s.log_unavailable_for
        if s.times_out:
            fields["durations"] = {**DURATIONS, "tap": 600}
        return fields

    def prepare(self, s: Scenario) -> None:
        self._settle()
        self._scenario()
        if s.earlier_load_error:
            stream = s.earlier_load_error
            self._scenario(load_errors={stream: f"an earlier job's load of {stream} failed (seed {s.seed})"})
            earlier = self.admin.start_job(self.source_id, "admin")["job_name"]
            self._wait_job(earlier, "verdict")
        self._scenario(**self._our_scenario(s))

    # --- the world around the wait ------------------------------------------------------------------

    def _our_job(self, began_iso: str, attached: str | None) -> dict[str, Any] | None:
        if attached:
            return self.admin.job(attached)
        ours = [j for j in self._jobs() if j["started_by"] == "api" and j["created_at"] >= began_iso]
        return ours[-1] if ours else None

    def _choreography(self, s: Scenario, run: Run, began_iso: str, stop: threading.Event) -> None:
        try:
            if s.fault_burst:
                status, count = s.fault_burst
                time.sleep(0.05)
                for path in ("/v4/1001/extractions", "/v4/1001/loads"):
                    retry_after = 0.05 if status == 429 else None
                    self.admin.inject_fault("GET", path, status=status, count=count, retry_after=retry_after)
            if s.stopped_by_user or s.retry_after_stop or s.newer_job:
                job = None
                while not stop.is_set() and job is None:
                    job = self._our_job(began_iso, run.attached_to)
                    time.sleep(0.02)
                if job is None:
                    return
                if s.stopped_by_user or s.retry_after_stop:
                    self._wait_phase(job["job_name"], ("tap",), stop)
                    with contextlib.suppress(Exception):
                        self.admin.stop_job(job["job_name"])
                if s.newer_job and not s.retry_after_stop:
                    self._newer_job(s, job["job_name"], stop)
        except Exception as exc:  # the world failing is a test bug: make it visible in the run
            run.notes.append(f"choreography failed: {exc!r}")

    def _wait_phase(self, job_name: str, phases: tuple[str, ...], stop: threading.Event) -> None:
        while not stop.is_set() and self.admin.job(job_name)["phase"] not in phases:
            time.sleep(0.02)

    def _newer_job(self, s: Scenario, ours: str, stop: threading.Event) -> None:
        while not stop.is_set() and self.admin.job(ours)["extraction_outcome"] is None:
            time.sleep(0.02)
        if stop.is_set():
            return
        if s.newer_job == "fails":
            self.admin.update_scenario(self.source_id, fail_tap=f"newer job failed (seed {s.seed})")
        elif s.newer_job == "stopped":
            self.admin.update_scenario(self.source_id, durations={**DURATIONS, "tap": 200})
        try:
            newer = self.admin.start_job(self.source_id, s.newer_started_by)["job_name"]
        except Exception:
            return  # a job already runs (ours was retried): the busy source is busy enough
        if s.newer_job == "stopped":
            self._wait_phase(newer, ("tap",), stop)
            with contextlib.suppress(Exception):
                self.admin.stop_job(newer)

    # --- the modes -------------------------------------------------------------------------------

    def _operator(self, s: Scenario, **kwargs: Any) -> StitchRunReplicationJobOperator:
        timeout = (SHORT_TIMEOUT_S if s.times_out else TIMEOUT_S) * TIME_SCALE
        params: dict[str, Any] = {
            "task_id": "replicate",
            "source_id": self.source_id,
            "poll_interval": 20,
            "timeout": timeout,
            "http_retry_policy": FAST_RETRIES,
        }
        params.update(kwargs)
        return StitchRunReplicationJobOperator(**params)

    def run(self, s: Scenario, mode: str) -> Run:
        run = Run(s, mode, self.source_id, self.source_name)
        self._run = run
        run.deadline_s = SHORT_TIMEOUT_S if s.times_out else TIMEOUT_S
        self.prepare(s)
        began_iso = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if s.attach:
            run.attached_to = self.admin.start_job(self.source_id, "schedule")["job_name"]
        stop = threading.Event()
        world = threading.Thread(target=self._choreography, args=(s, run, began_iso, stop), daemon=True)
        run.began = time.time()
        world.start()
        try:
            value = {"blocking": self._blocking, "deferrable": self._deferrable, "sensor": self._sensor}[
                mode
            ](s, run)
            run.outcome, run.result = "succeeded", value
        except StitchReplicationError as exc:
            run.message = str(exc)
            run.result = exc.result
            status = (exc.result or {}).get("status")
            run.outcome = "timeout" if " timed out while " in str(exc) else str(status)
        except AirflowSensorTimeout as exc:
            run.outcome, run.message = "timeout", str(exc)
        run.ended = time.time()
        stop.set()
        world.join(timeout=10)
        with contextlib.suppress(Exception):
            self.admin.clear_faults()
        self._settle()
        run.truth = self._jobs()
        return run

    def make_context(self, store: TaskStateStore) -> dict[str, Any]:
        context = _make_context(store)
        context["ti"] = _RecordingTaskInstance(context["ti"], self._run)
        return context

    def _blocking(self, s: Scenario, run: Run) -> Any:
        store = TaskStateStore()
        op = self._operator(s, deferrable=False)
        if s.worker_crash_after_polls:
            op._cached_hook = _CrashingHook(op.stitch_conn_id, s.worker_crash_after_polls)
            try:
                return op.execute(self.make_context(store))
            except WorkerCrash:
                run.notes.append("worker crashed; retrying")
            return self._operator(s, deferrable=False).execute(self.make_context(store))
        if s.retry_after_stop:
            try:
                return op.execute(self.make_context(store))
            except StitchReplicationError as exc:
                run.notes.append(f"try 1 ended: {exc}")
            # Another job completes on the source before the retry.
            self.admin.update_scenario(self.source_id, durations=dict(DURATIONS))
            newer = self.admin.start_job(self.source_id, "admin")["job_name"]
            self._wait_job(newer, "verdict")
            return self._operator(s, deferrable=False).execute(self.make_context(store))
        return op.execute(self.make_context(store))

    def _deferrable(self, s: Scenario, run: Run) -> Any:
        store = TaskStateStore()
        context = self.make_context(store)
        op = self._operator(s, deferrable=True)
        try:
            op.execute(context)
        except TaskDeferred as deferred:
            if s.clear:
                return self._clear(s, run, op, deferred, store)
            return self._resume(op, context, deferred, s.triggerer_restart_after)
        raise AssertionError("the operator did not defer")

    def _resume(
        self, op: Any, context: dict[str, Any], deferred: TaskDeferred, restart_after: float | None
    ) -> Any:
        while True:
            event = _drive(deferred.trigger, restart_after)
            restart_after = None
            try:
                return op.execute_complete(context, event)
            except TaskDeferred as again:
                deferred = again

    def _clear(self, s: Scenario, run: Run, op: Any, deferred: TaskDeferred, store: TaskStateStore) -> Any:
        # Try 1's trigger runs a while in the triggerer, then a user clears the task.
        old = _rebuild(deferred.trigger)
        run.notes.append(f"clear ({s.clear})")

        async def old_runs_then_is_cleared() -> None:
            task = asyncio.ensure_future(_first_event(old))
            await asyncio.sleep(0.3)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

        asyncio.run(old_runs_then_is_cleared())
        new_op = self._operator(s, deferrable=True)
        context = self.make_context(store)
        if s.clear == "before":
            asyncio.run(old.on_kill())
        try:
            # The new try may find the job already ended (a slow machine lets it finish while the old
            # trigger ran) and return at once, without deferring: its result is judged like any other.
            result = new_op.execute(context)
        except TaskDeferred as again:
            if s.clear == "after":
                asyncio.run(old.on_kill())
            return self._resume(new_op, context, again, None)
        if s.clear == "after":
            asyncio.run(old.on_kill())
        return result

    def _sensor(self, s: Scenario, run: Run) -> Any:
        store = TaskStateStore()
        context = self.make_context(store)
        self._operator(s, wait_for_completion=False).execute(context)
        job = context["ti"].xcoms[JOB_XCOM_KEY]
        # As a DAG passes it: "{{ ti.xcom_pull(task_ids='start', key='stitch_job') }}" renders the repr.
        kwargs: dict[str, Any] = {"job_reference": repr(job)}
        deadline = run.began + run.deadline_s
        ti = context["ti"]
        while True:
            sensor = StitchReplicationJobSensor(
                task_id="wait",
                mode="reschedule",
                poke_interval=20,
                timeout=max(0.01, deadline - time.time()),
                http_retry_policy=FAST_RETRIES,
                **kwargs,
            )
            try:
                return sensor.execute(context)
            except AirflowRescheduleException as reschedule:
                ti.first_reschedule = ti.first_reschedule or dt.datetime.now(dt.timezone.utc)
                if time.time() > deadline:
                    raise AirflowSensorTimeout("the sensor's timeout passed") from None
                pause = (reschedule.reschedule_date - dt.datetime.now(dt.timezone.utc)).total_seconds()
                time.sleep(max(0.0, pause))


def _rebuild(trigger: Any) -> Any:
    classpath, kwargs = trigger.serialize()
    module, name = classpath.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)(**json.loads(json.dumps(kwargs)))


async def _first_event(trigger: Any) -> dict[str, Any]:
    return (await anext(trigger.run())).payload  # type: ignore[no-any-return]


def _drive(trigger: Any, restart_after: float | None) -> dict[str, Any]:
    """Run the (serialized and rebuilt) trigger to its event; with ``restart_after`` (Stitch seconds),
    the triggerer goes away that far into the wait and a new one rebuilds the trigger from its kwargs."""

    async def drive() -> dict[str, Any]:
        first = _rebuild(trigger)
        if restart_after is None:
            return await _first_event(first)
        task = asyncio.ensure_future(_first_event(first))
        done, _ = await asyncio.wait({task}, timeout=restart_after / SPEED)
        if done:
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return await _first_event(_rebuild(trigger))

    return asyncio.run(drive())


__all__ = ["STREAMS", "TIME_SCALE", "Run", "ScenarioRunner"]
