"""The emulator's ground truth per replication job (``/_emulator/jobs``), over real HTTP.

Tests of a client's verdicts compare them with this record, so it must agree with what the Connect API
showed: the extraction row, the load rows and the logs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from airflow_provider_stitch.emulator import EmulatorServer
from airflow_provider_stitch.emulator.client import EmulatorAdminError

from ._support import SLOW, Api

STREAMS = ["customers", "orders", "products"]
T = TypeVar("T")


def _wait_for(probe: Callable[[], T | None], timeout: float = 10.0) -> T:
    deadline = time.monotonic() + timeout
    while (value := probe()) is None:
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return value


def _phase_ends(truth: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    ends = truth["phase_ends"]
    return ends["discovery"], ends["tap"], ends["target"]


def test_a_succeeded_job(stitch_emulator: EmulatorServer, api: Api) -> None:
    admin = stitch_emulator.admin
    admin.set_scenario(2001, durations=SLOW)
    job = api.start()
    running = admin.job(job)
    assert running["phase"] == "discovery" and running["verdict"] is None
    assert running["completion_time"] is None and running["streams"] == {}
    assert running["started_by"] == "api" and running["client_id"] == 1001 and running["source_id"] == 2001
    admin.advance(10_000)
    truth = admin.job(job)
    row = api.extraction()
    assert row is not None and row["job_name"] == job
    assert truth["source_name"] == "shop_db"
    assert truth["created_at"] == row["start_time"] and truth["completion_time"] == row["completion_time"]
    discovery, tap, target = _phase_ends(truth)
    assert discovery is not None and tap is not None and target is not None
    assert truth["created_at"] <= discovery <= tap <= target == truth["completion_time"]
    assert (truth["extraction_outcome"], truth["failed_step"], truth["failure_description"]) == (
        "succeeded",
        None,
        None,
    )
    assert truth["stopped_by"] is None and truth["stopped_at"] is None
    assert truth["phase"] == "done" and truth["verdict"] == "succeeded"
    assert truth["log_available_at"] == truth["completion_time"]
    loads = api.loads()
    assert sorted(truth["streams"]) == STREAMS
    assert {name: s["records"] for name, s in truth["streams"].items()} == {
        "customers": 50,
        "orders": 120,
        "products": 20,
    }
    for name, stream in truth["streams"].items():
        assert stream["load"] == "loaded" and stream["load_error"] is None and not stream["early"]
        assert stream["loaded_at"] == loads[name]["last_batch_loaded_at"] >= truth["completion_time"]
    assert truth["finished_at"] == max(s["loaded_at"] for s in truth["streams"].values())
    assert truth["replaced_by"] is None and truth["replaced_at"] is None


def test_verdict_waits_for_the_last_load(stitch_emulator: EmulatorServer, api: Api) -> None:
    admin = stitch_emulator.admin
    admin.set_scenario(2001, durations=SLOW)
    job = api.start()
    admin.advance(15.5)  # extraction completed, preparation running
    truth = admin.job(job)
    assert truth["extraction_outcome"] == "succeeded" and truth["phase"] == "preparation"
    assert truth["verdict"] is None and {s["load"] for s in truth["streams"].values()} == {"pending"}
    admin.advance(10)  # preparation over, first stream loaded
    truth = admin.job(job)
    assert truth["phase"] == "loading" and truth["verdict"] is None
    assert truth["streams"]["customers"]["load"] == "loaded"
    assert truth["streams"]["products"]["load"] == "pending"
    admin.advance(10_000)
    assert admin.job(job)["verdict"] == "succeeded"


@pytest.mark.parametrize(
    ("step", "description", "ended"),
    [
        ("discovery", "Connection refused", ("discovery",)),
        ("tap", "Response returned http error code 401", ("discovery", "tap")),
        ("target", "Import API rejected batch", ("discovery", "tap", "target")),
    ],
)
def test_a_failed_job(
    stitch_emulator: EmulatorServer, api: Api, step: str, description: str, ended: tuple[str, ...]
) -> None:
    stitch_emulator.admin.set_scenario(2001, **{f"fail_{step}": description, "exit_status": 3})
    job = api.run_job()
    truth = stitch_emulator.admin.job(job)
    row = api.extraction()
    assert row is not None and row[f"{step}_exit_status"] == 3
    assert truth["extraction_outcome"] == "failed" and truth["verdict"] == "failed"
    assert (truth["failed_step"], truth["failure_description"], truth["failure_exit_status"]) == (
        step,
        description,
        3,
    )
    assert truth["completion_time"] == row["completion_time"] and truth["phase"] == "done"
    assert {p for p, ts in truth["phase_ends"].items() if ts is not None} == set(ended)
    assert truth["phase_ends"][step] == truth["completion_time"]
    # The tap had run (and logged its counts) before a tap or target failure; nothing loads either way.
    assert sorted(truth["streams"]) == ([] if step == "discovery" else STREAMS)
    assert all(s["load"] == "none" and s["loaded_at"] is None for s in truth["streams"].values())
    assert api.loads() == {}


def test_a_job_stopped_during_the_tap(stitch_emulator: EmulatorServer, api: Api) -> None:
    admin = stitch_emulator.admin
    admin.set_scenario(2001, durations=SLOW)
    job = api.start()
    admin.advance(6)
    assert api.delete("/v4/sources/2001/sync").json() == {"status": 200}
    truth = admin.job(job)
    row = api.extraction()
    assert row is not None and row["tap_description"] == "Terminated"
    assert (truth["stopped_by"], truth["stopped_in"]) == ("api", "tap")
    assert truth["stopped_at"] == truth["completion_time"] == row["completion_time"]
    assert truth["extraction_outcome"] == "cancelled" and truth["failed_step"] is None
    assert truth["phase_ends"]["discovery"] is not None and truth["phase_ends"]["tap"] is None
    # Nothing was extracted, so nothing will load: the verdict is final at once.
    assert truth["streams"] == {} and truth["verdict"] == "cancelled" and truth["phase"] == "done"


def test_a_job_stopped_during_the_target_is_cancelled_once_its_loads_landed(
    stitch_emulator: EmulatorServer, api: Api
) -> None:
    admin = stitch_emulator.admin
    admin.set_scenario(2001, durations=SLOW)
    job = api.start()
    admin.advance(11)
    api.delete("/v4/sources/2001/sync")
    truth = admin.job(job)
    assert (truth["stopped_by"], truth["stopped_in"], truth["extraction_outcome"]) == (
        "api",
        "target",
        "cancelled",
    )
    assert truth["phase_ends"]["tap"] is not None and truth["phase_ends"]["target"] is None
    # Stitch's Stop a job (https://www.stitchdata.com/docs/developers/stitch-connect/api#stop-a-job): what was extracted still loads, so the job is not finished yet.
    assert truth["verdict"] is None and {s["load"] for s in truth["streams"].values()} == {"pending"}
    admin.advance(10_000)
    truth = admin.job(job)
    assert truth["verdict"] == "cancelled" and truth["phase"] == "done"
    loads = api.loads()
    for name, stream in truth["streams"].items():
        assert stream["load"] == "loaded" and stream["loaded_at"] == loads[name]["last_batch_loaded_at"]


def test_admin_stop(stitch_emulator: EmulatorServer, api: Api) -> None:
    admin = stitch_emulator.admin
    admin.set_scenario(2001, durations=SLOW)
    job = api.start()
    truth = admin.stop_job(job)
    assert (truth["stopped_by"], truth["stopped_in"], truth["verdict"]) == ("admin", "discovery", "cancelled")
    row = api.extraction()
    assert row is not None and row["job_name"] == job and row["discovery_description"] == "Terminated"
    with pytest.raises(EmulatorAdminError) as not_running:
        admin.stop_job(job)
    assert not_running.value.status_code == 409 and not_running.value.body["type"] == "not_running"
    with pytest.raises(EmulatorAdminError) as unknown:
        admin.stop_job("1001.2001.sync.nope")
    assert unknown.value.status_code == 404


def test_a_load_error(stitch_emulator: EmulatorServer, api: Api) -> None:
    stitch_emulator.admin.set_scenario(2001, load_errors={"orders": "permission denied for schema shop_db"})
    job = api.run_job()
    truth = stitch_emulator.admin.job(job)
    assert truth["extraction_outcome"] == "succeeded" and truth["verdict"] == "failed"
    orders = truth["streams"]["orders"]
    assert orders == {
        "records": 120,
        "load": "failed",
        "loaded_at": None,
        "load_error": "permission denied for schema shop_db",
        "early": False,
        "waited_for": None,
    }
    assert truth["streams"]["customers"]["load"] == "loaded"
    assert (
        api.loads()["orders"]["error_state"]["notification_data"]["warehouse_message"] == orders["load_error"]
    )


def test_load_errors_belong_to_the_job_whose_tap_saw_them(stitch_emulator: EmulatorServer, api: Api) -> None:
    admin = stitch_emulator.admin
    # Job 1's orders load is slow (20 real seconds) and will fail; job 2 runs with a clean scenario.
    admin.set_scenario(2001, load_errors={"orders": "disk full"}, slow_loads={"orders": 400})
    first = api.start()
    admin.advance(1)  # job 1's extraction is over; its orders load is still pending
    assert admin.job(first)["streams"]["orders"]["load"] == "pending"
    admin.set_scenario(2001)
    second = api.start()
    admin.advance(1)
    assert admin.job(second)["streams"]["orders"]["load"] == "pending"  # queued behind job 1's
    admin.advance(10_000)
    one, two = admin.job(first), admin.job(second)
    assert one["streams"]["orders"]["load_error"] == "disk full" and one["verdict"] == "failed"
    assert two["streams"]["orders"]["load"] == "loaded" and two["verdict"] == "succeeded"
    assert two["streams"]["orders"]["waited_for"] == first
    # Job 2's clean load landed last, so the loads row no longer shows job 1's error.
    row = api.loads()["orders"]
    assert row["error_state"] is None and row["last_batch_loaded_at"] == two["streams"]["orders"]["loaded_at"]


def test_loads_of_one_table_land_in_job_order(stitch_emulator: EmulatorServer, api: Api) -> None:
    admin = stitch_emulator.admin
    admin.set_scenario(2001, slow_loads={"customers": 400})  # 20 real seconds late
    first = api.start()
    admin.advance(1)
    admin.set_scenario(2001)
    second = api.start()
    admin.advance(1)
    # Job 2's customers load is due, but job 1's is still pending: it waits; other tables are free.
    two = admin.job(second)
    assert (two["streams"]["customers"]["load"], two["streams"]["customers"]["waited_for"]) == (
        "pending",
        first,
    )
    assert two["streams"]["orders"]["load"] == "loaded"
    assert "customers" not in api.loads()
    assert admin.job(first)["streams"]["customers"]["load"] == "pending"
    admin.advance(25)
    one, two = admin.job(first), admin.job(second)
    assert one["streams"]["customers"]["load"] == two["streams"]["customers"]["load"] == "loaded"
    assert one["streams"]["customers"]["loaded_at"] <= two["streams"]["customers"]["loaded_at"]
    assert api.loads()["customers"]["last_batch_loaded_at"] == two["streams"]["customers"]["loaded_at"]
    assert one["verdict"] == two["verdict"] == "succeeded"


def test_log_unavailable_right_after_completion(stitch_emulator: EmulatorServer, api: Api) -> None:
    admin = stitch_emulator.admin
    admin.set_scenario(2001, log_unavailable_for=100)  # 5 real seconds
    job = api.start()
    running = api.get(f"/v4/1001/extractions/{job}", allow_redirects=False)
    assert running.status_code == 302  # a running job's log is there
    admin.advance(1)
    truth = admin.job(job)
    assert truth["completion_time"] is not None and truth["log_available_at"] is None
    hidden = api.get(f"/v4/1001/extractions/{job}", allow_redirects=False)
    unknown = api.get("/v4/1001/extractions/1001.2001.sync.nope", allow_redirects=False)
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["error"]["type"] == unknown.json()["error"]["type"] == "not_found"
    admin.advance(5)
    assert admin.job(job)["log_available_at"] is not None
    assert "Replication job succeeded" in api.log_text(job)


def test_early_final_batch_loads_before_completion(stitch_emulator: EmulatorServer, api: Api) -> None:
    admin = stitch_emulator.admin
    # A 2.5 s target phase in real time: the early batch lands 1.25 s before completion, a different
    # second on the wire (advance() would compress both into one instant, so this test waits instead).
    durations = {"discovery": 0, "tap": 0, "target": 50}
    admin.set_scenario(2001, durations=durations, early_final_batch_streams=["customers"])
    job = api.start()
    loads = _wait_for(lambda: api.loads() or None)
    assert api.extraction() is None  # still extracting
    assert list(loads) == ["customers"]
    early_at = loads["customers"]["last_batch_loaded_at"]
    row = _wait_for(api.extraction)
    assert row["job_name"] == job and early_at < row["completion_time"]
    admin.advance(10_000)
    loads = api.loads()
    assert loads["customers"]["last_batch_loaded_at"] == early_at  # no load after the completion
    assert loads["orders"]["last_batch_loaded_at"] >= row["completion_time"]
    truth = admin.job(job)
    customers = truth["streams"]["customers"]
    assert customers["early"] and customers["loaded_at"] == early_at < truth["completion_time"]
    assert truth["verdict"] == "succeeded"
    text = api.log_text(job)
    assert text.index("send-stream-record-count-impl customers") < text.index("Target exited with status 0")
    assert "send-stream-record-count-impl orders" in text


def test_replaced_by_the_next_completed_extraction(stitch_emulator: EmulatorServer, api: Api) -> None:
    admin = stitch_emulator.admin
    first = api.run_job()
    admin.set_scenario(2001, durations=SLOW)
    second = api.start()
    assert admin.job(first)["replaced_by"] is None  # the list still shows job 1
    admin.advance(10_000)
    one, two = admin.job(first), admin.job(second)
    assert (one["replaced_by"], one["replaced_at"]) == (second, two["completion_time"])
    assert two["replaced_by"] is None


def test_replaced_when_the_running_job_is_listed(stitch_emulator_factory) -> None:  # type: ignore[no-untyped-def]
    server = stitch_emulator_factory(list_running_extractions=True, speed=20)
    api = Api(server)
    first = api.run_job()
    server.admin.set_scenario(2001, durations=SLOW)
    second = api.start()
    one, two = server.admin.job(first), server.admin.job(second)
    assert (one["replaced_by"], one["replaced_at"]) == (second, two["created_at"])


def test_jobs_list_and_lookup(stitch_emulator: EmulatorServer, api: Api) -> None:
    admin = stitch_emulator.admin
    assert admin.jobs() == []
    first = api.run_job()
    second = api.run_job()
    assert [j["job_name"] for j in admin.jobs()] == [first, second]  # newest last
    assert [j["job_name"] for j in admin.jobs(source_id=2001)] == [first, second]
    assert admin.jobs(source_id=2002) == []
    with pytest.raises(EmulatorAdminError) as unknown:
        admin.job("1001.2001.sync.nope")
    assert unknown.value.status_code == 404
    assert api.get("/_emulator/jobs?source_id=abc").status_code == 400
    admin.reset()
    assert admin.jobs() == []


def test_new_scenario_fields_are_validated(stitch_emulator: EmulatorServer) -> None:
    admin = stitch_emulator.admin
    scenario = admin.get_scenario(2001)
    assert scenario["log_unavailable_for"] == 0 and scenario["early_final_batch_streams"] == []
    for bad in (
        {"log_unavailable_for": -1},
        {"log_unavailable_for": "soon"},
        {"early_final_batch_streams": "x"},
    ):
        with pytest.raises(EmulatorAdminError) as error:
            admin.update_scenario(2001, **bad)
        assert error.value.status_code == 400 and next(iter(bad)) in error.value.body["error"]


def test_clock_skew_shifts_every_timestamp(stitch_emulator_factory) -> None:  # type: ignore[no-untyped-def]
    from datetime import datetime, timezone

    server = stitch_emulator_factory(clock_skew=-7200, speed=20)
    api = Api(server)
    job = api.run_job()
    row = api.extraction()
    assert row is not None
    start = datetime.strptime(row["start_time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    behind = datetime.now(timezone.utc) - start
    assert 7190 < behind.total_seconds() < 7300
    assert server.admin.job(job)["created_at"] == row["start_time"]  # the truth uses the same clock
    assert server.admin.health()["clock_skew"] == -7200


def test_an_early_batch_has_landed_even_when_the_target_then_fails(
    stitch_emulator: EmulatorServer, api: Api
) -> None:
    admin = stitch_emulator.admin
    admin.set_scenario(2001, early_final_batch_streams=["orders"], fail_target="Import API rejected batch")
    job = api.run_job()
    truth = admin.job(job)
    assert truth["verdict"] == "failed" and truth["failed_step"] == "target"
    assert truth["streams"]["orders"]["load"] == "loaded" and truth["streams"]["orders"]["early"]
    assert truth["streams"]["customers"]["load"] == "none"
    assert sorted(api.loads()) == ["orders"]


def test_a_job_without_new_records_succeeds_at_completion(stitch_emulator: EmulatorServer, api: Api) -> None:
    stitch_emulator.admin.set_scenario(2001, zero_record_streams=STREAMS)
    job = api.run_job()
    truth = stitch_emulator.admin.job(job)
    assert truth["verdict"] == "succeeded" and truth["finished_at"] == truth["completion_time"]
    assert {s["records"] for s in truth["streams"].values()} == {0}
    assert {s["load"] for s in truth["streams"].values()} == {"none"}
