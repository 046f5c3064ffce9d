"""The onboarding example DAG, run with ``dag.test()`` against the emulator and a real Airflow API server.

What a partner cares about: the customer ends up with a Stitch account whose token sits in an Airflow
connection that the later tasks used (they ran as the new account), the data landed, and the token
appears in no task log line, no XCom and no exception.
"""

from __future__ import annotations

import importlib.util
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

DAG_FILE = Path(__file__).resolve().parents[2] / "example_dags" / "example_stitch_onboarding.py"
SPEED = 20.0  # the stitch_emulator fixture's speed


def _let_inline_triggers_read_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """Work around an Airflow 3.3.2 ``dag.test()`` gap, for triggers only.

    ``dag.test()`` runs a deferred task's trigger in-process with ``InProcessSupervisorComms``, which
    has ``send`` but no ``asend``; ``BaseHook.aget_connection`` needs ``asend``, fails quietly, and falls
    back to environment variables only, so a trigger cannot read a connection stored in the metadata DB
    (the one ``create_account`` made). A real triggerer's comms have ``asend``. Giving the in-process
    comms one that delegates to its ``send`` (the same in-process execution API the tasks use) makes
    the test behave as a deployment does.
    """
    from airflow.sdk.execution_time.supervisor import InProcessSupervisorComms

    if hasattr(InProcessSupervisorComms, "asend"):
        return

    async def asend(self: Any, msg: Any) -> Any:
        return self.send(msg)

    monkeypatch.setattr(InProcessSupervisorComms, "asend", asend, raising=False)


@pytest.fixture
def onboarding_env(stitch_emulator: Any, airflow_api: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    api = airflow_api
    customer = f"acme_{uuid.uuid4().hex[:6]}"
    _let_inline_triggers_read_connections(monkeypatch)
    monkeypatch.setenv("AIRFLOW_CONN_AIRFLOW_API", api.connection_uri)
    monkeypatch.setenv(
        "AIRFLOW_CONN_STITCH_PARTNER",
        stitch_emulator.partner_connection_uri,
    )
    database = {"conn_type": "postgres", "host": "db.acme.internal", "port": 5432, "login": "stitch"}
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{customer.upper()}_SOURCE_DB",
        json.dumps({**database, "password": "source-pw", "schema": "app"}),
    )
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{customer.upper()}_WAREHOUSE",
        json.dumps({**database, "password": "warehouse-pw", "schema": "analytics"}),
    )
    yield {"customer": customer, "api": api, "emulator": stitch_emulator}
    api.delete_connection(f"stitch_{customer}")


def _load_dag() -> Any:
    spec = importlib.util.spec_from_file_location("example_stitch_onboarding_under_test", DAG_FILE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def _xcoms(dag_id: str, run_id: str) -> dict[str, Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter_by(dag_id=dag_id, run_id=run_id).all()
        return {f"{row.task_id}:{row.key}": row.value for row in rows}


def _stored_token(connection_id: str) -> str:
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        conn = session.query(Connection).filter_by(conn_id=connection_id).one()
        return str(conn.password)


def test_onboarding_dag_provisions_a_customer_end_to_end(
    onboarding_env: dict[str, Any], airflow_home: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    customer = onboarding_env["customer"]
    dag = _load_dag()
    run = dag.test(
        run_conf={"customer": customer, "email": f"data@{customer}.example", "company": "Acme Corp"}
    )

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    assert set(states.values()) == {"success"}

    xcoms = _xcoms(dag.dag_id, run.run_id)
    account = xcoms["create_account:return_value"]
    connection_id = f"stitch_{customer}"
    assert account == {
        "stitch_account_id": account["stitch_account_id"],
        "connection_id": connection_id,
        "connection": "created",
    }
    assert xcoms["wait_for_connection_check:return_value"]["status"] == "succeeded"
    selected = {s["stream_name"] for s in xcoms["select_streams:return_value"]["streams"]}
    assert selected == {"customers", "orders", "products"}
    replication = xcoms["first_replication:return_value"]
    assert replication["source_id"] == xcoms["create_source:return_value"]["source_id"]

    # The later tasks ran as the new account: its source, destination and loads exist there.
    from airflow_provider_stitch.hooks.settings import StitchSettings
    from airflow_provider_stitch.hooks.stitch import StitchConnectHook

    token = _stored_token(connection_id)
    hook = StitchConnectHook(connection_id)
    hook.use_settings(
        StitchSettings.from_connection_fields(
            host=onboarding_env["emulator"].base_url,
            password=token,
            extra={"stitch_client_id": account["stitch_account_id"]},
        )
    )
    [source] = hook.list_sources()
    assert source.name == f"{customer}_app_db"
    assert source.current_step_type == "fully_configured"
    assert [d["id"] for d in hook.list_destinations()] == [
        xcoms["create_destination:return_value"]["destination_id"]
    ]
    loaded = {load.stream_name for load in hook.list_loads() if load.source_name == source.name}
    assert loaded == {"customers", "orders", "products"}

    # The token is nowhere but in the connection: not in XCom, console output or task logs.
    assert token not in json.dumps(xcoms, default=str)
    captured = capfd.readouterr()
    assert token not in captured.out + captured.err
    for log_file in (airflow_home / "logs").rglob("*"):
        if log_file.is_file():
            assert token not in log_file.read_text(errors="replace"), log_file
