"""Eight deferrable replications on eight sources of one account, for benchmarks/ha_triggerers.py.

The sources are the copies of ``shop_db`` the benchmark seeds (``shop_db_1`` ... ``shop_db_8``); the
stack's ``stitch_default`` connection carries the emulator's ``time_scale`` and the ``triggerers`` extra
under test.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from airflow_provider_stitch.operators import StitchRunReplicationJobOperator

WAITS = 8

with DAG("stitch_ha_waits", schedule=None, catchup=False, default_args={"retries": 0}, tags=["benchmark"]):
    for number in range(1, WAITS + 1):
        StitchRunReplicationJobOperator(
            task_id=f"replicate_{number}",
            source_name=f"shop_db_{number}",
            deferrable=True,
            wait_for="loads",
            poll_interval=60,
            timeout=timedelta(hours=2),
        )
