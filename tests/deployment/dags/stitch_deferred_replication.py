"""One deferrable replication of ``shop_db``, run by tests/deployment on a real Airflow stack.

No ``time_scale`` here: the stack's ``stitch_default`` connection (the emulator, on loopback) carries the
extra ``time_scale``, which divides ``poll_interval`` and ``timeout``, as a user's DAG tests would do.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from airflow_provider_stitch.operators import StitchRunReplicationJobOperator

with DAG(
    "stitch_deferred_replication",
    schedule=None,
    catchup=False,
    default_args={"retries": 0},
    tags=["deployment-test"],
):
    StitchRunReplicationJobOperator(
        task_id="replicate",
        source_name="shop_db",
        deferrable=True,
        wait_for="loads",
        poll_interval=60,
        timeout=timedelta(minutes=30),
    )
