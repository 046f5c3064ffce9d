"""Seeds (default, custom, bad), the CLI in a subprocess, and the DuckDB warehouse contents."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_stitch.emulator import EmulatorServer, SeedError
from airflow_provider_stitch.emulator.seed import load_seed

from ._support import Api, minimal_seed

duckdb = pytest.importorskip("duckdb")


def _count(path: Path, table: str) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return int(con.execute(f"select count(*) from {table}").fetchone()[0])  # noqa: S608 (test-owned names)
    finally:
        con.close()


def test_default_seed_contents() -> None:
    seed = load_seed(None)
    account = seed["accounts"][0]
    assert (account["stitch_client_id"], account["access_token"]) == (1001, "ac_emulator_demo_token")
    assert seed["partners"] == [
        {"partner_id": "oc_emulator_partner", "partner_secret": "oc_emulator_partner_secret"}
    ]
    shop = next(s for s in account["sources"] if s["id"] == 2001)
    assert shop["name"] == "shop_db" and shop["type"] == "platform.postgres"
    assert shop["selected_streams"] == ["customers", "orders", "products"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s: s.pop("accounts"), "accounts: must be a non-empty list"),
        (
            lambda s: s["accounts"][0].update(stitch_client_id="x"),
            "accounts[0].stitch_client_id: must be a positive integer",
        ),
        (
            lambda s: s["accounts"][0]["sources"][0].update(type="platform.nope"),
            "accounts[0].sources[0].type: unknown source type",
        ),
        (
            lambda s: s["accounts"][0]["sources"][0].update(selected_streams=["nope"]),
            "accounts[0].sources[0].selected_streams: unknown stream",
        ),
        (
            lambda s: s["accounts"][0]["sources"][0].update(scenario={"fail_tap": 3}),
            "accounts[0].sources[0].scenario.fail_tap",
        ),
        (
            lambda s: s["accounts"][0]["sources"][0].update(state="done"),
            "accounts[0].sources[0].state: must be one of",
        ),
        (
            lambda s: s["accounts"][0]["sources"].append(dict(s["accounts"][0]["sources"][0])),
            "accounts[0].sources[1].id: must be a unique integer",
        ),
        (
            lambda s: s["accounts"][0]["sources"][0].update(replicated="yes"),
            "accounts[0].sources[0].replicated: must be a boolean",
        ),
        (
            lambda s: s["accounts"][0]["sources"][0].update(replicated=True, state="field_selection"),
            "accounts[0].sources[0].replicated: only a fully_configured Singer source",
        ),
        (lambda s: s.update(extra=1), "top level: unknown key(s) ['extra']"),
    ],
)
def test_bad_seeds_name_the_problem(tmp_path: Path, mutate: Any, message: str) -> None:
    seed = minimal_seed()
    mutate(seed)
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed))
    with pytest.raises(SeedError) as info:
        EmulatorServer(seed=path)
    text = str(info.value)
    assert "\n" not in text and text.startswith(f"seed {path}: ") and message in text


def test_unreadable_and_invalid_json_seeds(tmp_path: Path) -> None:
    with pytest.raises(SeedError, match="cannot read file"):
        load_seed(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"accounts": [')
    with pytest.raises(SeedError, match=r"invalid JSON at line 1"):
        load_seed(broken)


def test_custom_seed_file_with_scenario_and_durations(stitch_emulator_factory: Any, tmp_path: Path) -> None:
    seed = minimal_seed()
    seed["accounts"][0]["sources"][0].update(
        scenario={"fail_tap": "seeded failure"}, durations={"tap": 1}, paused=True
    )
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed))
    server = stitch_emulator_factory(seed=path)
    assert (server.token, server.client_id, server.partner_id) == ("ac_test", 1001, "oc_p")
    api = Api(server)
    assert api.get("/v4/sources/2001").json()["paused_at"] is not None
    api.run_job()
    assert api.extraction()["tap_description"] == "seeded failure"  # type: ignore[index]


def test_warehouse_rows_grow_incrementally(stitch_emulator: EmulatorServer, api: Api) -> None:
    path = stitch_emulator.warehouse_path
    api.run_job()
    first = {t: _count(path, f"shop_db.{t}") for t in ("customers", "orders", "products")}
    assert first == {"customers": 50, "orders": 120, "products": 20}
    con = duckdb.connect(str(path), read_only=True)
    try:
        columns = [r[0] for r in con.execute("describe shop_db.customers").fetchall()]
        max_updated = con.execute("select max(updated_at) from shop_db.customers").fetchone()[0]
    finally:
        con.close()
    assert {"id", "email", "updated_at", "_sdc_extracted_at", "_sdc_batched_at"} <= set(columns)
    job = api.run_job()
    second = {t: _count(path, f"shop_db.{t}") for t in ("customers", "orders", "products")}
    assert second == {"customers": 60, "orders": 145, "products": 22}
    # Job 2 extracted the new rows plus updates, all past job 1's bookmark.
    assert 'replicated 15 records from "customers" endpoint' in api.log_text(job)
    con = duckdb.connect(str(path), read_only=True)
    try:
        past = con.execute(
            "select count(*) from shop_db.customers where updated_at > ?", [max_updated]
        ).fetchone()[0]
    finally:
        con.close()
    assert past == 15


def test_data_is_deterministic_across_servers(stitch_emulator_factory: Any) -> None:
    dumps = []
    for _ in range(2):
        server = stitch_emulator_factory(speed=50)
        Api(server).run_job()
        con = duckdb.connect(str(server.warehouse_path), read_only=True)
        try:
            dumps.append(
                con.execute(
                    "select id, email, country, updated_at from shop_db.customers order by id"
                ).fetchall()
            )
        finally:
            con.close()
    assert dumps[0] == dumps[1] and len(dumps[0]) == 50


def test_jobs_still_run_without_duckdb(
    stitch_emulator_factory: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    monkeypatch.setitem(sys.modules, "duckdb", None)  # what an install without the extra looks like
    server = stitch_emulator_factory(speed=50)
    api = Api(server)
    api.run_job()
    assert sorted(api.loads()) == ["customers", "orders", "products"]
    assert not server.warehouse_path.exists()
    assert "duckdb is not installed" in caplog.text


def _start_cli(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_stitch.emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    lines = []
    for _ in range(10):
        line = proc.stdout.readline()
        lines.append(line)
        if line.startswith("AIRFLOW_CONN_STITCH_DEFAULT="):
            break
    text = "".join(lines)
    return proc, text


def test_cli_start_health_and_sigterm(tmp_path: Path) -> None:
    proc, text = _start_cli("--warehouse", str(tmp_path / "w.duckdb"), "--speed", "10")
    try:
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", text)
        assert match, text
        base = match.group(1)
        conn_line = next(
            line for line in text.splitlines() if line.startswith("AIRFLOW_CONN_STITCH_DEFAULT=")
        )
        conn = json.loads(conn_line.split("=", 1)[1].strip("'"))
        assert conn == {
            "conn_type": "stitch",
            "host": base,
            "password": "ac_emulator_demo_token",
            "extra": {"stitch_client_id": 1001, "time_scale": 10.0},
        }
        health = requests.get(base + "/_emulator/health", timeout=5).json()
        assert health["status"] == "ok" and health["speed"] == 10.0
        assert health["warehouse"] == str(tmp_path / "w.duckdb")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--speed", "0"], "argument --speed: must be greater than 0"),
        (["--port", "99999"], "argument --port: must be an integer between 0 and 65535"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_cli_bad_arguments(args: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_stitch.emulator", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr


def test_cli_bad_seed(tmp_path: Path) -> None:
    path = tmp_path / "seed.json"
    path.write_text("[]")
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_stitch.emulator", "--seed", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr == f"stitch-emulator: error: seed {path}: top level: must be a JSON object\n"


def test_jobs_progress_and_load_while_nobody_polls(stitch_emulator_factory: Any) -> None:
    """Like Stitch, the emulator moves jobs on by itself: rows land without any client request."""
    server = stitch_emulator_factory(speed=50)
    requests.post(
        f"{server.base_url}/v4/sources/2001/sync",
        headers={"Authorization": f"Bearer {server.token}"},
        json={},
        timeout=10,
    ).raise_for_status()
    before = server.admin.stats()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if server.backend.engine.pending_events() == 0:
            break
    # Every phase fired with no request in between (the admin call above is the last one).
    assert server.backend.engine.pending_events() == 0
    assert server.admin.stats()["requests_total"] == before["requests_total"]
    assert _count(server.warehouse_path, "shop_db.customers") == 50
