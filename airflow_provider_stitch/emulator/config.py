"""Run-time options of one emulator instance (CLI flags and ``EmulatorServer`` keyword arguments)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

# Stitch documents 30 calls to the "jobs" endpoints per 10 minutes per client id.
JOBS_RATE_LIMIT = 30
JOBS_RATE_WINDOW_SECONDS = 600.0


@dataclass
class EmulatorConfig:
    seed_path: Path | None = None
    speed: float = 1.0
    warehouse_path: Path | None = None
    enforce_rate_limit: bool = False
    list_running_extractions: bool = False
    # Undocumented in Stitch: what DELETE .../sync returns when nothing runs. Default: 200 no-op.
    strict_stop: bool = False
    rate_limit: int = JOBS_RATE_LIMIT
    rate_limit_window: float = JOBS_RATE_WINDOW_SECONDS
    # Start jobs as Stitch's own schedule would (every frequency_in_minutes / speed). Off: tests stay
    # deterministic unless they ask for a busy source.
    run_schedules: bool = False
    # Seconds added to every timestamp the API returns, relative to the host clock (a skewed client).
    clock_skew: float = 0.0

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError(f"speed must be a positive number, got {self.speed!r}")
        if self.rate_limit < 1:
            raise ValueError(f"rate_limit must be at least 1, got {self.rate_limit!r}")
        if not self.rate_limit_window > 0:
            raise ValueError(f"rate_limit_window must be positive, got {self.rate_limit_window!r}")
        if not math.isfinite(self.clock_skew):
            raise ValueError(f"clock_skew must be a finite number of seconds, got {self.clock_skew!r}")
