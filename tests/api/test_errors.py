"""Every error body shape of Stitch's error message formats (https://www.stitchdata.com/docs/developers/stitch-connect/api#error-message-formats) maps to one exception with Stitch's own words."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_stitch.api import endpoints
from airflow_provider_stitch.api.errors import error_from_response, parse_retry_after
from airflow_provider_stitch.api.http import ApiRequest, ApiResponse
from airflow_provider_stitch.exceptions import (
    StitchAPIError,
    StitchAuthenticationError,
    StitchNotFoundError,
    StitchRateLimitError,
)

REQUEST = ApiRequest("POST", "/v4/sources/2001/sync", subject="source 2001")


def answer(status: int, body: object, headers: dict[str, str] | None = None) -> ApiResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return ApiResponse(status, raw, headers or {})


@pytest.mark.parametrize(
    ("status", "body", "code", "message"),
    [
        (
            400,
            {
                "code": "ExistingUser",
                "message": "This email address is already associated with an active user.",
            },
            "ExistingUser",
            "already associated",
        ),
        (
            400,
            {"code": "BadRequest", "message": "Invalid form data.", "errors": {"partner_id": "required"}},
            "BadRequest",
            "partner_id: required",
        ),
        (
            400,
            {"error": "InvalidName", "data": {"message": "non-unique name (shop_db)"}},
            "InvalidName",
            "non-unique name (shop_db)",
        ),
        (
            400,
            {"error": {"type": "invalid_source", "message": "Unable to locate source(9) for client (1001)"}},
            "invalid_source",
            "Unable to locate source(9)",
        ),
        (400, b"you are at your destination limit", None, "you are at your destination limit"),
        (400, "invalid stream-id: 77", None, "invalid stream-id: 77"),
        (
            400,
            {"invalid_fields": "invalid tap-stream-ids:  [nope]"},
            "invalid_fields",
            "invalid tap-stream-ids",
        ),
        (
            400,
            {"error": {"message": {"email_address": "Required. Must be valid email address format."}}},
            None,
            "email_address: Required.",
        ),
        (404, {"status": "NOT FOUND"}, None, "NOT FOUND"),
        (
            400,
            {"data": {"message": "Invalid POST body"}, "error": "InvalidBody"},
            "InvalidBody",
            "Invalid POST body",
        ),
        (400, {"error": "NotFound"}, "NotFound", "NotFound"),
        (
            502,
            b"<html><head><title>502 Bad Gateway</title></head><body><h1>502</h1></body></html>",
            None,
            "502 Bad Gateway",
        ),
        (500, b"", None, "(empty body)"),
        (400, {"disabled_at": "<INVALID_VALUE>"}, None, "disabled_at: <INVALID_VALUE>"),
    ],
)
def test_error_shapes(status: int, body: object, code: str | None, message: str) -> None:
    error = error_from_response(REQUEST, answer(status, body))
    assert isinstance(error, StitchAPIError)
    assert error.status == status
    assert error.code == code
    assert message in error.message
    assert f"HTTP {status}" in str(error)
    assert "POST /v4/sources/2001/sync" in str(error)


def test_already_running_is_an_error_despite_http_200() -> None:
    body = {
        "error": {"type": "already_running", "message": "Did not create job ... because one already exists"}
    }
    error = error_from_response(REQUEST, answer(200, body))
    assert error is not None and error.code == "already_running" and error.status == 200


def test_success_is_not_an_error() -> None:
    assert error_from_response(REQUEST, answer(200, {"job_name": "1001.2001.sync.x"})) is None
    assert error_from_response(REQUEST, answer(200, b"")) is None
    assert error_from_response(REQUEST, answer(200, [1])) is None


def test_401_explains_the_token_problem() -> None:
    error = error_from_response(REQUEST, answer(401, {"message": "Unauthorized"}))
    assert isinstance(error, StitchAuthenticationError)
    assert "access token" in str(error) and "source 2001" in str(error)


def test_not_found_names_the_source() -> None:
    error = error_from_response(
        ApiRequest("GET", "/v4/sources/9", subject="source 9"), answer(404, b"Not Found")
    )
    assert isinstance(error, StitchNotFoundError)
    assert "source 9" in str(error)


def test_429_carries_retry_after() -> None:
    error = error_from_response(REQUEST, answer(429, {"message": "slow down"}, {"Retry-After": "12"}))
    assert isinstance(error, StitchRateLimitError)
    assert error.retry_after == 12


def test_retry_after_formats() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: now


def test_a_failed_connection_check_read_is_data_not_an_error() -> None:
    check = {"name": "1001.2001.check.x", "status": "failed", "error": True, "discovery_exit_status": 1}
    assert (
        error_from_response(ApiRequest("GET", "/v4/sources/2001/last-connection-check"), answer(200, check))
        is None
    )


@pytest.mark.parametrize(
    "operation",
    [
        lambda: endpoints.create_account(
            partner_id="oc_p",
            partner_secret="oc_s",
            first_name="A",
            last_name="B",
            company="C",
            email="a@b.c",
        ),
        lambda: endpoints.exchange_oauth_code(partner_secret="oc_s", code="abc"),
        endpoints.create_ephemeral_session,
        lambda: endpoints.create_import_token(2001),
    ],
)
def test_a_truncated_answer_carrying_a_new_token_keeps_the_token_out_of_the_error(operation: Any) -> None:
    # The token is masked only once parsed; an answer cut short (by a proxy, say) must not be quoted.
    program = operation()
    next(program)
    truncated = b'{"access_token": "ac_brand_new_secret", "ephemeral_token": "ac_brand_new_secret", "stit'
    with pytest.raises(StitchAPIError, match="malformed JSON") as info:
        program.send(ApiResponse(200, truncated))
    assert "ac_brand_new_secret" not in str(info.value)


def test_a_malformed_answer_without_secrets_is_still_quoted() -> None:
    program = endpoints.get_source(2001)
    next(program)
    with pytest.raises(StitchAPIError, match="not json"):
        program.send(ApiResponse(200, b"not json"))
