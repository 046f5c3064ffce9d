"""``make demo``: the example DAGs on a real Airflow stack against the Stitch emulator, with a summary.

Run with the project's virtualenv (``.venv/bin/python demo/run_demo.py``) once ``make dbt-venv`` has built
dbt's. It starts from a clean ``demo/.work``, then starts the stack of ``demo/airflow_stack.py``: the
Stitch emulator on a free loopback port, and Airflow's api-server, scheduler, dag-processor and triggerer
with the LocalExecutor in a throwaway AIRFLOW_HOME, ``[operators] default_deferrable`` on, the scheduler
creating runs by schedule (asset-triggered ones). Then it awaits three DAG runs:

(a) ``example_stitch_replication``, which it triggers: replicate ``shop_db``, then dbt;
(b) ``stitch_dbt_on_assets``, which the scheduler starts on the asset events (a)'s replication emitted;
(c) ``stitch_scheduled_loads``, whose AssetWatcher reacts to the loads of a job no Airflow task started:
    once (a) and (b) ended, the demo starts one through the emulator's admin API as Stitch's own
    schedule would (``started_by: "schedule"``).

It follows them through the REST API (printing each task's state changes and the provider's log lines),
then prints a summary and writes it to ``demo/.work/summary.json``.

Everything it started is stopped on success, failure, Ctrl-C and ``kill``; ``--keep`` (``make demo
KEEP=1``) leaves the stack up for the UI, and ``--stop`` (``make demo-stop``) stops a kept one. Exit
status: 0 when every awaited run succeeded, 1 otherwise, 130 when interrupted.

This process never imports Airflow: it talks to the stack over HTTP and reads its log files.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow_stack import AirflowStack, DagRun, StackError, stop_detached

REPO = Path(__file__).resolve().parent.parent
DAGS_FOLDER = REPO / "example_dags"
REPLICATION_DAG = "example_stitch_replication"
#: The DAG ids of example_dags/example_stitch_dbt_on_assets.py and example_stitch_scheduled_loads.py.
ASSETS_DBT_DAG = "stitch_dbt_on_assets"
WATCHER_DAG = "stitch_scheduled_loads"
WATCHER_TASK = "report_loads"
#: The asset-scheduled dbt DAG builds in a work dir of its own (``STITCH_DEMO_WORK_DIR``): it runs while
#: (a)'s dbt does, and DuckDB lets only one process write ``analytics.duckdb``.
ASSETS_WORK_SUBDIR = "on-assets"
REPLICATE_TASK = "replicate_shop_db"
DBT_TASK = "dbt_build"
CHECK_TASK = "check_customer_orders"
SOURCE_SCHEMA = "shop_db"
TERMINAL_RUN_STATES = frozenset({"success", "failed"})
#: How long the awaited runs may take once triggered (Stitch jobs at speed 1 take about 20 s).
RUNS_TIMEOUT = 600.0
#: Seconds the demo still waits, once the watcher emitted every load's asset event, for each to reach a
#: watcher run (see ScheduledLoad.complete).
RUN_GRACE = 30.0


@dataclass(frozen=True)
class AwaitedRun:
    """A DAG run the demo waits for: one it triggers itself, or one the stack starts on its own (an
    asset-triggered run, a run reacting to a Stitch-scheduled load)."""

    dag_id: str
    run_type: str
    triggered_by_demo: bool = False
    #: The run reacts to a Stitch-scheduled job, which the demo starts once every run listed before this
    #: one has ended (so that its load never meets a dbt run reading the warehouse: DuckDB lets no
    #: process write a file others have open). Only a run whose triggering asset events are that job's
    #: loads counts: the watcher also reports the loads of (a)'s job, which an Airflow task started.
    on_scheduled_load: bool = False
    label: str = ""


#: The runs the demo waits for, in the order they happen.
AWAITED_RUNS: tuple[AwaitedRun, ...] = (
    AwaitedRun(REPLICATION_DAG, "manual", triggered_by_demo=True, label="(a)"),
    AwaitedRun(ASSETS_DBT_DAG, "asset_triggered", label="(b)"),
    AwaitedRun(WATCHER_DAG, "asset_triggered", on_scheduled_load=True, label="(c)"),
)


class DemoError(Exception):
    """A step of the demo failed; the message says which and where to look."""


class Phases:
    """Wall time of each demo step, for the summary."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.timings: list[tuple[str, float]] = []

    @contextmanager
    def phase(self, name: str, doing: str) -> Iterator[None]:
        print(f"... {doing}", flush=True)
        begin = time.monotonic()
        try:
            yield
        finally:
            self.timings.append((name, time.monotonic() - begin))

    def total(self) -> float:
        return time.monotonic() - self.started


