"""Build the ASGI app, and run it with uvicorn in a background thread (``EmulatorServer``)."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airflow_provider_stitch.emulator import admin
from airflow_provider_stitch.emulator.backend import Backend
from airflow_provider_stitch.emulator.client import EmulatorAdmin
from airflow_provider_stitch.emulator.config import EmulatorConfig
from airflow_provider_stitch.emulator.errors import ApiError, not_found
from airflow_provider_stitch.emulator.faults import DroppedConnection, FaultRegistry, serve_fault
from airflow_provider_stitch.emulator.responses import (
    accounts,
    app_pages,
    destinations,
    jobs,
    notifications,
    sources,
    streams,
)
from airflow_provider_stitch.emulator.seed import SeedError, load_seed, validate_seed
from airflow_provider_stitch.emulator.stats import RequestStats

ADMIN_PREFIX = "/_emulator/"
LOG_PREFIX = "/_emulator/logs/"


class _EmulatorMiddleware:
    """Outermost layer: fault injection first (faults must pre-empt everything), then request accounting."""

    def __init__(self, app: ASGIApp, backend: Backend, faults: FaultRegistry, stats: RequestStats) -> None:
        self.app = app
        self.backend = backend
        self.faults = faults
        self.stats = stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        is_admin = path.startswith(ADMIN_PREFIX) and not path.startswith(LOG_PREFIX)
        if not is_admin:
            fault = self.faults.take(scope["method"], path)
            if fault is not None and await serve_fault(fault, scope, receive, send):
                return
        status = 500

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            if not path.startswith(ADMIN_PREFIX):
                self._record(scope, status)

    def _record(self, scope: Scope, status: int) -> None:
        headers = dict(scope.get("headers") or [])
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        client_id = self.backend.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        route = scope.get("route")
        template = getattr(route, "path", None) or "<unmatched>"
        self.stats.record(
            str(client_id) if client_id is not None else "anonymous", f"{scope['method']} {template}", status
        )


class _QuietDrops(logging.Filter):
    """uvicorn logs an application error for every deliberately dropped connection; hide those."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedConnection)


#: How often the background clock fires due job events when no request does.
TICK_SECONDS = 0.2


@asynccontextmanager
async def _background_clock(app: FastAPI) -> AsyncIterator[None]:
    """Fire due job events even when nobody polls, as Stitch runs jobs whether or not anyone looks.

    It runs on the server's own event loop, like the request handlers, so it never races them.
    """
    backend: Backend = app.state.backend

    async def tick_forever() -> None:
        while True:
            try:
                backend.tick()
            except Exception:  # pragma: no cover - a failing event must not stop the clock
                logging.getLogger(__name__).exception("emulator job clock")
            await asyncio.sleep(TICK_SECONDS)

    task = asyncio.get_running_loop().create_task(tick_forever(), name="stitch-emulator-clock")
    try:
        yield
    finally:
        task.cancel()


