"""Wall-clock helpers.

The emulator never runs a virtual clock: clients compare Stitch timestamps with their own clock, so every
timestamp it emits is real UTC wall time. Jobs are sped up by shortening phase durations instead.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone


def now() -> float:
    return time.time()


def iso(ts: float | None) -> str | None:
    """Stitch's usual timestamp format: UTC, second precision, ``Z`` suffix."""
    if ts is None:
        return None
    return datetime.fromtimestamp(int(ts), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def log_stamp(ts: float) -> str:
    """Extraction-log timestamp: ``YYYY-MM-DD HH:MM:SS,mmmZ`` (comma before the milliseconds)."""
    dt = datetime.fromtimestamp(ts, tz=timezone.utc)
    return dt.strftime("%Y-%m-%d %H:%M:%S,") + f"{dt.microsecond // 1000:03d}Z"


def parse_iso(value: object) -> float | None:
    """Parse an ISO-8601 timestamp into epoch seconds; ``None`` when it is not one."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def normalise_iso(value: str) -> str | None:
    ts = parse_iso(value)
    return iso(ts) if ts is not None else None
