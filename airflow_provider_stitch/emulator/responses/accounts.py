"""Accounts (partner sign-up), the OAuth code exchange, and ephemeral sessions."""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from airflow_provider_stitch.emulator.errors import ApiError, accounts_error
from airflow_provider_stitch.emulator.models import Account
from airflow_provider_stitch.emulator.responses.common import (
    MALFORMED,
    AuthedAccount,
    TickedBackend,
    read_json,
)

router = APIRouter()

REGIONS = ("us-east-1", "eu-central-1")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@router.post("/v3/accounts")
async def create_account(request: Request, backend: TickedBackend) -> dict[str, Any]:
    body = await read_json(request)
    if body is MALFORMED or not isinstance(body, dict):
        raise accounts_error("BadRequest", "Invalid form data.", {})
    for key in ("partner_id", "partner_secret"):
        if not isinstance(body.get(key), str) or not body[key]:
            raise accounts_error("BadRequest", "Invalid form data.", {key: "required"})
    if body["partner_id"] not in backend.partners:
        raise accounts_error("BadRequest", "Invalid form data.", {"partner_id": "required"})
    if backend.partners[body["partner_id"]] != body["partner_secret"]:
        raise accounts_error("BadRequest", "Invalid form data.", {"partner_secret": "required"})
    errors = {
        key: "required"
        for key in ("first_name", "last_name", "company", "email")
        if not isinstance(body.get(key), str) or not body[key].strip()
    }
    region = body.get("region", "us-east-1")  # optional: the partner guide's example omits it
    if region not in REGIONS:
        errors["region"] = "invalid"
    if "email" not in errors and not EMAIL_RE.match(body["email"]):
        errors["email"] = "invalid"
    if errors:
        raise accounts_error("BadRequest", "Invalid form data.", errors)
    if backend.email_in_use(body["email"]):
        raise accounts_error("ExistingUser", "This email address is already associated with an active user.")
    account = Account(
        client_id=backend.next_id("account", 100000),
        access_token=f"ac_{secrets.token_hex(20)}",
        email=body["email"],
        first_name=body["first_name"],
        last_name=body["last_name"],
        company=body["company"],
        region=region,
    )
    backend.add_account(account)
    return {"access_token": account.access_token, "stitch_account_id": account.client_id}


def _oauth_error(status: int, error: str, description: str) -> ApiError:
    # Undocumented by Stitch: the emulator answers with RFC 6749 section 5.2 error bodies.
    return ApiError(status, {"error": error, "error_description": description})


@router.post("/oauth/token")
async def oauth_token(request: Request, backend: TickedBackend) -> JSONResponse:
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    for key in ("client_secret", "code", "grant_type"):
        if not form.get(key):
            raise _oauth_error(400, "invalid_request", f"missing parameter: {key}")
    if form["grant_type"] != "authorization_code":
        raise _oauth_error(400, "unsupported_grant_type", "grant_type must be authorization_code")
    partner_ids = [pid for pid, secret in backend.partners.items() if secret == form["client_secret"]]
    if not partner_ids or (form.get("client_id") and form["client_id"] not in partner_ids):
        raise _oauth_error(401, "invalid_client", "unknown partner credentials")
    code = backend.oauth_codes.get(form["code"])
    if code is None or code.used or code.expires_at < backend.tick() or code.partner_id not in partner_ids:
        raise _oauth_error(400, "invalid_grant", "authorization code is invalid, expired or already used")
    code.used = True
    account = backend.accounts[code.client_id]
    return JSONResponse(
        {"token_type": "bearer", "access_token": account.access_token, "stitch_account_id": account.client_id}
    )


@router.post("/v3/sessions/ephemeral")
async def ephemeral_session(account: AuthedAccount) -> dict[str, str]:
    return {"ephemeral_token": secrets.token_urlsafe(32)}
