"""A busy source: jobs started outside the Connect API, by the admin API or by Stitch's own schedule."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_stitch.emulator import EmulatorServer
from airflow_provider_stitch.emulator.client import EmulatorAdminError

from ._support import SLOW, Api
from .test_seed_cli_warehouse import _start_cli

# The default seed's shop_db runs hourly: 60 minutes / speed 20 = 180 real seconds between firings.
HOURLY_AT_FIXTURE_SPEED = 180


def test_started_by_api_admin_and_schedule(stitch_emulator: EmulatorServer, api: Api) -> None:
    admin = stitch_emulator.admin
    admin.set_scenario(2001, durations=SLOW)
    by_api = api.start()
    with pytest.raises(EmulatorAdminError) as busy:
        admin.start_job(2001)
    assert busy.value.status_code == 409
    assert busy.value.body["type"] == "already_running" and busy.value.body["job_name"] == by_api
    admin.advance(10_000)
    by_admin = admin.start_job(2001)
    assert by_admin["started_by"] == "admin" and by_admin["verdict"] is None
    # The one-job-per-source rule holds both ways: the Connect API sees the admin's job running.
    assert api.post("/v4/sources/2001/sync").json()["error"]["type"] == "already_running"
    admin.advance(10_000)
    by_schedule = admin.start_job(2001, started_by="schedule")
    admin.advance(10_000)
    assert [(j["job_name"], j["started_by"]) for j in admin.jobs()] == [
        (by_api, "api"),
        (by_admin["job_name"], "admin"),
        (by_schedule["job_name"], "schedule"),
    ]
    # An ordinary job in every other respect: its extraction row, its loads, its log.
    row = api.extraction()
    assert row is not None and row["job_name"] == by_schedule["job_name"]
    assert admin.job(by_schedule["job_name"])["verdict"] == "succeeded"
    assert "Replication job succeeded" in api.log_text(by_schedule["job_name"])


@pytest.mark.parametrize(
    ("source_id", "body", "status"),
    [
        (2001, {"started_by": "api"}, 400),
        (2001, {"started_by": "cron"}, 400),
        (2002, {"started_by": "admin"}, 400),  # not fully configured
        (424242, {"started_by": "admin"}, 404),
    ],
)
def test_admin_start_refusals(api: Api, source_id: int, body: dict[str, Any], status: int) -> None:
    response = api.post(f"/_emulator/sources/{source_id}/jobs", json=body)
    assert response.status_code == status and isinstance(response.json()["error"], str)


def test_admin_start_of_a_deleted_source(api: Api) -> None:
    api.delete("/v4/sources/2001")
    assert api.post("/_emulator/sources/2001/jobs", json={}).status_code == 400


def test_the_schedule_fires_with_run_schedules(stitch_emulator_factory: Any) -> None:
    server = stitch_emulator_factory(run_schedules=True, speed=20)
    admin, api = server.admin, Api(server)
    assert admin.health()["run_schedules"] is True
    admin.set_scenario(2001, durations=SLOW)
    state = admin.schedules()
    assert state["enabled"] is True
    rows = {row["source_id"]: row for row in state["sources"]}
    assert list(rows) == [2001]  # crm waits at field_selection: no schedule
    assert rows[2001]["interval_minutes"] == 60 and rows[2001]["jobs_started"] == 0
    # The source object tells when the schedule really fires.
    assert api.get("/v4/sources/2001").json()["schedule"]["next_fire_time"] == rows[2001]["next_fire_at"]
    admin.advance(HOURLY_AT_FIXTURE_SPEED - 2)
    assert admin.jobs() == []
    admin.advance(3)
    jobs = admin.jobs()
    assert [j["started_by"] for j in jobs] == ["schedule"] and jobs[0]["verdict"] is None
    assert api.post("/v4/sources/2001/sync").json()["error"]["type"] == "already_running"
    admin.advance(HOURLY_AT_FIXTURE_SPEED)  # finishes that job, and fires once more
    jobs = admin.jobs()
    assert [j["started_by"] for j in jobs] == ["schedule", "schedule"]
    assert jobs[0]["verdict"] == "succeeded" and jobs[0]["replaced_by"] is None
    assert admin.schedules()["sources"][0]["jobs_started"] == 2


def test_a_scheduled_run_is_skipped_while_a_job_runs(stitch_emulator_factory: Any) -> None:
    server = stitch_emulator_factory(run_schedules=True, speed=20)
    admin, api = server.admin, Api(server)
    admin.set_scenario(2001, durations={"tap": 100_000})  # 5000 real seconds of tap
    job = api.start()
    admin.advance(HOURLY_AT_FIXTURE_SPEED + 1)
    assert [j["job_name"] for j in admin.jobs()] == [job]
    row = admin.schedules()["sources"][0]
    assert (row["jobs_started"], row["runs_skipped"]) == (0, 1)


def test_paused_sources_are_not_scheduled(stitch_emulator_factory: Any) -> None:
    server = stitch_emulator_factory(run_schedules=True, speed=20)
    admin, api = server.admin, Api(server)
    api.put("/v4/sources/2001", json={"paused_at": "2030-01-01T00:00:00Z"})
    assert admin.schedules()["sources"] == []
    admin.advance(10 * HOURLY_AT_FIXTURE_SPEED)
    assert admin.jobs() == []
    api.put("/v4/sources/2001", json={"paused_at": None})
    assert admin.schedules()["sources"][0]["next_fire_at"] is not None
    admin.advance(HOURLY_AT_FIXTURE_SPEED + 1)
    assert [j["started_by"] for j in admin.jobs()] == ["schedule"]


def test_schedules_toggle_and_reset(stitch_emulator: EmulatorServer) -> None:
    admin = stitch_emulator.admin
    assert admin.schedules() == {"enabled": False, "sources": []}  # off by default
    assert admin.set_schedules(True)["enabled"] is True
    admin.advance(HOURLY_AT_FIXTURE_SPEED + 1)
    assert [j["started_by"] for j in admin.jobs()] == ["schedule"]
    admin.set_schedules(False)
    admin.advance(10 * HOURLY_AT_FIXTURE_SPEED)
    assert len(admin.jobs()) == 1
    admin.set_schedules(True)
    admin.reset()  # back to the configured default
    assert admin.schedules()["enabled"] is False
    with pytest.raises(EmulatorAdminError) as bad:
        admin._call("POST", "/schedules", {"enabled": "yes"})
    assert bad.value.status_code == 400


def test_cli_run_schedules_and_clock_skew(tmp_path: Path) -> None:
    proc, text = _start_cli(
        "--warehouse", str(tmp_path / "w.duckdb"), "--run-schedules", "--clock-skew", "-30"
    )
    try:
        base = text.split("listening on ", 1)[1].split()[0]
        health = requests.get(base + "/_emulator/health", timeout=5).json()
        assert health["run_schedules"] is True and health["clock_skew"] == -30
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
