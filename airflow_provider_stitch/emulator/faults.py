"""Fault injection: the next N requests matching a method and a path glob misbehave on purpose.

Kinds: ``status`` (an error status, optionally with Retry-After), ``latency`` (extra seconds, then the
normal answer), ``drop`` (the connection closes without any response), ``malformed`` (a truncated JSON
body) and ``html`` (an HTML error page, like a proxy in front of the API would serve).
"""

from __future__ import annotations

import asyncio
import fnmatch
import itertools
import json
from dataclasses import dataclass
from typing import Any

from starlette.types import Receive, Scope, Send

KINDS = ("status", "latency", "drop", "malformed", "html")

HTML_PAGE = (
    "<html>\r\n<head><title>{status} Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>{status} Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


class DroppedConnection(Exception):
    """Raised after a deliberately unsendable response start, so the server closes the socket silently."""


class FaultSpecError(ValueError):
    pass


@dataclass
class Fault:
    id: int
    method: str
    path: str
    kind: str
    remaining: int
    status: int | None = None
    retry_after: float | None = None
    latency: float | None = None

    def matches(self, method: str, path: str) -> bool:
        return (self.method == "*" or self.method == method.upper()) and fnmatch.fnmatchcase(path, self.path)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "method": self.method,
            "path": self.path,
            "kind": self.kind,
            "remaining": self.remaining,
            "status": self.status,
            "retry_after": self.retry_after,
            "latency": self.latency,
        }


class FaultRegistry:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self.served = 0

    def add(self, spec: object) -> Fault:
        if not isinstance(spec, dict):
            raise FaultSpecError("fault must be a JSON object")
        kind = spec.get("kind", "status")
        if kind not in KINDS:
            raise FaultSpecError(f"kind must be one of {', '.join(KINDS)}")
        method, path = spec.get("method", "*"), spec.get("path")
        if not isinstance(method, str) or not isinstance(path, str) or not path.startswith(("/", "*")):
            raise FaultSpecError("method must be a string and path a glob starting with / or *")
        count = spec.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise FaultSpecError("count must be a positive integer")
        status = spec.get("status")
        if status is None:
            status = {"status": 500, "html": 502, "malformed": 200}.get(kind)
        if status is not None and (not isinstance(status, int) or not 100 <= status <= 599):
            raise FaultSpecError("status must be an HTTP status code")
        retry_after, latency = spec.get("retry_after"), spec.get("latency")
        for name, value in (("retry_after", retry_after), ("latency", latency)):
            if value is not None and (
                not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0
            ):
                raise FaultSpecError(f"{name} must be a non-negative number of seconds")
        if kind == "latency" and latency is None:
            raise FaultSpecError("a latency fault needs latency (seconds)")
        fault = Fault(next(self._ids), method.upper(), path, kind, count, status, retry_after, latency)
        self._faults.append(fault)
        return fault

    def clear(self) -> None:
        self._faults.clear()

    def list(self) -> list[Fault]:
        return list(self._faults)

    def take(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.matches(method, path):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                self.served += 1
                return fault
        return None


async def _send(
    send: Send, status: int, body: bytes, content_type: bytes, extra: list[tuple[bytes, bytes]]
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def serve_fault(fault: Fault, scope: Scope, receive: Receive, send: Send) -> bool:
    """Answer with the fault. Returns False when the request should continue normally (latency)."""
    if fault.kind == "latency":
        await asyncio.sleep(fault.latency or 0.0)
        return False
    extra: list[tuple[bytes, bytes]] = []
    if fault.retry_after is not None:
        value = int(fault.retry_after) if float(fault.retry_after).is_integer() else fault.retry_after
        extra.append((b"retry-after", str(value).encode()))
    status = fault.status or 500
    if fault.kind == "drop":
        # A header value with a newline cannot be serialised: the server raises before writing a single
        # byte and, since the response counts as started, closes the connection instead of sending a 500.
        try:
            await send({"type": "http.response.start", "status": 500, "headers": [(b"x-drop", b"\r\n")]})
        except Exception as exc:
            raise DroppedConnection("fault injection: connection dropped") from exc
        raise DroppedConnection("fault injection: connection dropped")
    if fault.kind == "html":
        await _send(send, status, HTML_PAGE.format(status=status).encode(), b"text/html", extra)
    elif fault.kind == "malformed":
        await _send(send, status, b'{"data": [{"job_name": "1001.2001.sync.', b"application/json", extra)
    else:
        body = json.dumps({"error": {"type": "injected_fault", "message": f"Injected fault: HTTP {status}"}})
        await _send(send, status, body.encode(), b"application/json", extra)
    return True
