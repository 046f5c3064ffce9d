"""``make demo``: Stitch emulator -> Airflow DAG -> DuckDB warehouse -> dbt, with a readable summary.

Run with the project's virtualenv (``.venv/bin/python demo/run_demo.py``) once ``make dbt-venv`` has built
dbt's. It starts from a clean ``demo/.work``, makes a throwaway AIRFLOW_HOME, starts ``stitch-emulator``
on a free loopback port, runs ``example_stitch_replication`` with ``dag.test()`` and prints what
happened. The emulator is stopped however the run ends (failure, Ctrl-C). Exit status 0 means every task
of the DAG succeeded.

The DAG runs in a child process (this same file, ``--run-dag``) for two reasons: Airflow reads
AIRFLOW_HOME when first imported, so it must be set before any Airflow import, and Airflow's verbose
task logs then go to a log file instead of drowning the summary. This process never imports Airflow.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DAG_FILE = REPO / "example_dags" / "example_stitch_replication.py"
DAG_ID = "example_stitch_replication"
REPLICATE_TASK = "replicate_shop_db"
DBT_TASK = "dbt_build"
CHECK_TASK = "check_customer_orders"
SOURCE_SCHEMA = "shop_db"
BIN = Path(sys.executable).parent


class DemoError(Exception):
    """A step of the demo failed; the message says which and where its log is."""


# --------------------------------------------------------------------------------------------------
# Child: run the DAG and write what the summary needs to a JSON file.
# --------------------------------------------------------------------------------------------------


def run_dag(result_file: Path) -> int:
    import importlib.util

    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    spec = importlib.util.spec_from_file_location("example_stitch_replication", DAG_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.dag

    dag_run = dag.test()

    tasks: dict[str, dict[str, Any]] = {}
    for ti in dag_run.get_task_instances():
        tasks[ti.task_id] = {
            "state": str(ti.state.value if hasattr(ti.state, "value") else ti.state),
            "start": ti.start_date.isoformat() if ti.start_date else None,
            "end": ti.end_date.isoformat() if ti.end_date else None,
            "duration": ti.duration,
        }
    with create_session() as session:
        query = XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag.dag_id, key="return_value")
        for row in session.scalars(query):
            tasks.setdefault(row.task_id, {})["result"] = XComModel.deserialize_value(row)
    state = dag_run.state.value if hasattr(dag_run.state, "value") else str(dag_run.state)
    result_file.write_text(json.dumps({"state": state, "tasks": tasks}, indent=2, default=str))
    return 0


# --------------------------------------------------------------------------------------------------
# Parent: environments, emulator, DAG run, summary.
# --------------------------------------------------------------------------------------------------


class Phases:
    """Wall time of each demo step, for the closing line."""

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


_SECRET_MARKERS = ("token", "AIRFLOW_CONN_", "password", "secret")


def _tail(path: Path, lines: int = 40) -> str:
    """The end of a log, minus lines that may carry a credential (the emulator prints its token)."""
    if not path.is_file():
        return ""
    kept = [
        "[line hidden: it may hold a credential]" if any(m in line for m in _SECRET_MARKERS) else line
        for line in path.read_text(errors="replace").splitlines()[-lines:]
    ]
    return "\n".join(kept)


def _errors(log_file: Path) -> str:
    """The closing line of each traceback in a log: what failed, without Airflow's frames."""
    found: list[str] = []
    for line in log_file.read_text(errors="replace").splitlines():
        head = line.split(":", 1)[0]
        is_exception_line = all(part.isidentifier() for part in head.split(".")) and head.endswith(
            ("Exception", "Error")
        )
        if is_exception_line and line not in found:
            found.append(line)
    return "\n".join(f"  {line}" for line in found if not any(m in line for m in _SECRET_MARKERS))


def _run_logged(command: list[str], log_file: Path, env: dict[str, str], what: str) -> None:
    with log_file.open("w") as out:
        returncode = subprocess.run(  # noqa: S603 - fixed argument lists built here
            command, env=env, stdout=out, stderr=subprocess.STDOUT, check=False
        ).returncode
    if returncode != 0:
        raise DemoError(f"{what} failed (exit {returncode}); last lines of {log_file}:\n{_tail(log_file)}")


