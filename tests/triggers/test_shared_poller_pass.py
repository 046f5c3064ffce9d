"""One pass of the shared poller is one snapshot: its calls are paid for up front, then made together."""

from __future__ import annotations

import asyncio
from typing import Any

from airflow_provider_stitch.api.budget import JobsCallPacer
from airflow_provider_stitch.triggers.shared_poller import PASS_BUDGET_SHARE, AccountKey, SharedPoller


class ListingHook:
    """Answers the two listings a pass makes, recording their order; ``loads`` rows of loads."""

    def __init__(self, loads: int) -> None:
        self.loads = loads
        self.calls: list[str] = []

    async def alist_loads(self) -> list[object]:
        self.calls.append("loads")
        return [object()] * self.loads

    async def alist_extractions(self) -> list[object]:
        self.calls.append("extractions")
        return []


def _poller_with_frozen_clock(hook: Any, tokens: float) -> SharedPoller:
    """A poller whose bucket holds ``tokens`` and never refills (its clock stands still): a call that
    needs a token it does not hold would wait forever."""
    poller = SharedPoller(AccountKey("http://127.0.0.1", 1001, time_scale=1.0), hook)
    now = [0.0]
    poller.pacer = JobsCallPacer(share=PASS_BUDGET_SHARE, clock=lambda: now[0])
    now[0] = tokens / poller.pacer.rate  # the bucket starts empty: let it fill to ``tokens``, then stop
    return poller


async def test_a_loads_listing_a_page_longer_than_planned_does_not_delay_the_extractions() -> None:
    # 40 jobs of 3 streams: 120 loads, two pages where the last pass planned one. Paid call by call,
    # the second page spent the extractions call's token, which then waited a refill (27 s of Stitch
    # time with the defaults) while every wait's verdict waited with it.
    hook = ListingHook(loads=120)
    poller = _poller_with_frozen_clock(hook, tokens=2)
    snapshot, extraction_pages, loads_pages = await asyncio.wait_for(
        poller._pass(with_loads=True, extraction_pages=1, loads_pages=1), timeout=5
    )
    assert hook.calls == ["loads", "extractions"]
    assert snapshot.error is None and snapshot.loads is not None and len(snapshot.loads) == 120
    assert (extraction_pages, loads_pages) == (1, 2)  # the next pass plans for two pages of loads
    # Every call is counted: the unplanned page is paid back from later refills.
    assert poller.stats.jobs_calls == 3
    assert poller.pacer.wait_for(1) > 0


async def test_a_pass_waits_for_all_its_calls_before_making_any() -> None:
    hook = ListingHook(loads=5)
    poller = _poller_with_frozen_clock(hook, tokens=1)  # one token: not enough for loads and extractions
    attempt = asyncio.ensure_future(poller._pass(with_loads=True, extraction_pages=1, loads_pages=1))
    await asyncio.sleep(0.05)
    assert not attempt.done() and hook.calls == []  # no half pass: nothing listed yet
    attempt.cancel()
