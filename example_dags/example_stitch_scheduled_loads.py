"""React to loads Stitch made on its *own* schedule: no Airflow task started those jobs.

An ``AssetWatcher`` runs :class:`~airflow_provider_stitch.triggers.StitchStreamLoadedTrigger` in the
triggerer. Each new load of one of ``shop_db``'s streams becomes one event on the asset
``stitch_shop_db_loads``, and every event (or batch of events, when several land between two runs)
starts a run of this DAG, whose task reports what was loaded.

Against the emulator (``make demo`` or ``python -m airflow_provider_stitch.emulator --run-schedules``),
``shop_db``'s 60-minute schedule makes loads land every 3 minutes at the emulator's default speed 20.

The trigger polls through the account's shared poller, together with every replication wait, within
Stitch's 30 calls per 10 minutes; ``poll_interval=60`` is stretched to that budget. Its cursor (the last
load reported per stream) is kept in this asset's state store, so a triggerer restart reports nothing
twice; see the trigger's documentation for loads landing while no triggerer runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_provider_stitch.triggers import StitchStreamLoadedTrigger

shop_db_loads = Asset(
    name="stitch_shop_db_loads",
    watchers=[
        AssetWatcher(
            name="stitch_shop_db_loads_watcher",
            trigger=StitchStreamLoadedTrigger(source_name="shop_db", poll_interval=60),
        )
    ],
)

with DAG(
    "stitch_scheduled_loads",
    schedule=[shop_db_loads],
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["stitch", "example", "data-aware"],
    doc_md=__doc__,
):

    @task
    def report_loads(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """One line per load that started this run, from the watcher's event payloads."""
        loads = []
        for event in triggering_asset_events[shop_db_loads]:
            payload = (event.extra or {}).get("payload") or {}
            print(
                f"Stitch loaded {payload.get('source_name')}.{payload.get('stream')} at "
                f"{payload.get('loaded_at')} (previous load: {payload.get('previous_loaded_at')})"
            )
            loads.append(payload)
        return loads

    report_loads()
