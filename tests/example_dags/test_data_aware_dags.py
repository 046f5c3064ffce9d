"""The data-aware examples with ``dag.test()`` against the emulator: a replication leaves one asset
event per loaded stream in the metadata DB, on exactly the assets the dbt DAG is scheduled on.

(The AssetWatcher example needs a triggerer: tests/deployment/test_stream_watcher.py runs it.)
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DBT = REPO / "demo" / ".dbt-venv" / "bin" / "dbt"
STREAMS = ["customers", "orders", "products"]


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"{name}_under_test", REPO / "example_dags" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _asset_events(dag_id: str, run_id: str) -> list[tuple[str, dict[str, Any]]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetModel.uri, AssetEvent.extra)
            .join(AssetEvent, AssetEvent.asset_id == AssetModel.id)
            .where(AssetEvent.source_dag_id == dag_id, AssetEvent.source_run_id == run_id)
            .order_by(AssetModel.uri)
        ).all()
    return [(uri, dict(extra)) for uri, extra in rows]


@pytest.fixture
def demo_env(stitch_emulator: Any, airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    warehouse = stitch_emulator.warehouse_path
    monkeypatch.setenv("AIRFLOW_CONN_STITCH_DEFAULT", stitch_emulator.connection_uri)
    monkeypatch.setenv("AIRFLOW_VAR_STITCH_DEMO_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("AIRFLOW_VAR_STITCH_DEMO_WORK_DIR", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_VAR_STITCH_DEMO_DBT", str(tmp_path / "no-dbt"))  # replication only
    monkeypatch.setenv("STITCH_DEMO_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("STITCH_DEMO_WORK_DIR", str(tmp_path))
    return Path(warehouse)


def test_a_replication_leaves_one_asset_event_per_loaded_stream_for_the_dbt_dag(
    demo_env: Path, stitch_emulator: Any
) -> None:
    replication = _load("example_stitch_replication").dag
    run = replication.test()
    result = next(ti for ti in run.get_task_instances() if ti.task_id == "replicate_shop_db")
    assert result.state == "success"

    events = _asset_events(replication.dag_id, run.run_id)
    job = stitch_emulator.admin.jobs(2001)[-1]
    truth = {name: s["loaded_at"] for name, s in job["streams"].items() if s["load"] == "loaded"}
    assert sorted(truth) == STREAMS
    assert [uri for uri, _ in events] == [f"duckdb://localhost{demo_env}/shop_db/{s}" for s in STREAMS]
    assert {extra["stream"]: extra["loaded_at"] for _, extra in events} == truth
    assert {extra["job_name"] for _, extra in events} == {job["job_name"]}

    # The dbt DAG is scheduled on exactly those assets: Airflow queues it when any of them changes.
    dbt_dag = _load("example_stitch_dbt_on_assets")
    assert {a.uri for a in dbt_dag.SHOP_DB_TABLES.values()} == {uri for uri, _ in events}


def test_the_dbt_dag_builds_the_models_over_the_loaded_warehouse_or_skips_without_dbt(
    demo_env: Path, tmp_path: Path
) -> None:
    _load("example_stitch_replication").dag.test()  # the warehouse has data
    run = _load("example_stitch_dbt_on_assets").dag.test()
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    if not (DBT.is_file() and os.access(DBT, os.X_OK)):
        assert states == {"dbt_build": "skipped"}
        pytest.skip(f"dbt step skipped: no dbt virtualenv at {DBT.parent.parent} (make dbt-venv)")
    assert states == {"dbt_build": "success"}
    import duckdb

    con = duckdb.connect(str(tmp_path / "analytics.duckdb"), read_only=True)
    try:
        warehouse = str(demo_env).replace("'", "''")
        con.execute(f"attach '{warehouse}' as stitch (read_only)")
        rows = con.execute("select count(*) from customer_orders").fetchone()[0]
        customers = con.execute("select count(*) from stitch.shop_db.customers").fetchone()[0]
    finally:
        con.close()
    assert rows == customers > 0
