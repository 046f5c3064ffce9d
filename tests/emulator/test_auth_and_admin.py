"""Authentication rules, unknown routes, and the /_emulator admin API."""

from __future__ import annotations

import datetime as dt

import requests

from airflow_provider_stitch.emulator import EmulatorServer
from airflow_provider_stitch.emulator.client import EmulatorAdminError

from ._support import Api


def test_missing_and_invalid_tokens_get_401(stitch_emulator: EmulatorServer) -> None:
    base = stitch_emulator.base_url
    assert requests.get(base + "/v4/sources", timeout=5).status_code == 401
    bad = requests.get(base + "/v4/sources", headers={"Authorization": "Bearer ac_nope"}, timeout=5)
    assert bad.status_code == 401
    assert bad.json()["error"]["type"] == "unauthorized"
    basic = requests.get(base + "/v4/sources", headers={"Authorization": "Basic abc"}, timeout=5)
    assert basic.status_code == 401


def test_path_client_id_must_be_the_tokens_own(api: Api) -> None:
    for path in ("/v4/999/extractions", "/v4/999/loads", "/v4/999/extractions/999.1.sync.x"):
        assert api.get(path, allow_redirects=False).status_code == 401


def test_unknown_path_and_wrong_method_are_404(api: Api) -> None:
    assert api.get("/v4/nothing-here").status_code == 404
    response = api.request("PATCH", "/v4/sources")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"


def test_health_and_stats_count_requests_per_account_and_route(
    stitch_emulator: EmulatorServer, api: Api
) -> None:
    assert stitch_emulator.admin.health()["status"] == "ok"
    api.get("/v4/sources")
    api.get("/v4/sources")
    api.get("/v4/1001/loads")
    requests.get(stitch_emulator.base_url + "/v4/sources", timeout=5)
    stats = stitch_emulator.admin.stats()
    assert stats["by_account"]["1001"] == 3
    assert stats["by_account"]["anonymous"] == 1
    assert stats["by_route"]["GET /v4/sources"] == 3
    assert stats["by_account_route"]["1001"]["GET /v4/{stitch_client_id}/loads"] == 1
    assert stats["jobs_calls"] == {"1001": 1}
    assert stitch_emulator.admin.jobs_calls(1001) == 1
    assert stitch_emulator.admin.jobs_calls(4242) == 0


def test_reset_restores_the_seed(stitch_emulator: EmulatorServer, api: Api) -> None:
    api.run_job(2001)
    api.delete("/v4/sources/2001")
    stitch_emulator.admin.inject_fault("GET", "/v4/sources/2002", status=500)
    stitch_emulator.admin.reset()
    assert api.get("/v4/sources/2001").json()["deleted_at"] is None
    assert api.get("/v4/sources/2002").status_code == 200
    assert api.extraction(2001) is None
    assert stitch_emulator.admin.stats()["requests_total"] == 3


def test_scenario_put_replaces_and_patch_merges(stitch_emulator: EmulatorServer) -> None:
    admin = stitch_emulator.admin
    admin.set_scenario(2001, fail_tap="boom", zero_record_streams=["orders"])
    merged = admin.update_scenario(2001, fail_tap=None)
    assert merged["zero_record_streams"] == ["orders"] and merged["fail_tap"] is None
    replaced = admin.set_scenario(2001, fail_target="x")
    assert replaced["zero_record_streams"] == [] and replaced["fail_target"] == "x"
    assert admin.get_scenario(2001)["fail_target"] == "x"


def test_scenario_and_advance_validation(stitch_emulator: EmulatorServer) -> None:
    admin = stitch_emulator.admin
    for bad in ({"nope": 1}, {"connection_check": "maybe"}, {"exit_status": 0}, {"durations": {"warp": 1}}):
        try:
            admin.set_scenario(2001, **bad)
        except EmulatorAdminError as exc:
            assert "400" in str(exc)
        else:
            raise AssertionError(f"accepted {bad}")
    try:
        admin.set_scenario(9999)
    except EmulatorAdminError as exc:
        assert "404" in str(exc)
    base = stitch_emulator.base_url
    assert requests.post(base + "/_emulator/advance", json={"seconds": -1}, timeout=5).status_code == 400
    assert requests.post(base + "/_emulator/advance", data="x", timeout=5).status_code == 400


def test_the_clock_steps_forward_and_reset_steps_it_back(stitch_emulator: EmulatorServer, api: Api) -> None:
    admin = stitch_emulator.admin
    first = api.run_job(2001)
    before = api.extraction(2001)
    assert before is not None and before["job_name"] == first
    stepped = admin.step_clock(3600)
    assert stepped["clock_step"] == 3600 and admin.health()["clock_step"] == 3600
    api.run_job(2001)
    after = api.extraction(2001)
    assert after is not None
    # The next job's timestamps are an hour later by Stitch's clock, not by the host's.
    later = _seconds(after["start_time"]) - _seconds(before["start_time"])
    assert 3600 <= later < 3600 + 60
    assert _seconds(stepped["now"]) >= _seconds(before["completion_time"]) + 3600
    base = stitch_emulator.base_url
    for bad in ({"step": -1}, {"step": "1"}, {"step": True}, {"seconds": 1}):
        assert requests.post(base + "/_emulator/clock", json=bad, timeout=5).status_code == 400, bad
    admin.reset()
    assert admin.health()["clock_step"] == 0


def _seconds(iso: str) -> float:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_connection_uri_is_airflow_json(stitch_emulator: EmulatorServer) -> None:
    import json

    conn = json.loads(stitch_emulator.connection_uri)
    assert conn == {
        "conn_type": "stitch",
        "host": stitch_emulator.base_url,
        "password": "ac_emulator_demo_token",
        # Waits against the emulator run in its compressed time: the connection says by how much.
        "extra": {"stitch_client_id": 1001, "time_scale": stitch_emulator.config.speed},
    }
    assert stitch_emulator.partner_id == "oc_emulator_partner"
    assert stitch_emulator.partner_secret == "oc_emulator_partner_secret"
    assert stitch_emulator.base_url.startswith("http://127.0.0.1:")
