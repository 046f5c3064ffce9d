"""Sliding-window counter for Stitch's "jobs" rate limit (30 calls per 10 minutes per client id).

Stitch only *asks* clients to respect the limit; answering 429 is emulator behaviour, enabled with
``--enforce-rate-limit`` so provider back-off can be tested.
"""

from __future__ import annotations

import math
from collections import deque


class SlidingWindow:
    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._calls: dict[int, deque[float]] = {}

    def clear(self) -> None:
        self._calls.clear()

    def _prune(self, key: int, now: float) -> deque[float]:
        calls = self._calls.setdefault(key, deque())
        while calls and calls[0] <= now - self.window:
            calls.popleft()
        return calls

    def count(self, key: int, now: float) -> int:
        return len(self._prune(key, now))

    def counts(self, now: float) -> dict[int, int]:
        return {key: self.count(key, now) for key in list(self._calls)}

    def hit(self, key: int, now: float, *, enforce: bool) -> int | None:
        """Record a call. Returns None when allowed, else the Retry-After seconds (call not recorded)."""
        calls = self._prune(key, now)
        if enforce and len(calls) >= self.limit:
            return max(1, math.ceil(calls[0] + self.window - now))
        calls.append(now)
        return None
