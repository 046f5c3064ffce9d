"""The Stitch Connect endpoint catalogue as sans-I/O operations.

Each function returns an :data:`~airflow_provider_stitch.api.http.Operation`: a generator that yields
the requests it needs and returns the parsed result. The hook runs them with its sync or async driver.
Paths, bodies and quirks follow Stitch's API reference, https://www.stitchdata.com/docs/developers/stitch-connect/api;
a ``#name`` below is a section of that page.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_stitch.api.errors import error_from_response
from airflow_provider_stitch.api.http import ApiRequest, ApiResponse, Operation
from airflow_provider_stitch.api.logs import stream_record_counts
from airflow_provider_stitch.api.objects import (
    ConnectionCheck,
    Extraction,
    Load,
    Source,
    Stream,
    StreamSchema,
    format_timestamp,
    parse_page,
)
from airflow_provider_stitch.api.progress import awaited_streams_from
from airflow_provider_stitch.api.wait import AwaitedStreams
from airflow_provider_stitch.exceptions import (
    StitchAPIError,
    StitchJobAlreadyRunningError,
    StitchNotFoundError,
)

NOTIFICATIONS = "/notifications/public/v1/api"
#: A guard against a server whose ``links.next`` never ends (records can shift between pages:
#: #pagination--overview).
MAX_PAGES = 1000


@dataclass(frozen=True)
class ClientAccount:
    """A Stitch client account and its access token. The token is kept out of ``repr``."""

    stitch_account_id: int
    access_token: str = field(repr=False)


def call(request: ApiRequest) -> Operation[Any]:
    """Send one request; return its decoded JSON body or raise the mapped :class:`StitchAPIError`."""
    response = yield request
    return decode(request, response)


def decode(request: ApiRequest, response: ApiResponse) -> Any:
    error = error_from_response(request, response)
    if error is not None:
        raise error
    try:
        return response.json()
    except ValueError as exc:
        # An answer carrying a new token is masked only once parsed: quoting it would leak the token.
        excerpt = (
            "(body not shown: it carries a credential)"
            if request.secret_answer
            else repr(response.text[:200])
        )
        raise StitchAPIError(
            f"malformed JSON in a {response.status} answer: {excerpt}",
            status=response.status,
            method=request.method,
            path=request.path,
        ) from exc


def _paginate(path: str, subject: str) -> Operation[list[dict[str, Any]]]:
    """Follow ``links.next`` through every page of a jobs-endpoint list (#pagination--overview)."""
    rows: list[dict[str, Any]] = []
    request = ApiRequest("GET", path, params={"page": 1}, jobs_endpoint=True, subject=subject)
    for page_number in range(1, MAX_PAGES + 1):
        body = yield from call(request)
        page = parse_page(body, page_number)
        rows.extend(page.data)
        if not page.next_path or not page.data:
            break
        # links.next is a relative path that already carries ?page=N. Keep an absolute one on our
        # own API host: the request carries the bearer token, which must never go elsewhere.
        request = ApiRequest("GET", _relative(page.next_path), jobs_endpoint=True, subject=subject)
    else:
        # 100 rows a page: 100,000 rows is no real account; a server whose links never end is.
        logging.getLogger(__name__).warning(
            "Stopped listing %s after %d pages (%d rows): links.next never ended", path, MAX_PAGES, len(rows)
        )
    return rows


def _relative(link: str) -> str:
    """``link``'s path and query, dropping any scheme and host."""
    parts = urlsplit(link)
    return urlunsplit(("", "", parts.path, parts.query, ""))


# --- accounts and sessions (#accounts, #sessions) -------------------------------------------------


def create_account(
    *,
    partner_id: str,
    partner_secret: str,
    first_name: str,
    last_name: str,
    company: str,
    email: str,
    region: str | None = None,
) -> Operation[ClientAccount]:
    body: dict[str, Any] = {
        "partner_id": partner_id,
        "partner_secret": partner_secret,
        "first_name": first_name,
        "last_name": last_name,
        "company": company,
        "email": email,
    }
    if region:
        body["region"] = region
    # Not idempotent: a resend after a lost answer would report ExistingUser for our own new account.
    request = ApiRequest(
        "POST",
        "/v3/accounts",
        json_body=body,
        authenticated=False,
        idempotent=False,
        secret_answer=True,
        subject=email,
    )
    data = yield from call(request)
    return ClientAccount(int(data["stitch_account_id"]), str(data["access_token"]))


def exchange_oauth_code(*, partner_secret: str, code: str) -> Operation[ClientAccount]:
    request = ApiRequest(
        "POST",
        "/oauth/token",
        form_body={"client_secret": partner_secret, "code": code, "grant_type": "authorization_code"},
        authenticated=False,
        idempotent=False,  # the code is single-use
        secret_answer=True,
        subject="OAuth code exchange",
    )
    data = yield from call(request)
    return ClientAccount(int(data["stitch_account_id"]), str(data["access_token"]))


def create_ephemeral_session() -> Operation[str]:
    request = ApiRequest("POST", "/v3/sessions/ephemeral", idempotent=False, secret_answer=True)
    data = yield from call(request)
    return str(data["ephemeral_token"])


# --- destinations (#destinations) -----------------------------------------------------------------


def list_destinations() -> Operation[list[dict[str, Any]]]:
    return (yield from call(ApiRequest("GET", "/v4/destinations"))) or []


def create_destination(
    *,
    type: str,
    properties: dict[str, Any],
    name: str | None = None,
    description: str | None = None,
    ignore_unmapped_sources: bool | None = None,
) -> Operation[dict[str, Any]]:
    body: dict[str, Any] = {"type": type, "properties": properties}
    if name is not None:
        body["name"] = name
    if description is not None:
        body["description"] = description
    if ignore_unmapped_sources is not None:
        body["ignore_unmapped_sources"] = ignore_unmapped_sources
    return (
        yield from call(
            ApiRequest("POST", "/v4/destinations", json_body=body, idempotent=False, subject=f"type {type}")
        )
    )


def update_destination(destination_id: int, *, properties: dict[str, Any]) -> Operation[dict[str, Any]]:
    request = ApiRequest(
        "PUT",
        f"/v4/destinations/{destination_id}",
        json_body={"properties": properties},
        subject=f"destination {destination_id}",
    )
    return (yield from call(request))


def delete_destination(destination_id: int) -> Operation[Any]:
    request = ApiRequest(
        "DELETE", f"/v4/destinations/{destination_id}", subject=f"destination {destination_id}"
    )
    return (yield from call(request))


def list_destination_types() -> Operation[list[dict[str, Any]]]:
    return (yield from call(ApiRequest("GET", "/v4/destination-types"))) or []


def get_destination_type(destination_type: str) -> Operation[dict[str, Any]]:
    request = ApiRequest("GET", f"/v4/destination-types/{destination_type}", subject=destination_type)
    return (yield from call(request))


def get_destination_last_connection_check(destination_id: int) -> Operation[ConnectionCheck]:
    """Defined in Stitch's docs data (#retrieve-destinations-last-connection-check) but not published.

    Works where the server offers it (the emulator does).
    """
    request = ApiRequest(
        "GET",
        f"/v4/destinations/{destination_id}/last-connection-check",
        subject=f"destination {destination_id}",
    )
    return ConnectionCheck.from_api((yield from call(request)) or {})


# --- sources and source types (#sources--section, #source-types) ----------------------------------


def list_sources() -> Operation[list[Source]]:
    """Every source, paused and deleted ones included (filter on ``Source.is_deleted``)."""
    data = yield from call(ApiRequest("GET", "/v4/sources"))
    return [Source.from_api(row) for row in data or []]


def get_source(source_id: int) -> Operation[Source]:
    data = yield from call(ApiRequest("GET", f"/v4/sources/{source_id}", subject=f"source {source_id}"))
    return Source.from_api(data)


def create_source(
    *,
    display_name: str,
    type: str,
    properties: dict[str, Any] | None = None,
    destination_id: int | None = None,
) -> Operation[Source]:
    body: dict[str, Any] = {"display_name": display_name, "type": type}
    if properties is not None:
        body["properties"] = properties
    if destination_id is not None:
        body["destination_id"] = destination_id
    request = ApiRequest("POST", "/v4/sources", json_body=body, idempotent=False, subject=display_name)
    return Source.from_api((yield from call(request)))


def update_source(
    source_id: int,
    *,
    display_name: str | None = None,
    properties: dict[str, Any] | None = None,
    paused_at: str | object | None = ...,
) -> Operation[Source]:
    """PUT a partial update. ``paused_at=None`` unpauses; an ISO timestamp pauses (#pause-a-source)."""
    body: dict[str, Any] = {}
    if display_name is not None:
        body["display_name"] = display_name
    if properties is not None:
        body["properties"] = properties
    if paused_at is not ...:
        body["paused_at"] = paused_at
    request = ApiRequest("PUT", f"/v4/sources/{source_id}", json_body=body, subject=f"source {source_id}")
    return Source.from_api((yield from call(request)))


def pause_source(source_id: int, at: dt.datetime | None = None) -> Operation[Source]:
    when = format_timestamp(at or dt.datetime.now(dt.timezone.utc))
    return (yield from update_source(source_id, paused_at=when))


def unpause_source(source_id: int) -> Operation[Source]:
    return (yield from update_source(source_id, paused_at=None))


def delete_source(source_id: int) -> Operation[Source]:
    request = ApiRequest("DELETE", f"/v4/sources/{source_id}", subject=f"source {source_id}")
    return Source.from_api((yield from call(request)))


def list_source_types() -> Operation[list[dict[str, Any]]]:
    return (yield from call(ApiRequest("GET", "/v4/source-types"))) or []


def get_source_type(source_type: str) -> Operation[dict[str, Any]]:
    return (yield from call(ApiRequest("GET", f"/v4/source-types/{source_type}", subject=source_type)))


def get_last_connection_check(source_id: int) -> Operation[ConnectionCheck]:
    request = ApiRequest(
        "GET", f"/v4/sources/{source_id}/last-connection-check", subject=f"source {source_id}"
    )
    return ConnectionCheck.from_api((yield from call(request)) or {})


# --- streams (#streams) ---------------------------------------------------------------------------


def list_streams(source_id: int) -> Operation[list[Stream]]:
    data = yield from call(
        ApiRequest("GET", f"/v4/sources/{source_id}/streams", subject=f"source {source_id}")
    )
    return [Stream.from_api(row) for row in data or []]


def get_stream_schema(source_id: int, stream_id: int) -> Operation[StreamSchema]:
    request = ApiRequest(
        "GET",
        f"/v4/sources/{source_id}/streams/{stream_id}",
        subject=f"source {source_id}, stream {stream_id}",
    )
    return StreamSchema.from_api((yield from call(request)))


def update_stream_metadata(source_id: int, streams: list[dict[str, Any]]) -> Operation[Any]:
    """PUT ``{"streams": [{"tap_stream_id", "metadata": [{"breadcrumb", "metadata"}]}]}``."""
    request = ApiRequest(
        "PUT",
        f"/v4/sources/{source_id}/streams/metadata",
        json_body={"streams": streams},
        subject=f"source {source_id}",
    )
    return (yield from call(request))


# --- replication jobs (#replication-jobs) ---------------------------------------------------------


def start_replication_job(source_id: int) -> Operation[str]:
    """Start a job and return its name; raise :class:`StitchJobAlreadyRunningError` if one runs.

    Stitch runs at most one job per source, so resending this POST after an ambiguous failure (a lost
    answer, a 5xx) cannot start a duplicate: the resend either starts the job that never started, or
    answers ``already_running``. The drivers therefore treat it as safe to resend, and mark answers
    that follow an ambiguous failure so we can say the running job is probably ours.
    """
    request = ApiRequest("POST", f"/v4/sources/{source_id}/sync", json_body={}, subject=f"source {source_id}")
    response = yield request
    error = error_from_response(request, response)
    if error is not None and error.code == "already_running":
        raise StitchJobAlreadyRunningError(
            error.message,
            source_id=source_id,
            after_ambiguous_failure=response.after_ambiguous_failure,
            status=error.status_code,
            code=error.code,
            method=request.method,
            path=request.path,
            details=error.details,
        )
    body = decode(request, response)
    if not isinstance(body, dict) or not body.get("job_name"):
        raise StitchAPIError(
            f"starting a job on source {source_id} returned no job_name: {str(body)[:200]}",
            status=response.status,
            method=request.method,
            path=request.path,
        )
    return str(body["job_name"])


def stop_replication_job(source_id: int) -> Operation[Any]:
    request = ApiRequest("DELETE", f"/v4/sources/{source_id}/sync", subject=f"source {source_id}")
    return (yield from call(request))


# --- extractions, logs and loads (#extraction--section, #load--section): rate-limited -------------


def list_extractions(stitch_client_id: int) -> Operation[list[Extraction]]:
    rows = yield from _paginate(f"/v4/{stitch_client_id}/extractions", f"client {stitch_client_id}")
    # Records can shift between pages (#pagination--overview); keep one row per source, the last one seen.
    by_source: dict[int, Extraction] = {}
    for row in rows:
        extraction = Extraction.from_api(row)
        by_source[extraction.source_id] = extraction
    return sorted(by_source.values(), key=lambda e: e.source_id)


def list_loads(stitch_client_id: int) -> Operation[list[Load]]:
    rows = yield from _paginate(f"/v4/{stitch_client_id}/loads", f"client {stitch_client_id}")
    by_stream: dict[tuple[str, str], Load] = {}
    for row in rows:
        load = Load.from_api(row)
        by_stream[(load.source_name, load.stream_name)] = load
    return list(by_stream.values())


def get_extraction_logs(stitch_client_id: int, job_name: str) -> Operation[str]:
    """Return the log text of one extraction job.

    Stitch answers 302 with a pre-signed S3 URL (#get-logs-for-an-extraction-job). The redirect is
    followed here, *without* the bearer token: the token must never be sent to another host.
    """
    request = ApiRequest(
        "GET",
        f"/v4/{stitch_client_id}/extractions/{job_name}",
        jobs_endpoint=True,
        subject=f"job {job_name}",
    )
    response = yield request
    location = response.header("Location")
    if response.status in (301, 302, 303, 307, 308) and location:
        log_request = ApiRequest("GET", location, authenticated=False, subject=f"logs of job {job_name}")
        log_response = yield log_request
        error = error_from_response(log_request, log_response)
        if error is not None:
            raise error
        return log_response.text
    error = error_from_response(request, response)
    if error is not None:
        raise error
    return response.text  # a server that serves the log directly


def awaited_streams(stitch_client_id: int, job_name: str, source_id: int) -> Operation[AwaitedStreams]:
    """The streams whose loads prove a job's data landed: those its log shows with new records.

    A log that cannot be found (404: right after completion it may not be there yet) gives the source's
    selected streams as a stand-in that is not ``final``, so the wait asks for the log again. A log
    that names no stream falls back to the selected streams for good. Any other failure propagates, so
    the caller retries rather than guessing.
    """
    counts: dict[str, int | None] | None = None
    final = True
    try:
        counts = stream_record_counts((yield from get_extraction_logs(stitch_client_id, job_name)))
    except StitchNotFoundError as exc:
        final = False
        logging.getLogger(__name__).info(
            "No log for Stitch job %s yet (%s); the selected streams stand in until it can be read",
            job_name,
            exc,
        )
    if counts:
        return AwaitedStreams(tuple(awaited_streams_from(counts, None)), True)
    streams = yield from list_streams(source_id)
    return AwaitedStreams(
        tuple(awaited_streams_from(counts, [s.stream_name for s in streams if s.selected])), final
    )


# --- Import API tokens (#import-api-access-token-object) ------------------------------------------


def create_import_token(source_id: int) -> Operation[dict[str, Any]]:
    request = ApiRequest(
        "POST",
        f"/v4/sources/{source_id}/tokens",
        idempotent=False,
        secret_answer=True,
        subject=f"source {source_id}",
    )
    return (yield from call(request))


def list_import_tokens(source_id: int) -> Operation[list[dict[str, Any]]]:
    """Token ids as ``[{"token_id", "created_at"}]``, from either shape of #get-iapi-access-token-ids."""
    data = yield from call(
        ApiRequest("GET", f"/v4/sources/{source_id}/tokens", subject=f"source {source_id}")
    )
    tokens: list[dict[str, Any]] = []
    for item in data or []:
        if isinstance(item, dict):
            tokens.append(
                {"token_id": item.get("token_id", item.get("id")), "created_at": item.get("created_at")}
            )
        else:
            tokens.append({"token_id": item, "created_at": None})
    return tokens


def delete_import_token(source_id: int, token_id: int) -> Operation[Source]:
    request = ApiRequest(
        "DELETE",
        f"/v4/sources/{source_id}/tokens/{token_id}",
        subject=f"source {source_id}, token {token_id}",
    )
    return Source.from_api((yield from call(request)))


# --- notifications (#notifications) ---------------------------------------------------------------


def list_custom_emails() -> Operation[list[dict[str, Any]]]:
    return (yield from call(ApiRequest("GET", f"{NOTIFICATIONS}/custom-emails"))) or []


def create_custom_email(email_address: str) -> Operation[dict[str, Any]]:
    request = ApiRequest(
        "POST", f"{NOTIFICATIONS}/custom-emails", json_body={"email_address": email_address}, idempotent=False
    )
    return (yield from call(request))


def set_custom_email_disabled_at(email_id: int, disabled_at: str | None) -> Operation[dict[str, Any]]:
    """``disabled_at`` = an ISO timestamp disables the recipient now; ``None`` re-enables it."""
    request = ApiRequest(
        "PUT",
        f"{NOTIFICATIONS}/custom-emails/{email_id}",
        json_body={"disabled_at": disabled_at},
        subject=f"custom email {email_id}",
    )
    return (yield from call(request))


def delete_custom_email(email_id: int) -> Operation[Any]:
    request = ApiRequest(
        "DELETE", f"{NOTIFICATIONS}/custom-emails/{email_id}", subject=f"custom email {email_id}"
    )
    return (yield from call(request))


def list_notification_hooks() -> Operation[list[dict[str, Any]]]:
    return (yield from call(ApiRequest("GET", f"{NOTIFICATIONS}/hooks"))) or []


def create_notification_hook(*, url: str, destination_id: int) -> Operation[dict[str, Any]]:
    body = {"type": "post_load", "destination_id": destination_id, "config": {"url": url}}
    request = ApiRequest("POST", f"{NOTIFICATIONS}/hooks", json_body=body, idempotent=False)
    return (yield from call(request))


def set_notification_hook_enabled(hook_id: int, enabled: bool) -> Operation[dict[str, Any]]:
    request = ApiRequest(
        "PUT", f"{NOTIFICATIONS}/hooks/{hook_id}", json_body={"enable": enabled}, subject=f"hook {hook_id}"
    )
    return (yield from call(request))


def delete_notification_hook(hook_id: int) -> Operation[Any]:
    request = ApiRequest("DELETE", f"{NOTIFICATIONS}/hooks/{hook_id}", subject=f"hook {hook_id}")
    return (yield from call(request))
