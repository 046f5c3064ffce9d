"""Onboard a customer onto Stitch end to end, as a Stitch partner.

1. ``create_account``: create the customer's Stitch client account with the partner credentials of
   connection ``stitch_partner``; its access token goes straight into a new Airflow connection
   ``stitch_<customer>`` through Airflow's REST API (connection ``airflow_api``). Only the account id
   and the connection id reach XCom.
2. ``create_destination``: the customer's warehouse, credentials read from connection
   ``<customer>_warehouse``.
3. ``create_source``: the customer's Postgres database, credentials from ``<customer>_source_db``;
   Stitch starts its connection check and schema discovery.
4. ``wait_for_connection_check``: fail here, with Stitch's reason, if Stitch cannot connect.
5. ``select_streams``: which tables and columns to replicate, and how.
6. ``first_replication``: run the first replication job and wait until the data has landed.

Every task after the first talks to Stitch as the new account, through the connection the first task
created. Trigger it with ``{"customer": "acme", "first_name": ..., "email": ...}`` as run conf.

Against the local emulator (``make demo`` / the tests), the partner connection's ``time_scale`` extra
(the emulator's speed; loopback hosts only) shortens every interval, and the account's connection made
by the first task inherits it: the DAG itself keeps production values.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from airflow_provider_stitch.operators import (
    StitchConnectionCheckOperator,
    StitchCreateAccountOperator,
    StitchCreateDestinationOperator,
    StitchCreateSourceOperator,
    StitchRunReplicationJobOperator,
    StitchSelectStreamsOperator,
)

#: The customer's tables: orders incrementally on updated_at, the small products table in full.
STREAMS = {
    "customers": {"replication_method": "INCREMENTAL", "replication_key": "updated_at"},
    "orders": {"replication_method": "INCREMENTAL", "replication_key": "updated_at"},
    "products": {"replication_method": "FULL_TABLE"},
}

with DAG(
    dag_id="example_stitch_onboarding",
    description="Partner onboarding: account, destination, source, connection check, streams, first sync",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "stitch", "onboarding"],
    doc_md=__doc__,
    params={
        "customer": Param("acme", type="string", pattern=r"^[a-z][a-z0-9_]*$"),
        "first_name": Param("Ada", type="string"),
        "last_name": Param("Lovelace", type="string"),
        "company": Param("Acme Corp", type="string"),
        "email": Param("data@acme.example", type="string"),
        "region": Param("us-east-1", enum=["us-east-1", "eu-central-1"]),
    },
) as dag:
    account = StitchCreateAccountOperator(
        task_id="create_account",
        first_name="{{ params.first_name }}",
        last_name="{{ params.last_name }}",
        company="{{ params.company }}",
        account_email="{{ params.email }}",
        region="{{ params.region }}",
        connection_id="stitch_{{ params.customer }}",
        stitch_conn_id="stitch_partner",
        airflow_api_conn_id="airflow_api",
    )
    # Every later task uses the connection the account task created; its id comes through XCom (the
    # create operators push each field of their result as its own XCom, hence ``output[...]``).
    customer_conn_id = account.output["connection_id"]

    destination = StitchCreateDestinationOperator(
        task_id="create_destination",
        destination_type="postgres",
        name="{{ params.company }} warehouse",
        # The rest of Stitch's postgres destination form comes from the connection (host, port,
        # login -> username, password, schema -> database); ssl it cannot hold.
        properties={"ssl": False},
        properties_conn_id="{{ params.customer }}_warehouse",
        stitch_conn_id=customer_conn_id,
    )

    source = StitchCreateSourceOperator(
        task_id="create_source",
        display_name="{{ params.customer }} app db",
        source_type="platform.postgres",
        # Stitch's platform.postgres form names the connection's login "user" and schema "dbname".
        properties={"frequency_in_minutes": "60"},
        properties_conn_id="{{ params.customer }}_source_db",
        destination_id=destination.output["destination_id"],
        stitch_conn_id=customer_conn_id,
    )

    connection_check = StitchConnectionCheckOperator(
        task_id="wait_for_connection_check",
        source_id=source.output["source_id"],
        deferrable=True,
        poll_interval=20.0,
        timeout=timedelta(minutes=15).total_seconds(),
        stitch_conn_id=customer_conn_id,
    )

    streams = StitchSelectStreamsOperator(
        task_id="select_streams",
        source_id=source.output["source_id"],
        streams=STREAMS,
        stitch_conn_id=customer_conn_id,
    )

    first_replication = StitchRunReplicationJobOperator(
        task_id="first_replication",
        source_id=source.output["source_id"],
        stitch_conn_id=customer_conn_id,
        wait_for="loads",
        deferrable=True,
        timeout=timedelta(hours=2).total_seconds(),
    )

    account >> destination >> source >> connection_check >> streams >> first_replication
