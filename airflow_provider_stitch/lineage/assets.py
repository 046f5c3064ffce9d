"""Asset events for the tables a successful replication loaded, emitted through an asset alias the
operator declares itself (so DAG authors declare no outlet).

One event per stream that loaded new records, on the asset that names the stream's destination table
(:mod:`.naming`), with ``extra``::

    {"job_name": ..., "source_id": ..., "source_name": ..., "stream": ..., "loaded_at": ...,
     "stitch_client_id": ...}

Airflow records them when the task succeeds (never for a failed or skipped try), creating the asset on
its first event. A DAG scheduled on ``Asset("postgres://host:5432/db/shop_db/orders")`` (or on the
alias) then runs when that table got new data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_stitch.exceptions import StitchError
from airflow_provider_stitch.lineage.naming import (
    DatasetName,
    UnnamedDestinationError,
    destination_naming,
    destination_of,
    loaded_streams,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_stitch.api.objects import Source
    from airflow_provider_stitch.hooks.stitch import StitchConnectHook

#: The asset alias the replication operator and sensor emit through unless told otherwise.
DEFAULT_ASSET_ALIAS = "stitch_loads"


def asset_alias_outlets(asset_alias: str | None) -> list[Any]:
    """The outlet a task declares to emit load events: ``[AssetAlias(asset_alias)]``, or none."""
    if not asset_alias:
        return []
    from airflow.sdk import AssetAlias

    return [AssetAlias(name=asset_alias)]


@dataclass(frozen=True)
class LoadedTables:
    """What a successful replication loaded: its source, and per stream its table and load time."""

    source: Source
    tables: dict[str, DatasetName]
    loaded_at: dict[str, str]


def look_up_loaded_tables(hook: StitchConnectHook, result: dict[str, Any], log: Any) -> LoadedTables | None:
    """The tables ``result`` loaded new records into; None when nothing loaded, and None (logged) when
    the destination's tables cannot be named. Costs two calls outside the jobs budget (the source, the
    destinations), none when nothing loaded. A lookup failing after the hook's retries raises."""
    loaded_at = loaded_streams(result)
    if not loaded_at:
        return None
    try:
        source = hook.get_source(int(result["source_id"]))
        destination = destination_of(source.raw, hook.list_destinations())
    except StitchError:
        log.error("The replication succeeded, but the tables it loaded could not be looked up")
        raise
    if destination is None:
        log.warning(
            "No asset events for %s: its destination cannot be told (several destinations, no mapping)",
            source.label,
        )
        return None
    try:
        naming = destination_naming(destination)
    except UnnamedDestinationError as exc:
        log.warning("No asset events for %s: %s", source.label, exc)
        return None
    return LoadedTables(source, {s: naming.table(source.name, s) for s in loaded_at}, loaded_at)


def emit_load_events(
    context: Context, asset_alias: str | None, loaded: LoadedTables | None, result: dict[str, Any], log: Any
) -> list[str]:
    """Add one asset event per loaded table to the task's outlet events; returns the asset URIs."""
    if not asset_alias or loaded is None:
        return []
    outlet_events = context.get("outlet_events")
    if outlet_events is None:
        # Only outside Airflow (a unit test calling execute with a hand-made context).
        log.info("No outlet events in this task's context: no asset events emitted")
        return []
    from airflow.sdk import Asset, AssetAlias

    accessor = outlet_events[AssetAlias(name=asset_alias)]
    for stream, table in loaded.tables.items():
        accessor.add(
            Asset(name=table.uri, uri=table.uri),
            extra={
                "job_name": result.get("job_name"),
                "source_id": result.get("source_id"),
                "source_name": result.get("source_name"),
                "stream": stream,
                "loaded_at": loaded.loaded_at[stream],
                "stitch_client_id": result.get("stitch_client_id"),
            },
        )
        log.info("Asset event for %s (stream %s loaded at %s)", table.uri, stream, loaded.loaded_at[stream])
    return [table.uri for table in loaded.tables.values()]
