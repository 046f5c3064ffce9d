"""Every path a Stitch credential could leak through, run by tests/deployment/test_secrets.py.

A deferred wait (worker, then triggerer) through a connection stored in the metadata DB, a blocking wait
through the environment's connection, a connection check, and a replication that fails. ``echo_conf``
renders, logs and returns the run's ``conf["planted"]``: a run planting a made-up token there shows that
the scan finds a value in a log, an XCom, a rendered field and the REST API.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from airflow.sdk import DAG, task

from airflow_provider_stitch.operators import (
    StitchConnectionCheckOperator,
    StitchRunReplicationJobOperator,
)

log = logging.getLogger(__name__)

with DAG(
    "stitch_secret_paths",
    schedule=None,
    catchup=False,
    default_args={"retries": 0},
    tags=["deployment-test"],
):

    @task
    def echo_conf(planted: str) -> str:
        log.info("conf planted: %s", planted)
        return planted

    deferred = StitchRunReplicationJobOperator(
        task_id="replicate_deferred_stored_connection",
        source_name="shop_db",
        stitch_conn_id="stitch_stored",
        deferrable=True,
        poll_interval=60,
        timeout=timedelta(minutes=30),
    )
    blocking = StitchRunReplicationJobOperator(
        task_id="replicate_blocking",
        source_name="shop_db",
        deferrable=False,
        poll_interval=60,
        timeout=timedelta(minutes=30),
    )
    check = StitchConnectionCheckOperator(task_id="connection_check", source_name="shop_db", deferrable=True)
    # crm waits at field selection: Stitch refuses to start a job, and the task fails with its error.
    refused = StitchRunReplicationJobOperator(
        task_id="replicate_unready_source",
        source_name="crm",
        deferrable=False,
        poll_interval=60,
        timeout=timedelta(minutes=30),
    )
    echo_conf("{{ dag_run.conf.get('planted', '') }}") >> deferred >> blocking >> check >> refused
