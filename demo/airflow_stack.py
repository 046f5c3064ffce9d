"""A real Airflow deployment on this machine: api-server, scheduler (LocalExecutor), dag-processor and
triggerer, each its own process, in a throwaway AIRFLOW_HOME, with the Stitch emulator as a process.

``make demo`` (demo/run_demo.py) runs the example DAGs on it; tests/deployment runs its DAGs on it. It
lives here, next to the demo, so that the demo and the tests share one stack and the demo needs nothing
of the tests package (pytest puts this folder on its ``pythonpath``).

``dag.test()`` runs a deferred task's trigger inline, in the calling process. What lives in Airflow's own
processes (a task deferring to the triggerer, a clear or a mark-failed while deferred, the triggerer
dying and another picking its triggers up, a task process killed and retried) needs this stack instead.

Layout of the stack's temp dir: ``airflow-home/`` is AIRFLOW_HOME (airflow.db, the component logs, the
task logs under ``logs/``), ``emulator/`` is Stitch's side (its seed, its log, by default its warehouse).
Stitch's side is outside AIRFLOW_HOME on purpose: the emulator prints its account token, as Stitch's UI
shows one, while nothing under AIRFLOW_HOME may ever hold it. Each stack's seed has a fresh random
access token and partner secret, so that a token found anywhere is this stack's and not a coincidence.

Start-up (measured on 2 cores): the emulator starts while the metadata DB is made (``airflow db
migrate`` on SQLite, about 4 s, run once per Airflow version: later stacks copy the migrated DB from the
temp dir; ``STITCH_STACK_MIGRATE=1`` forces a migration), then the four Airflow processes start in
parallel; the stack is ready (API healthy, every component heartbeating) after 12-19 s in all.
``AirflowStack`` is a context manager, and ``airflow_stack(dags_folder)`` yields a started one and
stops everything on exit, failures and Ctrl-C included (``STITCH_STACK_KEEP_HOME=1`` keeps its temp dir
and logs for a look afterwards). Each process runs in its own session, and stopping kills every process
of those sessions: task processes, which Airflow puts in process groups of their own, included.

Everything a caller needs goes through public interfaces: the REST API (``/api/v2``, with a JWT from
``/auth/token`` for the SimpleAuthManager admin), the task log files under AIRFLOW_HOME/logs, the
emulator's admin API, and (read-only) the metadata DB only for what no endpoint shows: components'
heartbeats and whether triggers are left.
When a wait times out, the error carries the tail of every process's log and of the task's log.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ADMIN_USER = "admin"
#: The seeded Stitch account whose token the stack's ``stitch_default`` connection holds.
STITCH_CLIENT_ID = 1001
DEFAULT_SPEED = 20.0
STARTUP_TIMEOUT = 180.0
STOP_TIMEOUT = 10.0
#: Seconds for one REST call, and how many times a GET is asked again when the api-server (slow on a
#: loaded machine: one demo run saw a 30 s read timeout at load average 7.8) leaves it unanswered.
API_TIMEOUT = 30.0
API_ATTEMPTS = 3
TERMINAL_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
_LISTENING = re.compile(r"listening on (http://\S+)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _session_members(session_id: int) -> list[int]:
    """Every live process of a session (Linux ``/proc``; elsewhere only the leader is known)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return [session_id]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the command (which may hold spaces and parentheses): state ppid pgrp session ...
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 3 and fields[0] != "Z" and int(fields[3]) == session_id:
            members.append(int(entry.name))
    return members


def kill_session(session_id: int, timeout: float = 10.0) -> None:
    """SIGKILL every process of a session until none is left (or ``timeout`` passed). Zombies do not
    count: a killed session leader stays one until its parent (``Popen.wait``) reaps it."""
    deadline = time.monotonic() + timeout
    while (members := _session_members(session_id)) and time.monotonic() < deadline:
        for pid in members:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def _mentions(pid: int, text: str) -> bool:
    """Whether a process's command line or environment mentions ``text`` (here: a stack's temp dir)."""
    for name in ("cmdline", "environ"):
        try:
            if text.encode() in Path(f"/proc/{pid}/{name}").read_bytes():
                return True
        except OSError:
            continue
    return False


