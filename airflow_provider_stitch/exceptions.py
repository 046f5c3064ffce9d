"""The provider's exception family.

Every error the provider raises on purpose is a :class:`StitchError`. Messages never contain an access
token or a partner secret: they are built from Stitch's own error text, HTTP status and ids only.
"""

from __future__ import annotations

import enum

from airflow.sdk.exceptions import AirflowException


class FailureKind(str, enum.Enum):
    """Why an attempt got no HTTP answer."""

    #: Never reached Stitch (refused, DNS, connect timeout): always safe to resend.
    NOT_SENT = "not_sent"
    #: May have reached Stitch (read timeout, reset after sending): resend only idempotent requests.
    AMBIGUOUS = "ambiguous"


class StitchError(AirflowException):
    """Base class of every error raised by this provider."""


class StitchConfigurationError(StitchError, ValueError):
    """Bad input or a bad connection, detected before any request is sent."""


class StitchTransportError(StitchError):
    """No HTTP answer: connection refused or reset, or a timeout.

    :param failure: ``"not_sent"`` when the request never reached Stitch (safe to resend), or
        ``"ambiguous"`` when it may have (a read timeout, a connection dropped after sending).
    """

    def __init__(self, message: str, *, failure: FailureKind | str = "ambiguous") -> None:
        self.failure = FailureKind(failure)
        super().__init__(message)


class StitchAPIError(StitchError):
    """Stitch answered with an error (a non-2xx status, or a 2xx body carrying an ``error`` key).

    The HTTP status is :attr:`status_code`, the name users look for. ``AirflowException`` defines it as
    a class attribute set to 500; here every instance carries the answer's own status instead (200 for
    an error in a 2xx body such as ``already_running``). :attr:`status` is the same value under the
    name earlier releases used, kept so existing code keeps working.

    :param status: HTTP status code of the answer.
    :param code: Stitch's error type or code (``already_running``, ``InvalidName``, ``ExistingUser``...),
        or ``None`` where the body had none (plain text, HTML from a proxy).
    :param message: Stitch's human-readable message, or a summary of the body.
    :param method: HTTP method of the request that failed.
    :param path: Path of the request that failed (never a query string holding secrets).
    :param details: Any other structured fields Stitch returned (``errors``, ``data``...).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        method: str = "",
        path: str = "",
        details: object = None,
        retry_after: float | None = None,
    ) -> None:
        self.status_code: int = status  # type: ignore[assignment]  # the answer's status, not 500
        self.code = code
        self.message = message
        self.method = method
        self.path = path
        self.details = details
        self.retry_after = retry_after
        where = f"{method} {path} " if method else ""
        kind = f" {code}" if code else ""
        super().__init__(f"Stitch API error: {where}-> HTTP {status}{kind}: {message}")

    @property
    def status(self) -> int:
        """The HTTP status code: an alias of :attr:`status_code`, the name earlier releases used."""
        return self.status_code

    @status.setter
    def status(self, value: int) -> None:
        self.status_code = value


class StitchAuthenticationError(StitchAPIError):
    """HTTP 401: the access token is missing, invalid, revoked, or not for this client account."""


class StitchNotFoundError(StitchAPIError):
    """The object named in the request (source, stream, job, destination...) does not exist."""


class StitchRateLimitError(StitchAPIError):
    """HTTP 429 after every retry was used up."""


class StitchJobAlreadyRunningError(StitchAPIError):
    """Starting a replication job answered ``already_running``: one job is already running on the source.

    :param after_ambiguous_failure: True when an earlier start attempt of the same call may have reached
        Stitch (timeout or dropped connection), so the running job may well be the one we started.
    """

    def __init__(self, message: str, *, source_id: int, after_ambiguous_failure: bool = False, **kw: object):
        self.source_id = source_id
        self.after_ambiguous_failure = after_ambiguous_failure
        super().__init__(message, **kw)  # type: ignore[arg-type]


class StitchReplicationError(StitchError):
    """A replication job ended badly (failed, cancelled, or timed out). Carries the final progress."""

    def __init__(self, message: str, *, result: dict[str, object] | None = None) -> None:
        self.result = result or {}
        super().__init__(message)