class Emulator:
    """``stitch-emulator`` as a child process, ready once it prints the connection line."""

    def __init__(self, warehouse: Path, speed: float, log_file: Path) -> None:
        self.warehouse = warehouse
        self.speed = speed
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None
        self.base_url: str | None = None
        self.connection_uri: str | None = None

    def start(self, env: dict[str, str]) -> None:
        command = [
            str(BIN / "stitch-emulator"),
            "--host",
            "127.0.0.1",
            "--port",
            "0",  # the OS picks a free port; the emulator prints the one it got
            "--speed",
            str(self.speed),
            "--warehouse",
            str(self.warehouse),
        ]
        with self.log_file.open("w") as out:
            # Its own session, so a Ctrl-C meant for the demo reaches it only through stop().
            self.process = subprocess.Popen(  # noqa: S603 - fixed argument list
                command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_ready(self, timeout: float = 60.0) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log_file.read_text(errors="replace").splitlines():
                if line.startswith("AIRFLOW_CONN_STITCH_DEFAULT="):
                    # Printed for a shell (`export ...`), so possibly quoted.
                    self.connection_uri = shlex.split(line.partition("=")[2])[0]
                elif self.base_url is None and "http://" in line:
                    self.base_url = "http://" + line.split("http://", 1)[1].split()[0].rstrip(".,")
            if self.connection_uri:
                return
            if self.process.poll() is not None:
                raise DemoError(
                    f"stitch-emulator exited with {self.process.returncode} before it was ready:\n"
                    + _tail(self.log_file)
                )
            time.sleep(0.1)
        raise DemoError(f"stitch-emulator was not ready after {timeout:.0f} s:\n{_tail(self.log_file)}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


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


def _row_counts(warehouse: Path) -> dict[str, int]:
    import duckdb

    counts: dict[str, int] = {}
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = con.execute(
            "select table_name from information_schema.tables where table_schema = ? order by table_name",
            [SOURCE_SCHEMA],
        ).fetchall()
        for (table,) in tables:
            quoted = '"' + table.replace('"', '""') + '"'
            counts[table] = con.execute(f"select count(*) from {SOURCE_SCHEMA}.{quoted}").fetchone()[0]  # noqa: S608
    finally:
        con.close()
    return counts


def _replication_lines(task: dict[str, Any]) -> list[str]:
    result = task.get("result") or {}
    if not result:
        return [f"  {REPLICATE_TASK}: {task.get('state', 'not run')} (no result)"]
    started = _parse_time(task.get("start"))
    ended = _parse_time(task.get("end"))
    ex_start = _parse_time(result.get("extraction_start"))
    ex_end = _parse_time(result.get("extraction_completion"))
    loads = sorted(t for t in (_parse_time(s.get("loaded_at")) for s in result["streams"].values()) if t)
    first_load = loads[0] if loads else None
    last_load = loads[-1] if loads else None
    statuses = result.get("exit_statuses") or {}

    def phase(name: str, start: datetime | None, end: datetime | None, note: str) -> str:
        return f"    {name:<12} {_seconds(start, end)}   {_clock(start)} -> {_clock(end)}   {note}"

    return [
        f"  source {result.get('source_name')} (id {result.get('source_id')}), "
        f"job {result.get('job_name')}: {result.get('status')}"
        + (f" ({result['reason']})" if result.get("reason") else ""),
        phase("starting", started, ex_start, "task start (incl. Airflow starting it) until Stitch extracted"),
        phase(
            "extraction",
            ex_start,
            ex_end,
            "exit statuses: " + ", ".join(f"{k} {v}" for k, v in statuses.items()),
        ),
        phase("preparation", ex_end, first_load, "until the first stream's load"),
        phase("loading", first_load, last_load, "until the last stream's load"),
        phase("noticed", last_load, ended, "until the operator saw the last load and returned"),
    ]


def summarize(result: dict[str, Any], warehouse: Path, analytics: Path, emulator: Emulator) -> list[str]:
    tasks = result.get("tasks", {})
    lines = ["", "=" * 78, f"Stitch -> Airflow -> dbt demo: DAG run {result.get('state')}", "=" * 78]
    lines.append(f"Emulator     {emulator.base_url or '?'} (speed {emulator.speed:g})")
    lines.append("Tasks")
    for task_id in (REPLICATE_TASK, DBT_TASK, CHECK_TASK):
        task = tasks.get(task_id, {})
        duration = task.get("duration")
        took = f"{duration:5.1f} s" if isinstance(duration, int | float) else "    ?  "
        lines.append(f"  {task_id:<24} {task.get('state', 'not run'):<16} {took}")

    lines.append("Replication phases (UTC; Stitch timestamps have second precision)")
    lines += _replication_lines(tasks.get(REPLICATE_TASK, {}))

    lines.append(f"Rows per stream in the warehouse (schema {SOURCE_SCHEMA})")
    streams = (tasks.get(REPLICATE_TASK, {}).get("result") or {}).get("streams", {})
    counts = _row_counts(warehouse) if warehouse.is_file() else {}
    for name in sorted(set(streams) | set(counts)):
        loaded = _parse_time(streams.get(name, {}).get("loaded_at"))
        lines.append(f"  {name:<14} {counts.get(name, 0):>6} rows   loaded at {_clock(loaded)}")

    dbt = tasks.get(DBT_TASK, {}).get("result")
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
        lines.append(f"dbt: {tasks.get(DBT_TASK, {}).get('state', 'not run')} (no models built)")
    check = tasks.get(CHECK_TASK, {}).get("result")
    if check:
        lines.append(f"Check        {check['model']} has {check['rows']} rows, one per customer loaded")
    lines.append(f"Warehouse    {warehouse}")
    lines.append(f"dbt database {analytics}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--speed", type=float, default=1.0, help="emulator speed (1.0: a job takes ~15 s)")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=10.0,
        help="the connection's time_scale extra: divides the operator's intervals (emulator only; "
        "10: a poll every 2-6 s)",
    )
    parser.add_argument("--work-dir", type=Path, default=REPO / "demo" / ".work")
    parser.add_argument("--dbt", type=Path, default=REPO / "demo" / ".dbt-venv" / "bin" / "dbt")
    parser.add_argument("--keep-airflow-home", action="store_true", help="keep the throwaway AIRFLOW_HOME")
    parser.add_argument("--run-dag", type=Path, help=argparse.SUPPRESS)  # internal: the child process
    args = parser.parse_args(argv)
    if args.run_dag:
        return run_dag(args.run_dag)

    if not os.access(args.dbt, os.X_OK):
        print(
            f"demo: no dbt at {args.dbt}; build it with `make dbt-venv` (or run `make demo`)", file=sys.stderr
        )
        return 2

    # `kill` (or make being stopped) must clean up like Ctrl-C does: stop the emulator and the DAG run.
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    phases = Phases()
    work_dir: Path = args.work_dir.resolve()
    # A fresh warehouse every time, so the summary shows exactly this run's loads.
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    airflow_home = Path(tempfile.mkdtemp(prefix="stitch-demo-airflow-"))
    warehouse = work_dir / "warehouse.duckdb"
    analytics = work_dir / "analytics.duckdb"
    result_file = work_dir / "dag-result.json"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FILE.parent),
        "AIRFLOW_VAR_STITCH_DEMO_WORK_DIR": str(work_dir),
        "AIRFLOW_VAR_STITCH_DEMO_WAREHOUSE": str(warehouse),
        "AIRFLOW_VAR_STITCH_DEMO_DBT": str(args.dbt.resolve()),
    }
    emulator = Emulator(warehouse, args.speed, work_dir / "emulator.log")
    dag_log = work_dir / "dag-test.log"
    succeeded = interrupted = False
    try:
        # The emulator starts while Airflow migrates its database: neither waits for the other.
        with phases.phase("emulator start", "starting the Stitch emulator"):
            emulator.start(env)
        with phases.phase("airflow db migrate", "creating the Airflow metadata database"):
            _run_logged(
                [str(BIN / "airflow"), "db", "migrate"],
                work_dir / "airflow-db.log",
                env,
                "airflow db migrate",
            )
        with phases.phase("emulator ready", "waiting for the emulator"):
            emulator.wait_ready()
        assert emulator.connection_uri is not None
        connection = json.loads(emulator.connection_uri)
        connection["extra"]["time_scale"] = args.time_scale
        env["AIRFLOW_CONN_STITCH_DEFAULT"] = json.dumps(connection)  # never printed: it holds the token
        with phases.phase("DAG run", f"running {DAG_ID} with dag.test() (log: {dag_log})"):
            _run_logged(
                [sys.executable, str(Path(__file__).resolve()), "--run-dag", str(result_file)],
                dag_log,
                env,
                "the DAG run",
            )
        emulator.stop()  # before reading the warehouse: no load can be under way while we count rows
        result = json.loads(result_file.read_text())
        for line in summarize(result, warehouse, analytics, emulator):
            print(line)
        states = {task.get("state") for task in result["tasks"].values()}
        succeeded = result["state"] == "success" and states == {"success"}
        if not succeeded:
            print(f"\nThe DAG run did not fully succeed. Errors (full log: {dag_log}):", file=sys.stderr)
            print(_errors(dag_log) or _tail(dag_log), file=sys.stderr)
    except DemoError as exc:
        print(f"\ndemo failed: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        interrupted = True
        print("\ndemo interrupted", file=sys.stderr)
    finally:
        emulator.stop()
        if args.keep_airflow_home:
            print(f"AIRFLOW_HOME kept at {airflow_home}")
        else:
            shutil.rmtree(airflow_home, ignore_errors=True)
    timings = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.timings)
    print(f"Timings      {timings}; total {phases.total():.1f} s")
    print("Demo " + ("succeeded" if succeeded else "FAILED"))
    if interrupted:
        return 130  # the shell's convention for "stopped by SIGINT"
    return 0 if succeeded else 1


if __name__ == "__main__":
    sys.exit(main())
