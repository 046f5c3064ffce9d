"""The provider's exception family: every error it raises on purpose, in one module.

Pure Python, like layer 1 (:mod:`airflow_provider_stitch.api`), which raises most of these: importing
this module imports nothing from Airflow. The one member that must be an Airflow type,
:class:`StitchAccountError` (an ``AirflowFailException``, so Airflow does not retry it), is built on first
access. Messages never contain an access token or a partner secret: they are built from Stitch's (or
Airflow's) own error text, HTTP status and ids only.

The tree::

    StitchError
     ├── StitchConfigurationError (also a ValueError)   bad input or connection, before any request
     │    ├── StreamSelectionError                      a stream selection breaks Stitch's rules
     │    └── FormProblems                              properties that do not fit a form
     ├── StitchTransportError                           no HTTP answer (refused, reset, timeout)
     ├── StitchAPIError                                 Stitch answered with an error
     │    ├── StitchAuthenticationError                 HTTP 401
     │    ├── StitchNotFoundError                       the named object does not exist
     │    ├── StitchRateLimitError                      HTTP 429 after every retry
     │    └── StitchJobAlreadyRunningError              ``already_running`` on a start
     ├── StitchReplicationError                         a replication job failed, was cancelled, timed out
     ├── StitchConnectionCheckError                     a connection check failed or did not finish
     ├── StitchAccountError (also AirflowFailException) Stitch refused to create or connect an account
     └── AirflowApiError                                Airflow's REST API refused a request

``StitchError`` is a plain ``Exception``: Airflow's task runner handles any exception the way it
handles ``AirflowException`` (fail, then retry if retries are left), so only the no-retry member needs
an Airflow base.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

__all__ = [
    "AirflowApiError",
    "FailureKind",
    "FormProblems",
    "StitchAPIError",
    "StitchAccountError",
    "StitchAuthenticationError",
    "StitchConfigurationError",
    "StitchConnectionCheckError",
    "StitchError",
    "StitchJobAlreadyRunningError",
    "StitchNotFoundError",
    "StitchRateLimitError",
    "StitchReplicationError",
    "StitchTransportError",
    "StreamSelectionError",
]


class FailureKind(str, enum.Enum):
    """Why an attempt got no HTTP answer."""

    #: Never reached Stitch (refused, DNS, connect timeout): always safe to resend.
    NOT_SENT = "not_sent"
    #: May have reached Stitch (read timeout, reset after sending): resend only idempotent requests.
    AMBIGUOUS = "ambiguous"


class StitchError(Exception):
    """Base class of every error raised by this provider."""


class StitchConfigurationError(StitchError, ValueError):
    """Bad input or a bad connection, detected before any request is sent."""


class StreamSelectionError(StitchConfigurationError):
    """The requested selection breaks Stitch's rules. ``problems`` lists each one; nothing was written."""

    def __init__(self, problems: Sequence[str], *, subject: str = "the stream selection") -> None:
        self.problems = list(problems)
        self.subject = subject
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"Cannot apply {subject}; nothing was changed:\n{lines}")

    def about(self, subject: str) -> StreamSelectionError:
        """The same problems, naming ``subject`` (e.g. the source) instead of a generic selection."""
        return StreamSelectionError(self.problems, subject=subject)


class FormProblems(StitchConfigurationError):
    """Values that do not fit a form; ``problems`` lists one sentence per property."""

    def __init__(self, form_type: str, problems: list[str]) -> None:
        self.form_type = form_type
        self.problems = problems
        super().__init__(f"The {form_type} form does not accept these properties: " + "; ".join(problems))


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

    The HTTP status is :attr:`status_code`, the name users look for: the answer's own status (200 for an
    error in a 2xx body such as ``already_running``). :attr:`status` is the same value under the name
    earlier releases used, kept so existing code keeps working.

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
        self.status_code = status
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

    def __init__(self, message: str, *, source_id: int, after_ambiguous_failure: bool = False, **kw: Any):
        self.source_id = source_id
        self.after_ambiguous_failure = after_ambiguous_failure
        super().__init__(message, **kw)


class StitchReplicationError(StitchError):
    """A replication job ended badly (failed, cancelled, or timed out). Carries the final progress."""

    def __init__(self, message: str, *, result: dict[str, object] | None = None) -> None:
        self.result = result or {}
        super().__init__(message)


class StitchConnectionCheckError(StitchError):
    """The connection check failed, could not be read, or did not finish in time. Carries the result."""

    def __init__(self, message: str, *, result: dict[str, Any] | None = None) -> None:
        self.result = result or {}
        super().__init__(message)


class AirflowApiError(StitchError):
    """Airflow's REST API refused a request, or could not be reached. ``status`` is None without answer."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


if TYPE_CHECKING:
    from airflow_provider_stitch.compat import AirflowFailException

    class StitchAccountError(StitchError, AirflowFailException):
        """Stitch refused to create or connect the account; retrying the task would not help."""

else:

    def __getattr__(name: str) -> type:
        # PEP 562: the Airflow-typed member is built when first asked for, so that importing this module
        # (which layer 1 does) loads no Airflow code.
        if name == "StitchAccountError":
            return _account_error_class()
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    @functools.cache
    def _account_error_class() -> type:
        from airflow_provider_stitch.compat import AirflowFailException

        class StitchAccountError(StitchError, AirflowFailException):
            """Stitch refused to create or connect the account; retrying the task would not help."""

        StitchAccountError.__module__ = __name__
        StitchAccountError.__qualname__ = "StitchAccountError"
        # Later lookups (and pickling, which finds the class by module and name) skip __getattr__.
        globals()["StitchAccountError"] = StitchAccountError
        return StitchAccountError
