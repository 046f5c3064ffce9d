"""The connection's secrets (the account's ``ac_`` token, the partner secret) show nowhere on a real
Airflow stack: no file under AIRFLOW_HOME, no XCom, no rendered template field, no REST API answer.

The DAG (dags/stitch_secret_paths.py) takes every path a secret could leak through: a deferred wait in
the worker and the triggerer with a connection stored in the metadata DB through the REST API (as a user
does in the UI), a blocking wait with the environment's connection while Stitch answers 500 and 429,
a connection check, and a replication Stitch refuses. The scan looks at whatever the session's earlier
deployment tests left too. It is shown able to fail twice: a made-up token planted through the run's
conf is found in each channel, and the real token, planted in a log file, is found there.
"""

from __future__ import annotations

import json
import secrets
import shutil
from urllib.parse import quote

import pytest
from airflow_stack import AirflowStack
from secret_scan import find_leaks

pytestmark = pytest.mark.deployment

DAG_ID = "stitch_secret_paths"
EXPECTED_STATES = {
    "echo_conf": "success",
    "replicate_deferred_stored_connection": "success",
    "replicate_blocking": "success",
    "connection_check": "success",
    "replicate_unready_source": "failed",
}


def _store_connection(stack: AirflowStack, connection_id: str) -> None:
    """The stack's Stitch connection, stored in the metadata DB through the REST API."""
    connection = json.loads(stack.connection_json())
    body = {
        "connection_id": connection_id,
        "conn_type": connection["conn_type"],
        "host": connection["host"],
        "password": connection["password"],
        "extra": json.dumps(connection["extra"]),
    }
    stack.api("DELETE", f"/connections/{connection_id}", ok=(204, 404))
    stack.api("POST", "/connections", json=body, ok=(201,))


def test_no_secret_anywhere(fresh_stack: AirflowStack) -> None:
    stack = fresh_stack
    _store_connection(stack, "stitch_stored")
    # Retried errors are where a careless client logs its request: make the blocking wait meet some.
    stack.emulator.inject_fault("GET", "/v4/*/extractions*", status=500, count=2)
    stack.emulator.inject_fault("GET", "/v4/*/loads*", status=429, retry_after=1, count=1)
    planted = f"ac_planted_{secrets.token_hex(12)}"
    run = stack.trigger(DAG_ID, conf={"planted": planted})

    for task_id, state in EXPECTED_STATES.items():
        stack.wait_for_state(run, task_id, {state}, timeout=180)
    assert stack.wait_for_state(run, "replicate_deferred_stored_connection", "success")["try_number"] == 1
    assert stack.emulator.faults() == [], "the faults were never met"

    leaks, fetched = find_leaks(stack, stack.credentials)
    assert leaks == [], leaks
    # The crawl really read the run: every task's log, XComs, and the stored connection.
    ok = {line.split(" ", 1)[1] for line in fetched if line.startswith("200 ")}
    base = f"/dags/{DAG_ID}/dagRuns/{quote(run.run_id, safe='')}/taskInstances"
    for task_id in EXPECTED_STATES:
        assert f"{base}/{task_id}/logs/1" in ok, task_id
    assert f"{base}/replicate_blocking/xcomEntries" in ok
    assert "/connections/stitch_stored" in ok

    # The scan can fail: the planted value is found in every channel it went through...
    found = {leak.channel for leak in find_leaks(stack, {"planted": planted})[0]}
    assert {"log file", "xcom", "rendered field", "REST", "file"} <= found, found
    # ...and the real token in a log file, once one holds it (the emulator's own log prints it).
    planted_log = stack.home / "logs" / "planted-emulator.log"
    shutil.copyfile(stack.emulator_dir / "emulator.log", planted_log)
    try:
        again = find_leaks(stack, stack.credentials)[0]
    finally:
        planted_log.unlink()
    assert {(leak.channel, leak.where, leak.secret) for leak in again} >= {
        ("log file", "logs/planted-emulator.log", "access token")
    }, again
