"""A small client for Airflow's public REST API, used to store a new Stitch token as an Airflow connection.

Airflow 3 tasks cannot write connections to the metadata database; the supported way is the public
REST API (``/api/v2/connections``) of the Airflow API server. This client reads where that API is and
how to authenticate from an Airflow connection the user names (default ``airflow_api``):

- host: the API server's base URL, e.g. ``https://airflow.example.com`` (a path prefix is kept);
  plain http is refused except on loopback, since the request carries an access token;
- login + password: exchanged for a JWT at ``POST /auth/token`` (what Airflow's simple and FAB auth
  managers offer); or
- password alone (no login), or extra ``{"token": "..."}``: used as a ready-made bearer token;
- extra ``{"timeout": 30, "verify": true}``: request timeout in seconds, TLS verification (bool or
  a CA bundle path).

No secret (password, JWT, the Stitch token being stored) ever appears in an error message: errors
carry the HTTP status and Airflow's ``detail`` text only.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow_provider_stitch.exceptions import AirflowApiError, StitchConfigurationError
from airflow_provider_stitch.hooks.settings import check_url

if TYPE_CHECKING:
    import requests
    from airflow.sdk import Connection

DEFAULT_AIRFLOW_API_CONN_ID = "airflow_api"
DEFAULT_TIMEOUT = 30.0
#: Attempts for requests that are safe to resend (GET, PATCH, and a POST that never reached the server).
MAX_ATTEMPTS = 3
_RETRY_STATUSES = {502, 503, 504}


CONNECTION_ID_PATTERN = re.compile(r"^[\w.-]{1,200}$")


def check_connection_id(connection_id: str) -> str:
    """Airflow's rule for connection ids (letters, digits, ``_``, ``.``, ``-``; at most 200)."""
    if not isinstance(connection_id, str) or not CONNECTION_ID_PATTERN.match(connection_id):
        raise StitchConfigurationError(
            f"{connection_id!r} is not a valid Airflow connection id: use letters, digits, '_', '.' and "
            "'-' only (at most 200 characters)."
        )
    return connection_id


def check_api_url(url: str) -> str:
    """The API server base URL without a trailing slash; plain http only to loopback."""
    return check_url(url, "The Airflow API connection's host", example="https://airflow.example.com")


@dataclass(frozen=True)
class AirflowApiSettings:
    """Where the Airflow REST API is and how to authenticate. Secrets are excluded from ``repr``."""

    base_url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    verify: bool | str = True

    @classmethod
    def from_connection(cls, conn: Connection) -> AirflowApiSettings:
        host = (conn.host or "").strip()
        if not host:
            raise StitchConfigurationError(
                f"Airflow connection {conn.conn_id!r} has no host: set it to the Airflow API server's URL, "
                "e.g. https://airflow.example.com"
            )
        if "://" not in host:
            scheme = (conn.schema or "https").strip() or "https"
            host = f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "")
        extras = conn.extra_dejson if conn.extra else {}
        token = extras.get("token") or None
        username = (conn.login or "").strip() or None
        password = conn.password or None
        if not username and password and not token:
            token, password = password, None
        if not token and not (username and password):
            raise StitchConfigurationError(
                f"Airflow connection {conn.conn_id!r} has no credentials for the Airflow REST API: set "
                "login and password (exchanged at /auth/token), or a bearer token in the password field."
            )
        try:
            timeout = float(extras.get("timeout", DEFAULT_TIMEOUT))
        except (TypeError, ValueError):
            raise StitchConfigurationError(
                f"Airflow connection {conn.conn_id!r}: extra 'timeout' must be a number of seconds"
            ) from None
        verify = extras.get("verify", True)
        return cls(
            base_url=check_api_url(host),
            username=username,
            password=password,
            token=token,
            timeout=timeout if timeout > 0 else DEFAULT_TIMEOUT,
            verify=verify if isinstance(verify, (bool, str)) else True,
        )


