"""Read and validate a Stitch Airflow connection into :class:`StitchSettings`.

Pure: it takes the connection's fields, not the connection store, so the sync path, the async path and
tests share it. Everything is validated here, before any request: a partner credential in the token
field, a plain-http URL to a non-loopback host, a non-numeric client id, bad timeouts.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_stitch.api.retry import RetryPolicy
from airflow_provider_stitch.exceptions import StitchConfigurationError

DEFAULT_BASE_URL = "https://api.stitchdata.com"
DEFAULT_APP_URL = "https://app.stitchdata.com"
DEFAULT_TIMEOUT = 30.0


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str, what: str, example: str = DEFAULT_BASE_URL) -> str:
    """Return ``url`` without a trailing slash; refuse plain http except on loopback.

    Every URL the provider sends credentials or tokens to goes through here.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StitchConfigurationError(
            f"{what} must be an absolute http(s) URL such as {example}; got {url!r}"
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise StitchConfigurationError(
            f"{what} uses plain http to {parts.hostname}: credentials and tokens would travel "
            "unencrypted. Use https (plain http is allowed only on loopback, e.g. for the Stitch emulator)."
        )
    return url.rstrip("/")


def normalise_base_url(host: str | None, schema: str | None = None, port: int | None = None) -> str:
    """The API base URL from the connection's host field (a full URL, or a bare host name)."""
    host = (host or "").strip()
    if not host:
        return DEFAULT_BASE_URL
    if "://" not in host:
        scheme = (schema or "https").strip() or "https"
        host = f"{scheme}://{host}"
        if port:
            host = f"{host}:{port}"
    return check_url(host, "The Stitch connection's host (API base URL)")


def check_access_token(token: str | None) -> str:
    token = (token or "").strip()
    if not token:
        raise StitchConfigurationError(
            "The Stitch connection has no access token: put the client account's API access token "
            "(it starts with 'ac_') in the connection's password field."
        )
    if token.startswith("oc_"):
        raise StitchConfigurationError(
            "The Stitch connection's password field holds a partner credential (it starts with 'oc_'). "
            "Requests need the client account's API access token ('ac_...'); partner ID and secret go "
            "in the 'partner_id' and 'partner_secret' extra fields and are only used to create accounts."
        )
    return token


def _extra(extras: dict[str, Any], name: str) -> Any:
    """Plain key first, then the form's prefixed ``extra__stitch__<name>`` key."""
    value = extras.get(name)
    if value in (None, ""):
        value = extras.get(f"extra__stitch__{name}")
    return None if value == "" else value


def _positive_float(value: Any, name: str) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise StitchConfigurationError(
            f"Stitch connection extra {name!r} must be a number; got {value!r}"
        ) from None
    if number <= 0:
        raise StitchConfigurationError(f"Stitch connection extra {name!r} must be positive; got {value!r}")
    return number


@dataclass(frozen=True)
class StitchSettings:
    """Everything a Stitch connection says. Secrets are excluded from ``repr``."""

    base_url: str = DEFAULT_BASE_URL
    access_token: str | None = field(default=None, repr=False)
    stitch_client_id: int | None = None
    partner_id: str | None = None
    partner_secret: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    proxies: dict[str, str] | None = field(default=None, repr=False)  # proxy URLs may hold user:pass
    app_url: str = DEFAULT_APP_URL

    def require_token(self) -> str:
        return check_access_token(self.access_token)

    @property
    def secrets(self) -> list[str]:
        return [s for s in (self.access_token, self.partner_secret) if s]

    @classmethod
    def from_connection_fields(
        cls,
        *,
        host: str | None,
        password: str | None,
        extra: str | dict[str, Any] | None,
        schema: str | None = None,
        port: int | None = None,
    ) -> StitchSettings:
        if isinstance(extra, str):
            try:
                extras = json.loads(extra) if extra.strip() else {}
            except ValueError:
                raise StitchConfigurationError(
                    "The Stitch connection's extra field is not valid JSON"
                ) from None
        else:
            extras = dict(extra or {})
        if not isinstance(extras, dict):
            raise StitchConfigurationError("The Stitch connection's extra field must be a JSON object")

        token = (password or "").strip() or None
        if token is not None:
            token = check_access_token(token)

        client_id_raw = _extra(extras, "stitch_client_id")
        client_id: int | None = None
        if client_id_raw is not None:
            try:
                client_id = int(str(client_id_raw).strip())
            except ValueError:
                raise StitchConfigurationError(
                    f"Stitch connection extra 'stitch_client_id' must be the numeric client account id "
                    f"(seen in app URLs /client/<id>/...); got {client_id_raw!r}"
                ) from None

        retry_fields = {
            "max_attempts": _extra(extras, "retry_limit"),
            "initial_delay": _extra(extras, "retry_delay"),
            "max_delay": _extra(extras, "retry_max_delay"),
            "max_elapsed": _extra(extras, "retry_max_elapsed"),
        }
        try:
            retry = RetryPolicy.from_dict({k: v for k, v in retry_fields.items() if v is not None})
        except (TypeError, ValueError) as exc:
            raise StitchConfigurationError(f"Stitch connection retry settings are invalid: {exc}") from None

        proxies = _extra(extras, "proxies")
        if isinstance(proxies, str):
            try:
                proxies = json.loads(proxies)
            except ValueError:
                raise StitchConfigurationError(
                    "Stitch connection extra 'proxies' must be a JSON object"
                ) from None
        if proxies is not None and not isinstance(proxies, dict):
            raise StitchConfigurationError("Stitch connection extra 'proxies' must map scheme -> proxy URL")

        partner_id = _extra(extras, "partner_id")
        partner_secret = _extra(extras, "partner_secret")
        app_url = _extra(extras, "app_url")
        return cls(
            base_url=normalise_base_url(host, schema, port),
            access_token=token,
            stitch_client_id=client_id,
            partner_id=str(partner_id).strip() if partner_id else None,
            partner_secret=str(partner_secret).strip() if partner_secret else None,
            timeout=_positive_float(_extra(extras, "timeout"), "timeout") or DEFAULT_TIMEOUT,
            retry=retry,
            proxies=proxies,
            app_url=check_url(str(app_url), "The Stitch app URL") if app_url else DEFAULT_APP_URL,
        )
