"""Replication jobs over real HTTP: lifecycle, failure scenarios, stop, logs, loads."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
import requests

from airflow_provider_stitch.emulator import EmulatorServer

from ._support import SLOW, Api

FLUSH = "com.stitchdata.target-stitch-avro.flush-pipeline - send-stream-record-count-impl"
LOG_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}Z (main|tap|target) - (DEBUG|INFO|WARNING|ERROR|CRITICAL) .+$"
)


def _ts(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def test_full_lifecycle_phase_by_phase(stitch_emulator: EmulatorServer, api: Api) -> None:
    admin = stitch_emulator.admin
    admin.set_scenario(2001, durations=SLOW)  # 5 real seconds per phase at the fixture's speed
    before = datetime.now(timezone.utc).replace(microsecond=0)
    job = api.start()
    assert re.fullmatch(r"1001\.2001\.sync\.[0-9a-f-]{36}", job)
    # Running: the list keeps showing the last *completed* extraction, here none at all.
    assert api.extraction() is None
    assert api.post("/v4/sources/2001/sync").json()["error"]["type"] == "already_running"
    admin.advance(5.5)  # discovery done
    admin.advance(5)  # tap done
    assert api.extraction() is None
    admin.advance(5)  # target done: extraction completed
    row = api.extraction()
    assert row is not None and row["job_name"] == job
    assert (row["discovery_exit_status"], row["tap_exit_status"], row["target_exit_status"]) == (0, 0, 0)
    assert row["source_type"] == "tap-postgres" and row["stitch_client_id"] == 1001
    assert before <= _ts(row["start_time"]) <= _ts(row["completion_time"]) <= datetime.now(timezone.utc)
    # Preparation: nothing loaded yet, and a new job may start now that extraction is over.
    assert api.loads() == {}
    admin.advance(5)  # preparation over
    admin.advance(5)  # first stream loaded
    loads = api.loads()
    assert list(loads) == ["customers"]
    admin.advance(10)
    loads = api.loads()
    assert sorted(loads) == ["customers", "orders", "products"]
    for load in loads.values():
        assert load["error_state"] is None
        # The rule clients use: a stream is done when its load is at/after the extraction's completion.
        assert load["last_batch_loaded_at"] >= row["completion_time"]
    assert api.start() != job


def test_loads_finish_at_their_own_times(stitch_emulator: EmulatorServer, api: Api) -> None:
    # Seconds of scenario time are divided by the speed (20): customers loads 20 real seconds late.
    stitch_emulator.admin.set_scenario(2001, slow_loads={"customers": 400})
    api.start()
    stitch_emulator.admin.advance(10)
    assert sorted(api.loads()) == ["orders", "products"]
    stitch_emulator.admin.advance(20)
    assert sorted(api.loads()) == ["customers", "orders", "products"]


def test_discovery_failure(stitch_emulator: EmulatorServer, api: Api) -> None:
    stitch_emulator.admin.set_scenario(2001, fail_discovery="Connection refused", exit_status=3)
    job = api.run_job()
    row = api.extraction()
    assert row is not None and row["job_name"] == job
    assert row["discovery_exit_status"] == 3 and row["discovery_description"] == "Connection refused"
    assert row["tap_exit_status"] is None and row["completion_time"] is not None
    assert api.loads() == {}
    lines = api.log_text(job).splitlines()
    assert any(" main - CRITICAL Discovery failed: Connection refused" in line for line in lines)


def test_tap_failure(stitch_emulator: EmulatorServer, api: Api) -> None:
    stitch_emulator.admin.set_scenario(2001, fail_tap="Response returned http error code 401")
    job = api.run_job()
    row = api.extraction()
    assert row is not None
    assert (row["discovery_exit_status"], row["tap_exit_status"], row["target_exit_status"]) == (0, 1, 0)
    assert row["tap_description"] == "Response returned http error code 401"
    assert api.loads() == {}
    assert "tap - CRITICAL Response returned http error code 401" in api.log_text(job)


def test_target_failure(stitch_emulator: EmulatorServer, api: Api) -> None:
    stitch_emulator.admin.set_scenario(2001, fail_target="Import API rejected batch")
    job = api.run_job()
    row = api.extraction()
    assert row is not None
    assert (row["tap_exit_status"], row["target_exit_status"]) == (0, 1)
    assert row["target_description"] == "Import API rejected batch"
    assert FLUSH not in api.log_text(job)
    assert api.loads() == {}


def test_load_error_state(stitch_emulator: EmulatorServer, api: Api) -> None:
    stitch_emulator.admin.set_scenario(2001, load_errors={"orders": "permission denied for schema shop_db"})
    api.run_job()
    loads = api.loads()
    assert loads["orders"]["last_batch_loaded_at"] is None
    data = loads["orders"]["error_state"]["notification_data"]
    assert data["warehouse_message"] == "permission denied for schema shop_db"
    assert data["error"] == "LOADER_WAREHOUSE_ERROR"
    assert loads["customers"]["error_state"] is None and loads["customers"]["last_batch_loaded_at"]
    # Fixing the problem: the next job's load clears the error state.
    stitch_emulator.admin.set_scenario(2001)
    api.run_job()
    assert api.loads()["orders"]["error_state"] is None


def test_zero_record_streams_get_no_new_load(stitch_emulator: EmulatorServer, api: Api) -> None:
    stitch_emulator.admin.set_scenario(2001, zero_record_streams=["products"])
    job = api.run_job()
    assert sorted(api.loads()) == ["customers", "orders"]
    text = api.log_text(job)
    assert 'tap - INFO replicated 0 records from "products" endpoint' in text
    assert f"{FLUSH} products" not in text
    assert f"{FLUSH} customers" in text


def test_log_redirect_flow(stitch_emulator: EmulatorServer, api: Api) -> None:
    job = api.run_job()
    response = api.get(f"/v4/1001/extractions/{job}", allow_redirects=False)
    assert response.status_code == 302 and response.content == b""
    location = response.headers["Location"]
    assert location.startswith(f"{stitch_emulator.base_url}/_emulator/logs/{job}?")
    # Like an S3 pre-signed URL: no Authorization header needed.
    text = requests.get(location, timeout=5).text
    lines = text.splitlines()
    assert lines and all(LOG_LINE.match(line) for line in lines)
    assert 'tap - INFO replicated 50 records from "customers" endpoint' in text
    assert 'tap - INFO replicated 120 records from "orders" endpoint' in text
    for stream in ("customers", "orders", "products"):
        assert f"target - INFO {FLUSH} {stream}" in text
    # Following the redirect with the API session would carry the token along (requests keeps it for
    # the same host), and S3 refuses a second authentication next to a signed query string.
    assert api.get(f"/v4/1001/extractions/{job}").status_code == 400
    tampered = location.replace("signature=", "signature=0")
    assert requests.get(tampered, timeout=5).status_code == 403
    assert api.get("/v4/1001/extractions/1001.2001.sync.nope", allow_redirects=False).status_code == 404


@pytest.mark.parametrize(
    ("header", "status", "code"),
    [
        ({"Content-Type": "application/json"}, 403, "SignatureDoesNotMatch"),
        ({"Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg=="}, 403, "SignatureDoesNotMatch"),
        ({"x-amz-meta-note": "hi"}, 403, "SignatureDoesNotMatch"),
        ({"Authorization": "Bearer whatever"}, 400, "InvalidArgument"),
    ],
)
def test_log_url_refuses_headers_it_was_not_signed_with(
    stitch_emulator: EmulatorServer, api: Api, header: dict[str, str], status: int, code: str
) -> None:
    job = api.run_job()
    location = api.get(f"/v4/1001/extractions/{job}", allow_redirects=False).headers["Location"]
    refused = requests.get(location, headers=header, timeout=5)
    assert refused.status_code == status and f"<Code>{code}</Code>" in refused.text
    # A plain GET of the same URL works: the refusal was about the header, not the signature.
    assert requests.get(location, headers={"Accept": "*/*"}, timeout=5).status_code == 200
    seen = stitch_emulator.admin.log_requests()
    assert [entry["job_name"] for entry in seen] == [job, job]
    assert next(iter(header)).lower() in seen[0]["headers"]
    assert "bearer" not in str(seen).lower()  # names are recorded, never a header's value


def test_stop_terminates_the_extraction(stitch_emulator: EmulatorServer, api: Api) -> None:
    stitch_emulator.admin.set_scenario(2001, durations=SLOW)
    job = api.start()
    stitch_emulator.admin.advance(6)
    assert api.delete("/v4/sources/2001/sync").json() == {"status": 200}
    row = api.extraction()
    assert row is not None and row["job_name"] == job
    for phase in ("discovery", "tap", "target"):
        assert row[f"{phase}_exit_status"] is None
        assert row[f"{phase}_description"] == "Terminated"
    assert row["completion_time"] is not None
    stitch_emulator.admin.advance(10_000)
    assert api.loads() == {}  # stopped during the tap: nothing was extracted, so nothing loads
    assert api.log_text(job).rstrip().endswith("main - CRITICAL Terminated")
    # Nothing running any more: the emulator answers the same 200 (documented choice).
    assert api.delete("/v4/sources/2001/sync").json() == {"status": 200}


def test_a_stop_after_the_tap_finished_still_loads_what_was_extracted(
    stitch_emulator: EmulatorServer, api: Api
) -> None:
    # Stitch's Stop a job (https://www.stitchdata.com/docs/developers/stitch-connect/api#stop-a-job): cancelling stops only what remains of the extraction;
    # data already extracted still gets loaded.
    stitch_emulator.admin.set_scenario(2001, durations=SLOW)
    job = api.start()
    stitch_emulator.admin.advance(11)  # discovery and tap done: every record is extracted; target runs
    assert api.delete("/v4/sources/2001/sync").json() == {"status": 200}
    row = api.extraction()
    assert row is not None and row["job_name"] == job
    assert {row[f"{phase}_description"] for phase in ("discovery", "tap", "target")} == {"Terminated"}
    stitch_emulator.admin.advance(10_000)
    loads = api.loads()
    assert sorted(loads) == ["customers", "orders", "products"]
    for load in loads.values():
        assert load["error_state"] is None
        assert load["last_batch_loaded_at"] >= row["completion_time"]


def test_strict_stop_flag(stitch_emulator_factory) -> None:  # type: ignore[no-untyped-def]
    server = stitch_emulator_factory(strict_stop=True)
    response = Api(server).delete("/v4/sources/2001/sync")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "not_running"


def test_sync_errors(stitch_emulator: EmulatorServer, api: Api) -> None:
    unknown = api.post("/v4/sources/424242/sync")
    assert unknown.status_code == 400
    assert unknown.json() == {
        "error": {"type": "invalid_source", "message": "Unable to locate source(424242) for client (1001)"}
    }
    not_configured = api.post("/v4/sources/2002/sync")  # crm waits at field_selection
    assert not_configured.status_code == 400
    assert not_configured.json()["error"]["type"] == "generic"
    api.delete("/v4/sources/2001")
    deleted = api.post("/v4/sources/2001/sync")
    assert deleted.status_code == 400
    assert deleted.json()["error"] == {"type": "invalid_source", "message": "Integration is deleted."}
    assert api.delete("/v4/sources/424242/sync").status_code == 400


def test_paused_source_can_still_be_started(stitch_emulator: EmulatorServer, api: Api) -> None:
    api.put("/v4/sources/2001", json={"paused_at": "2030-01-01T00:00:00Z"})
    api.run_job()
    assert api.extraction() is not None
    assert api.get("/v4/sources/2001").json()["paused_at"] == "2030-01-01T00:00:00Z"


def test_extraction_list_keeps_last_completed_job_while_next_runs(
    stitch_emulator: EmulatorServer, api: Api
) -> None:
    first = api.run_job()
    stitch_emulator.admin.set_scenario(2001, durations=SLOW)
    second = api.start()
    row = api.extraction()
    assert row is not None and row["job_name"] == first
    stitch_emulator.admin.advance(10_000)
    row = api.extraction()
    assert row is not None and row["job_name"] == second


def test_list_running_extractions_flag(stitch_emulator_factory) -> None:  # type: ignore[no-untyped-def]
    server = stitch_emulator_factory(list_running_extractions=True, speed=20)
    api = Api(server)
    server.admin.set_scenario(2001, durations=SLOW)
    job = api.start()
    row = api.extraction()
    assert row is not None and row["job_name"] == job
    assert row["completion_time"] is None and row["discovery_exit_status"] is None
    server.admin.advance(5.5)
    row = api.extraction()
    assert row is not None and row["discovery_exit_status"] == 0 and row["tap_exit_status"] is None
    server.admin.advance(10_000)
    row = api.extraction()
    assert row is not None and row["completion_time"] is not None and row["target_exit_status"] == 0


def test_real_time_progress_without_advance(stitch_emulator_factory) -> None:  # type: ignore[no-untyped-def]
    import time

    server = stitch_emulator_factory(speed=200)  # whole job about 0.1 s of real time
    api = Api(server)
    job = api.start()
    deadline = time.monotonic() + 20  # only a guard: the job lands on its own, nobody advances
    while (truth := server.admin.job(job))["finished_at"] is None:
        assert time.monotonic() < deadline, truth
        time.sleep(0.02)
    assert sorted(api.loads()) == ["customers", "orders", "products"]
    assert truth["verdict"] == "succeeded"
