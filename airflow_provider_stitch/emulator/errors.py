"""Error responses. Stitch's error bodies differ per endpoint family
(https://www.stitchdata.com/docs/developers/stitch-connect/api#error-message-formats); each helper
builds one family's shape so route code cannot mix them up."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """Raised by route code; the app turns it into exactly this status, body and media type."""

    def __init__(
        self, status: int, body: Any, *, text: bool = False, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status}: {body!r}")
        self.status = status
        self.body = body
        self.text = text
        self.headers = headers or {}


def accounts_error(code: str, message: str, errors: dict[str, str] | None = None) -> ApiError:
    body: dict[str, Any] = {"code": code, "message": message}
    if errors is not None:
        body["errors"] = errors
    return ApiError(400, body)


def sources_error(code: str, message: str, status: int = 400, **data: Any) -> ApiError:
    return ApiError(status, {"error": code, "data": {"message": message, **data}})


def jobs_error(kind: str, message: str, status: int = 400) -> ApiError:
    return ApiError(status, {"error": {"type": kind, "message": message}})


def destinations_error(message: str, status: int = 400) -> ApiError:
    # Destinations answer errors with a bare text message.
    return ApiError(status, message, text=True)


def streams_error(body: Any) -> ApiError:
    # Either a JSON string or {"invalid_fields": "..."}.
    return ApiError(400, body)


def not_found(message: str) -> ApiError:
    """Stitch documents no 404 body (#error-message-formats); the emulator uses one shape everywhere."""
    return ApiError(404, {"error": {"type": "not_found", "message": message}})


def unauthorized(message: str = "Unauthorized") -> ApiError:
    return ApiError(401, {"error": {"type": "unauthorized", "message": message}})
