"""Stitch's jobs-API budget: 30 calls per 10 minutes per client account
(https://www.stitchdata.com/docs/developers/stitch-connect/api#rate-limit-overview).

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


#: Calls a :class:`JobsCallPacer` may make back to back. With it, the refill rate is set so that the
#: burst plus ten minutes of refill is the budget: ``BURST + rate * 600 == 30`` (see the class docstring).
BURST = 2


class JobsCallPacer:
    """A token bucket for one account's jobs calls: smooth pacing, no bursts beyond :data:`BURST`.

    Why a bucket rather than the sliding window alone: a window lets a caller spend the whole budget at
    once (the burst a restarted triggerer made: 22 log reads in 20 s) and then starve for 10 minutes.
    The bucket holds at most ``burst`` tokens and refills at ``(limit * share - burst) / 600`` per
    second, so any 10-minute interval holds at most ``burst + rate * 600 = limit * share`` calls.

    Why it starts **empty**: that bound also holds across a triggerer restart without remembering
    anything. The old process spent at most ``burst + rate * t`` calls in any interval of length ``t``
    ending at the restart; a new bucket that starts with zero tokens spends at most ``rate * t'`` in
    the ``t'`` after it. Any 10-minute window straddling the restart therefore holds at most
    ``burst + rate * 600`` calls, the same as one process would. Persisting the call history (metadata
    DB, Variable) would cost a write per call and a read path the triggerer's trigger runner does not
    have; Stitch sends nothing (no 429, no rate-limit headers) to re-derive it from. The price is one
    refill interval (about 21 s of Stitch time with the defaults) before a new process's first call.

    Calls that the caller could not pace (a listing that turned out to have more pages than planned)
    are charged with :meth:`charge`, which may drive the bucket negative: later callers then wait
    longer, so the window bound holds up to the margin of those unplanned pages (documented in the
    README's budget section).

    ``clock`` counts Stitch seconds (the poller multiplies by the emulator's time scale).
    """

    def __init__(
        self,
        limit: int = JOBS_CALLS_PER_WINDOW,
        *,
        share: float = 1.0,
        burst: int = BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        share = min(max(share, 0.01), 1.0)
        allowed = limit * share
        self.burst = max(1.0, min(float(burst), allowed / 2))
        #: Tokens per Stitch second.
        self.rate = (allowed - self.burst) / WINDOW_SECONDS
        self._clock = clock
        self._tokens = 0.0
        self._at = clock()
        self.spent = 0

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        return now

    def wait_for(self, count: int = 1) -> float:
        """Stitch seconds until ``count`` tokens are there (0 when they are now)."""
        self._refill()
        # More than the burst can never be held at once: wait for a full bucket and go into debt.
        need = min(float(count), self.burst) - self._tokens
        return 0.0 if need <= 1e-9 else need / self.rate

    def take(self, count: int = 1) -> None:
        """Spend ``count`` tokens (after :meth:`wait_for` said 0)."""
        self._refill()
        self._tokens -= count
        self.spent += count

    def charge(self, count: int) -> None:
        """Count calls already made that were not paced (they are paid back from future refills)."""
        if count > 0:
            self.take(count)

    def interval(self, calls: float) -> float:
        """Stitch seconds that ``calls`` tokens take to refill: the steady pace of a pass costing that."""
        return calls / self.rate if self.rate > 0 else WINDOW_SECONDS
