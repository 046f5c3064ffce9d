"""Replicate with Stitch, wait until the data has landed, then build dbt models on it.

The usual "Stitch, then dbt" pipeline, runnable with no Stitch account: ``make demo`` points it at the
local Stitch Connect emulator (see docs/demo.md).

1. ``replicate_shop_db`` starts a replication job for the ``shop_db`` source and waits until every
   stream's load has reached the warehouse, not merely until extraction ended.
2. ``dbt_build`` runs ``dbt build`` (models and their tests) with the dbt executable of its own
   virtualenv, as dbt users install it: dbt's dependencies never meet Airflow's.
3. ``check_customer_orders`` checks that the mart has one row per replicated customer.

Settings, as Airflow Variables (also settable as ``AIRFLOW_VAR_<NAME>`` environment variables), are read
when tasks run, never when the file is parsed:

* ``stitch_demo_warehouse``: the DuckDB file Stitch (the emulator) loads into;
* ``stitch_demo_work_dir``: where dbt writes its database (``analytics.duckdb``), target and logs;
* ``stitch_demo_dbt``: the dbt executable (default: the demo's ``demo/.dbt-venv/bin/dbt``);
* ``stitch_demo_dbt_project_dir``: the dbt project (default: ``demo/dbt_project``).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Variable, task

from airflow_provider_stitch.operators import StitchRunReplicationJobOperator

log = logging.getLogger(__name__)

_REPO = Path(__file__).resolve().parent.parent
_DEFAULT_DBT_PROJECT_DIR = _REPO / "demo" / "dbt_project"
_DEFAULT_WORK_DIR = _REPO / "demo" / ".work"
_DEFAULT_DBT = _REPO / "demo" / ".dbt-venv" / "bin" / "dbt"
MART = "customer_orders"


def _paths() -> dict[str, Path]:
    work_dir = Path(Variable.get("stitch_demo_work_dir", default=str(_DEFAULT_WORK_DIR)))
    warehouse = Variable.get("stitch_demo_warehouse", default=str(work_dir / "warehouse.duckdb"))
    return {
        "work_dir": work_dir,
        "warehouse": Path(warehouse),
        "analytics": work_dir / "analytics.duckdb",
        "dbt_target": work_dir / "dbt-target",
        "dbt_logs": work_dir / "dbt-logs",
    }


def _dbt_env(paths: dict[str, Path]) -> dict[str, str]:
    # Airflow's connections (with their tokens) are none of dbt's business, and a PYTHONPATH set for
    # Airflow would make dbt's interpreter import Airflow's packages instead of its own.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AIRFLOW_CONN_") and k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    }
    env.update(
        STITCH_WAREHOUSE_PATH=str(paths["warehouse"]),
        STITCH_DEMO_ANALYTICS_DB=str(paths["analytics"]),
        DBT_TARGET_PATH=str(paths["dbt_target"]),
        DBT_LOG_PATH=str(paths["dbt_logs"]),
        DBT_USE_COLORS="false",
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    return env


def summarize_run_results(run_results: dict[str, Any]) -> dict[str, Any]:
    """What dbt built and tested, from its ``run_results.json``, small enough for XCom."""
    models: list[dict[str, Any]] = []
    tests: dict[str, int] = {}
    for result in run_results.get("results", []):
        kind, _, name = result["unique_id"].partition(".")
        if kind == "model":
            models.append(
                {
                    "name": name.rsplit(".", 1)[-1],
                    "status": result["status"],
                    "seconds": round(float(result.get("execution_time") or 0.0), 2),
                    "relation": result.get("relation_name"),
                    "message": result.get("message"),
                }
            )
        elif kind == "test":
            tests[result["status"]] = tests.get(result["status"], 0) + 1
    return {
        "dbt_version": run_results.get("metadata", {}).get("dbt_version"),
        "elapsed_seconds": round(float(run_results.get("elapsed_time") or 0.0), 2),
        "models": models,
        "tests": tests,
    }


with DAG(
    dag_id="example_stitch_replication",
    description="Stitch replication of shop_db, then dbt over the loaded warehouse",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["example", "stitch", "dbt"],
    doc_md=__doc__,
) as dag:
    replicate = StitchRunReplicationJobOperator(
        task_id="replicate_shop_db",
        source_name="shop_db",
        wait_for="loads",
        timeout=timedelta(minutes=30),
    )

    @task(execution_timeout=timedelta(minutes=10))
    def dbt_build() -> dict[str, Any]:
        """``dbt build`` over the freshly loaded warehouse; returns the models built and test counts."""
        from airflow.sdk.exceptions import AirflowException

        from airflow_provider_stitch.compat import AirflowSkipException

        dbt = Path(Variable.get("stitch_demo_dbt", default=str(_DEFAULT_DBT)))
        if not (dbt.is_file() and os.access(dbt, os.X_OK)):
            raise AirflowSkipException(
                f"no dbt executable at {dbt}: build the demo's dbt virtualenv with `make dbt-venv`, "
                "or point the Airflow Variable stitch_demo_dbt at your dbt"
            )
        paths = _paths()
        if not paths["warehouse"].is_file():
            raise AirflowException(
                f"the Stitch warehouse {paths['warehouse']} does not exist: nothing loaded"
            )
        project_dir = Path(Variable.get("stitch_demo_dbt_project_dir", default=str(_DEFAULT_DBT_PROJECT_DIR)))
        paths["work_dir"].mkdir(parents=True, exist_ok=True)
        run_results_file = paths["dbt_target"] / "run_results.json"
        run_results_file.unlink(missing_ok=True)  # never report a previous run's results as this one's

        command = [
            str(dbt),
            "build",
            "--project-dir",
            str(project_dir),
            "--profiles-dir",
            str(project_dir),
        ]
        log.info("Running %s", " ".join(command))
        process = subprocess.Popen(  # noqa: S603 - a fixed argument list, no shell
            command,
            cwd=project_dir,
            env=_dbt_env(paths),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert process.stdout is not None
            for line in process.stdout:
                log.info("dbt | %s", line.rstrip())
            returncode = process.wait()
        finally:
            # A timed-out or killed task must not leave dbt holding the analytics database.
            if process.poll() is None:
                process.kill()
                process.wait()

        summary = (
            summarize_run_results(json.loads(run_results_file.read_text()))
            if run_results_file.is_file()
            else None
        )
        if returncode != 0:
            failed = [m["name"] for m in (summary or {}).get("models", []) if m["status"] != "success"]
            raise AirflowException(
                f"dbt build exited with {returncode}"
                + (f"; models not built: {', '.join(failed)}" if failed else "")
                + (f"; tests: {summary['tests']}" if summary else "")
                + " (dbt's output is in this task's log)"
            )
        if summary is None:
            raise AirflowException(f"dbt build succeeded but wrote no {run_results_file}")
        return summary

    @task
    def check_customer_orders(dbt_summary: dict[str, Any]) -> dict[str, Any]:
        """The mart has rows, one per customer Stitch loaded (the model left-joins orders to customers)."""
        import duckdb

        from airflow_provider_stitch.compat import AirflowFailException

        if not any(m["name"] == MART and m["status"] == "success" for m in dbt_summary["models"]):
            raise AirflowFailException(f"dbt did not build {MART}; it built {dbt_summary['models']}")
        paths = _paths()
        con = duckdb.connect(str(paths["analytics"]), read_only=True)
        try:
            rows = con.execute(f"select count(*) from {MART}").fetchone()[0]  # noqa: S608 - a constant
            warehouse = str(paths["warehouse"]).replace("'", "''")
            con.execute(f"attach '{warehouse}' as stitch (read_only)")
            customers = con.execute("select count(*) from stitch.shop_db.customers").fetchone()[0]
        finally:
            con.close()
        if rows == 0:
            raise AirflowFailException(f"{MART} is empty: dbt built it from an empty warehouse")
        if rows != customers:
            raise AirflowFailException(f"{MART} has {rows} rows but Stitch loaded {customers} customers")
        log.info("%s has %d rows, one per replicated customer", MART, rows)
        return {"model": MART, "rows": rows, "customers": customers}

    built = dbt_build()
    replicate >> built
    check_customer_orders(built)
