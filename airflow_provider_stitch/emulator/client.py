"""``EmulatorAdmin``: a small HTTP client for the ``/_emulator/`` admin API, for tests and users."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx


class EmulatorAdminError(RuntimeError):
    """An admin call answered 4xx/5xx; ``status_code`` and the decoded ``body`` say why."""

    def __init__(self, message: str, status_code: int = 0, body: Any = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body


class EmulatorAdmin:
    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url + "/_emulator", timeout=timeout)

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = self._http.request(method, path, json=body)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = response.text
            raise EmulatorAdminError(
                f"{method} /_emulator{path} -> {response.status_code}: {response.text}",
                response.status_code,
                body,
            )
        return response.json()

    def close(self) -> None:
        self._http.close()

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/health")
        return result

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/stats")
        return result

    def reset(self) -> None:
        """Back to the seed: accounts, jobs, faults, stats, rate-limit window and warehouse."""
        self._call("POST", "/reset")

    def advance(self, seconds: float) -> None:
        """Make every pending job phase and connection check due ``seconds`` sooner, then run what is due."""
        self._call("POST", "/advance", {"seconds": seconds})

    def step_clock(self, seconds: float) -> dict[str, Any]:
        """Step the emulated Stitch clock ``seconds`` ahead of the host's (never back): later timestamps,
        the rate-limit window and what is due follow, as if that time had passed at Stitch at once.
        Returns ``{"now", "clock_step", "pending_events"}``; ``reset`` steps it back to the seed's time.
        """
        result: dict[str, Any] = self._call("POST", "/clock", {"step": seconds})
        return result

    def get_scenario(self, source_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/scenarios/{source_id}")
        return result

    def set_scenario(self, source_id: int, **fields: Any) -> dict[str, Any]:
        """Replace the source's scenario: fields not given go back to their defaults."""
        result: dict[str, Any] = self._call("PUT", f"/scenarios/{source_id}", fields)
        return result

    def update_scenario(self, source_id: int, **fields: Any) -> dict[str, Any]:
        """Change only the given scenario fields."""
        result: dict[str, Any] = self._call("PATCH", f"/scenarios/{source_id}", fields)
        return result

    def inject_fault(
        self,
        method: str,
        path: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        latency: float | None = None,
        kind: str = "status",
        count: int = 1,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"method": method, "path": path, "kind": kind, "count": count}
        for key, value in (("status", status), ("retry_after", retry_after), ("latency", latency)):
            if value is not None:
                body[key] = value
        result: dict[str, Any] = self._call("POST", "/faults", body)
        return result

    def faults(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/faults")
        return result

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def jobs_calls(self, client_id: int = 1001) -> int:
        """Calls to the rate-limited jobs endpoints by this account within the sliding window."""
        return int(self.stats()["jobs_calls"].get(str(client_id), 0))

    def log_requests(self) -> list[dict[str, Any]]:
        """Requests to served log URLs since the last reset: ``{"job_name", "headers", "accept"}`` each."""
        result: list[dict[str, Any]] = self._call("GET", "/log-requests")
        return result

    def mint_oauth_code(self, client_id: int = 1001, partner_id: str | None = None) -> str:
        body: dict[str, Any] = {"stitch_client_id": client_id}
        if partner_id is not None:
            body["partner_id"] = partner_id
        return str(self._call("POST", "/oauth/codes", body)["code"])

    # -- ground truth of replication jobs ------------------------------------------------------------
    def jobs(self, source_id: int | None = None) -> list[dict[str, Any]]:
        """Every job's ground truth since the last reset, newest last (optionally one source's only)."""
        path = "/jobs" if source_id is None else f"/jobs?source_id={int(source_id)}"
        result: list[dict[str, Any]] = self._call("GET", path)
        return result

    def job(self, job_name: str) -> dict[str, Any]:
        """One job's ground truth (``EmulatorAdminError`` with status 404 for an unknown name)."""
        result: dict[str, Any] = self._call("GET", f"/jobs/{quote(job_name, safe='')}")
        return result

    def start_job(self, source_id: int, started_by: str = "admin") -> dict[str, Any]:
        """Start a job outside the Connect API, as Stitch's schedule (``"schedule"``) or a UI user would.

        Raises ``EmulatorAdminError`` with status 409 (``body["job_name"]`` = the running job) when the
        source already runs one.
        """
        result: dict[str, Any] = self._call(
            "POST", f"/sources/{int(source_id)}/jobs", {"started_by": started_by}
        )
        return result

    def stop_job(self, job_name: str) -> dict[str, Any]:
        """Stop a running job outside the Connect API (``stopped_by: "admin"``); 409 when not extracting."""
        result: dict[str, Any] = self._call("POST", f"/jobs/{quote(job_name, safe='')}/stop")
        return result

    # -- the sources' own schedules ------------------------------------------------------------------
    def schedules(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/schedules")
        return result

    def set_schedules(self, enabled: bool) -> dict[str, Any]:
        """Switch Stitch's own schedules on or off (``reset`` restores the configured default)."""
        result: dict[str, Any] = self._call("POST", "/schedules", {"enabled": enabled})
        return result
