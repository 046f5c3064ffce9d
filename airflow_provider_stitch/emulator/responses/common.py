"""Request plumbing shared by every endpoint family: state access, auth, JSON bodies, the jobs limit."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Depends, Request

from airflow_provider_stitch.emulator.backend import Backend
from airflow_provider_stitch.emulator.errors import ApiError, unauthorized
from airflow_provider_stitch.emulator.models import Account


class Malformed:
    """Marker for a body that is absent or not JSON (each family words that error differently)."""


MALFORMED = Malformed()


def backend_of(request: Request) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


async def ticked(request: Request) -> Backend:
    """Dependency for endpoints without auth: bring jobs up to date, then hand over the state."""
    backend = backend_of(request)
    backend.tick()
    return backend


async def authed(request: Request) -> Account:
    """Dependency: the account the Bearer token acts for (401 otherwise)."""
    backend = backend_of(request)
    backend.tick()
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("Missing bearer token")
    account = backend.account_for_token(token.strip())
    if account is None:
        raise unauthorized("Invalid or revoked access token")
    request.state.client_id = account.client_id
    return account


def require_client(account: Account, client_id: str) -> None:
    """Jobs endpoints carry the client id in the path; it must be the token's own."""
    if client_id != str(account.client_id):
        raise unauthorized(f"Token has no access to client {client_id}")


def count_jobs_call(request: Request, account: Account) -> None:
    backend = backend_of(request)
    retry_after = backend.rate.hit(
        account.client_id, backend.tick(), enforce=backend.config.enforce_rate_limit
    )
    if retry_after is not None:
        raise ApiError(
            429,
            {
                "error": {
                    "type": "rate_limited",
                    "message": (
                        f"More than {backend.rate.limit} jobs calls in {int(backend.rate.window)} seconds "
                        "(emulator-only enforcement of Stitch's documented limit)"
                    ),
                }
            },
            headers={"Retry-After": str(retry_after)},
        )


async def read_json(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return MALFORMED
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return MALFORMED


def parse_int(value: str) -> int | None:
    return int(value) if value.isdigit() else None


# Dependency aliases (Annotated keeps Depends() out of argument defaults).
AuthedAccount = Annotated[Account, Depends(authed)]
TickedBackend = Annotated[Backend, Depends(ticked)]
