"""Sources, source types, source connection checks and Import API tokens.

Errors use the sources family shape ``{"error": "<Code>", "data": {"message": ...}}``.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request

from airflow_provider_stitch.emulator.backend import Backend
from airflow_provider_stitch.emulator.catalog import SourceType, card_steps
from airflow_provider_stitch.emulator.clock import iso, normalise_iso
from airflow_provider_stitch.emulator.errors import sources_error
from airflow_provider_stitch.emulator.models import Account, ImportToken, Source
from airflow_provider_stitch.emulator.responses.common import (
    MALFORMED,
    AuthedAccount,
    backend_of,
    parse_int,
    read_json,
)
from airflow_provider_stitch.emulator.seed import NAME_RE, derive_name

router = APIRouter()

POST_KEYS = {"type", "display_name", "properties", "destination_id", "name"}
PUT_KEYS = {"display_name", "properties", "paused_at"}
POST_BODY_MESSAGE = (
    "POST body may only include a non-empty type, a non-empty display_name and map of string properties"
)
# "many" is Stitch's own typo; clients may match on the text, so it is kept verbatim.
PUT_BODY_MESSAGE = "PUT body many only include the keys: display_name, properties, and paused_at"
# Stitch's own error texts (_data/connect/response-codes/sources.yml): clients may match on them.
NAME_RULE_MESSAGE = (
    "The name field must be under 50 characters, and can only contain lowercase letters, numbers, "
    "underscores, or dollar signs. It must begin with a letter or an underscore."
)
MAX_IMPORT_TOKENS = 2


def type_card(stype: SourceType) -> dict[str, Any]:
    return {
        "type": stype.type,
        "current_step": 1,
        "current_step_type": "form",
        "steps": card_steps(stype.step_types, stype.properties, {}),
        "details": dict(stype.details),
        "upgrade_available": None,
    }


def find_source(account: Account, source_id: str, *, include_deleted: bool) -> Source | None:
    sid = parse_int(source_id)
    source = account.sources.get(sid) if sid is not None else None
    if source is None or (source.deleted_at is not None and not include_deleted):
        return None
    return source


def _name_taken(account: Account, name: str) -> bool:
    return any(s.name == name and s.deleted_at is None for s in account.sources.values())


def _validate_cron(account: Account, expression: str) -> None:
    if not account.features.get("cron_scheduling", True):
        raise sources_error("AccessDenied", "access to cron_expression based scheduling is not permitted")
    parts = expression.split()
    if len(parts) not in (6, 7):
        raise sources_error(
            "InvalidCronExpression", f"{expression} is invalid: Unexpected end of expression."
        )
    if parts[3] != "?" and parts[5] != "?":
        raise sources_error(
            "InvalidCronExpression",
            f"{expression} is invalid: Support for specifying both a day-of-week AND a day-of-month "
            "parameter is not implemented.",
        )


def _validate_properties(
    account: Account, source_like: Source | None, stype: SourceType, props: dict[str, Any]
) -> None:
    bad = sorted(
        key for key, value in props.items() if (p := stype.property(key)) is None or not p.validate(value)
    )
    if bad:
        provided = {**(source_like.provided_properties() if source_like else {}), **props}
        card = {**type_card(stype), "steps": card_steps(stype.step_types, stype.properties, provided)}
        raise sources_error(
            "InvalidProperties", "properties do not match schema", bad_properties=bad, report_card=card
        )
    if "cron_expression" in props:
        _validate_cron(account, props["cron_expression"])


@router.get("/v4/sources")
async def list_sources(request: Request, account: AuthedAccount) -> list[dict[str, Any]]:
    now = backend_of(request).tick()
    return [s.to_json(now) for s in sorted(account.sources.values(), key=lambda s: s.id)]


@router.post("/v4/sources")
async def create_source(request: Request, account: AuthedAccount) -> dict[str, Any]:
    backend = backend_of(request)
    body = await read_json(request)
    if (
        body is MALFORMED
        or not isinstance(body, dict)
        or set(body) - POST_KEYS
        or not isinstance(body.get("type"), str)
        or not body["type"]
        or not isinstance(body.get("display_name"), str)
        or not body["display_name"].strip()
        or not isinstance(body.get("properties", {}), dict)
    ):
        raise sources_error("InvalidBody", POST_BODY_MESSAGE)
    stype = backend.catalog.source_types.get(body["type"])
    if stype is None:
        raise sources_error("InvalidType", f"invalid source type ({body['type']})")
    if not stype.details.get("access", True):
        raise sources_error("AccessDenied", f"you do not have access to source type ({stype.type})")
    if "name" in body:
        name = body["name"]
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise sources_error("InvalidName", NAME_RULE_MESSAGE)
        if _name_taken(account, name):
            raise sources_error("InvalidName", f"non-unique name ({name})")
    else:
        name = derive_name(body["display_name"])
        if not NAME_RE.match(name):
            raise sources_error(
                "InvalidDisplayName",
                f"invalid name after deriving it from display_name ({body['display_name']} -> {name})",
            )
        if _name_taken(account, name):
            raise sources_error(
                "InvalidName",
                f"non-unique name after deriving it from display_name ({body['display_name']} -> {name})",
            )
    props: dict[str, Any] = body.get("properties", {})
    _validate_properties(account, None, stype, props)
    destination_id = body.get("destination_id")
    active = {d.id for d in account.active_destinations()}
    if destination_id is not None and (not isinstance(destination_id, int) or destination_id not in active):
        raise sources_error(
            "InvalidBody", f"destination_id must be an existing destination ({destination_id})"
        )
    now = backend.tick()
    public, creds = backend.split_credentials(props, stype.properties)
    source = Source(
        id=backend.next_id("source", 2000),
        client_id=account.client_id,
        type=stype,
        name=name,
        display_name=body["display_name"],
        properties=public,
        credentials=creds,
        step="form",
        created_at=now,
        updated_at=now,
        mapped_destination_ids=[destination_id] if destination_id is not None else sorted(active),
    )
    account.sources[source.id] = source
    _after_properties_changed(backend, account, source, now)
    return source.to_json(now)


def _after_properties_changed(backend: Backend, account: Account, source: Source, now: float) -> None:
    """Complete the form step when it can be, then run the automatic connection check and discovery."""
    pending = backend.setup_step(source)
    if pending is not None:
        if source.step in ("form", "oauth"):
            source.step = pending
        return
    if not source.type.singer:
        source.step = "fully_configured"
        return
    if source.step in ("form", "oauth"):
        source.step = "discover_schema"
    backend.start_source_check(account, source, now)


@router.get("/v4/sources/{source_id}")
async def get_source(source_id: str, request: Request, account: AuthedAccount) -> dict[str, Any]:
    source = find_source(account, source_id, include_deleted=True)
    if source is None:
        raise sources_error("InvalidId", f"source not found ({source_id})", status=404)
    return source.to_json(backend_of(request).tick())


@router.put("/v4/sources/{source_id}")
async def update_source(source_id: str, request: Request, account: AuthedAccount) -> dict[str, Any]:
    backend = backend_of(request)
    source = find_source(account, source_id, include_deleted=False)
    if source is None:
        raise sources_error("InvalidId", f"source not found ({source_id})")
    body = await read_json(request)
    if body is MALFORMED or not isinstance(body, dict) or set(body) - PUT_KEYS or not body:
        raise sources_error("InvalidBody", PUT_BODY_MESSAGE)
    if "display_name" in body:
        display = body["display_name"]
        if not isinstance(display, str) or not NAME_RE.match(derive_name(display)):
            # PUT never derives a name (the name is fixed at creation), so its wording differs from
            # POST's: Stitch's says only which display_name it refused.
            raise sources_error("InvalidDisplayName", f"invalid display_name ({display})")
    props = body.get("properties", {})
    if not isinstance(props, dict):
        raise sources_error("InvalidBody", PUT_BODY_MESSAGE)
    _validate_properties(account, source, source.type, props)
    paused: str | None = source.paused_at
    if "paused_at" in body:
        if body["paused_at"] is None:
            paused = None
        elif isinstance(body["paused_at"], str) and normalise_iso(body["paused_at"]):
            # Any timestamp, even a future one, pauses immediately.
            paused = normalise_iso(body["paused_at"])
        else:
            raise sources_error("InvalidBody", "paused_at must be an ISO-8601 timestamp or null")
    now = backend.tick()
    if "display_name" in body:
        source.display_name = body["display_name"]  # the name (schema) never changes after creation
    source.paused_at = paused
    source.updated_at = now
    if props:
        public, creds = backend.split_credentials(props, source.type.properties)
        source.properties.update(public)
        source.credentials.update(creds)
        _after_properties_changed(backend, account, source, now)
    return source.to_json(now)


@router.delete("/v4/sources/{source_id}")
async def delete_source(source_id: str, request: Request, account: AuthedAccount) -> dict[str, Any]:
    backend = backend_of(request)
    source = find_source(account, source_id, include_deleted=True)
    if source is None:
        raise sources_error("InvalidId", f"source not found ({source_id})")
    now = backend.tick()
    if source.deleted_at is None:
        source.deleted_at = now
        source.updated_at = now
    return source.to_json(now)


@router.get("/v4/sources/{source_id}/last-connection-check")
async def last_connection_check(source_id: str, account: AuthedAccount) -> dict[str, Any]:
    source = find_source(account, source_id, include_deleted=True)
    if source is None:
        raise sources_error("InvalidId", f"source not found ({source_id})", status=404)
    if source.check is None:
        raise sources_error("NotFound", f"no connection check has run for source ({source_id})", status=404)
    return source.check.to_json()


@router.get("/v4/source-types")
async def list_source_types(request: Request, account: AuthedAccount) -> list[dict[str, Any]]:
    return [type_card(t) for t in backend_of(request).catalog.source_types.values()]


@router.get("/v4/source-types/{source_type}")
async def get_source_type(source_type: str, request: Request, account: AuthedAccount) -> dict[str, Any]:
    stype = backend_of(request).catalog.source_types.get(source_type)
    if stype is None:
        raise sources_error("InvalidType", f"invalid source type ({source_type})", status=404)
    return type_card(stype)


# -- Import API access tokens ---------------------------------------------------------------------------
def _import_source(account: Account, source_id: str) -> Source:
    source = find_source(account, source_id, include_deleted=False)
    if source is None:
        raise sources_error("InvalidId", f"source not found ({source_id})")
    if source.type.type != "import_api":
        raise sources_error(
            "InvalidType", f"access tokens exist only for import_api sources ({source.type.type})"
        )
    return source


@router.post("/v4/sources/{source_id}/tokens")
async def create_token(source_id: str, request: Request, account: AuthedAccount) -> dict[str, Any]:
    backend = backend_of(request)
    source = _import_source(account, source_id)
    if len(source.tokens) >= MAX_IMPORT_TOKENS:
        raise sources_error("TokenLimit", f"a source may have at most {MAX_IMPORT_TOKENS} active tokens")
    token = ImportToken(
        token_id=backend.next_id("token", 815713586),
        access_token=secrets.token_hex(32),
        created_at=backend.tick(),
    )
    source.tokens.append(token)
    return {"id": token.token_id, "access_token": token.access_token}


@router.get("/v4/sources/{source_id}/tokens")
async def list_tokens(source_id: str, account: AuthedAccount) -> list[dict[str, Any]]:
    source = _import_source(account, source_id)
    # The newer documented shape (2021-08-19 changelog) rather than the bare id list.
    return [{"token_id": t.token_id, "created_at": iso(t.created_at)} for t in source.tokens]


@router.delete("/v4/sources/{source_id}/tokens/{token_id}")
async def delete_token(
    source_id: str, token_id: str, request: Request, account: AuthedAccount
) -> dict[str, Any]:
    source = _import_source(account, source_id)
    token = next((t for t in source.tokens if str(t.token_id) == token_id), None)
    if token is None:
        raise sources_error("InvalidId", f"token not found ({token_id})")
    source.tokens.remove(token)
    return source.to_json(backend_of(request).tick())