# --------------------------------------------------------------------------------------------------
# Following the runs
# --------------------------------------------------------------------------------------------------


class RunWatcher:
    """Prints each task's state changes and the Stitch operator's progress lines as they happen."""

    def __init__(self, stack: AirflowStack, started: float) -> None:
        self.stack = stack
        self.started = started
        self.states: dict[tuple[str, str], str] = {}
        self.log_offsets: dict[Path, int] = {}
        self.deferred: set[tuple[str, str, str]] = set()

    def _say(self, what: str) -> None:
        print(f"  {time.monotonic() - self.started:6.1f} s  {what}", flush=True)

    def poll(self, run: DagRun) -> list[dict[str, Any]]:
        tis = self.stack.task_instances(run)
        for ti in sorted(tis, key=lambda t: t.get("start_date") or "9"):
            key = (run.dag_id, ti["task_id"])
            state = ti.get("state") or "none"
            if state == "deferred":
                self.deferred.add((run.dag_id, run.run_id, ti["task_id"]))
            if self.states.get(key) != state:
                was = self.states.get(key)
                self.states[key] = state
                if was is not None or state not in ("none", "scheduled", "queued"):
                    self._say(f"{run.dag_id}.{ti['task_id']}: {was or 'none'} -> {state}")
            self._progress_lines(run, ti["task_id"])
        return tis

    def _progress_lines(self, run: DagRun, task_id: str) -> None:
        """New lines the provider logged in the task's log files (worker and triggerer parts)."""
        folder = (
            self.stack.home / "logs" / f"dag_id={run.dag_id}" / f"run_id={run.run_id}" / f"task_id={task_id}"
        )
        for path in sorted(folder.glob("attempt=*.log*")):
            offset = self.log_offsets.get(path, 0)
            try:
                with path.open("rb") as log:
                    log.seek(offset)
                    chunk = log.read()
            except OSError:
                continue
            complete = chunk[: chunk.rfind(b"\n") + 1]
            self.log_offsets[path] = offset + len(complete)
            for raw in complete.splitlines():
                if line := _provider_line(raw):
                    self._say(f"{run.dag_id}.{task_id} | {line}")


def _provider_line(raw: bytes) -> str | None:
    """The message of a log record the provider wrote (the progress lines, stops, attaches)."""
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    logger = str(record.get("logger", ""))
    if "airflow_provider_stitch" not in logger and "Stitch" not in logger:
        return None
    return str(record.get("event", "")) or None


def _trigger_runs(stack: AirflowStack) -> dict[AwaitedRun, DagRun]:
    return {awaited: stack.trigger(awaited.dag_id) for awaited in AWAITED_RUNS if awaited.triggered_by_demo}


def _find_run(stack: AirflowStack, awaited: AwaitedRun) -> DagRun | None:
    for run in stack.dag_runs(awaited.dag_id):
        if run.get("run_type") == awaited.run_type:
            return DagRun(awaited.dag_id, run["dag_run_id"])
    return None


def _event_loads(stack: AirflowStack, run: DagRun) -> list[dict[str, Any]]:
    """The watcher's payloads (stream, loaded_at, ...) of the asset events that started the run."""
    body = stack.api("GET", f"/dags/{run.dag_id}/dagRuns/{run.run_id}/upstreamAssetEvents")
    return [
        payload
        for event in body.get("asset_events", [])
        if isinstance(payload := (event.get("extra") or {}).get("payload"), dict)
    ]