def create_app(backend: Backend) -> ASGIApp:
    app = FastAPI(
        title="Stitch Connect emulator",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=_background_clock,
    )
    app.state.backend = backend
    app.state.faults = FaultRegistry()
    app.state.stats = RequestStats()
    for module in (accounts, destinations, sources, streams, jobs, notifications, app_pages, admin):
        app.include_router(module.router)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        if exc.text:
            return PlainTextResponse(str(exc.body), status_code=exc.status, headers=exc.headers)
        return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # Stitch answers 404 for unknown paths *and* for wrong methods (no 405).
        if exc.status_code in (404, 405):
            err = not_found(f"No route for {request.method} {request.url.path}")
            return JSONResponse(err.body, status_code=404)
        return JSONResponse(
            {"error": {"type": "http_error", "message": str(exc.detail)}}, status_code=exc.status_code
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return JSONResponse({"error": {"type": "bad_request", "message": "invalid request"}}, status_code=400)

    logging.getLogger("uvicorn.error").addFilter(_QuietDrops())
    return _EmulatorMiddleware(app, backend, app.state.faults, app.state.stats)


class EmulatorServer:
    """A Stitch Connect emulator on loopback, served by uvicorn in a daemon thread.

    ``seed`` is a path to a seed file, an already-parsed seed dict, or None for the packaged default.
    """

    def __init__(
        self,
        seed: str | Path | dict[str, Any] | None = None,
        speed: float = 1.0,
        warehouse_path: str | Path | None = None,
        enforce_rate_limit: bool = False,
        list_running_extractions: bool = False,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        strict_stop: bool = False,
        rate_limit: int = 30,
        rate_limit_window: float = 600.0,
        run_schedules: bool = False,
        clock_skew: float = 0.0,
        log_level: str = "warning",
    ) -> None:
        if isinstance(seed, dict):
            try:
                validate_seed(seed)
            except ValueError as exc:
                raise SeedError(f"seed <dict>: {exc}") from exc
            seed_data = seed
            seed_path = None
        else:
            seed_path = Path(seed) if seed is not None else None
            seed_data = load_seed(seed_path)
        self.config = EmulatorConfig(
            seed_path=seed_path,
            speed=float(speed),
            warehouse_path=Path(warehouse_path) if warehouse_path is not None else None,
            enforce_rate_limit=enforce_rate_limit,
            list_running_extractions=list_running_extractions,
            strict_stop=strict_stop,
            rate_limit=rate_limit,
            rate_limit_window=rate_limit_window,
            run_schedules=run_schedules,
            clock_skew=float(clock_skew),
        )
        self.host = host
        self.port = port
        self.log_level = log_level
        self.backend = Backend(self.config, seed_data)
        self.app = create_app(self.backend)
        first = seed_data["accounts"][0]
        self.token: str = first["access_token"]
        self.client_id: int = first["stitch_client_id"]
        partners = seed_data.get("partners") or [{}]
        self.partner_id: str | None = partners[0].get("partner_id")
        self.partner_secret: str | None = partners[0].get("partner_secret")
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._admin: EmulatorAdmin | None = None

    @property
    def warehouse_path(self) -> Path:
        return self.backend.warehouse.path

    @property
    def base_url(self) -> str:
        if self._socket is None:
            raise RuntimeError("the emulator is not started; call start() first")
        return f"http://{self.host}:{self.port}"

    @property
    def admin(self) -> EmulatorAdmin:
        if self._admin is None:
            self._admin = EmulatorAdmin(self.base_url)
        return self._admin

    @property
    def connection_uri(self) -> str:
        """JSON connection usable as ``AIRFLOW_CONN_STITCH_DEFAULT``; its ``time_scale`` extra is the
        emulator's speed, so waits poll and time out in the emulator's (compressed) Stitch time."""
        return json.dumps(
            {
                "conn_type": "stitch",
                "host": self.base_url,
                "password": self.token,
                "extra": {"stitch_client_id": self.client_id, "time_scale": self.config.speed},
            }
        )

    @property
    def partner_connection_uri(self) -> str:
        """JSON connection holding only the partner credentials (for creating client accounts)."""
        return json.dumps(
            {
                "conn_type": "stitch",
                "host": self.base_url,
                "extra": {
                    "partner_id": self.partner_id,
                    "partner_secret": self.partner_secret,
                    "time_scale": self.config.speed,
                },
            }
        )

    def start(self, timeout: float = 15.0) -> EmulatorServer:
        import uvicorn

        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(128)
        sock.setblocking(False)
        self._socket = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level=self.log_level, lifespan="on", access_log=False, timeout_graceful_shutdown=2
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"stitch-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the emulator's server thread exited during start-up")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the emulator did not start within {timeout} seconds")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        if self._admin is not None:
            self._admin.close()
        self._server = self._thread = self._admin = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
