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


# Host forms: what users paste into the host, schema and port fields.


@pytest.mark.parametrize(
    ("host", "schema", "port", "expected"),
    [
        # How other Stitch integrations write the host: the provider adds /v4 itself.
        ("https://api.stitchdata.com/v4", None, None, "https://api.stitchdata.com"),
        ("https://api.stitchdata.com/v4/", None, None, "https://api.stitchdata.com"),
        ("api.stitchdata.com/v4", None, None, "https://api.stitchdata.com"),
        ("http://127.0.0.1:8765/v4", None, None, "http://127.0.0.1:8765"),
        # Airflow's port field.
        ("api.stitchdata.com", None, 8443, "https://api.stitchdata.com:8443"),
        ("127.0.0.1", "http", 8765, "http://127.0.0.1:8765"),
        ("https://api.stitchdata.com", None, 8443, "https://api.stitchdata.com:8443"),
        ("https://api.stitchdata.com/v4", None, 8443, "https://api.stitchdata.com:8443"),
        ("http://[::1]", None, 8765, "http://[::1]:8765"),
        ("http://127.0.0.1:8765", None, 8765, "http://127.0.0.1:8765"),
        ("127.0.0.1:8765", "http", 8765, "http://127.0.0.1:8765"),
        ("https://api.stitchdata.com", None, None, "https://api.stitchdata.com"),
    ],
)
def test_host_forms(host: str, schema: str | None, port: int | None, expected: str) -> None:
    assert settings(host=host, schema=schema, port=port).base_url == expected


@pytest.mark.parametrize("path", ["/v3", "/api", "/v4/sources", "/v44"])
def test_a_host_with_a_path_other_than_v4_is_refused_naming_the_fix(path: str) -> None:
    with pytest.raises(StitchConfigurationError, match="must have no path") as info:
        settings(host=f"https://api.stitchdata.com{path}")
    assert "Put https://api.stitchdata.com in the host field" in str(info.value)


def test_a_host_port_that_disagrees_with_the_port_field_is_refused() -> None:
    with pytest.raises(StitchConfigurationError, match="port 8765 but the connection's port field says 9000"):
        settings(host="http://127.0.0.1:8765", port=9000)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"host": "https://api.stitchdata.com:notaport"}, "invalid port"),
        ({"host": "https://api.stitchdata.com", "port": 70000}, "port number"),
        ({"host": None, "port": 8443}, "port \\(8443\\) but no host"),
        ({"host": "https://api.stitchdata.com/?region=eu"}, "query string"),
    ],
)
def test_other_bad_host_fields_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(StitchConfigurationError, match=message):
        settings(**fields)


# time_scale: the emulator's compressed clock.


def test_time_scale_defaults_to_one_everywhere() -> None:
    assert settings().time_scale == 1.0
    assert settings(host="http://127.0.0.1:8765").time_scale == 1.0


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"time_scale": 200}, 200.0),
        ({"time_scale": "200"}, 200.0),  # extras typed in the UI are strings
        ({"time_scale": 0.5}, 0.5),
        ({"extra__stitch__time_scale": "50"}, 50.0),
        ({"time_scale": "", "extra__stitch__time_scale": 10}, 10.0),
    ],
)
def test_time_scale_on_loopback(extra: dict[str, object], expected: float) -> None:
    for host in ("http://127.0.0.1:8765", "http://localhost:8765", "http://[::1]:8765"):
        assert settings(host=host, extra=extra).time_scale == expected


@pytest.mark.parametrize("host", [None, "https://api.stitchdata.com", "https://10.0.0.5:8765"])
def test_time_scale_off_loopback_is_refused_as_emulator_only(host: str | None) -> None:
    with pytest.raises(StitchConfigurationError, match="for the Stitch emulator only"):
        settings(host=host, extra={"time_scale": 200})


def test_time_scale_of_one_is_fine_off_loopback() -> None:
    assert settings(host="https://api.stitchdata.com", extra={"time_scale": "1"}).time_scale == 1.0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "must be positive"),
        (-5, "must be positive"),
        ("fast", "must be a number"),
        (True, "must be a number"),
        ("inf", "must be a finite number"),
        ("nan", "must be a finite number"),
        ([2], "must be a number"),
    ],
)
def test_bad_time_scale_is_refused(value: object, message: str) -> None:
    with pytest.raises(StitchConfigurationError, match=f"'time_scale' {message}"):
        settings(host="http://127.0.0.1:8765", extra={"time_scale": value})


def test_time_scale_is_checked_on_direct_construction_too() -> None:
    with pytest.raises(StitchConfigurationError, match="emulator only"):
        StitchSettings(base_url="https://api.stitchdata.com", time_scale=10.0)


@pytest.mark.parametrize("value", ["inf", "nan"])
def test_timeout_must_be_finite(value: str) -> None:
    with pytest.raises(StitchConfigurationError, match="'timeout' must be a finite number"):
        settings(extra={"timeout": value})
