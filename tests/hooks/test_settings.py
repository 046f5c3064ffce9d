"""Connection validation: every bad input is refused before any request, with a message that helps."""

from __future__ import annotations

import pytest

from airflow_provider_stitch.exceptions import StitchConfigurationError
from airflow_provider_stitch.hooks.settings import DEFAULT_BASE_URL, StitchSettings


def settings(**fields: object) -> StitchSettings:
    base: dict[str, object] = {"host": None, "password": "ac_token", "extra": None}
    base.update(fields)
    return StitchSettings.from_connection_fields(**base)  # type: ignore[arg-type]


def test_defaults() -> None:
    s = settings()
    assert s.base_url == DEFAULT_BASE_URL
    assert s.access_token == "ac_token"
    assert s.stitch_client_id is None
    assert s.timeout == 30.0


def test_whitespace_around_the_token_is_stripped() -> None:
    assert settings(password="  ac_abc \n").access_token == "ac_abc"


def test_partner_credential_in_the_token_field_is_refused() -> None:
    with pytest.raises(StitchConfigurationError, match="partner credential") as info:
        settings(password="oc_partner_secret_value")
    assert "oc_partner_secret_value" not in str(info.value)


def test_missing_token_is_reported_when_needed() -> None:
    s = settings(password="")
    with pytest.raises(StitchConfigurationError, match="no access token"):
        s.require_token()


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("https://api.stitchdata.com/", "https://api.stitchdata.com"),
        ("api.eu-central-1.stitchdata.com", "https://api.eu-central-1.stitchdata.com"),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("http://localhost:8765", "http://localhost:8765"),
        ("http://[::1]:8765", "http://[::1]:8765"),
    ],
)
def test_base_urls(host: str, expected: str) -> None:
    assert settings(host=host).base_url == expected


@pytest.mark.parametrize("host", ["http://api.stitchdata.com", "http://10.0.0.5:8765", "ftp://x"])
def test_plain_http_off_loopback_is_refused(host: str) -> None:
    with pytest.raises(StitchConfigurationError):
        settings(host=host)


def test_extras_plain_and_prefixed() -> None:
    s = settings(
        extra={
            "stitch_client_id": "1001",
            "extra__stitch__partner_id": "oc_id",
            "partner_secret": "oc_secret",
            "timeout": "12",
            "retry_limit": 2,
            "retry_delay": 0.5,
            "proxies": '{"https": "http://proxy:3128"}',
            "app_url": "http://127.0.0.1:9000",
        }
    )
    assert s.stitch_client_id == 1001
    assert (s.partner_id, s.partner_secret) == ("oc_id", "oc_secret")
    assert s.timeout == 12.0
    assert (s.retry.max_attempts, s.retry.initial_delay) == (2, 0.5)
    assert s.proxies == {"https": "http://proxy:3128"}
    assert s.app_url == "http://127.0.0.1:9000"


def test_extra_as_json_string() -> None:
    assert settings(extra='{"stitch_client_id": 7}').stitch_client_id == 7


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ({"stitch_client_id": "abc"}, "numeric client account id"),
        ({"timeout": "-1"}, "must be positive"),
        ({"timeout": "fast"}, "must be a number"),
        ({"retry_limit": 0}, "retry settings are invalid"),
        ({"proxies": "nope"}, "proxies"),
        ({"app_url": "http://stitch.example.com"}, "plain http"),
    ],
)
def test_bad_extras(extra: object, message: str) -> None:
    with pytest.raises(StitchConfigurationError, match=message):
        settings(extra=extra)


def test_repr_hides_secrets() -> None:
    s = settings(password="ac_topsecret", extra={"partner_secret": "oc_alsosecret"})
    assert "ac_topsecret" not in repr(s) and "oc_alsosecret" not in repr(s)
    assert set(s.secrets) == {"ac_topsecret", "oc_alsosecret"}
