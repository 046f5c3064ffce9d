"""StitchConnectHook: Airflow connection -> authenticated Stitch Connect API calls, sync and async.

The endpoint logic lives in :mod:`airflow_provider_stitch.api.endpoints` as sans-I/O operations; this
module only reads the connection, sends single HTTP attempts (``requests`` for sync callers, ``httpx``
for triggers) and lets :func:`~airflow_provider_stitch.api.retry.with_retries` decide about retries.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import difflib
import functools
import re
import ssl
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urljoin

from airflow.sdk import BaseHook

from airflow_provider_stitch import __version__
from airflow_provider_stitch.api import arguments, endpoints
from airflow_provider_stitch.api.endpoints import ClientAccount
from airflow_provider_stitch.api.http import ApiRequest, ApiResponse, Operation, run_async, run_sync
from airflow_provider_stitch.api.job_names import client_id_from_job_name
from airflow_provider_stitch.api.objects import (
    ConnectionCheck,
    Extraction,
    Load,
    Source,
    Stream,
    StreamSchema,
)
from airflow_provider_stitch.api.retry import RetryPolicy, with_retries
from airflow_provider_stitch.exceptions import (
    FailureKind,
    StitchConfigurationError,
    StitchTransportError,
)
from airflow_provider_stitch.hooks.settings import StitchSettings, check_url, proxy_patterns

if TYPE_CHECKING:
    import httpx
    import requests
    from airflow.sdk import Connection

T = TypeVar("T")
USER_AGENT = f"airflow-provider-stitch/{__version__}"


class StitchConnectHook(BaseHook):
    """Talk to the Stitch Connect API with the tokens kept in an Airflow connection.

    Connection fields: host = API base URL (default ``https://api.stitchdata.com``), password = the
    client account's API access token (``ac_...``). Extras: ``stitch_client_id``, ``partner_id`` and
    ``partner_secret`` (only for creating accounts), ``timeout``, ``retry_limit``, ``retry_delay``,
    ``retry_max_delay``, ``retry_max_elapsed``, ``proxies``, ``app_url``.

    Nothing is read at construction: the connection is looked up on first use (sync or async).

    :param stitch_conn_id: The Airflow connection id.
    :param http_retry_policy: Overrides the connection's retry settings (a policy or its ``to_dict()``);
        the name the operators, the sensor and the triggers use too. ``retry_policy`` is its old name.
    :param timeout: Overrides the connection's per-request timeout (seconds or a ``timedelta``).
    """

    conn_name_attr = "stitch_conn_id"
    default_conn_name = "stitch_default"
    conn_type = "stitch"
    hook_name = "Stitch"

    def __init__(
        self,
        stitch_conn_id: str = default_conn_name,
        *,
        http_retry_policy: RetryPolicy | dict[str, Any] | None = None,
        timeout: float | dt.timedelta | None = None,
        retry_policy: RetryPolicy | dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.stitch_conn_id = stitch_conn_id
        if retry_policy is not None and http_retry_policy is not None:
            raise StitchConfigurationError("Give http_retry_policy only (retry_policy is its old name).")
        policy = http_retry_policy if http_retry_policy is not None else retry_policy
        self._retry_override = RetryPolicy.from_dict(policy) if isinstance(policy, dict) else policy
        self._timeout_override = arguments.seconds(timeout, "timeout", allow_none=True)
        self._settings: StitchSettings | None = None
        self._client_id: int | None = None
        self._session: requests.Session | None = None
        self._async_client: httpx.AsyncClient | None = None
        self._async_client_loop: asyncio.AbstractEventLoop | None = None
        self._async_scopes = 0  # nested ``async with hook:`` blocks; the outermost closes the client

    def __repr__(self) -> str:
        return f"{type(self).__name__}(stitch_conn_id={self.stitch_conn_id!r})"

    # --- connection ---------------------------------------------------------------------------

    def _settings_from(self, conn: Connection) -> StitchSettings:
        settings = StitchSettings.from_connection_fields(
            host=conn.host, password=conn.password, extra=conn.extra, schema=conn.schema, port=conn.port
        )
        overrides: dict[str, Any] = {}
        if self._retry_override is not None:
            overrides["retry"] = self._retry_override
        if self._timeout_override is not None:
            overrides["timeout"] = self._timeout_override
        if overrides:
            settings = replace(settings, **overrides)
        return settings

    @property
    def settings(self) -> StitchSettings:
        """The validated connection (looked up once, sync). Secrets are registered with the masker."""
        if self._settings is None:
            settings = self._settings_from(self.get_connection(self.stitch_conn_id))
            from airflow.sdk.log import mask_secret

            for secret in settings.secrets:
                mask_secret(secret)
            self._settings = settings
        return self._settings

    async def aget_settings(self) -> StitchSettings:
        """The async twin of :attr:`settings`: never blocks the triggerer's event loop."""
        if self._settings is None:
            settings = self._settings_from(await self.aget_connection(self.stitch_conn_id))
            from airflow_provider_stitch.compat import amask_secret

            for secret in settings.secrets:
                await amask_secret(secret)
            self._settings = settings
        return self._settings

    def use_settings(self, settings: StitchSettings, client_id: int | None = None) -> None:
        """Use ``settings`` instead of looking up the connection (e.g. a just-created account's token,
        or a connection the shared poller already resolved), and ``client_id`` if known."""
        self._settings = settings
        if client_id is not None:
            self._client_id = client_id

    # --- drivers ------------------------------------------------------------------------------

    def run(self, operation: Operation[T]) -> T:
        """Execute an operation from :mod:`~airflow_provider_stitch.api.endpoints` synchronously."""
        settings = self.settings
        return run_sync(
            with_retries(operation, settings.retry, self.log),
            functools.partial(self._send, settings=settings),
            time.sleep,
        )

    async def arun(self, operation: Operation[T]) -> T:
        """Execute an operation asynchronously (httpx), for triggers."""
        settings = await self.aget_settings()
        return await run_async(
            with_retries(operation, settings.retry, self.log),
            functools.partial(self._asend, settings=settings),
            asyncio.sleep,
        )

    @staticmethod
    def _url(request: ApiRequest, settings: StitchSettings) -> str:
        base = settings.base_url
        if request.is_absolute:
            # Only pre-signed log URLs are absolute; they get the same http-on-loopback-only rule.
            return check_url(request.path, "The extraction log URL Stitch redirected to")
        return urljoin(base + "/", request.path.lstrip("/"))

    @staticmethod
    def _headers(request: ApiRequest, settings: StitchSettings) -> dict[str, str]:
        if request.is_absolute:
            # A pre-signed log URL: S3 checks the request against what was signed, and a Content-Type or
            # Accept nobody signed can make it refuse the download. Only the HTTP client's own defaults
            # go there (and never the token).
            return {}
        headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": USER_AGENT}
        if request.form_body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if request.authenticated:
            headers["Authorization"] = f"Bearer {settings.require_token()}"
        return headers

    def _send(self, request: ApiRequest, *, settings: StitchSettings) -> ApiResponse:
        import requests

        if self._session is None:
            self._session = requests.Session()
            self._session.trust_env = True
            if settings.proxies:
                self._session.proxies.update(settings.proxies)
        try:
            response = self._session.request(
                request.method,
                self._url(request, settings),
                params=dict(request.params) if request.params else None,
                json=request.json_body if request.json_body is not None else None,
                data=dict(request.form_body) if request.form_body is not None else None,
                headers=self._headers(request, settings),
                timeout=settings.timeout,
                allow_redirects=False,  # a redirect must never carry the token to another host
            )
        except (requests.ConnectTimeout, requests.exceptions.SSLError) as exc:
            raise StitchTransportError(self._describe(request, exc), failure=FailureKind.NOT_SENT) from None
        except requests.ConnectionError as exc:
            kind = FailureKind.AMBIGUOUS if _reached_server(exc) else FailureKind.NOT_SENT
            raise StitchTransportError(self._describe(request, exc), failure=kind) from None
        except requests.Timeout as exc:
            raise StitchTransportError(self._describe(request, exc), failure=FailureKind.AMBIGUOUS) from None
        return ApiResponse(response.status_code, response.content, dict(response.headers))

    async def _asend(self, request: ApiRequest, *, settings: StitchSettings) -> ApiResponse:
        import httpx

        client = self._async_client_for(settings)
        try:
            response = await client.request(
                request.method,
                self._url(request, settings),
                params=dict(request.params) if request.params else None,
                json=request.json_body if request.json_body is not None else None,
                data=dict(request.form_body) if request.form_body is not None else None,
                headers=self._headers(request, settings),
                timeout=settings.timeout,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise StitchTransportError(self._describe(request, exc), failure=FailureKind.NOT_SENT) from None
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise StitchTransportError(self._describe(request, exc), failure=FailureKind.AMBIGUOUS) from None
        return ApiResponse(response.status_code, response.content, dict(response.headers))

    def _async_client_for(self, settings: StitchSettings) -> httpx.AsyncClient:
        """The hook's one HTTP client on the running event loop, built on first use and kept (its
        connections are reused) until :meth:`aclose` or the end of ``async with hook:``.

        A client's connections belong to the loop that opened them, so a call from another loop (a
        second ``asyncio.run``) gets a new client; the old one is dropped, as its loop is gone."""
        import httpx

        loop = asyncio.get_running_loop()
        if self._async_client is not None and self._async_client_loop is loop:
            return self._async_client
        mounts = {
            pattern: httpx.AsyncHTTPTransport(proxy=url, verify=_shared_ssl_context())
            for pattern, url in proxy_patterns(settings.proxies or {}).items()
        }
        # Proxies from the connection take precedence over the environment's (HTTPS_PROXY...) for the
        # schemes they name, as in the sync driver; trust_env stays on for the rest.
        self._async_client = httpx.AsyncClient(
            timeout=settings.timeout, follow_redirects=False, mounts=mounts, verify=_shared_ssl_context()
        )
        self._async_client_loop = loop
        return self._async_client

    async def aclose(self) -> None:
        """Close the async HTTP client (a later async call builds a new one)."""
        client, self._async_client = self._async_client, None
        self._async_client_loop = None
        if client is not None and not client.is_closed:
            await client.aclose()

    async def __aenter__(self) -> StitchConnectHook:
        """Scope the hook's async HTTP client: every call inside ``async with hook:`` reuses one client
        (and its connections), closed at the end of the outermost block."""
        settings = await self.aget_settings()
        self._async_scopes += 1
        self._async_client_for(settings)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._async_scopes -= 1
        if self._async_scopes == 0:
            await self.aclose()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    @staticmethod
    def _describe(request: ApiRequest, exc: BaseException) -> str:
        where = "(pre-signed log URL)" if request.is_absolute else request.path
        # The exception's own text can hold a URL but never our headers. urllib3 puts the useful part
        # (refused, DNS, TLS) after "(Caused by"; name that cause first, in words, then the text.
        reason = str(exc)
        cause = _transport_cause(exc)
        if cause:
            reason = f"{cause}; {reason}"
        if request.is_absolute:
            # requests puts the URL in its message; a pre-signed URL's query string is a credential.
            reason = re.sub(r"\?[^\s'\"()]*", "?(query hidden)", reason)
        reason = reason[:300]
        return f"No answer from Stitch for {request.method} {where}: {type(exc).__name__}: {reason}"

    # --- client account id ------------------------------------------------------------------------

    def get_client_id(self) -> int:
        """The client account id: from the connection, else discovered from the sources (then cached)."""
        if self._client_id is None:
            self._client_id = self.settings.stitch_client_id or _client_id_from_sources(self.list_sources())
        return self._client_id

    async def aget_client_id(self) -> int:
        if self._client_id is None:
            settings = await self.aget_settings()
            self._client_id = settings.stitch_client_id or _client_id_from_sources(
                await self.arun(endpoints.list_sources())
            )
        return self._client_id

    # --- test connection ------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """One cheap authenticated call (GET /v4/sources, outside the jobs rate limit)."""
        try:
            sources = self.run(endpoints.list_sources())
        except Exception as exc:
            return False, str(exc)
        active = [s for s in sources if not s.is_deleted]
        client_ids = {s.stitch_client_id for s in sources if s.stitch_client_id}
        account = f" of client account {next(iter(client_ids))}" if len(client_ids) == 1 else ""
        return (
            True,
            f"Connected to Stitch at {self.settings.base_url}: {len(active)} active source(s){account}.",
        )

    # --- accounts and sessions ------------------------------------------------------------------

    def create_account(
        self,
        *,
        first_name: str,
        last_name: str,
        company: str,
        email: str,
        region: str | None = None,
    ) -> ClientAccount:
        """Create a client account with the connection's partner credentials (partners only).

        The returned token is registered with the secret masker; keep it out of XCom and logs.
        """
        settings = self.settings
        if not settings.partner_id or not settings.partner_secret:
            raise StitchConfigurationError(
                f"Connection {self.stitch_conn_id!r} has no partner credentials: set the 'partner_id' and "
                "'partner_secret' extras (both start with 'oc_') to create client accounts."
            )
        account = self.run(
            endpoints.create_account(
                partner_id=settings.partner_id,
                partner_secret=settings.partner_secret,
                first_name=first_name,
                last_name=last_name,
                company=company,
                email=email,
                region=region,
            )
        )
        _mask(account.access_token)
        return account

    def exchange_oauth_code(self, code: str) -> ClientAccount:
        """Exchange an OAuth authorization code for the account's token.

        The partner flow: https://www.stitchdata.com/docs/developers/stitch-connect/guides/stitch-partner-authentication-guide
        """
        settings = self.settings
        if not settings.partner_secret:
            raise StitchConfigurationError(
                f"Connection {self.stitch_conn_id!r} has no 'partner_secret' extra "
                "(the partner secret is the OAuth client_secret)."
            )
        account = self.run(endpoints.exchange_oauth_code(partner_secret=settings.partner_secret, code=code))
        _mask(account.access_token)
        return account

    def create_ephemeral_session(self) -> str:
        token = self.run(endpoints.create_ephemeral_session())
        _mask(token)
        return token

    # --- destinations ---------------------------------------------------------------------------

    def list_destinations(self) -> list[dict[str, Any]]:
        return self.run(endpoints.list_destinations())

    def create_destination(
        self,
        *,
        type: str,
        properties: dict[str, Any],
        name: str | None = None,
        description: str | None = None,
        ignore_unmapped_sources: bool | None = None,
    ) -> dict[str, Any]:
        return self.run(
            endpoints.create_destination(
                type=type,
                properties=properties,
                name=name,
                description=description,
                ignore_unmapped_sources=ignore_unmapped_sources,
            )
        )

    def update_destination(self, destination_id: int, properties: dict[str, Any]) -> dict[str, Any]:
        return self.run(endpoints.update_destination(destination_id, properties=properties))

    def delete_destination(self, destination_id: int) -> Any:
        return self.run(endpoints.delete_destination(destination_id))

    def list_destination_types(self) -> list[dict[str, Any]]:
        return self.run(endpoints.list_destination_types())

    def get_destination_type(self, destination_type: str) -> dict[str, Any]:
        return self.run(endpoints.get_destination_type(destination_type))

    def get_destination_last_connection_check(self, destination_id: int) -> ConnectionCheck:
        return self.run(endpoints.get_destination_last_connection_check(destination_id))

    async def aget_destination_last_connection_check(self, destination_id: int) -> ConnectionCheck:
        return await self.arun(endpoints.get_destination_last_connection_check(destination_id))

    # --- sources --------------------------------------------------------------------------------

    def list_sources(self, include_deleted: bool = True) -> list[Source]:
        sources = self.run(endpoints.list_sources())
        return sources if include_deleted else [s for s in sources if not s.is_deleted]

    async def alist_sources(self) -> list[Source]:
        return await self.arun(endpoints.list_sources())

    def get_source(self, source_id: int) -> Source:
        return self.run(endpoints.get_source(source_id))

    async def aget_source(self, source_id: int) -> Source:
        return await self.arun(endpoints.get_source(source_id))

    def create_source(
        self,
        *,
        display_name: str,
        type: str,
        properties: dict[str, Any] | None = None,
        destination_id: int | None = None,
    ) -> Source:
        return self.run(
            endpoints.create_source(
                display_name=display_name, type=type, properties=properties, destination_id=destination_id
            )
        )

    def update_source(
        self,
        source_id: int,
        *,
        display_name: str | None = None,
        properties: dict[str, Any] | None = None,
        paused_at: str | object | None = ...,
    ) -> Source:
        """``paused_at``: left out by default (Ellipsis); None unpauses; an ISO timestamp pauses."""
        return self.run(
            endpoints.update_source(
                source_id, display_name=display_name, properties=properties, paused_at=paused_at
            )
        )

    def pause_source(self, source_id: int) -> Source:
        return self.run(endpoints.pause_source(source_id))

    def unpause_source(self, source_id: int) -> Source:
        return self.run(endpoints.unpause_source(source_id))

    def delete_source(self, source_id: int) -> Source:
        return self.run(endpoints.delete_source(source_id))

    def list_source_types(self) -> list[dict[str, Any]]:
        return self.run(endpoints.list_source_types())

    def get_source_type(self, source_type: str) -> dict[str, Any]:
        return self.run(endpoints.get_source_type(source_type))

    def get_last_connection_check(self, source_id: int) -> ConnectionCheck:
        return self.run(endpoints.get_last_connection_check(source_id))

    async def aget_last_connection_check(self, source_id: int) -> ConnectionCheck:
        return await self.arun(endpoints.get_last_connection_check(source_id))

    def find_source(self, name: str) -> Source:
        """Resolve a source by ``name`` (schema name) or display name; deleted sources are ignored.

        Raises :class:`StitchConfigurationError` when none matches (with close names) or several do.
        """
        return _match_source(self.list_sources(include_deleted=False), name)

    async def afind_source(self, name: str) -> Source:
        """:meth:`find_source`, for the triggerer."""
        sources = await self.alist_sources()
        return _match_source([s for s in sources if not s.is_deleted], name)

    def find_sources(self, name: str) -> list[Source]:
        """The active sources named ``name``: by schema name if any, else by display name (maybe none)."""
        return _sources_named(self.list_sources(include_deleted=False), name)

    # --- streams --------------------------------------------------------------------------------

    def list_streams(self, source_id: int) -> list[Stream]:
        return self.run(endpoints.list_streams(source_id))

    async def alist_streams(self, source_id: int) -> list[Stream]:
        return await self.arun(endpoints.list_streams(source_id))

    def get_stream_schema(self, source_id: int, stream_id: int) -> StreamSchema:
        return self.run(endpoints.get_stream_schema(source_id, stream_id))

    def update_stream_metadata(self, source_id: int, streams: list[dict[str, Any]]) -> Any:
        return self.run(endpoints.update_stream_metadata(source_id, streams))

    # --- replication jobs -------------------------------------------------------------------------

    def start_replication_job(self, source_id: int) -> str:
        """Start a replication job; return its job name. Raises ``StitchJobAlreadyRunningError``."""
        return self.run(endpoints.start_replication_job(source_id))

    def stop_replication_job(self, source_id: int) -> Any:
        return self.run(endpoints.stop_replication_job(source_id))

    async def astop_replication_job(self, source_id: int) -> Any:
        return await self.arun(endpoints.stop_replication_job(source_id))

    # --- extractions, logs, loads (the rate-limited "jobs" endpoints) ---------------------------------

    def list_extractions(self) -> list[Extraction]:
        return self.run(endpoints.list_extractions(self.get_client_id()))

    async def alist_extractions(self) -> list[Extraction]:
        return await self.arun(endpoints.list_extractions(await self.aget_client_id()))

    def get_extraction_logs(self, job_name: str) -> str:
        client_id = client_id_from_job_name(job_name) or self.get_client_id()
        return self.run(endpoints.get_extraction_logs(client_id, job_name))

    async def aget_extraction_logs(self, job_name: str) -> str:
        client_id = client_id_from_job_name(job_name) or await self.aget_client_id()
        return await self.arun(endpoints.get_extraction_logs(client_id, job_name))

    def list_loads(self) -> list[Load]:
        return self.run(endpoints.list_loads(self.get_client_id()))

    async def alist_loads(self) -> list[Load]:
        return await self.arun(endpoints.list_loads(await self.aget_client_id()))

    # --- Import API tokens ----------------------------------------------------------------------

    def create_import_token(self, source_id: int) -> dict[str, Any]:
        token = self.run(endpoints.create_import_token(source_id))
        if isinstance(token, dict) and token.get("access_token"):
            _mask(str(token["access_token"]))
        return token

    def list_import_tokens(self, source_id: int) -> list[dict[str, Any]]:
        return self.run(endpoints.list_import_tokens(source_id))

    def delete_import_token(self, source_id: int, token_id: int) -> Source:
        return self.run(endpoints.delete_import_token(source_id, token_id))

    # --- notifications --------------------------------------------------------------------------

    def list_custom_emails(self) -> list[dict[str, Any]]:
        return self.run(endpoints.list_custom_emails())

    def create_custom_email(self, email_address: str) -> dict[str, Any]:
        return self.run(endpoints.create_custom_email(email_address))

    def set_custom_email_disabled_at(self, email_id: int, disabled_at: str | None) -> dict[str, Any]:
        return self.run(endpoints.set_custom_email_disabled_at(email_id, disabled_at))

    def delete_custom_email(self, email_id: int) -> Any:
        return self.run(endpoints.delete_custom_email(email_id))

    def list_notification_hooks(self) -> list[dict[str, Any]]:
        return self.run(endpoints.list_notification_hooks())

    def create_notification_hook(self, url: str, destination_id: int) -> dict[str, Any]:
        return self.run(endpoints.create_notification_hook(url=url, destination_id=destination_id))

    def set_notification_hook_enabled(self, hook_id: int, enabled: bool) -> dict[str, Any]:
        return self.run(endpoints.set_notification_hook_enabled(hook_id, enabled))

    def delete_notification_hook(self, hook_id: int) -> Any:
        return self.run(endpoints.delete_notification_hook(hook_id))


def _mask(secret: str) -> None:
    from airflow.sdk.log import mask_secret

    mask_secret(secret)


#: Markers in an exception chain's text, and the cause they name (first match wins).
_TRANSPORT_CAUSES = (
    (("ConnectionRefused", "Connection refused", "Errno 111"), "connection refused"),
    (
        ("NameResolution", "getaddrinfo", "Name or service not known", "nodename nor servname"),
        "DNS lookup failed",
    ),
    (("SSLError", "SSLCertVerification", "CERTIFICATE_VERIFY_FAILED", "TLS"), "TLS error"),
    (
        ("ConnectionReset", "Connection reset", "RemoteDisconnected", "Server disconnected"),
        "connection reset",
    ),
    (("Timeout", "timed out"), "timed out"),
)


def _transport_cause(exc: BaseException) -> str | None:
    """The cause of a failed connection, in words, from the whole exception chain."""
    text: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(text) < 10:
        text.append(f"{type(seen).__name__} {seen!r}")
        seen = seen.__cause__ or seen.__context__
    joined = " ".join(text)
    for markers, cause in _TRANSPORT_CAUSES:
        if any(marker in joined for marker in markers):
            return cause
    return None


def _reached_server(exc: BaseException) -> bool:
    """Whether a requests ConnectionError happened after the request was sent (reset, dropped answer)."""
    text = repr(exc)
    return any(marker in text for marker in ("RemoteDisconnected", "ConnectionResetError", "ProtocolError"))


def _client_id_from_sources(sources: Sequence[Source]) -> int:
    for source in sources:
        if source.stitch_client_id:
            return source.stitch_client_id
    raise StitchConfigurationError(
        "Cannot tell the Stitch client account id: the account has no sources to read it from. Set the "
        "connection extra 'stitch_client_id' (the number in app URLs /client/<id>/...)."
    )


def _sources_named(sources: Sequence[Source], name: str) -> list[Source]:
    wanted = name.strip()
    for attribute in ("name", "display_name"):
        matches = [s for s in sources if (getattr(s, attribute) or "") == wanted]
        if matches:
            return matches
    return []


def _match_source(sources: Sequence[Source], name: str) -> Source:
    wanted = name.strip()
    matches = _sources_named(sources, wanted)
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        ids = ", ".join(str(s.id) for s in matches)
        raise StitchConfigurationError(
            f"Several Stitch sources are named {wanted!r} (ids {ids}); use source_id."
        )
    names = sorted({n for s in sources for n in (s.name, s.display_name) if n})
    close = difflib.get_close_matches(wanted, names, n=3)
    hint = (
        f" Did you mean: {', '.join(close)}?" if close else f" Known sources: {', '.join(names) or 'none'}."
    )
    raise StitchConfigurationError(f"No active Stitch source is named {wanted!r}.{hint}")


@functools.cache
def _shared_ssl_context() -> ssl.SSLContext:
    """One SSL context per process for every async client: building one (loading the CA bundle) cost
    about 20 ms of CPU and 0.8 MiB each, paid per trigger before the poller shared clients."""
    import httpx

    # httpx's own default (certifi, or SSL_CERT_FILE / SSL_CERT_DIR from the environment), built once.
    return httpx.create_ssl_context()
