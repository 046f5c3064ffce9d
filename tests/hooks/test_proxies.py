"""The connection's ``proxies`` extra, through a real forward proxy on loopback, sync and async alike.

The proxy counts the TCP connections and the requests it forwards, so a test can tell both whether a
call went through it and whether the async driver kept its connection (one client per hook) or built a
new client for every call.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_provider_stitch.exceptions import StitchConfigurationError, StitchTransportError
from airflow_provider_stitch.hooks import StitchConnectHook
from airflow_provider_stitch.hooks.settings import check_proxies, proxy_patterns

#: Nothing listens on port 9 (discard) on loopback: a proxy there refuses every connection.
DEAD_PROXY = "http://127.0.0.1:9"


class ForwardProxy(ThreadingHTTPServer):
    """A plain-http forward proxy: requests arrive in absolute form (``GET http://host/path``)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.connections = 0
        self.forwarded: list[str] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so a reused client shows as one connection
    server: ForwardProxy

    def setup(self) -> None:
        super().setup()
        with self.server._lock:
            self.server.connections += 1

    def _forward(self) -> None:
        target = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {
            k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "connection")
        }
        upstream = http.client.HTTPConnection(target.hostname or "", target.port, timeout=10)
        try:
            path = target.path + (f"?{target.query}" if target.query else "")
            upstream.request(self.command, path, body=body, headers=headers)
            answer = upstream.getresponse()
            content = answer.read()
        finally:
            upstream.close()
        with self.server._lock:
            self.server.forwarded.append(f"{self.command} {target.path}")
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = do_PUT = do_DELETE = _forward

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    server = ForwardProxy()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _use_proxies(stitch_emulator: Any, monkeypatch: pytest.MonkeyPatch, proxies: dict[str, str]) -> None:
    conn = json.loads(stitch_emulator.connection_uri)
    conn["extra"] = {**(conn.get("extra") or {}), "proxies": proxies}
    monkeypatch.setenv("AIRFLOW_CONN_STITCH_DEFAULT", json.dumps(conn))
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
    ):
        monkeypatch.delenv(name, raising=False)


def _hook() -> StitchConnectHook:
    return StitchConnectHook(http_retry_policy={"max_attempts": 1}, timeout=5)


@pytest.mark.parametrize("key", ["http", "all", "http://127.0.0.1"])
def test_both_drivers_send_through_the_proxy_for_the_api_scheme(
    stitch_emulator: Any, monkeypatch: pytest.MonkeyPatch, proxy: ForwardProxy, key: str
) -> None:
    _use_proxies(stitch_emulator, monkeypatch, {key: proxy.url})
    hook = _hook()
    assert hook.list_sources()
    hook.close()
    assert proxy.forwarded == ["GET /v4/sources"]

    async def listed() -> int:
        async with _hook() as async_hook:
            return len(await async_hook.alist_sources())

    assert asyncio.run(listed())
    assert proxy.forwarded == ["GET /v4/sources"] * 2


def test_a_proxy_for_another_scheme_is_not_used(
    stitch_emulator: Any, monkeypatch: pytest.MonkeyPatch, proxy: ForwardProxy
) -> None:
    # The emulator is plain http: an https-only proxy (dead here) must not be asked, by either driver.
    _use_proxies(
        stitch_emulator, monkeypatch, {"https": DEAD_PROXY, "https://api.stitchdata.com": DEAD_PROXY}
    )
    assert _hook().list_sources()

    async def listed() -> int:
        return len(await _hook().alist_sources())

    assert asyncio.run(listed())


def test_a_dead_proxy_for_the_scheme_is_a_transport_error(
    stitch_emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_proxies(stitch_emulator, monkeypatch, {"http": DEAD_PROXY})
    with pytest.raises(StitchTransportError):
        _hook().list_sources()

    async def listed() -> None:
        await _hook().alist_sources()

    with pytest.raises(StitchTransportError):
        asyncio.run(listed())


def test_async_calls_outside_async_with_reuse_one_client(
    stitch_emulator: Any, monkeypatch: pytest.MonkeyPatch, proxy: ForwardProxy
) -> None:
    _use_proxies(stitch_emulator, monkeypatch, {"http": proxy.url})
    hook = _hook()

    async def three_calls() -> None:
        await hook.alist_sources()
        await hook.alist_sources()
        await hook.aget_source(2001)
        await hook.aclose()

    asyncio.run(three_calls())
    assert len(proxy.forwarded) == 3
    assert proxy.connections == 1  # one client, its connection kept alive

    # A second event loop cannot use the first loop's connections: the hook builds a new client.
    asyncio.run(three_calls())
    assert len(proxy.forwarded) == 6
    assert proxy.connections == 2


def test_nested_async_with_keeps_the_client_until_the_outermost_block_ends(
    stitch_emulator: Any, monkeypatch: pytest.MonkeyPatch, proxy: ForwardProxy
) -> None:
    _use_proxies(stitch_emulator, monkeypatch, {"http": proxy.url})
    hook = _hook()

    async def nested() -> None:
        async with hook:
            async with hook:
                await hook.alist_sources()
            await hook.alist_sources()  # still the same client after the inner block
        await hook.alist_sources()  # after the outer block: a new client
        await hook.aclose()

    asyncio.run(nested())
    assert len(proxy.forwarded) == 3
    assert proxy.connections == 2


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("[1]", "must map scheme"),
        ({"ftp server": "http://p:1"}, "is not a scheme"),
        ({"https": 3128}, "must be a URL"),
        ({"https": "proxy-without-scheme:3128"}, "must be a URL"),
    ],
)
def test_bad_proxies_are_refused_without_showing_the_proxy_url(raw: object, message: str) -> None:
    with pytest.raises(StitchConfigurationError, match=message) as info:
        check_proxies(raw)
    assert "proxy-without-scheme" not in str(info.value)


def test_proxy_keys_become_httpx_patterns() -> None:
    proxies = check_proxies(
        '{"HTTPS": "http://p:1", "all": "http://p:2", "http://api.example.com": "http://p:3"}'
    )
    assert proxies == {"https": "http://p:1", "all": "http://p:2", "http://api.example.com": "http://p:3"}
    assert proxy_patterns(proxies) == {
        "https://": "http://p:1",
        "all://": "http://p:2",
        "http://api.example.com": "http://p:3",
    }
    assert check_proxies("") is None and check_proxies({}) is None