def session_members(session_id: int) -> list[int]:
    """Every live process of a session: what is left of a stack's process, whatever it renamed itself."""
    return _session_members(session_id)


def processes_mentioning(text: str) -> list[int]:
    """Every live process whose command line or environment mentions ``text`` (Linux ``/proc``; a
    process that rewrote its title over them, as Airflow's components do, is not found this way)."""
    pids = [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    return [pid for pid in pids if pid != os.getpid() and _mentions(pid, text)]


def _start_time(pid: int) -> int | None:
    """When the process started (clock ticks since boot): with the pid, it names one process for good."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
    except OSError:
        return None
    return int(fields[19]) if len(fields) > 19 and fields[0] != "Z" else None


def stop_detached(state_file: Path) -> list[str]:
    """Stop a stack left running (``keep_home``) by an earlier process, from its ``write_state`` file;
    returns the names of the session leaders still running. A pid is signalled only while it is the
    same process (same start time), so a pid reused since is left alone."""
    state = json.loads(state_file.read_text())
    sessions = {name: (int(s["pid"]), s["start_time"]) for name, s in state["sessions"].items()}
    found = {name: pid for name, (pid, started) in sessions.items() if _start_time(pid) == started}
    for pid in found.values():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline and any(
        _start_time(pid) == sessions[name][1] for name, pid in found.items()
    ):
        time.sleep(0.2)
    for pid in found.values():
        kill_session(pid)
    shutil.rmtree(state["root"], ignore_errors=True)
    state_file.unlink(missing_ok=True)
    return list(found)


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


class StackError(AssertionError):
    """A wait timed out or a process died; the message carries the logs needed to see why."""


@dataclass
class ManagedProcess:
    """One long-running command in its own process group (so its children die with it)."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    generation: int = 0

    def start(self) -> ManagedProcess:
        self.generation += 1
        if self.generation > 1:  # keep the dead process's log next to the new one's
            self.log_path = self.log_path.with_name(f"{self.name}.{self.generation}.log")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    def kill9(self) -> None:
        """SIGKILL to the whole group, as when the machine or container running it dies."""
        if self.process is None:
            return
        self._signal_group(signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self._signal_group(signal.SIGTERM)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        # Children (task supervisors, trigger runners, uvicorn workers) may outlive their parent, and
        # task processes sit in process groups of their own: kill the whole session the process leads.
        self._signal_group(signal.SIGKILL)
        self.kill_session()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)

    def kill_session(self) -> None:
        """SIGKILL every process left in this process's session, until none is."""
        if self.process is not None:
            kill_session(self.pid)
            self.process.poll()

    def session_alive(self) -> list[int]:
        """The live processes of this process's session (empty once everything it started is gone)."""
        return _session_members(self.pid) if self.process is not None else []

    def tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)


@dataclass
class DagRun:
    dag_id: str
    run_id: str


