"""One replication of ``shop_db``, run by tests/lineage/test_openlineage.py with a file transport."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_stitch.operators import StitchRunReplicationJobOperator

with DAG("stitch_openlineage", schedule=None, start_date=datetime(2024, 1, 1), catchup=False) as dag:
    StitchRunReplicationJobOperator(task_id="replicate", source_name="shop_db", timeout=timedelta(minutes=30))

if __name__ == "__main__":
    run = dag.test()
    print("DAG_RUN_STATE", run.state)
