"""Run the emulator and the replication example DAG from an installed wheel (``make package-check``).

Run by the wheel's virtualenv from outside the repository, so that ``import airflow_provider_stitch``
can only find the installed package: a module or data file missing from the wheel fails here, where an
editable install would hide it. Usage: ``python package_smoke.py <example_dags folder>``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> int:
    example_dags = Path(sys.argv[1]).resolve()
    work = Path(tempfile.mkdtemp(prefix="stitch-package-check-"))
    os.environ.update(
        AIRFLOW_HOME=str(work / "airflow"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(example_dags),
        AIRFLOW_VAR_STITCH_DEMO_WORK_DIR=str(work),
        # No dbt here: the DAG skips its dbt and check tasks and says why; replication must succeed.
        AIRFLOW_VAR_STITCH_DEMO_DBT=str(work / "no-dbt" / "dbt"),
    )
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "airflow"), "db", "migrate"], check=True, capture_output=True)  # noqa: S603

    import airflow_provider_stitch

    where = Path(airflow_provider_stitch.__file__).parent
    assert "site-packages" in where.parts, f"the provider was imported from {where}, not the wheel"
    warehouse = work / "warehouse.duckdb"
    emulator = subprocess.Popen(  # noqa: S603 - our own command line
        [str(bin_dir / "stitch-emulator"), "--port", "0", "--speed", "20", "--warehouse", str(warehouse)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert emulator.stdout is not None
        uri = ""
        for line in emulator.stdout:
            print(line, end="")
            if line.startswith("AIRFLOW_CONN_STITCH_DEFAULT="):
                uri = line.split("=", 1)[1].strip().strip("'")
                break
        if not uri:
            raise SystemExit("the emulator did not print its connection")
        os.environ["AIRFLOW_CONN_STITCH_DEFAULT"] = uri
        os.environ["AIRFLOW_VAR_STITCH_DEMO_WAREHOUSE"] = str(warehouse)

        spec = importlib.util.spec_from_file_location(
            "example_replication", example_dags / "example_stitch_replication.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        run = module.dag.test()
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
    print(f"provider {airflow_provider_stitch.__version__} from {where}: run {run.state}, tasks {states}")
    ok = run.state == "success" and states.get("replicate_shop_db") == "success"
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
