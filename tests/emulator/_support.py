"""Helpers for the emulator tests: a thin ``requests`` client bound to the running emulator."""

from __future__ import annotations

from typing import Any

import requests

from airflow_provider_stitch.emulator import EmulatorServer

# Phase lengths that keep a job observable at the fixture's speed (20x): each phase lasts 5 real seconds
# unless a test advances the clock.
SLOW = {"discovery": 100, "tap": 100, "target": 100, "preparation": 100, "load": 100}


class Api:
    def __init__(self, server: EmulatorServer, token: str | None = None) -> None:
        self.server = server
        self.base = server.base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token or server.token}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, self.base + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    # -- shortcuts -----------------------------------------------------------------------------------
    def start(self, source_id: int = 2001) -> str:
        body = self.post(f"/v4/sources/{source_id}/sync", json={}).json()
        assert "job_name" in body, body
        return str(body["job_name"])

    def extraction(self, source_id: int = 2001) -> dict[str, Any] | None:
        rows = self.get(f"/v4/{self.server.client_id}/extractions").json()["data"]
        return next((r for r in rows if r["source_id"] == source_id), None)

    def loads(self, source_name: str = "shop_db") -> dict[str, dict[str, Any]]:
        rows = self.get(f"/v4/{self.server.client_id}/loads").json()["data"]
        return {r["stream_name"]: r for r in rows if r["source_name"] == source_name}

    def log_text(self, job_name: str) -> str:
        response = self.get(f"/v4/{self.server.client_id}/extractions/{job_name}", allow_redirects=False)
        assert response.status_code == 302, response.text
        return requests.get(response.headers["Location"], timeout=10).text

    def run_job(self, source_id: int = 2001) -> str:
        job = self.start(source_id)
        self.server.admin.advance(10_000)
        return job


def minimal_seed(**account_overrides: Any) -> dict[str, Any]:
    account: dict[str, Any] = {
        "stitch_client_id": 1001,
        "access_token": "ac_test",
        "email": "t@example.com",
        "sources": [
            {
                "id": 2001,
                "type": "platform.postgres",
                "display_name": "Shop DB",
                "properties": {"dbname": "shop"},
                "state": "fully_configured",
                "selected_streams": ["customers", "orders", "products"],
            }
        ],
    }
    account.update(account_overrides)
    return {"partners": [{"partner_id": "oc_p", "partner_secret": "oc_s"}], "accounts": [account]}