class ScheduledLoad:
    """A replication job no Airflow task started: the demo starts it through the emulator's admin API
    with ``started_by: "schedule"``, exactly what the emulator's own schedule (``--run-schedules``)
    does when a source is due. Waiting for the schedule instead would cost minutes (``shop_db`` is due
    every 3 minutes at the emulator's speed 20, every hour at the demo's speed 1)."""

    def __init__(self, stack: AirflowStack, source_name: str, say: Any) -> None:
        self.stack = stack
        self.say = say
        mine = [job for job in stack.emulator.jobs() if job["source_name"] == source_name]
        if not mine:
            raise DemoError(f"no job of source {source_name} on the emulator to take its id from")
        self.source_id = int(mine[-1]["source_id"])
        self.truth: dict[str, Any] = stack.emulator.start_job(self.source_id, started_by="schedule")
        self.job_name = str(self.truth["job_name"])
        self.started = time.monotonic()
        #: stream -> the watcher run whose triggering events hold that stream's load of this job
        self.reported: dict[str, str] = {}
        #: stream -> the id of the asset event the watcher emitted for that stream's load of this job
        self.emitted: dict[str, int] = {}
        self._all_emitted_at: float | None = None
        self._announced: set[str] = set()
        self._not_matching: set[str] = set()
        say(
            f"started Stitch job {self.job_name} on {source_name} ({self.source_id}) as Stitch's "
            "schedule would (started_by schedule: no Airflow task)"
        )

    @property
    def loads(self) -> dict[str, str]:
        """``loaded_at`` of each stream the job has loaded so far (the emulator's ground truth)."""
        return {n: s["loaded_at"] for n, s in self.truth["streams"].items() if s.get("load") == "loaded"}

    @property
    def finished(self) -> bool:
        return bool(self.truth.get("finished_at"))

    @property
    def complete(self) -> bool:
        """The job ended, the watcher emitted an asset event for each of its loads, and each reached a
        watcher run, or :data:`RUN_GRACE` passed since the last one was emitted. On SQLite, Airflow 3.3.2
        can leave an event that lands while the scheduler creates a run for the one before it to the
        *next* event's run (its queue row is merged into the one being consumed; PostgreSQL's path
        guards this, apache/airflow#62501): the summary then shows the event as not yet in a run."""
        if not self.finished or not set(self.loads) <= set(self.emitted):
            return False
        if set(self.loads) <= set(self.reported):
            return True
        return self._all_emitted_at is not None and time.monotonic() - self._all_emitted_at > RUN_GRACE

    def poll(self, dag_id: str) -> list[DagRun]:
        """The watcher DAG's runs newly found to react to this job's loads."""
        if not self.finished:
            self.truth = self.stack.emulator.job(self.job_name)
        loads = self.loads
        for stream in sorted(set(loads) - self._announced):
            self._announced.add(stream)
            self.say(f"scheduled job {self.job_name}: {stream} loaded at {loads[stream]}")
        self._note_emitted(loads)
        found = []
        known = set(self.reported.values()) | self._not_matching
        for row in self.stack.dag_runs(dag_id):
            if row.get("run_type") != "asset_triggered" or row["dag_run_id"] in known:
                continue
            run = DagRun(dag_id, row["dag_run_id"])
            mine = [
                p["stream"]
                for p in _event_loads(self.stack, run)
                if loads.get(str(p.get("stream"))) == p.get("loaded_at")
            ]
            if mine:
                self.reported.update(dict.fromkeys(mine, run.run_id))
                found.append(run)
            elif self.finished:
                # Its events are other loads (those of (a)'s job). Before the job has finished, a run
                # may hold a load that landed after ``truth`` was read: look at it again next time.
                self._not_matching.add(run.run_id)
        return found

    def _note_emitted(self, loads: dict[str, str]) -> None:
        """The watcher's asset events that carry this job's loads (the REST API's asset events)."""
        if set(loads) <= set(self.emitted):
            return
        body = self.stack.api("GET", "/assets/events", params={"limit": 100, "order_by": "-timestamp"})
        for event in body.get("asset_events", []):
            payload = (event.get("extra") or {}).get("payload")
            if not isinstance(payload, dict):
                continue
            stream = str(payload.get("stream"))
            if loads.get(stream) == payload.get("loaded_at"):
                self.emitted.setdefault(stream, int(event["id"]))
        if self.finished and set(loads) <= set(self.emitted) and self._all_emitted_at is None:
            self._all_emitted_at = time.monotonic()

    def as_json(self) -> dict[str, Any]:
        return {
            "job_name": self.job_name,
            "source_id": self.source_id,
            "started_by": self.truth.get("started_by"),
            "created_at": self.truth.get("created_at"),
            "finished_at": self.truth.get("finished_at"),
            "loaded_at": self.loads,
            "asset_event_by_stream": self.emitted,
            "reported_by_run": self.reported,
        }


