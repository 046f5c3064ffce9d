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

    from airflow_provider_stitch.hooks.stitch import StitchConnectHook

#: The asset alias the replication operator and sensor emit through unless told otherwise.
DEFAULT_ASSET_ALIAS = "stitch_loads"


def asset_alias_outlets(asset_alias: str | None) -> list[Any]:
    """The outlet a task declares to emit load events: ``[AssetAlias(asset_alias)]``, or none."""
    if not asset_alias:
        return []
    from airflow.sdk import AssetAlias

    return [AssetAlias(name=asset_alias)]


def loaded_tables(hook: StitchConnectHook, result: dict[str, Any], log: Any) -> dict[str, DatasetName]:
    """Stream -> its destination table, for every stream ``result`` loaded; empty (and logged) when
    the destination's tables cannot be named. Costs two calls outside the jobs budget (the source, the
    destinations), and none when nothing loaded."""
    streams = loaded_streams(result)
    if not streams:
        return {}
    source = hook.get_source(int(result["source_id"]))
    destination = destination_of(source.raw, hook.list_destinations())
    if destination is None:
        log.warning(
            "No asset events for %s: its destination cannot be told (several destinations, no mapping)",
            source.label,
        )
        return {}
    try:
        naming = destination_naming(destination)
    except UnnamedDestinationError as exc:
        log.warning("No asset events for %s: %s", source.label, exc)
        return {}
    return {stream: naming.table(source.name, stream) for stream in streams}


def emit_load_events(
    context: Context, asset_alias: str | None, hook: StitchConnectHook, result: dict[str, Any], log: Any
) -> list[str]:
    """Add one asset event per loaded stream to the task's outlet events; returns the asset URIs.

    A lookup failing after the hook's retries fails the try: the data landed but its events could not
    be named, and a retry (which reattaches to the succeeded job) emits them."""
    if not asset_alias:
        return []
    outlet_events = context.get("outlet_events")
    if outlet_events is None:
        # Only outside Airflow (a unit test calling execute with a hand-made context).
        log.info("No outlet events in this task's context: no asset events emitted")
        return []
    from airflow.sdk import Asset, AssetAlias

    try:
        tables = loaded_tables(hook, result, log)
    except StitchError:
        log.error("The replication succeeded, but the tables it loaded could not be looked up")
        raise
    loaded_at = loaded_streams(result)
    accessor = outlet_events[AssetAlias(name=asset_alias)]
    for stream, table in tables.items():
        accessor.add(
            Asset(name=table.uri, uri=table.uri),
            extra={
                "job_name": result.get("job_name"),
                "source_id": result.get("source_id"),
                "source_name": result.get("source_name"),
                "stream": stream,
                "loaded_at": loaded_at[stream],
                "stitch_client_id": result.get("stitch_client_id"),
            },
        )
        log.info("Asset event for %s (stream %s loaded at %s)", table.uri, stream, loaded_at[stream])
    return [table.uri for table in tables.values()]
