"""One retry policy for the sync and async drivers: what to retry, and how long to wait.

Retried: HTTP 429 (honouring ``Retry-After``), 5xx, connection errors and timeouts. Never retried: any
other 4xx. A request that may have reached Stitch (a timeout after sending, a reset connection, a 5xx)
is resent only when resending is safe (``ApiRequest.idempotent``). Waits grow exponentially with full
jitter, and both the number of attempts and the total time are bounded.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass, replace
from typing import Any, TypeVar

from airflow_provider_stitch.api import arguments
from airflow_provider_stitch.api.errors import parse_retry_after
from airflow_provider_stitch.api.http import ApiRequest, ApiResponse, Instruction, Operation, Program, Wait
from airflow_provider_stitch.exceptions import FailureKind, StitchConfigurationError, StitchTransportError

T = TypeVar("T")

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How the hook retries. Serialisable (``to_dict``/``from_dict``) so triggers get the same policy.

    :param max_attempts: Attempts per request, the first one included (1 disables retries).
    :param initial_delay: Upper bound of the first wait, in seconds (full jitter draws in [0, bound]).
    :param max_delay: Cap on any single wait, ``Retry-After`` included.
    :param max_elapsed: Give up when the next wait would end later than this many seconds after the
        first attempt.
    """

    max_attempts: int = 5
    initial_delay: float = 1.0
    max_delay: float = 60.0
    max_elapsed: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("retry max_attempts must be at least 1")
        if min(self.initial_delay, self.max_delay, self.max_elapsed) < 0:
            raise ValueError("retry delays must not be negative")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RetryPolicy:
        if not data:
            return cls()
        known = {
            k: data[k] for k in ("max_attempts", "initial_delay", "max_delay", "max_elapsed") if k in data
        }
        return cls(
            **{k: (int(v) if k == "max_attempts" else float(v)) for k, v in known.items()}  # type: ignore[arg-type]
        )

    @classmethod
    def from_argument(cls, value: Any, name: str = "http_retry_policy") -> RetryPolicy | None:
        """Validate an operator's retry argument: ``None`` (the connection's policy), a policy, or a dict.

        Unlike :meth:`from_dict` (which reads what :meth:`to_dict` wrote), this checks what a user wrote
        in a DAG file and refuses, naming ``name``, unknown keys, strings and bad numbers.
        """
        if value is None or isinstance(value, RetryPolicy):
            return value
        keys = tuple(cls().to_dict())
        valid = ", ".join(keys)
        if not isinstance(value, dict):
            raise StitchConfigurationError(
                f"{name} must be a RetryPolicy or a dict with any of the keys {valid}; got {value!r}"
            )
        unknown = sorted(str(k) for k in value if k not in keys)
        if unknown:
            raise StitchConfigurationError(
                f"{name} has unknown key(s) {', '.join(unknown)}; the valid keys are {valid}"
            )
        fields: dict[str, Any] = {}
        for key, raw in value.items():
            label = f"{name}[{key!r}]"
            if key == "max_attempts":
                if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
                    raise StitchConfigurationError(
                        f"{label} must be a whole number of attempts, at least 1 (1 disables retries); "
                        f"got {raw!r}"
                    )
                fields[key] = raw
            else:
                fields[key] = arguments.seconds(raw, label, minimum=0)
        return cls(**fields)

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Full-jitter exponential backoff for the wait after failed attempt number ``attempt`` (1-based)."""
        bound = min(self.max_delay, self.initial_delay * (2 ** (attempt - 1)))
        return (rng or random).uniform(0, bound)

    def next_wait(
        self,
        request: ApiRequest,
        attempt: int,
        elapsed: float,
        *,
        response: ApiResponse | None = None,
        failure: FailureKind | None = None,
        retry_after: float | None = None,
    ) -> float | None:
        """Seconds to wait before resending, or ``None`` to stop and report the failure.

        Exactly one of ``response`` (an HTTP answer) or ``failure`` (no answer) describes the attempt.
        """
        if attempt >= self.max_attempts:
            return None
        if response is not None:
            if response.status not in RETRYABLE_STATUSES:
                return None
            # A 429 means Stitch refused the request unprocessed; a 5xx may hide a processed request.
            if response.status != 429 and not request.idempotent:
                return None
        elif failure is FailureKind.AMBIGUOUS and not request.idempotent:
            return None
        wait = self.backoff(attempt)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_delay))
        if elapsed + wait > self.max_elapsed:
            return None
        return wait


def with_retries(
    operation: Operation[T],
    policy: RetryPolicy,
    log: Any = None,
    clock: Callable[[], float] = time.monotonic,
) -> Program[T]:
    """Wrap ``operation`` into a program that resends failed attempts according to ``policy``.

    Drivers must raise :class:`StitchTransportError` (with ``failure``) when an attempt gets no answer.
    """
    log = log or logging.getLogger(__name__)
    try:
        request = next(operation)
        while True:
            try:
                response = yield from _attempts(request, policy, log, clock)
            except Exception as exc:
                request = operation.throw(exc)
            else:
                request = operation.send(response)
    except StopIteration as stop:
        return stop.value


def _attempts(
    request: ApiRequest, policy: RetryPolicy, log: Any, clock: Callable[[], float]
) -> Generator[Instruction, ApiResponse | None, ApiResponse]:
    started = clock()
    ambiguous = False
    for attempt in itertools.count(1):
        try:
            response = yield request
        except StitchTransportError as exc:
            wait = policy.next_wait(request, attempt, clock() - started, failure=exc.failure)
            if wait is None:
                if exc.failure is FailureKind.AMBIGUOUS and not request.idempotent:
                    raise StitchTransportError(
                        f"{exc} The request may have reached Stitch, so it was not resent; check "
                        f"before retrying ({request.method} {request.subject or request.path}).",
                        failure=exc.failure,
                    ) from exc
                # Say how hard we tried: the driver's message describes only the last attempt.
                raise StitchTransportError(
                    f"{exc} (gave up after {attempt} attempt{'s' if attempt > 1 else ''})",
                    failure=exc.failure,
                ) from exc
            ambiguous = ambiguous or exc.failure is FailureKind.AMBIGUOUS
            reason = str(exc)
        else:
            assert response is not None
            retry_after = parse_retry_after(response.header("Retry-After"))
            wait = policy.next_wait(
                request, attempt, clock() - started, response=response, retry_after=retry_after
            )
            if wait is None:
                if ambiguous:
                    return replace(response, after_ambiguous_failure=True)
                return response
            ambiguous = ambiguous or response.status >= 500
            reason = f"HTTP {response.status}" + (f" (Retry-After {retry_after:g}s)" if retry_after else "")
        log.warning(
            "Stitch %s %s failed (%s); attempt %d of %d, retrying in %.1fs",
            request.method,
            "(pre-signed log URL)" if request.is_absolute else request.path,
            reason,
            attempt,
            policy.max_attempts,
            wait,
        )
        yield Wait(wait)
    raise AssertionError("unreachable")  # pragma: no cover
