"""Test-wide set-up: a throwaway AIRFLOW_HOME (set before Airflow is imported) and its metadata DB."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="stitch-tests-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
# One Fernet key for this process and the Airflow API server it starts: they share the metadata DB,
# and connections stored by one must decrypt in the other.
if not os.environ.get("AIRFLOW__CORE__FERNET_KEY"):
    from cryptography.fernet import Fernet

    os.environ["AIRFLOW__CORE__FERNET_KEY"] = Fernet.generate_key().decode()
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(Path(__file__).parent.parent / "example_dags"))


# Fixtures shared by the replication tests (tests/support/replication_support.py).
pytest_plugins = ["replication_support"]


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    return _AIRFLOW_HOME


@pytest.fixture(scope="session")
def airflow_db(airflow_home: Path) -> Path:
    """An initialised SQLite metadata DB (needed by ``dag.test()`` and the Airflow CLI); made once."""
    airflow = Path(sys.executable).parent / "airflow"
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())
    return airflow_home / "airflow.db"


@pytest.fixture(scope="session")
def airflow_api(airflow_db: Path) -> Any:
    """A real ``airflow api-server`` on a free loopback port, sharing this session's metadata DB."""
    import airflow_api_server

    return airflow_api_server.get_or_start()
