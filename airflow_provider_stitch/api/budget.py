"""Stitch's jobs-API budget: 30 calls per 10 minutes per client account (§3.3).

It covers the extractions list, extraction logs and loads list together. Stitch does not enforce it
today but may block clients that keep exceeding it, so every poller plans its calls with these helpers.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

JOBS_CALLS_PER_WINDOW = 30
WINDOW_SECONDS = 600.0
#: Never poll faster than this, whatever the budget allows: Stitch jobs take minutes.
MIN_POLL_INTERVAL = 20.0


def budget_interval(calls_per_poll: float, *, share: float = 1.0) -> float:
    """Shortest poll interval keeping ``calls_per_poll`` calls a poll within ``share`` of the budget."""
    if calls_per_poll <= 0:
        return MIN_POLL_INTERVAL
    share = min(max(share, 0.01), 1.0)
    return max(MIN_POLL_INTERVAL, calls_per_poll * WINDOW_SECONDS / (JOBS_CALLS_PER_WINDOW * share))


class JobsCallWindow:
    """A sliding 10-minute window of jobs calls for one account, to pace callers that share it."""

    def __init__(
        self, limit: int = JOBS_CALLS_PER_WINDOW, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._calls: collections.deque[float] = collections.deque()

    def _trim(self, now: float) -> None:
        while self._calls and now - self._calls[0] >= WINDOW_SECONDS:
            self._calls.popleft()

    def record(self, count: int = 1) -> None:
        now = self._clock()
        self._trim(now)
        self._calls.extend([now] * count)

    def used(self) -> int:
        self._trim(self._clock())
        return len(self._calls)

    def wait_for(self, count: int = 1) -> float:
        """Seconds until ``count`` more calls fit in the window (0 when they fit now)."""
        now = self._clock()
        self._trim(now)
        excess = len(self._calls) + count - self.limit
        if excess <= 0:
            return 0.0
        if excess > len(self._calls):
            return WINDOW_SECONDS
        return max(0.0, self._calls[excess - 1] + WINDOW_SECONDS - now)
