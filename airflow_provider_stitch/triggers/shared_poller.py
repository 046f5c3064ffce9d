"""One poller per Stitch account per triggerer event loop, shared by every replication wait on it.

Stitch allows 30 "jobs" calls (extractions, logs, loads) per 10 minutes per client account. A trigger
that polled on its own would spend that budget N times over with N deferred tasks. Instead every
:class:`~airflow_provider_stitch.triggers.replication.StitchReplicationJobTrigger` subscribes to the
:class:`SharedPoller` of its account, and the poller makes, per pass:

* one loads listing, only while some wait waits for loads (before its extraction completed, every
  listing is a baseline that tells an earlier job's load error from ours; after, it shows our loads),
  made *before* the extractions listing, so that a job still running afterwards proves the loads older;
* one extractions listing (every page) for all waits;
* one log fetch per *job* (not per wait), on demand, to learn which streams had records; a log that
  answered is remembered for every wait on the job (a bounded cache), one not there yet is asked again.

Each wait then feeds its own :class:`~airflow_provider_stitch.api.wait.ReplicationWait` with the shared
:class:`Snapshot`. The pass interval is
the shortest interval the subscribers asked for, stretched by :func:`budget_interval` to the calls a
pass costs, and every call is paced through a :class:`~airflow_provider_stitch.api.budget.JobsCallPacer`
(a token bucket that starts empty) so that no 10-minute window ever holds more than the poller's share of
the budget, however many waits subscribe, and also across a triggerer restart (see the pacer).
The connection is resolved once per account (:func:`resolve_account`), not once per wait.

Pollers live in a module-level registry keyed by event loop and account (API host, client account and
time scale: two connection ids for one account share one poller and one budget), are reference-counted by
their subscriptions, and their poll loop (an asyncio task) stops when the last subscriber leaves.

Why not Airflow's ``BaseEventTrigger.shared_stream_key``: that machinery is for asset watchers (event
triggers are not queued and are counted as watchers), and ``dag.test()`` runs deferred triggers inline
without it. A plain registry works the same in the triggerer, in ``dag.test()`` and in tests.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_stitch.api import endpoints
from airflow_provider_stitch.api.budget import JobsCallPacer
from airflow_provider_stitch.api.job_names import client_id_from_job_name
from airflow_provider_stitch.api.objects import Extraction, Load
from airflow_provider_stitch.api.wait import AwaitedStreams
from airflow_provider_stitch.exceptions import (
    StitchAPIError,
    StitchConfigurationError,
    StitchNotFoundError,
    StitchRateLimitError,
    StitchTransportError,
)

if TYPE_CHECKING:
    from airflow_provider_stitch.hooks.settings import StitchSettings
    from airflow_provider_stitch.hooks.stitch import StitchConnectHook

log = logging.getLogger(__name__)

#: Stitch's lists hold at most 100 rows a page; every page is one jobs call.
PAGE_SIZE = 100
#: Share of the account's budget a triggerer's poller paces itself to (passes and log reads together);
#: the rest is left to the workers' own calls on the same account (a retried task checking its job,
#: blocking waits). Divided again by the connection's ``triggerers`` extra (HA: one share per triggerer).
PASS_BUDGET_SHARE = 0.8
#: Waits woken per turn of the event loop when a snapshot is published (see SharedPoller._wake).
WAKE_CHUNK = 16
#: Seconds (real) a resolved connection is reused by new waits before it is looked up again, so that an
#: edited connection is picked up while a thousand waits starting together still resolve it once.
ACCOUNT_CACHE_SECONDS = 60.0
#: Seconds (real) a source's selected streams (a free call: streams are not rate-limited) are reused.
SELECTED_STREAMS_SECONDS = 60.0
#: Jobs whose log answers a poller remembers (enough for every wait a triggerer runs at once).
LOG_CACHE_SIZE = 512


def pages_for(rows: int) -> int:
    """Jobs calls a paginated listing of ``rows`` rows cost."""
    return max(1, math.ceil(rows / PAGE_SIZE))


def poll_error_is_fatal(exc: BaseException) -> bool:
    """Whether a failed poll should end a wait, or just be logged and retried on the next pass.

    Transient: no answer, 429 and 5xx after the hook's own retries, a malformed answer. Fatal: anything
    that polling again cannot fix (bad token, unknown account, a bug).
    """
    if isinstance(exc, (StitchTransportError, StitchRateLimitError)):
        return False
    if isinstance(exc, (StitchConfigurationError, StitchNotFoundError)):
        return True
    if isinstance(exc, StitchAPIError):
        return not (exc.status_code >= 500 or 200 <= exc.status_code < 300)
    return True


@dataclass(frozen=True)
class AccountKey:
    """What makes two waits share a poller: the same API, client account and time scale."""

    base_url: str
    stitch_client_id: int
    time_scale: float = 1.0


@dataclass(frozen=True)
class Snapshot:
    """What one pass saw. ``loads`` is None when the pass did not list loads (nobody needed them); when
    listed, they were listed before the extractions."""

    generation: int
    taken_at: float
    extractions: tuple[Extraction, ...] = ()
    loads: tuple[Load, ...] | None = None
    error: BaseException | None = None


@dataclass
class PollerStats:
    passes: int = 0
    jobs_calls: int = 0
    log_fetches: int = 0


@dataclass(eq=False)
class Subscription:
    """One wait's membership in a poller: what it asks of the next passes, and where it is."""

    poller: SharedPoller
    poll_interval: float
    wants_loads: bool = False
    seen_generation: int = 0

    async def next_snapshot(self, timeout: float | None) -> Snapshot | None:
        """The first snapshot newer than the last one returned; None if ``timeout`` passes first."""
        return await self.poller.snapshot_after(self, timeout)

    async def awaited_streams(self, job_name: str, source_id: int) -> AwaitedStreams:
        return await self.poller.awaited_streams(job_name, source_id)

    async def selected_streams(self, source_id: int) -> AwaitedStreams:
        return await self.poller.selected_streams(source_id)


