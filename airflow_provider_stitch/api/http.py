"""Sans-I/O HTTP messages exchanged between API operations and the hook's drivers.

An *operation* is a generator that yields :class:`ApiRequest` objects and receives :class:`ApiResponse`
objects back; its return value is the operation's result. ``retry.with_retries``
wraps an operation into a *program* that also yields :class:`Wait` instructions between attempts. The
sync driver (requests) and the async driver (httpx) execute the same program, so no endpoint and no
retry rule is written twice.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

#: What every API call is: a generator of requests that returns a value.
Operation = Generator["ApiRequest", "ApiResponse", T]


@dataclass(frozen=True)
class ApiRequest:
    """One HTTP request, described without sending it.

    :param path: Path relative to the API base URL (``/v4/sources``), or an absolute URL for the
        pre-signed log location that the logs endpoint redirects to.
    :param authenticated: Send ``Authorization: Bearer <token>``. False for account creation, the OAuth
        code exchange and pre-signed log URLs (the token must never travel to a third-party host).
    :param jobs_endpoint: Counts against Stitch's "jobs" rate limit (extractions, logs, loads).
    :param idempotent: Safe to resend after an ambiguous failure (the request may have reached Stitch).
    """

    method: str
    path: str
    params: Mapping[str, str | int] | None = None
    json_body: Any = None
    form_body: Mapping[str, str] | None = None
    authenticated: bool = True
    jobs_endpoint: bool = False
    idempotent: bool = True
    #: The answer carries a new credential (an access or ephemeral token): never quote its body.
    secret_answer: bool = False
    #: A short description for logs and errors ("source 2001"), never containing secrets.
    subject: str = ""

    @property
    def is_absolute(self) -> bool:
        return self.path.startswith(("http://", "https://"))


@dataclass(frozen=True)
class ApiResponse:
    """One HTTP response as the drivers saw it (redirects are never followed by the drivers)."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Set by the drivers when this answer came from a resend after an ambiguous failure (the first
    #: attempt may have reached Stitch before its answer was lost).
    after_ambiguous_failure: bool = False

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lname:
                return value
        return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """Decode the body as JSON; ``None`` for an empty body. Raises ``ValueError`` when malformed."""
        if not self.body.strip():
            return None
        return json.loads(self.body)


@dataclass(frozen=True)
class Wait:
    """An instruction to the driver: sleep this many seconds, then resume the operation."""

    seconds: float


#: What a driver executes: send a request (and resume with its response) or wait.
Instruction = ApiRequest | Wait
Program = Generator[Instruction, "ApiResponse | None", T]


def run_sync(
    program: Program[T], send: Callable[[ApiRequest], ApiResponse], sleep: Callable[[float], None]
) -> T:
    """Drive ``program`` with a blocking ``send``. Exceptions from ``send`` are thrown into the program."""
    try:
        instruction = next(program)
        while True:
            if isinstance(instruction, Wait):
                sleep(instruction.seconds)
                instruction = program.send(None)
                continue
            try:
                response = send(instruction)
            except Exception as exc:  # handed to the program, which re-raises what it cannot handle
                instruction = program.throw(exc)
            else:
                instruction = program.send(response)
    except StopIteration as stop:
        return stop.value


async def run_async(
    program: Program[T],
    send: Callable[[ApiRequest], Awaitable[ApiResponse]],
    sleep: Callable[[float], Awaitable[None]],
) -> T:
    """The async twin of :func:`run_sync`, for triggers."""
    try:
        instruction = next(program)
        while True:
            if isinstance(instruction, Wait):
                await sleep(instruction.seconds)
                instruction = program.send(None)
                continue
            try:
                response = await send(instruction)
            except Exception as exc:
                instruction = program.throw(exc)
            else:
                instruction = program.send(response)
    except StopIteration as stop:
        return stop.value
