"""One blocking (non-deferrable) replication of ``shop_db`` with retries, run by tests/deployment.

A killed task process is retried at once (``retry_delay`` 1 s), so the retry finds the job still running.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from airflow_provider_stitch.operators import StitchRunReplicationJobOperator

with DAG(
    "stitch_blocking_replication",
    schedule=None,
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=1)},
    tags=["deployment-test"],
):
    StitchRunReplicationJobOperator(
        task_id="replicate",
        source_name="shop_db",
        deferrable=False,
        wait_for="loads",
        poll_interval=60,
        timeout=timedelta(minutes=30),
    )