def _detail(response: requests.Response) -> str:
    """Airflow's error text (``{"detail": ...}``), never the request."""
    try:
        body = response.json()
    except ValueError:
        return " ".join(response.text.split())[:300] or response.reason or "(empty body)"
    detail = body.get("detail") if isinstance(body, dict) else body
    if isinstance(detail, list):  # pydantic validation errors
        detail = "; ".join(
            f"{'.'.join(str(p) for p in item.get('loc', []))}: {item.get('msg')}"
            for item in detail
            if isinstance(item, dict)
        )
    return str(detail)[:300]


class AirflowApiClient:
    """Read and write Airflow connections through the public REST API (``/api/v2``)."""

    #: Seconds before the n-th resend is ``retry_delay * n``.
    retry_delay = 1.0

    def __init__(self, settings: AirflowApiSettings) -> None:
        self.settings = settings
        self._session: requests.Session | None = None
        self._bearer: str | None = settings.token

    @classmethod
    def from_conn_id(cls, conn_id: str = DEFAULT_AIRFLOW_API_CONN_ID) -> AirflowApiClient:
        from airflow.sdk import BaseHook

        return cls(AirflowApiSettings.from_connection(BaseHook.get_connection(conn_id)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.settings.base_url!r})"

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    # --- transport ------------------------------------------------------------------------------

    def _http(self) -> requests.Session:
        if self._session is None:
            import requests

            self._session = requests.Session()
        return self._session

    def _login(self) -> str:
        """Exchange login/password for a JWT at ``POST /auth/token`` (simple and FAB auth managers)."""
        response = self._send(
            "POST",
            "/auth/token",
            json_body={
                "username": self.settings.username,
                "password": self.settings.password,
            },
            authenticated=False,
            resendable=True,
        )
        if response.status_code not in (200, 201):
            raise AirflowApiError(
                f"The Airflow API at {self.settings.base_url} refused the login of user "
                f"{self.settings.username!r} (HTTP {response.status_code}: {_detail(response)}). Check the "
                "login and password of the Airflow API connection.",
                status=response.status_code,
            )
        token = response.json().get("access_token")
        if not token:
            raise AirflowApiError("The Airflow API answered /auth/token without an access_token")
        from airflow.sdk.log import mask_secret

        mask_secret(token)
        return str(token)

    def _send(
        self,
        method: str,
        path: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        authenticated: bool = True,
        resendable: bool,
    ) -> requests.Response:
        import requests

        headers = {"Accept": "application/json"}
        if authenticated:
            if self._bearer is None:
                self._bearer = self._login()
            headers["Authorization"] = f"Bearer {self._bearer}"
        url = self.settings.base_url + path
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                response = self._http().request(
                    method,
                    url,
                    json=dict(json_body) if json_body is not None else None,
                    headers=headers,
                    timeout=self.settings.timeout,
                    verify=self.settings.verify,
                    allow_redirects=False,
                )
            except requests.ConnectionError as exc:
                # A refused connection never reached Airflow, so even a POST may be resent.
                never_sent = isinstance(exc, requests.ConnectTimeout) or "refused" in str(exc).lower()
                if attempt < MAX_ATTEMPTS and (resendable or never_sent):
                    time.sleep(self.retry_delay * attempt)
                    continue
                raise AirflowApiError(
                    f"Could not reach the Airflow API at {self.settings.base_url} ({method} {path}): "
                    f"{type(exc).__name__}"
                ) from None
            except requests.Timeout:
                if attempt < MAX_ATTEMPTS and resendable:
                    time.sleep(self.retry_delay * attempt)
                    continue
                raise AirflowApiError(
                    f"The Airflow API at {self.settings.base_url} did not answer {method} {path} within "
                    f"{self.settings.timeout:g} s"
                ) from None
            if response.status_code in _RETRY_STATUSES and resendable and attempt < MAX_ATTEMPTS:
                time.sleep(self.retry_delay * attempt)
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _request(
        self, method: str, path: str, *, json_body: Mapping[str, Any] | None = None, resendable: bool
    ) -> requests.Response:
        response = self._send(method, path, json_body=json_body, resendable=resendable)
        if response.status_code in (401, 403) and self.settings.username:
            # An expired JWT (Airflow answers 403 "Invalid JWT token"): log in again, once.
            self._bearer = None
            response = self._send(method, path, json_body=json_body, resendable=resendable)
        if response.status_code in (401, 403):
            raise AirflowApiError(
                f"The Airflow API at {self.settings.base_url} refused {method} {path} "
                f"(HTTP {response.status_code}: {_detail(response)}). The Airflow API connection needs valid "
                "credentials of a user allowed to read and write connections.",
                status=response.status_code,
            )
        return response

    # --- connections ----------------------------------------------------------------------------

    @staticmethod
    def _path(connection_id: str) -> str:
        return f"/api/v2/connections/{quote(connection_id, safe='')}"

    def connection_exists(self, connection_id: str) -> bool:
        response = self._request("GET", self._path(connection_id), resendable=True)
        if response.status_code == 404:
            return False
        if response.status_code == 200:
            return True
        raise AirflowApiError(
            f"Could not look up Airflow connection {connection_id!r}: HTTP {response.status_code}: "
            f"{_detail(response)}",
            status=response.status_code,
        )

    def get_connection(self, connection_id: str) -> dict[str, Any] | None:
        """The connection as the API shows it (password redacted by Airflow), or None."""
        response = self._request("GET", self._path(connection_id), resendable=True)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise AirflowApiError(
                f"Could not read Airflow connection {connection_id!r}: HTTP {response.status_code}: "
                f"{_detail(response)}",
                status=response.status_code,
            )
        body: dict[str, Any] = response.json()
        return body

    def store_connection(self, connection: Mapping[str, Any], *, replace_existing: bool) -> str:
        """Create the connection, or replace it if it exists and ``replace_existing``.

        :param connection: The ``ConnectionBody`` fields (``connection_id``, ``conn_type``, ``host``,
            ``password``, ``extra`` as a JSON string, ...).
        :returns: ``"created"`` or ``"replaced"``.
        :raises AirflowApiError: with status 409 when it exists and ``replace_existing`` is False.
        """
        connection_id = str(connection["connection_id"])
        try:
            response = self._request("POST", "/api/v2/connections", json_body=connection, resendable=False)
        except AirflowApiError as exc:
            if exc.status is not None or not self.connection_exists(connection_id):
                raise
            # The POST may have landed before its answer was lost; PATCH writes the same values again.
            response = self._request(
                "PATCH", self._path(connection_id), json_body=connection, resendable=True
            )
            if response.status_code == 200:
                return "created"
        if response.status_code in (200, 201):
            return "created"
        if response.status_code == 409:
            if not replace_existing:
                raise AirflowApiError(
                    f"Airflow connection {connection_id!r} already exists; pass replace_existing=True to "
                    "overwrite it, or choose another connection id.",
                    status=409,
                )
            patched = self._request("PATCH", self._path(connection_id), json_body=connection, resendable=True)
            if patched.status_code == 200:
                return "replaced"
            response = patched
        raise AirflowApiError(
            f"The Airflow API refused to store connection {connection_id!r}: HTTP {response.status_code}: "
            f"{_detail(response)}",
            status=response.status_code,
        )

    def delete_connection(self, connection_id: str) -> bool:
        response = self._request("DELETE", self._path(connection_id), resendable=True)
        if response.status_code in (200, 204):
            return True
        if response.status_code == 404:
            return False
        raise AirflowApiError(
            f"Could not delete Airflow connection {connection_id!r}: HTTP {response.status_code}: "
            f"{_detail(response)}",
            status=response.status_code,
        )


def stitch_connection_body(
    *,
    connection_id: str,
    access_token: str,
    stitch_client_id: int,
    base_url: str,
    description: str,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``ConnectionBody`` of a ``stitch`` connection holding a client account's token."""
    extras = {"stitch_client_id": stitch_client_id, **(extra or {})}
    return {
        "connection_id": connection_id,
        "conn_type": "stitch",
        "description": description,
        "host": base_url,
        "password": access_token,
        "extra": json.dumps(extras),
    }
