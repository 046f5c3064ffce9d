"""dbt runs when Stitch's data lands, in a DAG of its own: scheduled on the tables' assets.

``StitchRunReplicationJobOperator`` (and ``StitchReplicationJobSensor``) emit one asset event per stream
that loaded new records, on the asset naming the destination table, through the asset alias they declare
themselves (``stitch_loads``): the replicating DAG declares no outlet, and this DAG needs no link to it.
Any DAG that replicates ``shop_db`` (``example_stitch_replication``, a DAG of another team) starts this
one. The schedule is *any* of the three tables (``|``): a stream with no new records emits no event, so
*all* of them (``&``) could wait for a table that did not change.

The asset URIs are the destination's tables as OpenLineage names them (docs/data-aware.md): in
production e.g. ``postgres://warehouse.internal:5432/analytics/shop_db/orders``; against the emulator,
whose warehouse is a DuckDB file, ``duckdb://localhost<file>/shop_db/orders``. The file's path comes from
the environment variable ``STITCH_DEMO_WAREHOUSE`` (read at parse time: an environment lookup costs
nothing, an Airflow Variable would be a database call per parse).

dbt runs with the standard provider's ``BashOperator``, from its own virtualenv (``make dbt-venv``), as
dbt users install it. Astronomer Cosmos was asked for; it is not used here (see the README's
"Data-aware pipelines" section for why).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, Asset

from airflow_provider_stitch.lineage.naming import destination_naming

_REPO = Path(__file__).resolve().parent.parent
WORK_DIR = Path(os.environ.get("STITCH_DEMO_WORK_DIR", str(_REPO / "demo" / ".work")))
WAREHOUSE = Path(os.environ.get("STITCH_DEMO_WAREHOUSE", str(WORK_DIR / "warehouse.duckdb")))
DBT = Path(os.environ.get("STITCH_DEMO_DBT", str(_REPO / "demo" / ".dbt-venv" / "bin" / "dbt")))
DBT_PROJECT_DIR = _REPO / "demo" / "dbt_project"
#: The exit code that marks the dbt task skipped (no dbt virtualenv), not failed.
NO_DBT = 99

# The emulator presents its DuckDB file as a Postgres destination whose database is the file.
_warehouse = destination_naming({"type": "postgres", "properties": {"database": str(WAREHOUSE)}})
SHOP_DB_TABLES = {
    stream: Asset(uri=_warehouse.table("shop_db", stream).uri)
    for stream in ("customers", "orders", "products")
}

with DAG(
    "stitch_dbt_on_assets",
    schedule=SHOP_DB_TABLES["customers"] | SHOP_DB_TABLES["orders"] | SHOP_DB_TABLES["products"],
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["stitch", "example", "dbt", "data-aware"],
    doc_md=__doc__,
) as dag:
    BashOperator(
        task_id="dbt_build",
        bash_command=(
            f'test -x "$DBT" || {{ echo "no dbt at $DBT: make dbt-venv"; exit {NO_DBT}; }}; '
            '"$DBT" build --project-dir "$DBT_PROJECT_DIR" --profiles-dir "$DBT_PROJECT_DIR"'
        ),
        # dbt gets its paths and nothing of Airflow's (no connections, no PYTHONPATH into Airflow).
        env={
            "PATH": "/usr/bin:/bin",
            "DBT": str(DBT),
            "DBT_PROJECT_DIR": str(DBT_PROJECT_DIR),
            "STITCH_WAREHOUSE_PATH": str(WAREHOUSE),
            "STITCH_DEMO_ANALYTICS_DB": str(WORK_DIR / "analytics.duckdb"),
            "DBT_TARGET_PATH": str(WORK_DIR / "dbt-target"),
            "DBT_LOG_PATH": str(WORK_DIR / "dbt-logs"),
            "DBT_USE_COLORS": "false",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        },
        skip_on_exit_code=NO_DBT,
        cwd=str(DBT_PROJECT_DIR),
    )