@dataclass(eq=False)
class SharedPoller:
    """Polls one account's jobs endpoints for all its subscribers (see the module docstring)."""

    key: AccountKey
    hook: StitchConnectHook
    stats: PollerStats = field(default_factory=PollerStats)
    #: How many triggerer processes may poll this account (the connection's ``triggerers`` extra).
    triggerers: int = 1

    def __post_init__(self) -> None:
        scale = self.key.time_scale
        # The bucket counts in "Stitch seconds": with time_scale N (emulator speed), 10 minutes of
        # budget pass in 600/N real seconds, and every interval shrinks by the same factor.
        self.pacer = JobsCallPacer(
            share=PASS_BUDGET_SHARE / max(1, self.triggerers), clock=lambda: time.monotonic() * scale
        )
        self._selected: dict[int, tuple[float, asyncio.Future[tuple[str, ...]]]] = {}
        self.subscribers: set[Subscription] = set()
        self.latest: Snapshot | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self._task: asyncio.Task[None] | None = None
        self._awaited: collections.OrderedDict[str, asyncio.Future[AwaitedStreams]] = (
            collections.OrderedDict()
        )
        self._calls_per_pass = 1

    # --- subscribers -----------------------------------------------------------------------------

    def join(self, poll_interval: float, wants_loads: bool = False) -> Subscription:
        subscription = Subscription(self, poll_interval, wants_loads=wants_loads)
        if self.latest is not None:
            subscription.seen_generation = self.latest.generation
        self.subscribers.add(subscription)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"stitch-poller-{self.key}")
        return subscription

    def leave(self, subscription: Subscription) -> None:
        self.subscribers.discard(subscription)
        if not self.subscribers and self._task is not None:
            self._task.cancel()
            self._task = None

    async def snapshot_after(self, subscription: Subscription, timeout: float | None) -> Snapshot | None:
        loop = asyncio.get_running_loop()
        until = None if timeout is None else loop.time() + max(0.0, timeout)
        while self.latest is None or self.latest.generation <= subscription.seen_generation:
            remaining = None if until is None else until - loop.time()
            if remaining is not None and remaining <= 0:
                return None
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except asyncio.TimeoutError:  # not the builtin TimeoutError before Python 3.11
                return None
        subscription.seen_generation = self.latest.generation
        return self.latest

    # --- budget ------------------------------------------------------------------------------------

    async def _spend(self, calls: int) -> None:
        """Wait until the bucket holds ``calls`` tokens (at most its burst), then spend them."""
        # Paced by a refilling bucket, which no event could signal.
        while (wait := self.pacer.wait_for(calls)) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait / self.key.time_scale)
        self.pacer.take(calls)
        self.stats.jobs_calls += calls

    def _record_extra_pages(self, planned: int, rows: int) -> None:
        extra = pages_for(rows) - planned
        if extra > 0:
            # Already made (the listing had more pages than the last one): paid back from later refills.
            self.pacer.charge(extra)
            self.stats.jobs_calls += extra

    def interval(self) -> float:
        """Seconds until the next pass: the fastest subscriber's wish, stretched to the bucket's pace."""
        wished = min((s.poll_interval for s in self.subscribers), default=0.0)
        in_budget = self.pacer.interval(self._calls_per_pass) / self.key.time_scale
        return max(wished, in_budget)

    # --- the poll loop -----------------------------------------------------------------------------

    async def _run(self) -> None:
        extraction_pages = loads_pages = 1
        try:
            async with self.hook:
                while self.subscribers:
                    with_loads = any(s.wants_loads for s in self.subscribers)
                    snapshot, extraction_pages, loads_pages = await self._pass(
                        with_loads, extraction_pages, loads_pages
                    )
                    self._calls_per_pass = extraction_pages + (loads_pages if with_loads else 0)
                    await self._wake(self._publish(snapshot))
                    await asyncio.sleep(self.interval())
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # pragma: no cover - a bug here must not leave waits hanging
            log.exception("Stitch shared poller for %s stopped", self.key)
            for waiter in self._publish(self._next(error=exc)):
                if not waiter.done():
                    waiter.set_result(None)

    async def _pass(
        self, with_loads: bool, extraction_pages: int, loads_pages: int
    ) -> tuple[Snapshot, int, int]:
        self.stats.passes += 1
        # The pass's calls are paid for up front and then made back to back, so that its loads and its
        # extractions describe one moment. Paid call by call, a listing one page longer than planned
        # (120 loads of 40 jobs) spent the next call's token, and the extractions waited 27 s of Stitch
        # time for a refill while every wait's verdict waited with them.
        await self._spend(extraction_pages + (loads_pages if with_loads else 0))
        try:
            loads: list[Load] | None = None
            if with_loads:
                loads = await self.hook.alist_loads()
                self._record_extra_pages(loads_pages, len(loads))
                loads_pages = pages_for(len(loads))
            extractions = await self.hook.alist_extractions()
            self._record_extra_pages(extraction_pages, len(extractions))
            extraction_pages = pages_for(len(extractions))
        except Exception as exc:
            log.warning("Stitch poll for client account %s failed: %s", self.key.stitch_client_id, exc)
            return self._next(error=exc), extraction_pages, loads_pages
        return (
            self._next(extractions=tuple(extractions), loads=None if loads is None else tuple(loads)),
            extraction_pages,
            loads_pages,
        )

    def _next(
        self,
        *,
        extractions: tuple[Extraction, ...] = (),
        loads: tuple[Load, ...] | None = None,
        error: BaseException | None = None,
    ) -> Snapshot:
        generation = self.latest.generation + 1 if self.latest else 1
        if error is not None and self.latest is not None:
            extractions = self.latest.extractions
        return Snapshot(generation, time.time(), extractions, loads, error)

    def _publish(self, snapshot: Snapshot) -> list[asyncio.Future[None]]:
        """Make ``snapshot`` the latest; the waits waiting for it (to wake with :meth:`_wake`)."""
        self.latest = snapshot
        waiters, self._waiters = self._waiters, []
        return waiters

    async def _wake(self, waiters: list[asyncio.Future[None]]) -> None:
        """Wake the waits :data:`WAKE_CHUNK` at a time, yielding to the event loop in between.

        Woken all at once, a thousand waits judged the snapshot within one turn of the event loop (about
        200 ms with 1000 waits), stalling every other trigger in the triggerer for that long."""
        for start in range(0, len(waiters), WAKE_CHUNK):
            for waiter in waiters[start : start + WAKE_CHUNK]:
                if not waiter.done():
                    waiter.set_result(None)
            await asyncio.sleep(0)

    # --- which streams a job loads (logs, once per job) ----------------------------------------------

    async def awaited_streams(self, job_name: str, source_id: int) -> AwaitedStreams:
        """Streams whose loads prove ``job_name``'s data landed; a log that answered is read once for
        all waits, one not there yet (a stand-in answer) is asked again by the next wait that needs it."""
        while True:
            future = self._awaited.get(job_name)
            if future is None:
                future = asyncio.get_running_loop().create_future()
                self._awaited[job_name] = future
                while len(self._awaited) > LOG_CACHE_SIZE:
                    self._awaited.popitem(last=False)
                try:
                    answer = await self._read_awaited_streams(job_name, source_id)
                except asyncio.CancelledError:
                    # Our own wait was cancelled; the others sharing the read must not be.
                    self._forget(job_name, future)
                    future.cancel()
                    raise
                except BaseException as exc:
                    self._forget(job_name, future)
                    future.set_exception(exc)
                    future.exception()  # retrieved here: the caller gets it by the raise below
                    raise
                future.set_result(answer)
                if not answer.final:
                    self._forget(job_name, future)
                return answer
            self._awaited.move_to_end(job_name)
            # asyncio.wait, unlike shield, raises CancelledError only when this wait is cancelled (and,
            # like shield, leaves the shared read running), so the read's own cancellation is told apart
            # by future.cancelled() alone, on every Python (Task.cancelling() is 3.11+).
            await asyncio.wait((future,))
            if future.cancelled():
                continue  # the wait reading the log was cancelled, not this one: read it again
            return future.result()

    def cached_logs(self) -> int:
        """How many jobs' log answers the poller remembers (at most ``LOG_CACHE_SIZE``)."""
        return len(self._awaited)

    def _forget(self, job_name: str, future: asyncio.Future[AwaitedStreams]) -> None:
        if self._awaited.get(job_name) is future:
            del self._awaited[job_name]

    async def selected_streams(self, source_id: int) -> AwaitedStreams:
        """The source's selected streams, standing in for a job's log until the log is worth a call.

        Streams are not rate-limited; one listing per source serves every wait on it for a minute."""
        now = time.monotonic()
        cached = self._selected.get(source_id)
        if (
            cached is None
            or now - cached[0] > SELECTED_STREAMS_SECONDS
            or (cached[1].done() and (cached[1].cancelled() or cached[1].exception() is not None))
        ):
            task = asyncio.get_running_loop().create_task(self.hook.alist_streams(source_id))
            future: asyncio.Future[tuple[str, ...]] = asyncio.ensure_future(_selected_names(task))
            self._selected[source_id] = cached = (now, future)
        names = await asyncio.shield(cached[1])
        return AwaitedStreams(names, final=False)

    async def _read_awaited_streams(self, job_name: str, source_id: int) -> AwaitedStreams:
        await self._spend(1)
        self.stats.log_fetches += 1
        client_id = client_id_from_job_name(job_name) or self.key.stitch_client_id
        return await self.hook.arun(endpoints.awaited_streams(client_id, job_name, source_id))


