"""Admin API under ``/_emulator/`` (a prefix Stitch never uses): health, stats, reset, scenarios, clock,
faults, OAuth codes, the jobs' ground truth, jobs started outside the API and the sources' own schedules.
It needs no token: the emulator listens on loopback only."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request

from airflow_provider_stitch.emulator.backend import Backend, OAuthCode
from airflow_provider_stitch.emulator.clock import iso
from airflow_provider_stitch.emulator.engine import STARTERS, Job
from airflow_provider_stitch.emulator.errors import ApiError
from airflow_provider_stitch.emulator.faults import FaultRegistry, FaultSpecError
from airflow_provider_stitch.emulator.models import Account, Source
from airflow_provider_stitch.emulator.responses.common import backend_of, read_json
from airflow_provider_stitch.emulator.seed import SeedError, parse_scenario
from airflow_provider_stitch.emulator.stats import RequestStats

router = APIRouter(prefix="/_emulator")

OAUTH_CODE_LIFETIME = 300.0


def _bad(message: str) -> ApiError:
    return ApiError(400, {"error": message})


def _faults(request: Request) -> FaultRegistry:
    registry: FaultRegistry = request.app.state.faults
    return registry


def _stats(request: Request) -> RequestStats:
    stats: RequestStats = request.app.state.stats
    return stats


def _source(backend: Backend, source_id: int) -> Source:
    return _account_and_source(backend, source_id)[1]


def _account_and_source(backend: Backend, source_id: int) -> tuple[Account, Source]:
    for account in backend.accounts.values():
        if source_id in account.sources:
            return account, account.sources[source_id]
    raise ApiError(404, {"error": f"no source with id {source_id}"})


def _job(backend: Backend, job_name: str) -> Job:
    job = backend.engine.jobs.get(job_name)
    if job is None:
        raise ApiError(404, {"error": f"no job named {job_name}"})
    return job


def _conflict(kind: str, message: str, job_name: str | None) -> ApiError:
    return ApiError(409, {"error": message, "type": kind, "job_name": job_name})


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    backend = backend_of(request)
    return {
        "status": "ok",
        "accounts": len(backend.accounts),
        "speed": backend.config.speed,
        "warehouse": str(backend.warehouse.path),
        "enforce_rate_limit": backend.config.enforce_rate_limit,
        "list_running_extractions": backend.config.list_running_extractions,
        "run_schedules": backend.schedules.enabled,
        "clock_skew": backend.config.clock_skew,
        "clock_step": backend.clock_step,
    }


@router.get("/stats")
async def stats(request: Request) -> dict[str, Any]:
    backend = backend_of(request)
    now = backend.tick()
    body = _stats(request).to_json()
    body["jobs_calls"] = {str(k): v for k, v in backend.rate.counts(now).items()}
    body["jobs_window_seconds"] = backend.rate.window
    body["jobs_limit"] = backend.rate.limit
    body["faults_served"] = _faults(request).served
    body["pending_events"] = backend.engine.pending_events()
    return body


@router.post("/reset")
async def reset(request: Request) -> dict[str, str]:
    backend_of(request).reset()
    _faults(request).clear()
    _faults(request).served = 0
    _stats(request).clear()
    return {"status": "reset"}


@router.get("/scenarios/{source_id}")
async def get_scenario(source_id: int, request: Request) -> dict[str, Any]:
    return _source(backend_of(request), source_id).scenario.to_json()


async def _set_scenario(source_id: int, request: Request, *, merge: bool) -> dict[str, Any]:
    # No tick first: a check or phase that is already due must see the scenario set here.
    source = _source(backend_of(request), source_id)
    body = await read_json(request)
    try:
        source.scenario = parse_scenario(body, source.scenario if merge else None)
    except SeedError as exc:
        raise _bad(str(exc)) from exc
    return source.scenario.to_json()


@router.put("/scenarios/{source_id}")
async def put_scenario(source_id: int, request: Request) -> dict[str, Any]:
    return await _set_scenario(source_id, request, merge=False)


@router.patch("/scenarios/{source_id}")
async def patch_scenario(source_id: int, request: Request) -> dict[str, Any]:
    return await _set_scenario(source_id, request, merge=True)


@router.post("/advance")
async def advance(request: Request) -> dict[str, Any]:
    backend = backend_of(request)
    body = await read_json(request)
    seconds = body.get("seconds") if isinstance(body, dict) else None
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
        raise _bad('body must be {"seconds": <non-negative number>}')
    backend.engine.advance(float(seconds), backend.tick())
    return {"advanced": seconds, "pending_events": backend.engine.pending_events()}


@router.post("/clock")
async def step_clock(request: Request) -> dict[str, Any]:
    backend = backend_of(request)
    body = await read_json(request)
    seconds = body.get("step") if isinstance(body, dict) else None
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not 0 <= seconds < 1e9:
        raise _bad('body must be {"step": <non-negative number of seconds>}')
    now = backend.step_clock(float(seconds))
    pending = backend.engine.pending_events()
    return {"now": iso(now), "clock_step": backend.clock_step, "pending_events": pending}


@router.get("/faults")
async def list_faults(request: Request) -> list[dict[str, Any]]:
    return [f.to_json() for f in _faults(request).list()]


@router.post("/faults")
async def add_fault(request: Request) -> dict[str, Any]:
    try:
        fault = _faults(request).add(await read_json(request))
    except FaultSpecError as exc:
        raise _bad(str(exc)) from exc
    return fault.to_json()


@router.delete("/faults")
async def clear_faults(request: Request) -> dict[str, str]:
    _faults(request).clear()
    return {"status": "cleared"}


@router.post("/oauth/codes")
async def mint_oauth_code(request: Request) -> dict[str, Any]:
    """Stands in for the browser part of Stitch's OAuth flow: the user "accepted", here is the code."""
    backend = backend_of(request)
    body = await read_json(request)
    client_id = body.get("stitch_client_id") if isinstance(body, dict) else None
    if client_id not in backend.accounts:
        raise _bad("body must name an existing stitch_client_id")
    partner_id = body.get("partner_id") or next(iter(backend.partners), None)
    if partner_id not in backend.partners:
        raise _bad("unknown partner_id")
    now = backend.tick()
    code = OAuthCode(secrets.token_urlsafe(24), client_id, partner_id, now + OAUTH_CODE_LIFETIME)
    backend.oauth_codes[code.code] = code
    return {
        "code": code.code,
        "stitch_client_id": client_id,
        "partner_id": partner_id,
        "expires_at": iso(code.expires_at),
        "expires_in": int(OAUTH_CODE_LIFETIME),
    }


