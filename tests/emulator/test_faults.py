"""Fault injection: every kind, matching rules and counts, seen from a real ``requests`` client."""

from __future__ import annotations

import time

import pytest
import requests

from airflow_provider_stitch.emulator import EmulatorServer
from airflow_provider_stitch.emulator.client import EmulatorAdminError

from ._support import Api


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_status_faults(stitch_emulator: EmulatorServer, api: Api, status: int) -> None:
    stitch_emulator.admin.inject_fault("GET", "/v4/sources", status=status)
    response = api.get("/v4/sources")
    assert response.status_code == status and "retry-after" not in response.headers
    assert api.get("/v4/sources").status_code == 200  # count=1: only the next request


def test_status_fault_with_retry_after_and_count(stitch_emulator: EmulatorServer, api: Api) -> None:
    stitch_emulator.admin.inject_fault("GET", "/v4/*/extractions", status=503, retry_after=2, count=2)
    assert api.get("/v4/sources").status_code == 200  # path does not match
    for _ in range(2):
        response = api.get("/v4/1001/extractions")
        assert response.status_code == 503 and response.headers["Retry-After"] == "2"
    assert api.get("/v4/1001/extractions").status_code == 200
    assert stitch_emulator.admin.stats()["faults_served"] == 2


def test_method_must_match(stitch_emulator: EmulatorServer, api: Api) -> None:
    stitch_emulator.admin.inject_fault("POST", "/v4/sources/*/sync", status=500)
    assert api.get("/v4/sources/2001").status_code == 200
    assert api.post("/v4/sources/2001/sync").status_code == 500
    # The failed start did not create a job.
    assert "job_name" in api.post("/v4/sources/2001/sync").json()


def test_dropped_connection(stitch_emulator: EmulatorServer, api: Api) -> None:
    stitch_emulator.admin.inject_fault("GET", "/v4/sources", kind="drop")
    with pytest.raises(requests.ConnectionError):
        api.get("/v4/sources")
    assert api.get("/v4/sources").status_code == 200


def test_malformed_json(stitch_emulator: EmulatorServer, api: Api) -> None:
    stitch_emulator.admin.inject_fault("GET", "/v4/1001/loads", kind="malformed")
    response = api.get("/v4/1001/loads")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    with pytest.raises(ValueError):
        response.json()


def test_html_proxy_page(stitch_emulator: EmulatorServer, api: Api) -> None:
    stitch_emulator.admin.inject_fault("*", "/v4/*", kind="html", status=502, retry_after=5)
    response = api.delete("/v4/sources/2001/sync")
    assert response.status_code == 502 and response.headers["content-type"].startswith("text/html")
    assert "<title>502 Bad Gateway</title>" in response.text and response.headers["Retry-After"] == "5"


def test_latency(stitch_emulator: EmulatorServer, api: Api) -> None:
    stitch_emulator.admin.inject_fault("GET", "/v4/sources", kind="latency", latency=0.5)
    started = time.monotonic()
    assert api.get("/v4/sources").status_code == 200
    assert time.monotonic() - started >= 0.5
    with pytest.raises(requests.Timeout):
        stitch_emulator.admin.inject_fault("GET", "/v4/sources", kind="latency", latency=1.0)
        api.get("/v4/sources", timeout=0.2)


def test_clear_faults_and_admin_is_never_faulted(stitch_emulator: EmulatorServer, api: Api) -> None:
    admin = stitch_emulator.admin
    admin.inject_fault("*", "*", status=500, count=100)
    assert admin.health()["status"] == "ok"  # the admin API stays reachable
    assert len(admin.faults()) == 1
    admin.clear_faults()
    assert api.get("/v4/sources").status_code == 200


def test_fault_validation(stitch_emulator: EmulatorServer) -> None:
    for kwargs in ({"kind": "explode"}, {"status": 99}, {"kind": "latency"}, {"count": 0}):
        with pytest.raises(EmulatorAdminError):
            stitch_emulator.admin.inject_fault("GET", "/v4/sources", **kwargs)  # type: ignore[arg-type]