@dataclass
class FollowedRuns:
    """The awaited runs (plus further watcher runs reacting to the scheduled job), and that job."""

    runs: list[tuple[AwaitedRun, DagRun]]
    scheduled: ScheduledLoad | None

    def first(self, dag_id: str) -> DagRun | None:
        return next((run for awaited, run in self.runs if awaited.dag_id == dag_id), None)


def follow_runs(stack: AirflowStack, watcher: RunWatcher, timeout: float = RUNS_TIMEOUT) -> FollowedRuns:
    """Until every awaited run has ended (or ``timeout``); returns them."""
    runs = _trigger_runs(stack)
    more: list[tuple[AwaitedRun, DagRun]] = []  # watcher runs after the first on the scheduled job
    scheduled: ScheduledLoad | None = None
    deadline = time.monotonic() + timeout

    def state(run: DagRun) -> str:
        watcher.poll(run)
        return stack.run_state(run)

    while True:
        states: dict[str, str] = {}
        earlier_ended = True
        for awaited in AWAITED_RUNS:
            if awaited.on_scheduled_load:
                if scheduled is None and earlier_ended:
                    scheduled = ScheduledLoad(stack, SOURCE_SCHEMA, watcher._say)
                for run in scheduled.poll(awaited.dag_id) if scheduled is not None else []:
                    if awaited in runs:
                        more.append((awaited, run))
                    else:
                        runs[awaited] = run
            elif awaited not in runs and (found := _find_run(stack, awaited)) is not None:
                runs[awaited] = found
            current = runs.get(awaited)
            if current is not None:
                states[current.run_id] = state(current)
            ended = current is not None and states[current.run_id] in TERMINAL_RUN_STATES
            earlier_ended = earlier_ended and ended
        states.update({run.run_id: state(run) for _, run in more})
        everything_ended = earlier_ended and all(states[run.run_id] in TERMINAL_RUN_STATES for _, run in more)
        # A failed run ends the wait: the runs after it follow from it (no asset events from a failed
        # replication) and would only time out.
        if (everything_ended and (scheduled is None or scheduled.complete)) or "failed" in states.values():
            return FollowedRuns([(a, runs[a]) for a in AWAITED_RUNS if a in runs] + more, scheduled)
        if time.monotonic() > deadline:
            missing = [a.dag_id for a in AWAITED_RUNS if a not in runs]
            unreported = sorted(set(scheduled.loads) - set(scheduled.emitted)) if scheduled else []
            raise DemoError(
                f"the DAG runs did not all end within {timeout:g} s"
                + (f" (never started: {', '.join(missing)})" if missing else "")
                + (
                    f" (loads of the scheduled job the watcher emitted no asset event for: {unreported})"
                    if unreported
                    else ""
                )
                + f"; logs under {stack.home}"
            )
        time.sleep(1.0)


def _deferred_in_triggerer(stack: AirflowStack, run: DagRun) -> set[str]:
    """Tasks of the run that a triggerer ran a trigger for: it wrote a part of the task's log."""
    folder = stack.home / "logs" / f"dag_id={run.dag_id}" / f"run_id={run.run_id}"
    return {
        path.parent.name.removeprefix("task_id=") for path in folder.glob("task_id=*/attempt=*.log.trigger.*")
    }


