"""Replication jobs (start/stop), extractions (list and logs) and loads.

Extractions, logs and loads are Stitch's rate-limited "jobs" endpoints; each call is counted.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from airflow_provider_stitch.emulator.backend import Backend
from airflow_provider_stitch.emulator.errors import ApiError, jobs_error, not_found
from airflow_provider_stitch.emulator.responses.common import (
    AuthedAccount,
    TickedBackend,
    backend_of,
    count_jobs_call,
    require_client,
)
from airflow_provider_stitch.emulator.responses.sources import find_source

router = APIRouter()

PAGE_SIZE = 100
LOG_URL_LIFETIME = 3600


def paginate(rows: list[dict[str, Any]], request: Request) -> dict[str, Any]:
    raw = request.query_params.get("page", "1")
    page = int(raw) if raw.isdigit() and int(raw) >= 1 else 1
    total = len(rows)
    start = (page - 1) * PAGE_SIZE
    links: dict[str, str] = {}
    if total > PAGE_SIZE:
        # Relative URLs with the version prefix, exactly like Stitch.
        if start + PAGE_SIZE < total:
            links["next"] = f"{request.url.path}?page={page + 1}"
        if page > 1:
            links["previous"] = f"{request.url.path}?page={page - 1}"
    return {"data": rows[start : start + PAGE_SIZE], "page": page, "total": total, "links": links}


@router.post("/v4/sources/{source_id}/sync")
async def start_sync(source_id: str, request: Request, account: AuthedAccount) -> dict[str, Any]:
    backend = backend_of(request)
    source = find_source(account, source_id, include_deleted=True)
    if source is None:
        raise jobs_error(
            "invalid_source", f"Unable to locate source({source_id}) for client ({account.client_id})"
        )
    if source.deleted_at is not None:
        raise jobs_error("invalid_source", "Integration is deleted.")
    if backend.engine.running_job(account.client_id, source.id) is not None:
        # Stitch answers HTTP 200 with an error object here, not a 4xx.
        return {
            "error": {
                "type": "already_running",
                "message": (
                    f"Did not create job for client-id: {account.client_id}; connection-id: {source.id} "
                    "because one already exists"
                ),
            }
        }
    if not source.type.singer or source.step != "fully_configured":
        # Undocumented in Stitch; the emulator uses the "generic" type hinted at in its docs data.
        raise jobs_error(
            "generic", f"Could not create job for client-id: {account.client_id}; connection-id: {source.id}"
        )
    job = backend.engine.start_job(account, source, backend.tick())
    return {"job_name": job.name}


@router.delete("/v4/sources/{source_id}/sync")
async def stop_sync(source_id: str, request: Request, account: AuthedAccount) -> dict[str, Any]:
    backend = backend_of(request)
    source = find_source(account, source_id, include_deleted=True)
    if source is None:
        raise jobs_error(
            "invalid_source", f"Unable to locate source({source_id}) for client ({account.client_id})"
        )
    job = backend.engine.running_job(account.client_id, source.id)
    if job is None:
        if backend.config.strict_stop:
            raise jobs_error(
                "not_running",
                f"No running job for client-id: {account.client_id}; connection-id: {source.id}",
            )
        return {"status": 200}
    backend.engine.stop(job, backend.tick(), stopped_by="api")
    return {"status": 200}


@router.get("/v4/{stitch_client_id}/extractions")
async def list_extractions(stitch_client_id: str, request: Request, account: AuthedAccount) -> dict[str, Any]:
    require_client(account, stitch_client_id)
    count_jobs_call(request, account)
    backend = backend_of(request)
    rows = dict(account.extractions)
    if backend.config.list_running_extractions:
        for (cid, source_id), job in backend.engine.running.items():
            if cid == account.client_id:
                rows[source_id] = job.extraction
    return paginate([rows[k].to_json() for k in sorted(rows)], request)


def _signature(backend: Backend, job_name: str, expires: int) -> str:
    return hmac.new(backend.log_secret, f"{job_name}:{expires}".encode(), hashlib.sha256).hexdigest()


@router.get("/v4/{stitch_client_id}/extractions/{job_name}")
async def extraction_logs(
    stitch_client_id: str, job_name: str, request: Request, account: AuthedAccount
) -> Response:
    require_client(account, stitch_client_id)
    count_jobs_call(request, account)
    backend = backend_of(request)
    job = backend.engine.jobs.get(job_name)
    # Right after completion the log object may not exist yet (scenario log_unavailable_for): Stitch
    # then cannot tell the job from an unknown one.
    if job is None or job.account.client_id != account.client_id or job.log_hidden:
        raise not_found(f"No extraction job {job_name} for client {account.client_id}")
    expires = int(time.time()) + LOG_URL_LIFETIME
    location = (
        f"{str(request.base_url).rstrip('/')}/_emulator/logs/{quote(job_name)}"
        f"?expires={expires}&signature={_signature(backend, job_name, expires)}"
    )
    # Like Stitch: a 302 with an empty body to a pre-signed URL that needs no Authorization header.
    return Response(status_code=302, headers={"Location": location})


#: Kept in ``Backend.log_url_requests`` per request; older entries are dropped.
LOG_URL_REQUESTS_KEPT = 200


def _s3_error(status: int, code: str, message: str) -> Response:
    body = f"<Error><Code>{code}</Code><Message>{escape(message)}</Message></Error>"
    xml = f'<?xml version="1.0" encoding="UTF-8"?>\n{body}'
    return Response(xml, status_code=status, media_type="application/xml")


def _refused_headers(request: Request) -> Response | None:
    """Refuse what S3 refuses on a query-string-signed GET.

    The URL is signed like S3's query-string authentication, whose signature covers the request's
    ``Content-Type`` and ``Content-MD5`` (both empty here) and every ``x-amz-*`` header (none here): a
    client that adds any of them changes what was signed, and S3 answers ``SignatureDoesNotMatch``. An
    ``Authorization`` header next to a signed query string is a second authentication, which S3 refuses
    too (and our bearer token must never reach a storage host anyway).
    """
    names = {name.lower() for name in request.headers}
    if "authorization" in names:
        return _s3_error(400, "InvalidArgument", "Only one authentication mechanism may be used per request")
    signed_differently = sorted(
        n for n in names if n in ("content-type", "content-md5") or n.startswith("x-amz-")
    )
    if signed_differently:
        return _s3_error(
            403,
            "SignatureDoesNotMatch",
            f"The request carries headers the URL was not signed with: {', '.join(signed_differently)}",
        )
    return None


@router.get("/_emulator/logs/{job_name}")
async def served_log(job_name: str, request: Request, backend: TickedBackend) -> Response:
    # Names only, and the Accept value: never header values that could hold a credential.
    backend.log_url_requests.append(
        {
            "job_name": job_name,
            "headers": sorted({name.lower() for name in request.headers}),
            "accept": request.headers.get("accept"),
        }
    )
    del backend.log_url_requests[:-LOG_URL_REQUESTS_KEPT]
    refused = _refused_headers(request)
    if refused is not None:
        return refused
    expires_raw = request.query_params.get("expires", "")
    signature = request.query_params.get("signature", "")
    expires = int(expires_raw) if expires_raw.isdigit() else 0
    valid = hmac.compare_digest(signature, _signature(backend, job_name, expires))
    if not valid or expires < time.time():
        reason = "Request has expired" if valid else "The request signature we calculated does not match"
        return _s3_error(403, "AccessDenied", reason)
    job = backend.engine.jobs.get(job_name)
    if job is None or job.log_hidden:
        raise ApiError(404, "NoSuchKey", text=True)
    return PlainTextResponse(job.log_text())


@router.get("/v4/{stitch_client_id}/loads")
async def list_loads(stitch_client_id: str, request: Request, account: AuthedAccount) -> dict[str, Any]:
    require_client(account, stitch_client_id)
    count_jobs_call(request, account)
    rows = sorted(account.loads.values(), key=lambda row: (row.stream_name, row.source_name))
    return paginate([row.to_json() for row in rows], request)
