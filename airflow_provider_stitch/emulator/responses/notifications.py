"""Notifications: custom email recipients and post-load hooks (``/notifications/public/v1/api``)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request

from airflow_provider_stitch.emulator.clock import normalise_iso
from airflow_provider_stitch.emulator.errors import ApiError
from airflow_provider_stitch.emulator.models import CustomEmail, Hook
from airflow_provider_stitch.emulator.responses.common import (
    MALFORMED,
    AuthedAccount,
    backend_of,
    parse_int,
    read_json,
)

router = APIRouter(prefix="/notifications/public/v1/api")

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _message_error(message: Any) -> ApiError:
    return ApiError(400, {"error": {"message": message}})


def _invalid_body(message: str) -> ApiError:
    return ApiError(400, {"data": {"message": message}, "error": "InvalidBody"})


@router.get("/custom-emails")
async def list_custom_emails(account: AuthedAccount) -> list[dict[str, Any]]:
    return [e.to_json() for e in account.custom_emails.values()]


@router.post("/custom-emails")
async def create_custom_email(request: Request, account: AuthedAccount) -> dict[str, Any]:
    backend = backend_of(request)
    if not account.features.get("custom_emails", True):
        raise _message_error("Account not authorized to create custom notification email addresses.")
    body = await read_json(request)
    email = body.get("email_address") if isinstance(body, dict) else None
    if not isinstance(email, str) or not EMAIL_RE.match(email):
        raise _message_error({"email_address": "Required. Must be valid email address format."})
    if len(account.custom_emails) >= account.custom_email_limit:
        raise _message_error(
            "Account not authorized to create additional custom notification email addresses."
        )
    now = backend.tick()
    entry = CustomEmail(
        id=backend.next_id("custom_email", 500),
        client_id=account.client_id,
        email_address=email,
        created_at=now,
        modified_at=now,
    )
    account.custom_emails[entry.id] = entry
    return entry.to_json()


@router.put("/custom-emails/{email_id}")
async def update_custom_email(email_id: str, request: Request, account: AuthedAccount) -> dict[str, Any]:
    entry = account.custom_emails.get(parse_int(email_id) or -1)
    if entry is None:
        raise ApiError(404, {"status": "NOT FOUND"})
    body = await read_json(request)
    value = body.get("disabled_at", MALFORMED) if isinstance(body, dict) else MALFORMED
    if value is None:
        entry.disabled_at = None
    elif isinstance(value, str) and normalise_iso(value):
        # Any timestamp, past or future, disables the recipient immediately.
        entry.disabled_at = normalise_iso(value)
    else:
        raise ApiError(400, {"disabled_at": value if isinstance(value, str) else str(body)})
    entry.modified_at = backend_of(request).tick()
    return {"disabled_at": entry.disabled_at}


@router.delete("/custom-emails/{email_id}")
async def delete_custom_email(email_id: str, account: AuthedAccount) -> list[int]:
    entry = account.custom_emails.pop(parse_int(email_id) or -1, None)
    if entry is None:
        raise ApiError(404, {"status": "NOT FOUND"})
    return [1]


@router.get("/hooks")
async def list_hooks(account: AuthedAccount) -> list[dict[str, Any]]:
    return [h.to_json() for h in account.hooks.values()]


@router.post("/hooks")
async def create_hook(request: Request, account: AuthedAccount) -> dict[str, Any]:
    backend = backend_of(request)
    if not account.features.get("hooks", True):
        raise _message_error("Client does not have access to hooks.")
    body = await read_json(request)
    config = body.get("config") if isinstance(body, dict) else None
    dest_id = body.get("destination_id") if isinstance(body, dict) else None
    if isinstance(config, dict) and dest_id is None:
        dest_id = config.get("destination_id")
    if (
        not isinstance(body, dict)
        or body.get("type") != "post_load"
        or not isinstance(config, dict)
        or not isinstance(config.get("url"), str)
        or not config["url"].startswith(("http://", "https://"))
        or not isinstance(dest_id, int)
        or isinstance(dest_id, bool)
    ):
        raise _invalid_body("Invalid POST body")
    if len(account.hooks) >= account.hook_limit:
        raise _message_error(f"You have exceeded the limit of {account.hook_limit} hooks.")
    now = backend.tick()
    hook = Hook(
        id=backend.next_id("hook", 700),
        client_id=account.client_id,
        destination_id=dest_id,
        url=config["url"],
        created_at=now,
        modified_at=now,
    )
    account.hooks[hook.id] = hook
    return hook.to_json()


@router.put("/hooks/{hook_id}")
async def update_hook(hook_id: str, request: Request, account: AuthedAccount) -> dict[str, Any]:
    hook = account.hooks.get(parse_int(hook_id) or -1)
    if hook is None:
        raise ApiError(400, {"error": "NotFound"})
    body = await read_json(request)
    if not isinstance(body, dict) or set(body) != {"enable"} or not isinstance(body["enable"], bool):
        raise _invalid_body("PUT body must only contain boolean 'enable' key")
    now = backend_of(request).tick()
    hook.disabled_at = None if body["enable"] else (hook.disabled_at or now)
    hook.modified_at = now
    return hook.to_json()


@router.delete("/hooks/{hook_id}")
async def delete_hook(hook_id: str, account: AuthedAccount) -> None:
    if account.hooks.pop(parse_int(hook_id) or -1, None) is None:
        raise ApiError(400, {"error": "NotFound"})
    return None