@router.get("/log-requests")
async def log_requests(request: Request) -> list[dict[str, Any]]:
    """What each request to a served log URL carried (header names, ``Accept``), oldest first."""
    return list(backend_of(request).log_url_requests)


# -- ground truth of replication jobs ----------------------------------------------------------------
@router.get("/jobs")
async def list_jobs(request: Request) -> list[dict[str, Any]]:
    """Every job since the last reset, oldest first (newest last); ``?source_id=`` filters."""
    backend = backend_of(request)
    backend.tick()
    raw = request.query_params.get("source_id")
    source_id: int | None = None
    if raw is not None:
        if not raw.lstrip("-").isdigit():
            raise _bad(f"source_id must be an integer, got {raw!r}")
        source_id = int(raw)
    return [
        job.truth_json()
        for job in backend.engine.jobs.values()
        if source_id is None or job.source.id == source_id
    ]


@router.get("/jobs/{job_name}")
async def get_job(job_name: str, request: Request) -> dict[str, Any]:
    backend = backend_of(request)
    backend.tick()
    return _job(backend, job_name).truth_json()


@router.post("/jobs/{job_name}/stop")
async def stop_job(job_name: str, request: Request) -> dict[str, Any]:
    """Stop a job as someone in Stitch's UI would (``stopped_by: "admin"``)."""
    backend = backend_of(request)
    now = backend.tick()
    job = _job(backend, job_name)
    if not job.extracting:
        raise _conflict("not_running", f"job {job_name} is not extracting (phase {job.phase})", job_name)
    backend.engine.stop(job, now, stopped_by="admin")
    return job.truth_json()


@router.post("/sources/{source_id}/jobs")
async def start_job(source_id: int, request: Request) -> dict[str, Any]:
    """Start a job the way Stitch's own schedule (or a user in the UI) would: outside the Connect API."""
    backend = backend_of(request)
    now = backend.tick()
    account, source = _account_and_source(backend, source_id)
    body = await read_json(request)
    body = body if isinstance(body, dict) else {}
    started_by = body.get("started_by", "admin")
    if started_by not in STARTERS or started_by == "api":
        raise _bad(
            'started_by must be "schedule" or "admin" (jobs started by "api" go through POST .../sync)'
        )
    if source.deleted_at is not None:
        raise _bad(f"source {source_id} is deleted")
    if not source.type.singer or source.step != "fully_configured":
        raise _bad(f"source {source_id} cannot run a job (step {source.step}, type {source.type.type})")
    running = backend.engine.running_job(account.client_id, source.id)
    if running is not None:
        raise _conflict(
            "already_running", f"source {source_id} already runs job {running.name}", running.name
        )
    return backend.engine.start_job(account, source, now, started_by=started_by).truth_json()


# -- the sources' own schedules ----------------------------------------------------------------------
@router.get("/schedules")
async def get_schedules(request: Request) -> dict[str, Any]:
    backend = backend_of(request)
    backend.tick()
    return backend.schedules.to_json()


@router.post("/schedules")
async def set_schedules(request: Request) -> dict[str, Any]:
    backend = backend_of(request)
    body = await read_json(request)
    enabled = body.get("enabled") if isinstance(body, dict) else None
    if not isinstance(enabled, bool):
        raise _bad('body must be {"enabled": true|false}')
    backend.schedules.set_enabled(enabled, backend.accounts.values(), backend.tick())
    return backend.schedules.to_json()
