"""Pagination of extractions and loads past 100 rows; the jobs rate-limit window and its 429."""

from __future__ import annotations

from typing import Any

import pytest

from ._support import Api

TINY_STREAM = {
    "stream_name": "events",
    "key_properties": ["id"],
    "rows": {"initial": 1, "new_per_job": 1, "updated_per_job": 0},
    "fields": [{"name": "id", "type": "integer", "inclusion": "automatic"}],
}


def _many_sources_seed(count: int) -> dict[str, Any]:
    sources = [
        {
            "id": 5000 + i,
            "type": "platform.postgres",
            "display_name": f"Source {i:03d}",
            "properties": {"dbname": "db"},
            "streams": [TINY_STREAM],
            "selected_streams": ["events"],
            "replicated": True,  # an extraction row and a load row each, without running 103 jobs
        }
        for i in range(count)
    ]
    return {"accounts": [{"stitch_client_id": 1001, "access_token": "ac_page", "sources": sources}]}


@pytest.fixture(scope="module")
def paged_api(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from airflow_provider_stitch.emulator import EmulatorServer

    server = EmulatorServer(
        seed=_many_sources_seed(103), speed=100, warehouse_path=tmp_path_factory.mktemp("paged") / "w.duckdb"
    )
    server.start()
    yield Api(server)
    server.stop()


@pytest.mark.parametrize("resource", ["extractions", "loads"])
def test_pagination_past_100_rows(paged_api: Api, resource: str) -> None:
    first = paged_api.get(f"/v4/1001/{resource}").json()
    assert first["page"] == 1 and first["total"] == 103 and len(first["data"]) == 100
    assert first["links"] == {"next": f"/v4/1001/{resource}?page=2"}
    second = paged_api.get(first["links"]["next"]).json()
    assert second["page"] == 2 and len(second["data"]) == 3
    assert second["links"] == {"previous": f"/v4/1001/{resource}?page=1"}
    rows = first["data"] + second["data"]
    if resource == "extractions":
        ids = [r["source_id"] for r in rows]
        assert ids == sorted(ids) and len(set(ids)) == 103
    else:
        keys = [(r["stream_name"], r["source_name"]) for r in rows]
        assert keys == sorted(keys) and len(set(keys)) == 103
    assert paged_api.get(f"/v4/1001/{resource}?page=3").json()["data"] == []


def test_a_source_seeded_as_replicated_shows_one_successful_job(paged_api: Api) -> None:
    row = next(r for r in paged_api.get("/v4/1001/extractions").json()["data"] if r["source_id"] == 5000)
    assert row["job_name"].startswith("1001.5000.sync.")
    assert row["completion_time"] is not None and row["start_time"] == row["completion_time"]
    assert (row["discovery_exit_status"], row["tap_exit_status"], row["target_exit_status"]) == (0, 0, 0)
    load = next(r for r in paged_api.get("/v4/1001/loads").json()["data"] if r["source_name"] == "source_000")
    assert load["stream_name"] == "events" and load["last_batch_loaded_at"] == row["completion_time"]
    assert load["error_state"] is None
    # A job from before the emulator started: no log to serve.
    assert paged_api.get(f"/v4/1001/extractions/{row['job_name']}", allow_redirects=False).status_code == 404


def test_a_replicated_source_has_no_load_of_a_stream_without_records(stitch_emulator_factory: Any) -> None:
    seed = _many_sources_seed(2)
    seed["accounts"][0]["sources"][1]["scenario"] = {"zero_record_streams": ["events"]}
    api = Api(stitch_emulator_factory(seed=seed))
    assert {r["source_id"] for r in api.get("/v4/1001/extractions").json()["data"]} == {5000, 5001}
    assert [r["source_name"] for r in api.get("/v4/1001/loads").json()["data"]] == ["source_000"]


def test_small_lists_have_empty_links(api: Api) -> None:
    api.run_job()
    assert api.get("/v4/1001/extractions").json()["links"] == {}
    assert api.get("/v4/1001/loads").json()["links"] == {}


def test_jobs_calls_are_counted_but_not_enforced_by_default(stitch_emulator: Any, api: Api) -> None:
    for _ in range(32):
        assert api.get("/v4/1001/loads").status_code == 200
    api.get("/v4/sources")  # not a jobs endpoint
    assert stitch_emulator.admin.jobs_calls(1001) == 32


def test_31st_jobs_call_gets_429_with_retry_after(stitch_emulator_factory: Any) -> None:
    server = stitch_emulator_factory(enforce_rate_limit=True)
    api = Api(server)
    job = api.run_job()
    paths = ["/v4/1001/extractions", "/v4/1001/loads", f"/v4/1001/extractions/{job}"]
    for i in range(30):
        assert api.get(paths[i % 3], allow_redirects=False).status_code in (200, 302)
    limited = api.get("/v4/1001/loads")
    assert limited.status_code == 429
    assert 590 <= int(limited.headers["Retry-After"]) <= 600
    assert api.get("/v4/sources").status_code == 200  # other endpoints are not limited
    assert server.admin.jobs_calls(1001) == 30


def test_rate_limit_window_slides(stitch_emulator_factory: Any) -> None:
    server = stitch_emulator_factory(enforce_rate_limit=True, rate_limit=3, rate_limit_window=1.0)
    api = Api(server)
    for _ in range(3):
        assert api.get("/v4/1001/loads").status_code == 200
    limited = api.get("/v4/1001/loads")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    server.admin.step_clock(1.0)  # the window's length later by the emulator's clock
    assert api.get("/v4/1001/loads").status_code == 200
