"""Table and stream naming per destination and source type (pure: no server needed)."""

from __future__ import annotations

import pytest
from airflow.sdk import Asset

from airflow_provider_stitch.lineage.naming import (
    UnnamedDestinationError,
    destination_naming,
    destination_of,
    loaded_streams,
    source_stream,
)


@pytest.mark.parametrize(
    ("destination", "namespace", "name", "uri"),
    [
        (
            {"type": "postgres", "properties": {"host": "db.example.com", "port": "5433", "database": "wh"}},
            "postgres://db.example.com:5433",
            "wh.shop_db.orders",
            "postgres://db.example.com:5433/wh/shop_db/orders",
        ),
        (
            {"type": "postgres", "properties": {"host": "db.example.com", "database": "wh"}},
            "postgres://db.example.com:5432",
            "wh.shop_db.orders",
            "postgres://db.example.com:5432/wh/shop_db/orders",
        ),
        (
            {"type": "redshift", "properties": {"host": "my-proxy.internal", "database": "dev"}},
            "redshift://my-proxy.internal:5439",
            "dev.shop_db.orders",
            "redshift://my-proxy.internal:5439/dev/shop_db/orders",
        ),
        (
            {
                "type": "snowflake",
                "properties": {"host": "ORG-ACCT.snowflakecomputing.com", "database": "RAW"},
            },
            "snowflake://org-acct",
            "RAW.shop_db.orders",
            "snowflake://org-acct/RAW/shop_db/orders",
        ),
        (
            {"type": "bigquery_v2", "properties": {"project_id": "acme-data"}},
            "bigquery",
            "acme-data.shop_db.orders",
            "bigquery://acme-data/shop_db/orders",
        ),
        (
            {"type": "postgres", "properties": {"host": "127.0.0.1", "database": "/tmp/w/warehouse.duckdb"}},
            "duckdb://localhost/tmp/w/warehouse.duckdb",
            "shop_db.orders",
            "duckdb://localhost/tmp/w/warehouse.duckdb/shop_db/orders",
        ),
    ],
    ids=["postgres", "postgres-default-port", "redshift-custom-host", "snowflake", "bigquery", "duckdb"],
)
def test_destination_tables_are_named_as_openlineage_and_airflow_do(
    destination: dict, namespace: str, name: str, uri: str
) -> None:
    table = destination_naming(destination).table("shop_db", "orders")
    assert (table.namespace, table.name, table.uri) == (namespace, name, uri)
    # Airflow keeps the URI as it is (its normalisation would otherwise change what DAGs schedule on).
    assert Asset(uri=table.uri).uri == uri


@pytest.mark.parametrize(
    "destination",
    [
        {"id": 7, "type": "s3", "properties": {"s3_bucket": "b"}},
        {"id": 8, "type": "postgres", "properties": {}},
    ],
    ids=["no-tables", "no-host"],
)
def test_destinations_without_table_naming_say_so(destination: dict) -> None:
    with pytest.raises(UnnamedDestinationError):
        destination_naming(destination)


def test_the_source_destination_is_its_mapped_one_or_the_only_one() -> None:
    a, b = {"id": 1, "type": "postgres"}, {"id": 2, "type": "snowflake"}
    deleted = {"id": 3, "type": "postgres", "deleted_at": "2024-01-01T00:00:00Z"}
    assert destination_of({"mapped_destination_ids": [2]}, [a, b]) is b
    assert destination_of({}, [a, deleted]) is a
    assert destination_of({}, [a, b]) is None
    assert destination_of({"mapped_destination_ids": [9]}, [a, b]) is None


def test_source_streams_are_named_from_the_source_type_and_host() -> None:
    db = source_stream(
        "platform.postgres", {"host": "shop-db.internal", "port": "5432", "dbname": "shop"}, "orders"
    )
    assert (db.namespace, db.name) == ("postgres://shop-db.internal:5432", "shop.orders")
    saas = source_stream("platform.hubspot", {"start_date": "2024-01-01"}, "deals")
    assert (saas.namespace, saas.name) == ("hubspot", "deals")


def test_only_loaded_streams_of_a_successful_result_count() -> None:
    streams = {
        "a": {"status": "loaded", "loaded_at": "2024-01-01T00:00:05Z"},
        "b": {"status": "waiting", "loaded_at": None},
    }
    assert loaded_streams({"status": "succeeded", "streams": streams}) == {"a": "2024-01-01T00:00:05Z"}
    assert loaded_streams({"status": "failed", "streams": streams}) == {}
