"""Read and validate a Stitch Airflow connection into :class:`StitchSettings`.

Pure: it takes the connection's fields, not the connection store, so the sync path, the async path and
tests share it. Everything is validated here, before any request: a partner credential in the token
field, a plain-http URL to a non-loopback host, a host with a path or a port that disagrees with the port
field, a non-numeric client id, bad timeouts, an emulator ``time_scale`` on the real Stitch.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
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
    """The API base URL from the connection's host, schema and port fields.

    The host is a full URL (``https://api.stitchdata.com``) or a bare host name (then ``schema``, or
    https, is its scheme). Airflow's port field is added when the host names no port, and must agree
    with it when it does. A trailing ``/v4`` (how other Stitch integrations write the host) is dropped,
    since every request path already starts with it; any other path is refused.
    """
    host = (host or "").strip()
    what = "The Stitch connection's host (API base URL)"
    if not host:
        if port:
            raise StitchConfigurationError(
                f"The Stitch connection has a port ({port}) but no host: put the API base URL, such as "
                f"{DEFAULT_BASE_URL}, in the host field, or clear the port field"
            )
        return DEFAULT_BASE_URL
    if "://" not in host:
        scheme = (schema or "https").strip() or "https"
        host = f"{scheme}://{host}"
    parts = urlsplit(host)
    try:
        url_port = parts.port
    except ValueError:
        raise StitchConfigurationError(f"{what} has an invalid port; got {host!r}") from None
    if parts.query or parts.fragment:
        raise StitchConfigurationError(
            f"{what} must not carry a query string or fragment; put only the base URL, such as "
            f"{DEFAULT_BASE_URL}, in the host field; got {host!r}"
        )
    path = parts.path.rstrip("/")
    if path.lower() == "/v4":
        path = ""
    if path:
        root = f"{parts.scheme}://{parts.netloc}"
        raise StitchConfigurationError(
            f"{what} must have no path: the provider adds /v4/... to every request itself. Put {root} "
            f"in the host field instead of {host!r} (a trailing /v4 is also accepted)."
        )
    netloc = parts.netloc
    if port:
        field_port = _port_field(port)
        if url_port is None:
            netloc = f"{netloc}:{field_port}"
        elif url_port != field_port:
            raise StitchConfigurationError(
                f"{what} names port {url_port} but the connection's port field says {field_port}: "
                "clear the port field or make the two agree"
            )
    return check_url(f"{parts.scheme}://{netloc}", what)


def _port_field(port: Any) -> int:
    try:
        number = int(str(port).strip())
    except ValueError:
        number = 0
    if isinstance(port, bool) or not 0 < number < 65536:
        raise StitchConfigurationError(
            f"The Stitch connection's port field must be a port number (1-65535); got {port!r}"
        )
    return number


def check_time_scale(time_scale: float, base_url: str) -> float:
    """Refuse a compressed Stitch clock anywhere but on loopback: it is for the local emulator only.

    Against the real Stitch, a scale above 1 would poll faster than its 30-calls-per-10-minutes budget
    allows and shorten every deadline.
    """
    if time_scale != 1.0 and not is_loopback(urlsplit(base_url).hostname):
        raise StitchConfigurationError(
            f"Stitch connection extra 'time_scale' is {time_scale:g}, but it is for the Stitch emulator "
            f"only (a loopback host such as http://127.0.0.1:8765) and this connection points at "
            f"{base_url}. Remove 'time_scale' from the connection's extra, or set it to 1."
        )
    return time_scale


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
    """A positive, finite number from a connection extra; extras are often strings ("12")."""
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise TypeError
        number = float(value)
    except (TypeError, ValueError):
        raise StitchConfigurationError(
            f"Stitch connection extra {name!r} must be a number; got {value!r}"
        ) from None
    if not math.isfinite(number):
        raise StitchConfigurationError(
            f"Stitch connection extra {name!r} must be a finite number; got {value!r}"
        )
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
    #: Emulator only (loopback hosts): Stitch time runs this many times faster than real time, so
    #: every interval, deadline and the API budget window are divided by it. 1 everywhere else.
    time_scale: float = 1.0
    #: How many triggerer processes (HA) may run waits on this account at once: each one's poller
    #: paces itself to this share of the budget, so together they stay inside it.
    triggerers: int = 1

    def __post_init__(self) -> None:
        check_time_scale(self.time_scale, self.base_url)

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

        proxies = check_proxies(_extra(extras, "proxies"))

        partner_id = _extra(extras, "partner_id")
        partner_secret = _extra(extras, "partner_secret")
        app_url = _extra(extras, "app_url")
        base_url = normalise_base_url(host, schema, port)
        time_scale = _positive_float(_extra(extras, "time_scale"), "time_scale") or 1.0
        triggerers_raw = _extra(extras, "triggerers")
        triggerers = _positive_float(triggerers_raw, "triggerers") or 1.0
        if triggerers != int(triggerers):
            raise StitchConfigurationError(
                "Stitch connection extra 'triggerers' must be a whole number (how many triggerer "
                f"processes run waits on this account); got {triggerers_raw!r}"
            )
        return cls(
            base_url=base_url,
            access_token=token,
            stitch_client_id=client_id,
            partner_id=str(partner_id).strip() if partner_id else None,
            partner_secret=str(partner_secret).strip() if partner_secret else None,
            timeout=_positive_float(_extra(extras, "timeout"), "timeout") or DEFAULT_TIMEOUT,
            retry=retry,
            proxies=proxies,
            app_url=check_url(str(app_url), "The Stitch app URL") if app_url else DEFAULT_APP_URL,
            time_scale=check_time_scale(time_scale, base_url),
            triggerers=int(triggerers),
        )


_PROXY_KEY = re.compile(r"^(all|[a-z][a-z0-9+.-]*)(://[^/\s]*)?$")


def check_proxies(raw: object) -> dict[str, str] | None:
    """The ``proxies`` extra: a JSON object (or its text) mapping what to proxy to a proxy URL, with the
    keys requests understands: a scheme (``https``), ``all``, or a scheme and host (``https://host``)."""
    if raw is None or raw == "" or raw == {}:
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise StitchConfigurationError(
                "Stitch connection extra 'proxies' must be a JSON object"
            ) from None
    if not isinstance(raw, dict):
        raise StitchConfigurationError("Stitch connection extra 'proxies' must map scheme -> proxy URL")
    proxies: dict[str, str] = {}
    for key, url in raw.items():
        if not isinstance(key, str) or not _PROXY_KEY.match(key.strip().lower()):
            raise StitchConfigurationError(
                f"Stitch connection extra 'proxies': {key!r} is not a scheme ('https'), 'all', "
                "or a scheme and host ('https://api.stitchdata.com')"
            )
        if not isinstance(url, str) or "://" not in url:
            # The value is not shown: a proxy URL may hold a user and password.
            raise StitchConfigurationError(
                f"Stitch connection extra 'proxies': the proxy for {key!r} must be a URL such as "
                "'http://proxy:3128'"
            )
        proxies[key.strip().lower()] = url.strip()
    return proxies


def proxy_patterns(proxies: dict[str, str]) -> dict[str, str]:
    """The same map with httpx's URL patterns as keys: ``https`` -> ``https://``, ``all`` -> ``all://``,
    so that the async driver proxies each scheme as the sync one (requests) does."""
    return {(key if "://" in key else f"{key}://"): url for key, url in proxies.items()}
