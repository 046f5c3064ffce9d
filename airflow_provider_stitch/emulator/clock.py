"""Wall-clock helpers.

The emulator never runs a virtual clock: clients compare Stitch timestamps with their own clock, so every
timestamp it emits is real UTC wall time. Jobs are sped up by shortening phase durations instead.
"""

from __future__ import annotations

import secrets
import time
import uuid
from datetime import datetime, timezone

#: 100-nanosecond intervals between the uuid epoch (1582-10-15) and the Unix epoch.
_UUID_EPOCH_OFFSET = 0x01B21DD213814000


def now() -> float:
    return time.time()


def iso(ts: float | None) -> str | None:
    """Stitch's usual timestamp format: UTC, second precision, ``Z`` suffix."""
    if ts is None:
        return None
    return datetime.fromtimestamp(int(ts), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def time_uuid(ts: float) -> uuid.UUID:
    """A version-1 (time-based) uuid for the instant ``ts``, as in Stitch's job and check names.

    ``uuid.uuid1()`` only knows the host clock; names must carry the emulated Stitch clock (``ts``
    includes ``--clock-skew``) so the time a name encodes agrees with the object's own timestamps.
    Node and clock sequence are random (the node with its multicast bit set, as RFC 4122 asks of a
    node that is not a MAC address), so two names made in one instant still differ.
    """
    t = int(ts * 10_000_000) + _UUID_EPOCH_OFFSET
    clock_seq = secrets.randbits(14)
    node = secrets.randbits(48) | 0x010000000000
    return uuid.UUID(
        fields=(
            t & 0xFFFFFFFF,
            (t >> 32) & 0xFFFF,
            ((t >> 48) & 0x0FFF) | 0x1000,
            ((clock_seq >> 8) & 0x3F) | 0x80,
            clock_seq & 0xFF,
            node,
        )
    )


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
