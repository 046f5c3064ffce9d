"""Request accounting for ``GET /_emulator/stats``: per account, per route template, per both."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any


class RequestStats:
    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.total = 0
        self.by_account: Counter[str] = Counter()
        self.by_route: Counter[str] = Counter()
        self.by_account_route: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.by_status: Counter[str] = Counter()

    def record(self, account: str, route: str, status: int) -> None:
        self.total += 1
        self.by_account[account] += 1
        self.by_route[route] += 1
        self.by_account_route[account][route] += 1
        self.by_status[str(status)] += 1

    def to_json(self) -> dict[str, Any]:
        return {
            "requests_total": self.total,
            "by_account": dict(self.by_account),
            "by_route": dict(self.by_route),
            "by_account_route": {k: dict(v) for k, v in self.by_account_route.items()},
            "by_status": dict(self.by_status),
        }