# --------------------------------------------------------------------------------------------------
# The summary
# --------------------------------------------------------------------------------------------------


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _seconds(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "    ?  "
    return f"{(end - start).total_seconds():5.1f} s"


def _clock(value: datetime | None) -> str:
    return value.strftime("%H:%M:%S") if value else "--:--:--"


def _xcom(stack: AirflowStack, run: DagRun, task_id: str) -> Any:
    try:
        return stack.xcom(run, task_id)
    except StackError:
        return None


def replication_phases(ti: dict[str, Any], result: dict[str, Any]) -> list[dict[str, Any]]:
    """The job's phases with their times, from the operator's return value and the task's times."""
    loads = sorted(
        t for t in (_parse_time(s.get("loaded_at")) for s in result.get("streams", {}).values()) if t
    )
    marks = [
        (
            "starting",
            _parse_time(ti.get("start_date")),
            _parse_time(result.get("extraction_start")),
            "task start (incl. Airflow starting it) until Stitch started extracting",
        ),
        (
            "extraction",
            _parse_time(result.get("extraction_start")),
            _parse_time(result.get("extraction_completion")),
            "exit statuses: " + ", ".join(f"{k} {v}" for k, v in (result.get("exit_statuses") or {}).items()),
        ),
        (
            "preparation",
            _parse_time(result.get("extraction_completion")),
            loads[0] if loads else None,
            "until the first stream's load",
        ),
        (
            "loading",
            loads[0] if loads else None,
            loads[-1] if loads else None,
            "until the last stream's load",
        ),
        (
            "noticed",
            loads[-1] if loads else None,
            _parse_time(ti.get("end_date")),
            "until the operator (in the triggerer) saw the last load and the task resumed and ended",
        ),
    ]
    return [
        {
            "phase": name,
            "start": start.isoformat() if start else None,
            "end": end.isoformat() if end else None,
            "seconds": (end - start).total_seconds() if start and end else None,
            "note": note,
        }
        for name, start, end, note in marks
    ]


def dbt_run_results(path: Path) -> dict[str, Any] | None:
    """Models and test counts from a dbt ``run_results.json`` (for the asset-scheduled DAG, whose
    BashOperator returns only dbt's last output line)."""
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    models: list[dict[str, Any]] = []
    tests: dict[str, int] = {}
    for result in results.get("results", []):
        kind = result["unique_id"].partition(".")[0]
        if kind == "model":
            models.append({"name": result["unique_id"].rsplit(".", 1)[-1], "status": result["status"]})
        elif kind == "test":
            tests[result["status"]] = tests.get(result["status"], 0) + 1
    return {
        "elapsed_seconds": round(float(results.get("elapsed_time") or 0.0), 2),
        "models": models,
        "tests": tests,
    }


def collect(
    stack: AirflowStack, followed: FollowedRuns, watcher: RunWatcher, work_dir: Path
) -> dict[str, Any]:
    """Everything the summary shows, from the REST API, the log files and the warehouse."""
    summary: dict[str, Any] = {"ui_url": stack.api_url, "emulator_url": stack.emulator_url, "dag_runs": []}
    deferred: set[str] = {f"{dag_id}.{task_id}" for dag_id, _, task_id in watcher.deferred}
    for awaited, run in followed.runs:
        body = stack.api("GET", f"/dags/{run.dag_id}/dagRuns/{run.run_id}")
        tasks = []
        for ti in stack.task_instances(run):
            tasks.append(
                {
                    "task_id": ti["task_id"],
                    "state": ti.get("state"),
                    "try_number": ti.get("try_number"),
                    "start_date": ti.get("start_date"),
                    "end_date": ti.get("end_date"),
                    "duration": ti.get("duration"),
                }
            )
        deferred |= {f"{run.dag_id}.{task_id}" for task_id in _deferred_in_triggerer(stack, run)}
        summary["dag_runs"].append(
            {
                "part": awaited.label,
                "dag_id": run.dag_id,
                "run_id": run.run_id,
                "run_type": body.get("run_type"),
                "state": body.get("state"),
                "start_date": body.get("start_date"),
                "end_date": body.get("end_date"),
                "tasks": tasks,
            }
        )
    summary["deferred_tasks"] = len(deferred)
    summary["deferred_task_ids"] = sorted(deferred)
    awaited_ids = {run.run_id for _, run in followed.runs}
    # Runs the stack started besides the awaited ones (the watcher on (a)'s loads): shown, not judged.
    summary["other_dag_runs"] = [
        {
            "dag_id": r["dag_id"],
            "run_id": r["dag_run_id"],
            "run_type": r.get("run_type"),
            "state": r.get("state"),
        }
        for r in stack.dag_runs()
        if r["dag_run_id"] not in awaited_ids
    ]

    replication = followed.first(REPLICATION_DAG)
    if replication is not None:
        result = _xcom(stack, replication, REPLICATE_TASK) or {}
        ti = stack.task_instance(replication, REPLICATE_TASK)
        summary["replication"] = {
            "source": result.get("source_name"),
            "source_id": result.get("source_id"),
            "job_name": result.get("job_name"),
            "status": result.get("status"),
            "reason": result.get("reason"),
            "phases": replication_phases(ti, result) if result else [],
            "loaded_at": {name: s.get("loaded_at") for name, s in (result.get("streams") or {}).items()},
        }
        summary["dbt"] = _xcom(stack, replication, DBT_TASK)
        summary["check"] = _xcom(stack, replication, CHECK_TASK)
    if followed.first(ASSETS_DBT_DAG) is not None:
        summary["dbt_on_assets"] = dbt_run_results(
            work_dir / ASSETS_WORK_SUBDIR / "dbt-target" / "run_results.json"
        )
    if (scheduled := followed.scheduled) is not None:
        summary["scheduled_load"] = scheduled.as_json()
        summary["scheduled_load"]["watcher_reported"] = {
            run.run_id: _xcom(stack, run, WATCHER_TASK)
            for awaited, run in followed.runs
            if awaited.on_scheduled_load
        }
    summary["rows_per_stream"] = stack.warehouse_counts(SOURCE_SCHEMA)
    summary["jobs_started"] = len(stack.emulator.jobs())
    return summary


def summary_lines(summary: dict[str, Any], work_dir: Path) -> list[str]:
    lines = ["", "=" * 78, "Stitch -> Airflow -> dbt demo on a real Airflow stack", "=" * 78]
    lines.append(f"Airflow UI   {summary['ui_url']}")
    lines.append(f"Emulator     {summary['emulator_url']}")
    lines.append("DAG runs")
    for run in summary["dag_runs"]:
        took = _seconds(_parse_time(run.get("start_date")), _parse_time(run.get("end_date")))
        lines.append(f"  {run['part']:<3} {run['dag_id']:<28} {run['run_type']:<16} {run['state']:<8} {took}")
        for task in run["tasks"]:
            duration = task.get("duration")
            took = f"{duration:5.1f} s" if isinstance(duration, int | float) else "    ?  "
            lines.append(f"    {task['task_id']:<30} {task['state'] or 'none':<16} {took}")
    for run in summary.get("other_dag_runs", []):
        lines.append(f"  other {run['dag_id']:<26} {run['run_type']:<16} {run['state']}   (not awaited)")
    lines.append(
        f"Deferred     {summary['deferred_tasks']} task(s) waited in the triggerer: "
        + (", ".join(summary["deferred_task_ids"]) or "none")
    )
    replication = summary.get("replication")
    if replication:
        lines.append("Replication phases (UTC; Stitch timestamps have second precision)")
        reason = f" ({replication['reason']})" if replication.get("reason") else ""
        lines.append(
            f"  source {replication['source']} (id {replication['source_id']}), "
            f"job {replication['job_name']}: {replication['status']}{reason}"
        )
        for phase in replication["phases"]:
            start, end = _parse_time(phase["start"]), _parse_time(phase["end"])
            span = f"{_clock(start)} -> {_clock(end)}"
            lines.append(f"    {phase['phase']:<12} {_seconds(start, end)}   {span}   {phase['note']}")
    lines.append(f"Rows per stream in the warehouse (schema {SOURCE_SCHEMA})")
    loaded_at = (replication or {}).get("loaded_at", {})
    counts = summary["rows_per_stream"]
    for name in sorted(set(counts) | set(loaded_at)):
        loaded = _clock(_parse_time(loaded_at.get(name)))
        lines.append(f"  {name:<14} {counts.get(name, 0):>6} rows   loaded at {loaded}")
    dbt = summary.get("dbt")
    if dbt:
        tests = ", ".join(f"{n} {status}" for status, n in sorted(dbt["tests"].items())) or "none"
        lines.append(
            f"dbt {dbt.get('dbt_version')}: models built in {dbt['elapsed_seconds']:.1f} s; tests: {tests}"
        )
        for model in dbt["models"]:
            lines.append(
                f"  {model['name']:<26} {model['status']:<8} {model['seconds']:5.2f} s   {model['relation']}"
            )
    else:
        lines.append("dbt: no models built")
    if check := summary.get("check"):
        lines.append(f"Check        {check['model']} has {check['rows']} rows, one per customer loaded")
    if "dbt_on_assets" in summary:
        on_assets = summary["dbt_on_assets"]
        if on_assets:
            built = sum(m["status"] == "success" for m in on_assets["models"])
            tests = ", ".join(f"{n} {status}" for status, n in sorted(on_assets["tests"].items())) or "none"
            lines.append(
                f"dbt on assets ({ASSETS_DBT_DAG}): {built}/{len(on_assets['models'])} models built in "
                f"{on_assets['elapsed_seconds']:.1f} s; tests: {tests}"
            )
        else:
            lines.append(f"dbt on assets ({ASSETS_DBT_DAG}): no run_results.json")
    if scheduled := summary.get("scheduled_load"):
        lines.append(
            f"Scheduled    job {scheduled['job_name']} "
            f"(started_by {scheduled['started_by']}, no Airflow task)"
        )
        for stream, loaded_at in sorted(scheduled["loaded_at"].items()):
            event = scheduled["asset_event_by_stream"].get(stream)
            run_id = scheduled["reported_by_run"].get(stream) or (
                f"asset event {event}, in no run yet (Airflow on SQLite: it waits for the next event)"
                if event is not None
                else "no asset event"
            )
            lines.append(
                f"  {stream:<14} loaded at {_clock(_parse_time(loaded_at))} -> {WATCHER_DAG} {run_id}"
            )
    lines.append(f"Stitch jobs  {summary['jobs_started']} started on the emulator")
    lines.append(f"Files        {work_dir} (summary.json, warehouse.duckdb, analytics.duckdb)")
    return lines


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------


def _stop_kept(state_file: Path) -> None:
    if state_file.is_file():
        found = stop_detached(state_file)
        print(f"Stopped the demo stack left running ({', '.join(found) or 'nothing was still running'})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--speed", type=float, default=1.0, help="emulator speed (1.0: a job takes ~20 s)")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=10.0,
        help="the connection's time_scale extra: divides the operator's intervals (emulator only; "
        "10: a poll every 6-12 s)",
    )
    parser.add_argument(
        "--timeout", type=float, default=RUNS_TIMEOUT, help="seconds the awaited DAG runs may take in all"
    )
    parser.add_argument("--work-dir", type=Path, default=REPO / "demo" / ".work")
    parser.add_argument("--dbt", type=Path, default=REPO / "demo" / ".dbt-venv" / "bin" / "dbt")
    parser.add_argument("--keep", action="store_true", help="leave the stack running (stop: --stop)")
    parser.add_argument("--stop", action="store_true", help="stop a stack an earlier --keep left running")
    args = parser.parse_args(argv)
    work_dir: Path = args.work_dir.resolve()
    state_file = work_dir / "stack.json"
    if args.stop:
        if not state_file.is_file():
            print(f"No demo stack to stop ({state_file} does not exist)")
            return 0
        _stop_kept(state_file)
        return 0
    if not os.access(args.dbt, os.X_OK):
        print(
            f"demo: no dbt at {args.dbt}; build it with `make dbt-venv` (or run `make demo`)", file=sys.stderr
        )
        return 2

    # `kill` or a closed terminal must clean up as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGHUP, signal.default_int_handler)
    _stop_kept(state_file)
    phases = Phases()
    # A fresh warehouse every time, so the summary shows exactly this run's loads.
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    stack = AirflowStack(
        DAGS_FOLDER,
        speed=args.speed,
        time_scale=args.time_scale,
        warehouse=work_dir / "warehouse.duckdb",
        keep_home=args.keep,
        extra_env={
            "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",
            "AIRFLOW_VAR_STITCH_DEMO_WORK_DIR": str(work_dir),
            "AIRFLOW_VAR_STITCH_DEMO_WAREHOUSE": str(work_dir / "warehouse.duckdb"),
            "AIRFLOW_VAR_STITCH_DEMO_DBT": str(args.dbt.resolve()),
            # Asset-triggered runs are runs by schedule: the stack's default (off) would never start them.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "True",
            # The asset-scheduled DAG reads its paths from the environment at parse time.
            "STITCH_DEMO_WAREHOUSE": str(work_dir / "warehouse.duckdb"),
            "STITCH_DEMO_WORK_DIR": str(work_dir / ASSETS_WORK_SUBDIR),
            "STITCH_DEMO_DBT": str(args.dbt.resolve()),
        },
    )
    succeeded = interrupted = False
    try:
        with phases.phase(
            "stack start",
            "starting the Stitch emulator and Airflow (api-server, scheduler, dag-processor, triggerer)",
        ):
            stack.start()
        stack.write_state(state_file)
        print(f"    Airflow UI {stack.api_url} (user {stack.admin_user}, password {stack.admin_password})")
        with phases.phase(
            "DAG runs",
            f"(a) triggering {REPLICATION_DAG}; (b) {ASSETS_DBT_DAG} follows on its asset events; "
            f"(c) {WATCHER_DAG} on a Stitch-scheduled job once they ended",
        ):
            watcher = RunWatcher(stack, time.monotonic())
            followed = follow_runs(stack, watcher, args.timeout)
        if followed.scheduled is not None:
            # Split the phase where the demo started the scheduled job.
            _, seconds = phases.timings.pop()
            tail = time.monotonic() - followed.scheduled.started
            phases.timings += [("DAG runs (a, b)", seconds - tail), ("scheduled load (c)", tail)]
        with phases.phase("summary", "collecting the summary"):
            summary = collect(stack, followed, watcher, work_dir)
        succeeded = len(summary["dag_runs"]) >= len(AWAITED_RUNS) and all(
            run["state"] == "success" for run in summary["dag_runs"]
        )
        summary["succeeded"] = succeeded
        summary["timings"] = {name: round(seconds, 1) for name, seconds in phases.timings}
        summary["total_seconds"] = round(phases.total(), 1)
        (work_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        for line in summary_lines(summary, work_dir):
            print(line)
        if not succeeded:
            print(
                f"\nNot every DAG run succeeded; task logs are under {stack.home / 'logs'}", file=sys.stderr
            )
    except (DemoError, StackError) as exc:
        print(f"\ndemo failed: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        interrupted = True
        print("\ndemo interrupted; stopping everything it started", file=sys.stderr)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if args.keep and not interrupted and getattr(stack, "api_url", ""):
            print(
                f"\nThe stack is still running: Airflow UI {stack.api_url} (user {stack.admin_user}, "
                f"password {stack.admin_password}); AIRFLOW_HOME {stack.home}"
            )
            print("Stop it with: make demo-stop   (or .venv/bin/python demo/run_demo.py --stop)")
        else:
            with phases.phase("stop", "stopping everything the demo started"):
                stack.stop()
            state_file.unlink(missing_ok=True)
            if stack.stop_seconds:
                gone = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in stack.stop_seconds.items())
                print(f"Stopped      {gone} (after the SIGTERM, at most 10 s, then SIGKILL)")
    timings = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.timings)
    print(f"Timings      {timings}; total {phases.total():.1f} s")
    print("Demo " + ("succeeded" if succeeded else "FAILED"))
    if interrupted:
        return 130  # the shell's convention for "stopped by SIGINT"
    return 0 if succeeded else 1


if __name__ == "__main__":
    sys.exit(main())