async def _selected_names(listing: asyncio.Future[list[Any]]) -> tuple[str, ...]:
    return tuple(sorted({s.stream_name for s in await listing if s.selected}))


_registry: dict[tuple[asyncio.AbstractEventLoop, AccountKey], SharedPoller] = {}
_accounts: dict[tuple[asyncio.AbstractEventLoop, str], tuple[float, asyncio.Future[ResolvedAccount]]] = {}


@dataclass(frozen=True)
class ResolvedAccount:
    """A connection looked up (and its secrets masked) once, for every wait that names it."""

    key: AccountKey
    settings: StitchSettings
    client_id: int


async def resolve_account(
    conn_id: str, hook_factory: Callable[[], StitchConnectHook], stitch_client_id: int | None = None
) -> ResolvedAccount:
    """Look up ``conn_id`` once for all waits starting within :data:`ACCOUNT_CACHE_SECONDS`.

    A thousand triggers starting together each looked the connection up and masked its secrets (about
    200 ms of event-loop stall at start-up); now the first one does and the others await its answer.
    A failed lookup is not remembered: the next wait tries again.
    """
    loop = asyncio.get_running_loop()
    cache_key = (loop, conn_id)
    now = time.monotonic()
    cached = _accounts.get(cache_key)
    if cached is None or now - cached[0] > ACCOUNT_CACHE_SECONDS:

        async def look_up() -> ResolvedAccount:
            hook = hook_factory()
            settings = await hook.aget_settings()
            client_id = settings.stitch_client_id or await hook.aget_client_id()
            return ResolvedAccount(
                AccountKey(settings.base_url, client_id, settings.time_scale), settings, client_id
            )

        cached = (now, loop.create_task(look_up()))
        _accounts[cache_key] = cached
    try:
        resolved = await asyncio.shield(cached[1])
    except BaseException:
        if _accounts.get(cache_key) is cached and cached[1].done():
            del _accounts[cache_key]
        raise
    if stitch_client_id and stitch_client_id != resolved.client_id:
        # The task named another client account than the connection's: a key of its own.
        key = AccountKey(resolved.key.base_url, stitch_client_id, resolved.key.time_scale)
        return ResolvedAccount(key, resolved.settings, stitch_client_id)
    return resolved


def active_pollers() -> list[SharedPoller]:
    """The pollers running in this process (for benchmarks and tests)."""
    return list(_registry.values())


@asynccontextmanager
async def subscribe(
    key: AccountKey,
    hook_factory: Callable[[], StitchConnectHook],
    poll_interval: float,
    wants_loads: bool = False,
    settings: StitchSettings | None = None,
) -> AsyncIterator[Subscription]:
    """Join the account's shared poller for the duration of the block (creating it if needed)."""
    loop = asyncio.get_running_loop()
    registry_key = (loop, key)
    poller = _registry.get(registry_key)
    if poller is None:
        hook = hook_factory()
        if settings is not None:
            # Resolved once already (resolve_account): the poller's hook need not look it up again.
            hook.use_settings(settings, key.stitch_client_id)
        poller = _registry[registry_key] = SharedPoller(
            key, hook, triggerers=settings.triggerers if settings is not None else 1
        )
    subscription = poller.join(poll_interval, wants_loads)
    try:
        yield subscription
    finally:
        poller.leave(subscription)
        if not poller.subscribers and _registry.get(registry_key) is poller:
            del _registry[registry_key]