@dataclass
class AirflowStack:
    """The stack; ``with AirflowStack(dags_folder) as stack:`` starts it and always stops it."""

    dags_folder: Path
    #: The emulator's ``--speed``: Stitch time runs this many times faster than the wall clock.
    speed: float = DEFAULT_SPEED
    #: The connection's ``time_scale`` extra (divides the operators' intervals); None: ``speed``.
    time_scale: float | None = None
    #: The emulator's DuckDB warehouse; None: ``emulator/warehouse.duckdb`` in the stack's temp dir.
    warehouse: Path | None = None
    #: More environment for every Airflow process (``AIRFLOW_VAR_*``, ``AIRFLOW__*`` settings).
    extra_env: dict[str, str] = field(default_factory=dict)
    #: Triggerer processes (HA): ``triggerer``, then ``triggerer-2``, ``triggerer-3``...
    triggerers: int = 1
    #: The connection's ``triggerers`` extra (how many triggerers the provider shares the budget
    #: between); None leaves it out (the provider then assumes one).
    triggerers_extra: int | None = None
    #: Copies of ``shop_db`` added to the seeded account (``shop_db_1``...), for many distinct jobs.
    source_copies: int = 0
    #: Phase lengths (Stitch seconds) for ``shop_db`` and its copies; None: the seed's.
    source_durations: dict[str, float] | None = None
    keep_home: bool = False
    #: The stack's temp dir: ``airflow-home/`` (AIRFLOW_HOME) and ``emulator/`` (Stitch's side).
    root: Path = field(init=False)
    home: Path = field(init=False)
    emulator_dir: Path = field(init=False)
    #: The seeded account's access token and the partner's secret, fresh for every stack.
    stitch_token: str = field(init=False, default="", repr=False)
    partner_id: str = field(init=False, default="")
    partner_secret: str = field(init=False, default="", repr=False)
    api_url: str = field(init=False, default="")
    emulator_url: str = field(init=False, default="")
    processes: dict[str, ManagedProcess] = field(init=False, default_factory=dict)
    startup_seconds: dict[str, float] = field(init=False, default_factory=dict)
    #: When each process was gone, counted from the start of ``stop()``.
    stop_seconds: dict[str, float] = field(init=False, default_factory=dict)
    #: Runs triggered since the last ``settle()``.
    runs: list[DagRun] = field(init=False, default_factory=list)
    _password: str = field(init=False, default="")
    _token: tuple[str, float] | None = field(init=False, default=None)
    _http: requests.Session = field(init=False, default_factory=requests.Session)

    # --- lifecycle ----------------------------------------------------------------------------------

    def __enter__(self) -> AirflowStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> AirflowStack:
        began = time.monotonic()
        self.root = Path(tempfile.mkdtemp(prefix="stitch-airflow-stack-"))
        self.home = self.root / "airflow-home"
        self.emulator_dir = self.root / "emulator"
        self.home.mkdir()
        self.emulator_dir.mkdir()
        # All settings come from the environment; an airflow.cfg present from the start keeps the four
        # processes from racing to write a default one.
        (self.home / "airflow.cfg").write_text("# settings: AIRFLOW__* environment variables\n")
        self._password = secrets.token_urlsafe(16)
        (self.home / "passwords.json").write_text(json.dumps({ADMIN_USER: self._password}))
        api_port = _free_port()
        self.api_url = f"http://127.0.0.1:{api_port}"

        emulator = self._emulator_process()
        emulator.start()
        env = self._airflow_env()
        self._migrate(env)
        self.startup_seconds["db_migrate"] = time.monotonic() - began
        self.emulator_url = self._wait_emulator_url(emulator)
        self.env = env | {"AIRFLOW_CONN_STITCH_DEFAULT": self.connection_json()}
        airflow = str(Path(sys.executable).parent / "airflow")
        commands = {
            "api-server": [airflow, "api-server", "--host", "127.0.0.1", "--port", str(api_port)],
            "scheduler": [airflow, "scheduler"],
            "dag-processor": [airflow, "dag-processor"],
        }
        for number in range(1, self.triggerers + 1):
            commands["triggerer" if number == 1 else f"triggerer-{number}"] = [airflow, "triggerer"]
        for name, argv in commands.items():
            env = self.env
            if name.startswith("triggerer-"):
                # Each triggerer serves its trigger logs on a port of its own.
                env = env | {"AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port())}
            # Registered before it starts: a Ctrl-C between the two must still stop it.
            process = self.processes[name] = ManagedProcess(name, argv, env, self.home / f"{name}.log")
            process.start()
        self._wait_api_healthy()
        self.startup_seconds["api_healthy"] = time.monotonic() - began
        self._wait_jobs_alive(("SchedulerJob", "TriggererJob", "DagProcessorJob"))
        self.startup_seconds["total"] = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Stop everything (workers and triggers first, the API and the emulator last)."""
        # SIGTERM to all at once (each takes seconds to shut down), then SIGKILL whatever is left.
        triggerers = sorted(name for name in self.processes if name.startswith("triggerer"))
        order = ("scheduler", *triggerers, "dag-processor", "api-server", "emulator")
        running = [self.processes[name] for name in order if name in self.processes]
        self._http.close()
        began = time.monotonic()
        for process in running:
            process.terminate()
        for process in running:
            process.stop()
            self.stop_seconds[process.name] = round(time.monotonic() - began, 2)
        if not self.keep_home and getattr(self, "root", None) is not None:
            shutil.rmtree(self.root, ignore_errors=True)

    def write_state(self, path: Path) -> None:
        """What ``stop_detached`` needs to stop this stack from another process (``make demo-stop``)."""
        sessions = {
            name: {"pid": p.pid, "start_time": _start_time(p.pid)}
            for name, p in self.processes.items()
            if p.process is not None
        }
        path.write_text(json.dumps({"root": str(self.root), "sessions": sessions}, indent=2))

    def leftover_processes(self) -> dict[str, list[int]]:
        """Processes still alive in the sessions the stack started (none after ``stop()``)."""
        return {name: pids for name, p in self.processes.items() if (pids := p.session_alive())}

    @property
    def admin_user(self) -> str:
        return ADMIN_USER

    @property
    def admin_password(self) -> str:
        """The UI and REST API admin's password: made for this stack, which listens on loopback only."""
        return self._password

    @property
    def warehouse_path(self) -> Path:
        return self.warehouse or self.emulator_dir / "warehouse.duckdb"

    def _base_env(self) -> dict[str, str]:
        # Nothing of the test process's own Airflow set-up (its AIRFLOW_HOME, DAGs folder, keys).
        return {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}

    def _airflow_env(self) -> dict[str, str]:
        home = self.home
        from cryptography.fernet import Fernet

        settings = {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_FOLDER": str(Path(self.dags_folder).resolve()),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "1",
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            # Short intervals, so that a new DAG file is parsed and a triggered run starts in seconds.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "300",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "2",
            # A killed triggerer's triggers go to a live one once its heartbeat is this old.
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "5",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            # Not the fixed 8793/8794: another Airflow (or stack) on this machine may hold them.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port()),
        }
        return self._base_env() | settings | self.extra_env

    def _migrate(self, env: dict[str, str]) -> None:
        """``airflow db migrate``, or a copy of the DB it made for this Airflow version before.

        A freshly migrated DB holds nothing of a particular home (no paths, no DAGs), so a copy is as
        good as a new migration and saves its seconds on every later start.
        """
        from importlib.metadata import version

        cached = Path(tempfile.gettempdir()) / f"stitch-airflow-stack-db-{version('apache-airflow')}.sqlite"
        target = self.home / "airflow.db"
        if cached.exists() and os.environ.get("STITCH_STACK_MIGRATE") != "1":
            shutil.copyfile(cached, target)
            return
        airflow = str(Path(sys.executable).parent / "airflow")
        result = subprocess.run(
            [airflow, "db", "migrate"], env=env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise StackError(f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        partial = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
        with (
            contextlib.closing(sqlite3.connect(target)) as source,
            contextlib.closing(sqlite3.connect(partial)) as copy,
        ):
            source.backup(copy)  # consistent even if the DB is in WAL mode
        os.replace(partial, cached)

    def _write_seed(self) -> Path:
        """The packaged seed with a fresh access token for the account and a fresh partner secret."""
        from airflow_provider_stitch.emulator.seed import add_source_copies, default_seed_text

        seed = json.loads(default_seed_text())
        if self.source_copies or self.source_durations:
            phases = self.source_durations
            same = (lambda _: dict(phases)) if phases else None
            add_source_copies(seed, self.source_copies, durations=same)
        account = next(a for a in seed["accounts"] if a["stitch_client_id"] == STITCH_CLIENT_ID)
        self.stitch_token = account["access_token"] = f"ac_{secrets.token_hex(16)}"
        partner = seed["partners"][0]
        self.partner_id = partner["partner_id"]
        self.partner_secret = partner["partner_secret"] = f"oc_{secrets.token_hex(16)}"
        path = self.emulator_dir / "seed.json"
        path.write_text(json.dumps(seed, indent=2))
        return path

    def _emulator_process(self) -> ManagedProcess:
        argv = [
            sys.executable,
            "-m",
            "airflow_provider_stitch.emulator",
            "--port",
            "0",
            "--speed",
            f"{self.speed:g}",
            "--seed",
            str(self._write_seed()),
            "--warehouse",
            str(self.warehouse_path),
        ]
        process = ManagedProcess("emulator", argv, self._base_env(), self.emulator_dir / "emulator.log")
        self.processes["emulator"] = process
        return process

    def _wait_emulator_url(self, emulator: ManagedProcess) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if match := _LISTENING.search(emulator.tail(20)):
                return match.group(1)
            if not emulator.alive():
                break
            time.sleep(0.1)
        raise StackError(f"the Stitch emulator did not start:\n{emulator.tail()}")

    def _wait_api_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            self._check_alive()
            try:
                if self._http.get(f"{self.api_url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise StackError(
                    f"airflow api-server not healthy in {STARTUP_TIMEOUT:g} s\n{self.diagnostics()}"
                )
            time.sleep(0.3)

    def _wait_jobs_alive(self, job_types: Iterable[str]) -> None:
        """Until each component has written a heartbeat (it is then really running its loop)."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        wanted = set(job_types)
        while True:
            self._check_alive()
            rows = self.query_db("SELECT DISTINCT job_type FROM job WHERE state = 'running'")
            if wanted <= {row[0] for row in rows}:
                return
            if time.monotonic() > deadline:
                raise StackError(f"components {wanted} not all running\n{self.diagnostics()}")
            time.sleep(0.3)

    def _check_alive(self) -> None:
        dead = [p.name for p in self.processes.values() if p.process is not None and not p.alive()]
        if dead:
            raise StackError(f"process(es) exited: {dead}\n{self.diagnostics()}")

    # --- the emulator -------------------------------------------------------------------------------

    def connection_json(self) -> str:
        """``AIRFLOW_CONN_STITCH_DEFAULT`` of every Airflow process: the account's token, and the
        partner's credentials too, as a partner's connection holds them (both must stay secret)."""
        extra: dict[str, Any] = {
            "stitch_client_id": STITCH_CLIENT_ID,
            "time_scale": self.speed if self.time_scale is None else self.time_scale,
            "partner_id": self.partner_id,
            "partner_secret": self.partner_secret,
        }
        if self.triggerers_extra is not None:
            extra["triggerers"] = self.triggerers_extra
        return json.dumps(
            {"conn_type": "stitch", "host": self.emulator_url, "password": self.stitch_token, "extra": extra}
        )

    @property
    def credentials(self) -> dict[str, str]:
        """The credentials the stack's connection holds, by name: what must never be shown anywhere."""
        return {"access token": self.stitch_token, "partner secret": self.partner_secret}

    @property
    def emulator(self) -> Any:
        """An ``EmulatorAdmin`` for the emulator's ``/_emulator/`` admin API."""
        from airflow_provider_stitch.emulator.client import EmulatorAdmin

        if getattr(self, "_emulator_admin", None) is None:
            self._emulator_admin = EmulatorAdmin(self.emulator_url)
        return self._emulator_admin

    def stitch_get(self, path: str) -> Any:
        """A Stitch Connect API call to the emulator, with the account's token."""
        response = self._http.get(
            f"{self.emulator_url}{path}", headers={"Authorization": f"Bearer {self.stitch_token}"}, timeout=10
        )
        response.raise_for_status()
        return response.json()

    def extraction_row(self, source_id: int, client_id: int = STITCH_CLIENT_ID) -> dict[str, Any] | None:
        """The source's row in ``GET /v4/{client}/extractions`` (its last completed extraction)."""
        rows = self.stitch_get(f"/v4/{client_id}/extractions")["data"]
        return next((row for row in rows if row.get("source_id") == source_id), None)

    def jobs_started(self, source_id: int) -> int:
        """Replication jobs started on the source since the last reset (the emulator's ground truth,
        ``GET /_emulator/jobs``), however they were started."""
        return len(self.emulator.jobs(source_id))

    def warehouse_counts(self, schema: str) -> dict[str, int]:
        """Rows per table of the schema in the emulator's DuckDB warehouse ({} when nothing landed)."""
        import duckdb

        path = self.warehouse_path
        if not path.exists():
            return {}
        for _ in range(20):  # the emulator holds the file only while it writes a load
            try:
                with duckdb.connect(str(path), read_only=True) as db:
                    tables = db.execute(
                        "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [schema]
                    ).fetchall()
                    return {
                        name: int(db.execute(f'SELECT count(*) FROM "{schema}"."{name}"').fetchone()[0])  # type: ignore[index]  # noqa: S608
                        for (name,) in tables
                    }
            except duckdb.IOException:
                time.sleep(0.25)
        raise StackError(f"could not open the warehouse {path}")

    # --- Airflow's REST API -------------------------------------------------------------------------

    def token(self) -> str:
        if self._token is None or time.monotonic() > self._token[1]:
            response = self._http.post(
                f"{self.api_url}/auth/token",
                json={"username": ADMIN_USER, "password": self._password},
                timeout=10,
            )
            response.raise_for_status()
            self._token = (str(response.json()["access_token"]), time.monotonic() + 3000)
        return self._token[0]

    def api(self, method: str, path: str, *, ok: Iterable[int] = (200,), **kwargs: Any) -> Any:
        """One REST call. A GET the api-server leaves unanswered or answers with a 5xx (a loaded machine:
        SQLite busy) is asked again, up to :data:`API_ATTEMPTS` times; any other failure, or the last,
        raises :class:`StackError`."""
        attempts = API_ATTEMPTS if method == "GET" else 1
        for attempt in range(1, attempts + 1):
            try:
                response = self._http.request(
                    method,
                    f"{self.api_url}/api/v2{path}",
                    headers={"Authorization": f"Bearer {self.token()}"},
                    timeout=API_TIMEOUT,
                    **kwargs,
                )
            except (requests.Timeout, requests.ConnectionError) as exc:
                if attempt == attempts:
                    load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
                    raise StackError(
                        f"the api-server did not answer {method} /api/v2{path} ({attempts} attempt(s), "
                        f"{API_TIMEOUT:g} s each; load average {load}): {type(exc).__name__}"
                    ) from exc
                continue
            if response.status_code < 500 or attempt == attempts:
                break
            time.sleep(1.0)
        if response.status_code not in set(ok):
            raise StackError(f"{method} /api/v2{path} -> {response.status_code}: {response.text[:2000]}")
        return response.json() if response.content else None

    def wait_for_dag(self, dag_id: str, timeout: float = 90.0) -> None:
        """Until the dag-processor has parsed and serialised the DAG."""
        deadline = time.monotonic() + timeout
        while True:
            response = self._http.get(
                f"{self.api_url}/api/v2/dags/{dag_id}",
                headers={"Authorization": f"Bearer {self.token()}"},
                timeout=10,
            )
            if response.status_code == 200:
                return
            errors = self.api("GET", "/importErrors")["import_errors"]
            if errors or time.monotonic() > deadline:
                raise StackError(
                    f"DAG {dag_id} not parsed (import errors: {errors})\n{self.diagnostics(lines=15)}"
                )
            time.sleep(0.5)

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> DagRun:
        self.wait_for_dag(dag_id)
        body = self.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})
        run = DagRun(dag_id, body["dag_run_id"])
        self.runs.append(run)
        return run

    def settle(self, timeout: float = 30.0) -> None:
        """Fail the runs still going and wait until no trigger is left, so that nothing a test started
        goes on polling (or stopping jobs) during the next one."""
        for run in self.runs:
            state = self.api("GET", f"/dags/{run.dag_id}/dagRuns/{run.run_id}")["state"]
            if state in ("queued", "running"):
                self.mark_run(run, "failed")
        self.runs.clear()
        self.wait_no_triggers(timeout)

    def task_instance(self, run: DagRun, task_id: str) -> dict[str, Any]:
        path = f"/dags/{run.dag_id}/dagRuns/{run.run_id}/taskInstances/{task_id}"
        result: dict[str, Any] = self.api("GET", path)
        return result

    def wait_for_state(
        self,
        run: DagRun,
        task_id: str,
        states: str | Iterable[str],
        *,
        timeout: float = 120.0,
        min_try_number: int = 1,
    ) -> dict[str, Any]:
        """Poll the task instance until its state is one of ``states`` (in a try >= ``min_try_number``).

        Fails at once if it ends in another terminal state; on timeout, fails with every log tail.
        """
        wanted = {states} if isinstance(states, str) else set(states)
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while True:
            ti = self.task_instance(run, task_id)
            state, try_number = ti.get("state"), int(ti.get("try_number") or 0)
            label = f"{state}@{try_number}"
            if not seen or seen[-1] != label:
                seen.append(label)
            if try_number >= min_try_number:
                if state in wanted:
                    return ti
                if state in TERMINAL_STATES:
                    raise StackError(
                        f"{run.dag_id}.{task_id} ended {state!r} waiting for {sorted(wanted)} "
                        f"(states seen: {seen})\n{self.diagnostics(run, task_id)}"
                    )
            if time.monotonic() > deadline:
                raise StackError(
                    f"{run.dag_id}.{task_id} not {sorted(wanted)} within {timeout:g} s "
                    f"(states seen: {seen})\n{self.diagnostics(run, task_id)}"
                )
            time.sleep(0.3)

    def clear(self, run: DagRun, task_id: str) -> Any:
        """Clear the task instance (the UI's "Clear"): a new try runs."""
        body = {
            "dry_run": False,
            "dag_run_id": run.run_id,
            "task_ids": [task_id],
            "only_failed": False,
            "reset_dag_runs": True,
        }
        return self.api("POST", f"/dags/{run.dag_id}/clearTaskInstances", json=body)

    def mark(self, run: DagRun, task_id: str, state: str) -> Any:
        """Set the task instance's state (the UI's "Mark as failed/success")."""
        path = f"/dags/{run.dag_id}/dagRuns/{run.run_id}/taskInstances/{task_id}"
        return self.api("PATCH", path, json={"new_state": state})

    def mark_run(self, run: DagRun, state: str) -> Any:
        return self.api("PATCH", f"/dags/{run.dag_id}/dagRuns/{run.run_id}", json={"state": state})

    def run_state(self, run: DagRun) -> str:
        return str(self.api("GET", f"/dags/{run.dag_id}/dagRuns/{run.run_id}")["state"])

    def dag_runs(self, dag_id: str = "~") -> list[dict[str, Any]]:
        """Every DAG run (of one DAG, or of all with ``~``), oldest first."""
        body = self.api("GET", f"/dags/{dag_id}/dagRuns", params={"order_by": "run_after", "limit": 100})
        return list(body["dag_runs"])

    def task_instances(self, run: DagRun) -> list[dict[str, Any]]:
        body = self.api("GET", f"/dags/{run.dag_id}/dagRuns/{run.run_id}/taskInstances")
        return list(body["task_instances"])

    def xcom(self, run: DagRun, task_id: str, key: str = "return_value") -> Any:
        path = f"/dags/{run.dag_id}/dagRuns/{run.run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.api("GET", path, params={"deserialize": "true"})["value"]

    # --- logs, the metadata DB ----------------------------------------------------------------------

    def task_log(self, run: DagRun, task_id: str, try_number: int | None = None) -> str:
        """The task's log files of one try (all tries if None), triggerer parts included."""
        folder = self.home / "logs" / f"dag_id={run.dag_id}" / f"run_id={run.run_id}" / f"task_id={task_id}"
        pattern = f"attempt={try_number}.log*" if try_number is not None else "attempt=*.log*"
        parts = []
        for path in sorted(folder.glob(pattern)):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')}")
        return "\n".join(parts)

    def wait_for_trigger_started(
        self, run: DagRun, task_id: str, try_number: int = 1, timeout: float = 60.0
    ) -> str:
        """Until a triggerer has started the try's trigger (its log part says so); returns that log."""
        folder = self.home / "logs" / f"dag_id={run.dag_id}" / f"run_id={run.run_id}" / f"task_id={task_id}"
        deadline = time.monotonic() + timeout
        while True:
            for path in folder.glob(f"attempt={try_number}.log.trigger.*.log"):
                text = path.read_text(errors="replace")
                if "starting" in text:  # "trigger <dag>/<run>/<task>/-1/<try> (ID n) starting"
                    return text
            if time.monotonic() > deadline:
                raise StackError(
                    f"no triggerer started the trigger of {run.dag_id}.{task_id} try {try_number} "
                    f"within {timeout:g} s\n{self.diagnostics(run, task_id)}"
                )
            time.sleep(0.2)

    def query_db(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """Read-only query of the metadata DB (what no REST endpoint shows, e.g. running triggers)."""
        path = self.home / "airflow.db"
        if not path.exists():
            return []
        try:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as db:
                return list(db.execute(sql, tuple(params)).fetchall())
        except sqlite3.OperationalError:
            return []

    def wait_no_triggers(self, timeout: float = 30.0) -> None:
        """Until no trigger is left in the metadata DB (a test must not leave one polling)."""
        deadline = time.monotonic() + timeout
        while self.query_db("SELECT id FROM trigger") and time.monotonic() < deadline:
            time.sleep(0.5)

    def diagnostics(self, run: DagRun | None = None, task_id: str | None = None, lines: int = 40) -> str:
        parts = []
        for process in self.processes.values():
            status = (
                "running" if process.alive() else f"exited {process.process and process.process.returncode}"
            )
            parts.append(f"===== {process.name} ({status}), {process.log_path} =====\n{process.tail(lines)}")
        if run is not None and task_id is not None:
            log = self.task_log(run, task_id)
            parts.append(
                f"===== task log {run.dag_id}/{run.run_id}/{task_id} =====\n"
                + "\n".join(log.splitlines()[-120:])
            )
        return "\n".join(parts)

    # --- faults ----------------------------------------------------------------------------------------

    def kill_task_process(self, ti: dict[str, Any]) -> int:
        """``kill -9`` the process running a task instance (its ``pid``, as the REST API reports it: the
        task runner, a child of the LocalExecutor worker's supervisor), as when the OOM killer takes
        it. Returns the pid killed."""
        pid = int(ti["pid"])
        if not any(pid in p.session_alive() for p in self.processes.values()):
            raise StackError(f"pid {pid} of {ti.get('task_id')} is not a process of this stack")
        os.kill(pid, signal.SIGKILL)
        return pid

    def kill_triggerer(self) -> None:
        """``kill -9`` the triggerer (its whole process group: supervisor and trigger runner)."""
        self.processes["triggerer"].kill9()

    def start_triggerer(self) -> None:
        """Start a new triggerer; returns once it heartbeats."""
        triggerer = self.processes["triggerer"]
        triggerer.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self._running_triggerers() > 0 and time.monotonic() < deadline:
            self._check_alive()
            time.sleep(0.3)

    def _running_triggerers(self) -> int:
        rows = self.query_db(
            "SELECT count(*) FROM job WHERE job_type = 'TriggererJob' AND state = 'running' "
            "AND latest_heartbeat > datetime('now', '-3 seconds')"
        )
        return int(rows[0][0]) if rows else 0


@contextlib.contextmanager
def airflow_stack(dags_folder: Path, **options: Any) -> Iterator[AirflowStack]:
    """A started stack, stopped on exit whatever happens (``STITCH_STACK_KEEP_HOME=1``: keep its files).

    ``options`` are ``AirflowStack``'s fields (``speed``, ``time_scale``, ``warehouse``, ``extra_env``).
    """
    options.setdefault("keep_home", os.environ.get("STITCH_STACK_KEEP_HOME") == "1")
    with AirflowStack(Path(dags_folder), **options) as stack:
        yield stack
