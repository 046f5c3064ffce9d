"""Look for secrets everywhere a user or an operator of the stack can read: every file under
AIRFLOW_HOME (logs, component logs, the metadata DB's raw bytes), and the REST API's answers for every
DAG, run, task instance, try, log, XCom, rendered field, task state store entry, extra link,
connection, variable and event log entry.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from airflow_stack import AirflowStack


@dataclass(frozen=True)
class Leak:
    channel: str  # "log file", "file", "xcom", "rendered field", "task state", "REST"
    where: str
    secret: str  # the secret's name, never its value


def _files(stack: AirflowStack, secrets: dict[str, bytes]) -> Iterator[Leak]:
    for path in sorted(stack.home.rglob("*")):
        if not path.is_file():
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        relative = path.relative_to(stack.home)
        channel = "log file" if relative.parts[0] == "logs" or path.suffix == ".log" else "file"
        for name, value in secrets.items():
            if value in data:
                yield Leak(channel, str(relative), name)


def _get(stack: AirflowStack, path: str, **params: Any) -> tuple[int, str, Any]:
    response = stack._http.get(
        f"{stack.api_url}/api/v2{path}",
        headers={"Authorization": f"Bearer {stack.token()}"},
        params=params,
        timeout=30,
    )
    try:
        body = response.json()
    except ValueError:
        body = None
    return response.status_code, response.text, body


def _rest(stack: AirflowStack, secrets: dict[str, str]) -> tuple[list[Leak], list[str]]:
    """Every answer of the crawl, with the channel its content belongs to; also the paths fetched."""
    leaks: list[Leak] = []
    fetched: list[str] = []

    def scan(path: str, channel: str = "REST", **params: Any) -> Any:
        status, text, body = _get(stack, path, **params)
        fetched.append(f"{status} {path}")
        for name, value in secrets.items():
            if value in text:
                leaks.append(Leak(channel, path, name))
        return body if status == 200 else None

    for path in (
        "/connections",
        "/variables",
        "/eventLogs?limit=1000",
        "/importErrors",
        "/dagWarnings",
        "/pools",
        "/providers",
        "/plugins",
        "/assets",
        "/assets/events",
        "/jobs",
        "/config",
        "/version",
        "/monitor/health",
    ):
        scan(path)
    connections = scan("/connections") or {}
    for connection in connections.get("connections", []):
        scan(f"/connections/{quote(connection['connection_id'])}")
    dags = (scan("/dags", limit=100) or {}).get("dags", [])
    for dag in dags:
        dag_id = dag["dag_id"]
        scan(f"/dags/{dag_id}/details")
        scan(f"/dags/{dag_id}/tasks")
        scan(f"/dagSources/{dag_id}")
    runs = (scan("/dags/~/dagRuns", limit=100) or {}).get("dag_runs", [])
    for run in runs:
        base = f"/dags/{run['dag_id']}/dagRuns/{quote(run['dag_run_id'], safe='')}"
        scan(base)
        tis = (scan(f"{base}/taskInstances") or {}).get("task_instances", [])
        for ti in tis:
            task = f"{base}/taskInstances/{ti['task_id']}"
            body = scan(task)
            if body is not None:
                rendered = json.dumps(body.get("rendered_fields"), default=str)
                leaks.extend(Leak("rendered field", task, n) for n, v in secrets.items() if v in rendered)
            scan(f"{task}/tries")
            scan(f"{task}/links")
            scan(f"{task}/state-store", "task state")
            for try_number in range(1, int(ti.get("try_number") or 0) + 1):
                scan(f"{task}/logs/{try_number}", full_content="true")
            entries = (scan(f"{task}/xcomEntries", "xcom") or {}).get("xcom_entries", [])
            for entry in entries:
                key = quote(entry["key"], safe="")
                scan(f"{task}/xcomEntries/{key}", "xcom")
                scan(f"{task}/xcomEntries/{key}", "xcom", deserialize="true")
    return leaks, fetched


def find_leaks(stack: AirflowStack, secrets: dict[str, str]) -> tuple[list[Leak], list[str]]:
    """Every place one of ``secrets`` (name -> value) shows, and the REST paths looked at."""
    leaks = list(_files(stack, {name: value.encode() for name, value in secrets.items()}))
    rest_leaks, fetched = _rest(stack, secrets)
    return leaks + rest_leaks, fetched
