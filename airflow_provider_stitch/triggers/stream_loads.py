"""StitchStreamLoadedTrigger: an event trigger for ``AssetWatcher`` that fires once per new load of a
source's streams, whoever started the job (Stitch's own schedule, the Stitch app, another DAG).

How a load is seen: Stitch's loads list (https://www.stitchdata.com/docs/developers/stitch-connect/api#list-last-loads-for-account)
holds, per (source, stream), the most recent load attempt and ``last_batch_loaded_at``, the time its
last batch landed. A load is *new* when that time
moves past the one the trigger last reported for the stream (its **cursor**). A failed attempt leaves
the time where it was, so it fires nothing. The trigger polls through its account's
:class:`~airflow_provider_stitch.triggers.shared_poller.SharedPoller`, so its loads listing is the same
call every replication wait on the account uses, within the same 30-calls-per-10-minutes budget.

Where the cursor lives: in the **asset state store** of the asset the watcher is attached to (Airflow >=
3.3 gives event triggers ``asset_state_store``; key ``stitch_loaded_at:<client>:<source>``), written
*before* an event is yielded. So:

* a rebuilt trigger (triggerer restart, DAG re-parse, moved to another triggerer) resumes from the stored
  cursor and never reports a load twice;
* a load the triggerer saw while dying between storing the cursor and handing the event over is lost
  (at most once, never twice);
* loads that land while no triggerer runs are reported when one starts again, but the loads list keeps
  only each stream's *latest* load: several loads of a stream during the outage become one event, whose
  ``previous_loaded_at`` (the cursor) shows the gap;
* the first start, with no cursor stored, takes the current loads as its baseline: loads older than the
  watcher are not reported.

Without a state store (Airflow < 3.3, ``dag.test()``, or a trigger watching several assets, where the
store cannot tell which asset to use) the cursor is kept in memory only: a restart then takes a new
baseline, and loads during the restart are not reported (logged as a warning when the trigger starts).

Event payload, one per (stream, load)::

    {"source_id": 2001, "source_name": "shop_db", "stream": "orders",
     "loaded_at": "2024-05-01T10:00:07Z", "previous_loaded_at": "2024-05-01T09:00:05Z" | None,
     "stitch_client_id": 1001}
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_stitch.api import arguments
from airflow_provider_stitch.api.budget import MIN_POLL_INTERVAL
from airflow_provider_stitch.api.objects import Load, format_timestamp, parse_timestamp
from airflow_provider_stitch.exceptions import StitchConfigurationError

if TYPE_CHECKING:
    from airflow_provider_stitch.hooks.stitch import StitchConnectHook

#: Default seconds between polls (Stitch time): Stitch's shortest replication frequency is 30 minutes,
#: so five minutes sees every load within a sixth of the shortest interval, for two calls a pass.
DEFAULT_POLL_INTERVAL = 300.0


def new_loads(
    loads: Iterable[Load], source_name: str, streams: Sequence[str] | None, cursor: dict[str, str]
) -> list[tuple[str, dt.datetime, str | None]]:
    """``(stream, loaded_at, previous_loaded_at)`` of each of the source's (wanted) streams whose last
    batch landed after its cursor; a stream the cursor does not know yet counts as new."""
    found = []
    for row in loads:
        if row.source_name != source_name or row.last_batch_loaded_at is None:
            continue
        if streams is not None and row.stream_name not in streams:
            continue
        previous = cursor.get(row.stream_name)
        seen = parse_timestamp(previous)
        if seen is None or row.last_batch_loaded_at > seen:
            found.append((row.stream_name, row.last_batch_loaded_at, previous))
    return sorted(found, key=lambda item: (item[1], item[0]))


class StitchStreamLoadedTrigger(BaseEventTrigger):
    """Fire one event per new load of a Stitch source's streams (see the module docstring).

    :param source_id: The source's id. Give this or ``source_name``.
    :param source_name: The source's name (destination schema) or display name, resolved when the
        trigger starts (in the triggerer, never at DAG parse time).
    :param streams: Only these streams (names as Stitch lists them); ``None``: every stream.
    :param stitch_conn_id: The Stitch connection.
    :param poll_interval: Seconds (Stitch time; at least 20, default 300) between polls wished for; the
        shared poller may stretch it to the budget, and polls at the fastest interval any wait on the
        account asks for.
    """

    def __init__(
        self,
        *,
        source_id: int | None = None,
        source_name: str | None = None,
        streams: Sequence[str] | None = None,
        stitch_conn_id: str = "stitch_default",
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        super().__init__()
        if (source_id is None) == (not source_name):
            raise StitchConfigurationError(
                f"Give exactly one of source_id or source_name; got source_id={source_id!r}, "
                f"source_name={source_name!r}."
            )
        if streams is not None and (isinstance(streams, str) or not all(isinstance(s, str) for s in streams)):
            raise StitchConfigurationError(f"streams must be a list of stream names or None; got {streams!r}")
        self.source_id = None if source_id is None else int(source_id)
        self.source_name = source_name
        self.streams = None if streams is None else sorted(set(streams))
        self.stitch_conn_id = stitch_conn_id
        self.poll_interval = arguments.seconds(
            poll_interval,
            "poll_interval",
            minimum=MIN_POLL_INTERVAL,
            why="Stitch allows 30 jobs calls per 10 minutes per account",
        )
        self._memory_cursor: dict[str, str] | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "source_id": self.source_id,
                "source_name": self.source_name,
                "streams": self.streams,
                "stitch_conn_id": self.stitch_conn_id,
                "poll_interval": self.poll_interval,
            },
        )

    def _hook(self) -> StitchConnectHook:
        from airflow_provider_stitch.hooks.stitch import StitchConnectHook

        return StitchConnectHook(self.stitch_conn_id)

    # --- the cursor ----------------------------------------------------------------------------------

    def _store(self) -> Any:
        """The watched asset's state store, or None (then the cursor lives in memory only)."""
        store = getattr(self, "asset_state_store", None)
        if store is None:
            return None
        try:
            store._single_accessor()
        except (ValueError, AttributeError):
            return None
        return store

    async def _read_cursor(self, key: str) -> dict[str, str] | None:
        store = self._store()
        if store is None:
            return self._memory_cursor
        value = await store.aget(key)
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else None

    async def _write_cursor(self, key: str, cursor: dict[str, str]) -> None:
        self._memory_cursor = dict(cursor)
        store = self._store()
        if store is not None:
            await store.aset(key, dict(cursor))

    # --- run -----------------------------------------------------------------------------------------

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_stitch.triggers.shared_poller import AccountKey, poll_error_is_fatal, subscribe

        async with self._hook() as hook:
            settings = await hook.aget_settings()
            if self.source_id is not None:
                source = await hook.aget_source(self.source_id)
            else:
                source = await hook.afind_source(str(self.source_name))
            client_id = source.stitch_client_id or await hook.aget_client_id()
        key = f"stitch_loaded_at:{client_id}:{source.id}"
        if self._store() is None:
            self.log.warning(
                "No asset state store for this watcher (Airflow < 3.3, dag.test(), or several watched "
                "assets): the cursor of %s is kept in memory, and a restart takes a new baseline",
                source.label,
            )
        cursor = await self._read_cursor(key)
        account = AccountKey(settings.base_url, client_id, settings.time_scale)
        interval = self.poll_interval / settings.time_scale
        async with subscribe(account, self._hook, interval, wants_loads=True) as subscription:
            while True:
                snapshot = await subscription.next_snapshot(None)
                if snapshot is None:  # pragma: no cover - no timeout given
                    continue
                if snapshot.error is not None:
                    if poll_error_is_fatal(snapshot.error):
                        raise snapshot.error
                    self.log.warning(
                        "Polling Stitch failed; trying again on the next pass: %s", snapshot.error
                    )
                    continue
                if snapshot.loads is None:
                    continue  # a pass made before this subscription asked for loads
                found = new_loads(snapshot.loads, source.name, self.streams, cursor or {})
                if cursor is None:
                    # First start: what is loaded now is the baseline, not news.
                    cursor = {stream: str(format_timestamp(at)) for stream, at, _ in found}
                    await self._write_cursor(key, cursor)
                    self.log.info("Watching %s from a baseline of %d streams", source.label, len(cursor))
                    continue
                if not found:
                    continue
                cursor = {**cursor, **{stream: str(format_timestamp(at)) for stream, at, _ in found}}
                # Stored before the events leave: a restart never reports these loads again.
                await self._write_cursor(key, cursor)
                for stream, loaded_at, previous in found:
                    self.log.info(
                        "Stitch loaded %s.%s at %s", source.name, stream, format_timestamp(loaded_at)
                    )
                    yield TriggerEvent(
                        {
                            "source_id": source.id,
                            "source_name": source.name,
                            "stream": stream,
                            "loaded_at": format_timestamp(loaded_at),
                            "previous_loaded_at": previous,
                            "stitch_client_id": client_id,
                        }
                    )
                await asyncio.sleep(0)
