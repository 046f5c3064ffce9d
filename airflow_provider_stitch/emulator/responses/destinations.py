"""Destinations (v4, plus the legacy v3 surface) and destination types. Errors are plain text."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from airflow_provider_stitch.emulator.catalog import DestinationType, card_steps
from airflow_provider_stitch.emulator.clock import iso
from airflow_provider_stitch.emulator.errors import destinations_error, not_found
from airflow_provider_stitch.emulator.models import Account, Destination
from airflow_provider_stitch.emulator.responses.common import (
    MALFORMED,
    AuthedAccount,
    backend_of,
    parse_int,
    read_json,
)

router = APIRouter()

POST_KEYS = {"type", "name", "description", "properties", "ignore_unmapped_sources"}


def _type_card(dtype: DestinationType) -> dict[str, Any]:
    return {
        "type": dtype.type,
        "current_step": 1,
        "current_step_type": "form",
        "steps": card_steps(dtype.step_types, dtype.properties, {}),
        "details": dict(dtype.details),
    }


def _stringify(props: dict[str, Any]) -> dict[str, str] | None:
    """The legacy v3 ``connection`` map: scalars only, stored as strings (v4 validates per schema)."""
    out: dict[str, str] = {}
    for key, value in props.items():
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, (str, int, float)):
            out[key] = str(value)
        else:
            return None
    return out


def _find(account: Account, destination_id: str) -> Destination | None:
    did = parse_int(destination_id)
    dest = account.destinations.get(did) if did is not None else None
    return dest if dest is not None and dest.deleted_at is None else None


@router.get("/v4/destinations")
async def list_destinations(request: Request, account: AuthedAccount) -> list[dict[str, Any]]:
    params = dict(request.query_params)
    if set(params) - {"source_id", "destination_id"}:
        raise destinations_error("GET may only include the params: source_id and/or destination_id")
    dests = account.active_destinations()
    if "destination_id" in params:
        dests = [d for d in dests if str(d.id) == params["destination_id"]]
    if "source_id" in params:
        source = account.sources.get(parse_int(params["source_id"]) or -1)
        mapped = set(source.mapped_destination_ids) if source else set()
        dests = [d for d in dests if d.id in mapped]
    return [d.to_json() for d in dests]


@router.post("/v4/destinations")
async def create_destination(request: Request, account: AuthedAccount) -> dict[str, Any]:
    backend = backend_of(request)
    body = await read_json(request)
    message = (
        "POST body may only include a type, a name, a description, map of properties, "
        "and boolean for unmapped sources"
    )
    if body is MALFORMED or not isinstance(body, dict) or set(body) - POST_KEYS:
        raise destinations_error(message)
    props = body.get("properties")
    if not isinstance(body.get("type"), str) or not isinstance(props, dict):
        raise destinations_error(message)
    if "ignore_unmapped_sources" in body and not isinstance(body["ignore_unmapped_sources"], bool):
        raise destinations_error(message)
    dtype = backend.catalog.destination_types.get(body["type"])
    if dtype is None:
        raise destinations_error(f"invalid destination type ({body['type']})")
    if len(account.active_destinations()) >= account.destination_limit:
        raise destinations_error("you are at your destination limit")
    bad = [k for k, v in props.items() if (p := dtype.property(k)) is None or not p.validate(v)]
    # Only the form step is needed to create a destination; an OAuth step's values come later.
    missing = [
        p.name for p in dtype.properties if p.step == "form" and p.completes_step and p.name not in props
    ]
    if bad or missing:
        raise destinations_error(f"properties do not match schema: {', '.join(sorted(bad + missing))}")
    now = backend.tick()
    public, creds = backend.split_credentials(props, dtype.properties)
    dest = Destination(
        id=backend.next_id("destination", 3000),
        client_id=account.client_id,
        type=dtype,
        name=body.get("name") or dtype.type,
        description=body.get("description"),
        properties=public,
        credentials=creds,
        created_at=now,
        updated_at=now,
    )
    account.destinations[dest.id] = dest
    if not body.get("ignore_unmapped_sources", False):
        for source in account.sources.values():
            active = {d.id for d in account.active_destinations()}
            if not set(source.mapped_destination_ids) & active:
                source.mapped_destination_ids.append(dest.id)
    backend.start_destination_check(account, dest, now)
    return dest.to_json()


@router.get("/v4/destinations/{destination_id}")
async def get_destination(destination_id: str, account: AuthedAccount) -> dict[str, Any]:
    # Undocumented endpoint that MAGE calls; served because it is harmless and handy.
    dest = _find(account, destination_id)
    if dest is None:
        raise not_found(f"destination not found ({destination_id})")
    return dest.to_json()


@router.put("/v4/destinations/{destination_id}")
async def update_destination(destination_id: str, request: Request, account: AuthedAccount) -> dict[str, Any]:
    backend = backend_of(request)
    if parse_int(destination_id) is None:
        raise not_found(f"invalid destination id ({destination_id})")
    dest = _find(account, destination_id)
    if dest is None:
        raise destinations_error("invalid connection id")
    body = await read_json(request)
    if isinstance(body, dict) and "type" in body and body["type"] != dest.type.type:
        raise destinations_error("this API endpoint does not support modifying destination type")
    props = body.get("properties") if isinstance(body, dict) else None
    if not isinstance(props, dict):
        raise destinations_error("PUT body must include a map of properties")
    bad = [k for k, v in props.items() if (p := dest.type.property(k)) is None or not p.validate(v)]
    if bad:
        raise destinations_error(f"properties do not match schema: {', '.join(sorted(bad))}")
    public, creds = backend.split_credentials(props, dest.type.properties)
    dest.properties.update(public)
    dest.credentials.update(creds)
    now = backend.tick()
    dest.updated_at = now
    backend.start_destination_check(account, dest, now)
    return dest.to_json()


@router.delete("/v4/destinations/{destination_id}")
async def delete_destination(destination_id: str, request: Request, account: AuthedAccount) -> dict[str, Any]:
    if parse_int(destination_id) is None:
        raise not_found(f"invalid destination id ({destination_id})")
    dest = _find(account, destination_id)
    if dest is None:
        raise destinations_error(
            f"Unable to locate dest ({destination_id}) for client ({account.client_id}) to delete"
        )
    dest.deleted_at = backend_of(request).tick()
    return {}


@router.get("/v4/destinations/{destination_id}/last-connection-check")
async def destination_last_check(destination_id: str, account: AuthedAccount) -> dict[str, Any]:
    # Defined in Stitch's docs data (the API reference's #retrieve-destinations-last-connection-check) but
    # not published; the emulator serves it like the source variant.
    dest = _find(account, destination_id)
    if dest is None:
        raise not_found(f"destination not found ({destination_id})")
    if dest.check is None:
        raise not_found(f"no connection check for destination ({destination_id})")
    return dest.check.to_json()


@router.get("/v4/destination-types")
async def list_destination_types(request: Request, account: AuthedAccount) -> list[dict[str, Any]]:
    return [_type_card(t) for t in backend_of(request).catalog.destination_types.values()]


@router.get("/v4/destination-types/{destination_type}")
async def get_destination_type(
    destination_type: str, request: Request, account: AuthedAccount
) -> dict[str, Any]:
    dtype = backend_of(request).catalog.destination_types.get(destination_type)
    if dtype is None:
        raise not_found(f"unknown destination type ({destination_type})")
    return _type_card(dtype)


# -- legacy v3: same state, `connection` instead of `properties` ----------------------------------------
V3_TYPES = ("redshift", "postgres", "snowflake")
V3_ERROR = "body must be a map with type = redshift, postgres, or snowflake. required-keys = type, connection"


def _v3(dest: Destination) -> dict[str, Any]:
    check = dest.check
    return {
        "id": dest.id,
        "type": dest.type.type,
        "created_at": iso(dest.created_at),
        "updated_at": iso(dest.updated_at),
        "connection": dict(dest.properties),
        "last_check": {
            "error": bool(check and check.status == "failed"),
            "started_at": iso(check.start_time) if check else None,
            "completed_at": iso(check.completion_time) if check else None,
        },
    }


@router.get("/v3/destinations")
async def list_destinations_v3(account: AuthedAccount) -> list[dict[str, Any]]:
    return [_v3(d) for d in account.active_destinations()[:1]]


@router.post("/v3/destinations")
async def create_destination_v3(request: Request, account: AuthedAccount) -> dict[str, Any]:
    backend = backend_of(request)
    body = await read_json(request)
    if (
        not isinstance(body, dict)
        or body.get("type") not in V3_TYPES
        or not isinstance(body.get("connection"), dict)
        or (values := _stringify(body["connection"])) is None
    ):
        raise destinations_error(V3_ERROR)
    if len(account.active_destinations()) >= account.destination_limit:
        raise destinations_error("you are at your destination limit")
    dtype = backend.catalog.destination_types[body["type"]]
    now = backend.tick()
    public, creds = backend.split_credentials(values, dtype.properties)
    dest = Destination(
        id=backend.next_id("destination", 3000),
        client_id=account.client_id,
        type=dtype,
        name=dtype.type,
        description=None,
        properties=public,
        credentials=creds,
        created_at=now,
        updated_at=now,
    )
    account.destinations[dest.id] = dest
    backend.start_destination_check(account, dest, now)
    return _v3(dest)


@router.put("/v3/destinations/{destination_id}")
async def update_destination_v3(
    destination_id: str, request: Request, account: AuthedAccount
) -> dict[str, Any]:
    backend = backend_of(request)
    dest = _find(account, destination_id)
    if dest is None:
        raise destinations_error("invalid connection id")
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("connection"), dict):
        raise destinations_error(V3_ERROR)
    values = _stringify(body["connection"])
    if values is None:
        raise destinations_error(V3_ERROR)
    public, creds = backend.split_credentials(values, dest.type.properties)
    dest.properties.update(public)
    dest.credentials.update(creds)
    dest.updated_at = backend.tick()
    return _v3(dest)
