"""Validation of operator, sensor and trigger timing arguments, run at ``__init__`` before any request.

Pure: no I/O and no Airflow imports. A bad duration must fail when the DAG file is parsed, with a
message naming the argument and the value, not hours later as an ``OverflowError`` deep in a wait or
a sensor that polls in a tight loop. Strings are refused even when they look like numbers: ``"60"``
in a DAG file is a typo for ``60``, and accepting it would hide the one in ``"60s"``.
"""

from __future__ import annotations

import datetime
import math
import numbers
from typing import Any, Literal, overload

from airflow_provider_stitch.exceptions import StitchConfigurationError

#: Ten years. ``datetime.timedelta`` overflows near 8.6e13 seconds and a deadline is added to "now",
#: so a larger value can only be a mistake (a timestamp, milliseconds, ``1e15``...).
MAX_SECONDS = 366 * 24 * 3600 * 10


def _shown(value: Any) -> str:
    if isinstance(value, datetime.timedelta):
        return f"{value!r} ({value.total_seconds():g} seconds)"
    return repr(value)


def _number(value: Any, name: str, what: str) -> float:
    """``value`` as a float if it is a real number (not a bool, not a string); refuse anything else."""
    if isinstance(value, bool):
        raise StitchConfigurationError(f"{name} must be {what}, not a bool; got {value!r}")
    if isinstance(value, str):
        raise StitchConfigurationError(
            f"{name} must be {what}, not a string; got {value!r}. Write the number without quotes."
        )
    if not isinstance(value, numbers.Real):
        raise StitchConfigurationError(f"{name} must be {what}; got {type(value).__name__} {value!r}")
    number = float(value)
    if math.isnan(number):
        raise StitchConfigurationError(f"{name} must be {what}; got nan")
    if math.isinf(number):
        raise StitchConfigurationError(
            f"{name} must be a finite number; got {value!r}. Nothing in this provider waits forever: "
            "give a real duration or limit."
        )
    return number


@overload
def seconds(
    value: Any,
    name: str,
    *,
    minimum: float | None = ...,
    allow_none: Literal[False] = ...,
    maximum: float = ...,
    why: str | None = ...,
) -> float: ...


@overload
def seconds(
    value: Any,
    name: str,
    *,
    minimum: float | None = ...,
    allow_none: bool,
    maximum: float = ...,
    why: str | None = ...,
) -> float | None: ...


def seconds(
    value: Any,
    name: str,
    *,
    minimum: float | None = None,
    allow_none: bool = False,
    maximum: float = MAX_SECONDS,
    why: str | None = None,
) -> float | None:
    """A duration argument in seconds (an int, a float or a ``datetime.timedelta``) as a float.

    :param value: What the user passed.
    :param name: The argument's name, as the user wrote it (``"poll_interval"``), for messages.
    :param minimum: The smallest value accepted (inclusive). Without it, the value must be positive.
    :param allow_none: Return ``None`` for ``None`` (an optional argument) instead of refusing it.
    :param maximum: The largest value accepted (inclusive); by default about ten years.
    :param why: Why ``minimum`` is the minimum (``"Stitch allows 30 calls per 10 minutes"``), added
        to the message when the value is below it.
    :raises StitchConfigurationError: Naming the argument and the value, for anything else.
    """
    if value is None:
        if allow_none:
            return None
        raise StitchConfigurationError(
            f"{name} is required: give a number of seconds or a datetime.timedelta; got None"
        )
    what = "a number of seconds or a datetime.timedelta"
    timedelta = isinstance(value, datetime.timedelta)
    number = value.total_seconds() if timedelta else _number(value, name, what)
    if minimum is None:
        if number <= 0:
            raise StitchConfigurationError(f"{name} must be a positive duration; got {_shown(value)}")
    elif number < minimum:
        reason = f" ({why})" if why else ""
        raise StitchConfigurationError(
            f"{name} must be at least {minimum:g} seconds{reason}; got {_shown(value)}"
        )
    if number > maximum:
        raise StitchConfigurationError(
            f"{name} is too large: {_shown(value)} is more than {maximum:.12g} seconds "
            f"(about {maximum / (365.25 * 24 * 3600):.3g} years); a duration this long would overflow "
            "date arithmetic (datetime.timedelta) when added to the current time. Is it in milliseconds?"
        )
    return number


def positive_number(value: Any, name: str) -> float:
    """A positive, finite factor (a multiplier, a scale) as a float; bools and strings are refused."""
    number = _number(value, name, "a positive number")
    if number <= 0:
        raise StitchConfigurationError(f"{name} must be a positive number; got {value!r}")
    return number
