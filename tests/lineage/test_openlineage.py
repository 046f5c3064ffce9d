"""OpenLineage from a real DAG run: the OpenLineage provider's listener with its file transport, in a
``dag.test()`` of its own process (the provider reads its configuration once per process).

The OpenLineage packages ship the spec as generated models (``openlineage.client.generated``) and the
dataset naming spec as code (``openlineage.client.naming.dataset``), not as JSON schema files: events are
checked against both, and the Stitch facet against the JSON schema this package ships.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

pytest.importorskip("airflow.providers.openlineage")

from openlineage.client.naming.dataset import Postgres

import airflow_provider_stitch.lineage

DAG_FILE = Path(__file__).parent / "dags" / "openlineage_replication.py"
FACET_SCHEMA = Path(airflow_provider_stitch.lineage.__file__).parent / "StitchReplicationRunFacet.json"
STREAMS = ["customers", "orders", "products"]


def _run_with_file_transport(emulator: Any, airflow_home: Path, tmp_path: Path) -> list[dict[str, Any]]:
    events_file = tmp_path / "openlineage.jsonl"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW_CONN_STITCH_DEFAULT": emulator.connection_uri,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events_file), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "stitch-tests",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FILE.parent),
    }
    done = subprocess.run(
        [sys.executable, str(DAG_FILE)], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert "DAG_RUN_STATE success" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    return [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]


def test_a_replication_reports_its_streams_in_and_tables_out(
    stitch_emulator: Any, airflow_db: Path, airflow_home: Path, tmp_path: Path
) -> None:
    events = _run_with_file_transport(stitch_emulator, airflow_home, tmp_path)
    complete = [
        e
        for e in events
        if e["eventType"] == "COMPLETE" and e["job"]["name"] == "stitch_openlineage.replicate"
    ]
    assert len(complete) == 1, [(e["eventType"], e["job"]["name"]) for e in events]
    event = complete[0]

    # The source's streams, in the namespace of its server (seed: shop-db.internal:5432, dbname shop).
    assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [
        ("postgres://shop-db.internal:5432", f"shop.{s}") for s in STREAMS
    ]
    warehouse = stitch_emulator.warehouse_path
    assert [(d["namespace"], d["name"]) for d in event["outputs"]] == [
        (f"duckdb://localhost{warehouse}", f"shop_db.{s}") for s in STREAMS
    ]
    # Inputs follow the naming spec as the OpenLineage client implements it.
    spec = Postgres(host="shop-db.internal", port="5432", database="shop", schema="public", table="orders")
    assert event["inputs"][0]["namespace"] == spec.get_namespace()

    facet = event["run"]["facets"]["stitchReplication"]
    job = stitch_emulator.admin.jobs(2001)[-1]
    assert facet["job_name"] == job["job_name"]
    assert facet["streams_loaded_at"] == {n: s["loaded_at"] for n, s in job["streams"].items()}
    assert facet["_producer"] and facet["_schemaURL"].endswith("#/$defs/StitchReplicationRunFacet")
    schema = json.loads(FACET_SCHEMA.read_text())
    own_part = schema["$defs"]["StitchReplicationRunFacet"]["allOf"][1]
    jsonschema.validate(facet, own_part)
    # No secret of the source (its password) or of the connection (the token) in any event.
    text = json.dumps(events)
    assert "correct-horse" not in text and "ac_emulator_demo_token" not in text


@pytest.mark.parametrize(
    ("destination", "spec"),
    [
        (
            {"type": "postgres", "properties": {"host": "db", "port": "5432", "database": "wh"}},
            Postgres(host="db", port="5432", database="wh", schema="shop_db", table="orders"),
        ),
    ],
)
def test_destination_naming_matches_the_openlineage_client(destination: dict, spec: Any) -> None:
    from openlineage.client.naming import dataset

    from airflow_provider_stitch.lineage.naming import destination_naming

    cases = [
        (destination, spec),
        (
            {
                "type": "redshift",
                "properties": {"host": "c1.abc.us-west-2.redshift.amazonaws.com", "database": "dev"},
            },
            dataset.Redshift(
                cluster_identifier="c1",
                region="us-west-2",
                port="5439",
                database="dev",
                schema="shop_db",
                table="orders",
            ),
        ),
        (
            {
                "type": "snowflake",
                "properties": {"host": "acme-analytics.snowflakecomputing.com", "database": "RAW"},
            },
            dataset.Snowflake(
                organization_name="acme",
                account_name="analytics",
                database="RAW",
                schema="shop_db",
                table="orders",
            ),
        ),
        (
            {"type": "bigquery_v2", "properties": {"project_id": "acme-data"}},
            dataset.BigQuery(project_id="acme-data", dataset_name="shop_db", table_name="orders"),
        ),
    ]
    for given, expected in cases:
        table = destination_naming(given).table("shop_db", "orders")
        assert (table.namespace, table.name) == (expected.get_namespace(), expected.get_name())
