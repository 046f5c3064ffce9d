"""Turn any Stitch error answer into one exception.

Stitch's error bodies come in at least seven shapes (https://www.stitchdata.com/docs/developers/stitch-connect/api#error-message-formats):
``{code, message, errors}`` (accounts), ``{error: "<Code>", data: {message}}`` (sources, hooks),
``{error: {type, message}}`` (replication jobs), ``{error: {message: str | {field: msg}}}``
(notifications), a bare JSON string (streams), ``{invalid_fields: ...}`` (stream metadata), plain text
(destinations), and whatever a proxy
puts in front (HTML). A 2xx answer with a top-level ``error`` key is an error too (``already_running``).
"""

from __future__ import annotations

import html
import re
from email.utils import parsedate_to_datetime
from typing import Any

from airflow_provider_stitch.api.http import ApiRequest, ApiResponse
from airflow_provider_stitch.exceptions import (
    StitchAPIError,
    StitchAuthenticationError,
    StitchNotFoundError,
    StitchRateLimitError,
)

_MAX_MESSAGE = 500
_TAG = re.compile(r"<[^>]+>")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    import datetime as dt

    now = dt.datetime.now(tz=when.tzinfo or dt.timezone.utc)
    return max(0.0, (when - now).total_seconds())


def _flatten(message: Any) -> str:
    if isinstance(message, str):
        return message
    if isinstance(message, dict):
        return "; ".join(f"{k}: {_flatten(v)}" for k, v in message.items())
    if isinstance(message, list):
        return "; ".join(_flatten(v) for v in message)
    return "" if message is None else str(message)


def _summarise_text(text: str) -> str:
    """A readable one-line summary of a plain-text or HTML body."""
    if "<" in text and ">" in text:
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
        text = title.group(1) if title else _TAG.sub(" ", text)
        text = html.unescape(text)
    text = " ".join(text.split())
    return text[:_MAX_MESSAGE] if text else "(empty body)"


def describe_error_body(body: Any, raw_text: str) -> tuple[str | None, str, Any]:
    """Return ``(code, message, details)`` for any error body shape."""
    if isinstance(body, str):
        return None, body[:_MAX_MESSAGE], None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):  # replication jobs, notifications
            code = error.get("type") if isinstance(error.get("type"), str) else None
            return code, _flatten(error.get("message")) or _flatten(error), error
        if isinstance(error, str):  # sources, hooks: {"error": "InvalidBody", "data": {"message": ...}}
            data = body.get("data")
            message = _flatten(data.get("message")) if isinstance(data, dict) else ""
            return error, message or error, data
        if "code" in body or "message" in body:  # accounts
            code = body.get("code") if isinstance(body.get("code"), str) else None
            message = _flatten(body.get("message"))
            if body.get("errors"):
                message = f"{message} ({_flatten(body['errors'])})" if message else _flatten(body["errors"])
            return code, message or "(no message)", body.get("errors")
        if "invalid_fields" in body:  # stream metadata
            return "invalid_fields", _flatten(body["invalid_fields"]), body
        if "status" in body and len(body) == 1:  # notifications 404 {"status": "NOT FOUND"}
            return None, _flatten(body["status"]), None
        return None, _flatten(body)[:_MAX_MESSAGE] or "(empty object)", body
    if body is None:
        return None, _summarise_text(raw_text), None
    return None, _flatten(body)[:_MAX_MESSAGE], None


def error_from_response(request: ApiRequest, response: ApiResponse) -> StitchAPIError | None:
    """The exception for ``response``, or None when it is a success.

    A 2xx JSON object with a top-level ``error`` key is an error (HTTP 200 ``already_running``).
    """
    try:
        body = response.json()
        text = response.text
    except ValueError:
        body, text = None, response.text
    # Only an error *object or code* marks a 2xx as an error: a connection check's ``"error": true`` is
    # a field of a successful read (a failed check), not a failed request.
    carries_error = isinstance(body, dict) and isinstance(body.get("error"), (dict, str)) and body["error"]
    if 200 <= response.status < 400 and not carries_error:
        return None

    code, message, details = describe_error_body(body, text)
    subject = f" ({request.subject})" if request.subject else ""
    kwargs: dict[str, Any] = {
        "status": response.status,
        "code": code,
        "method": request.method,
        "path": request.path if not request.is_absolute else "(pre-signed log URL)",
        "details": details,
        "retry_after": parse_retry_after(response.header("Retry-After")),
    }
    if response.status == 401:
        return StitchAuthenticationError(
            f"the access token was refused{subject}: it is missing, invalid, revoked, or not for this "
            f"Stitch client account. Check the connection's password field. Stitch said: {message}",
            **kwargs,
        )
    if response.status == 429:
        return StitchRateLimitError(f"rate limited{subject}: {message}", **kwargs)
    if response.status == 404 or code in {"invalid_source", "InvalidId", "NotFound"}:
        return StitchNotFoundError(f"not found{subject}: {message}", **kwargs)
    return StitchAPIError(f"{message}{subject}" if subject and subject not in message else message, **kwargs)
