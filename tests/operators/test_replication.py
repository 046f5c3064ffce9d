"""Run a replication job and wait for it, in every mode, against the emulator over loopback.

Modes: see ``tests/support/replication_modes.py`` (blocking, reschedule sensor, deferrable).

The connection's ``time_scale`` extra is 200 (fixture ``emulator``: poll 20 s -> 0.1 s, budget window 3 s,
timeouts divided by 200) against the emulator at speed 20 with one-second phases, so a whole job takes
a fraction of a second.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from replication_modes import (
    MODES,
    ONE_SECOND,
    SLOW_EXTRACTION,
    defer_and_resume,
    run_in_mode,
    run_op,
    sense_rescheduled,
    stopped_by,
)
from replication_support import (
    FAST_RETRIES,
    SHOP_DB,
    STREAMS,
    TaskStateStore,
    dag_test_defers,
    extraction_reads,
    make_context,
    needs_task_state_store,
    scenario,
    wait_until,
)

from airflow_provider_stitch.compat import (
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)
from airflow_provider_stitch.exceptions import StitchConfigurationError, StitchReplicationError
from airflow_provider_stitch.hooks.stitch import StitchConnectHook
from airflow_provider_stitch.operators.replication import (
    JOB_XCOM_KEY,
    StitchRunReplicationJobOperator,
    StitchStopReplicationJobOperator,
)
from airflow_provider_stitch.sensors.replication import StitchReplicationJobSensor

# --- outcomes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_success_waits_for_every_stream_to_load(mode: str, emulator: Any) -> None:
    result = run_in_mode(mode)
    assert result["status"] == "succeeded"
    assert result["source_name"] == "shop_db" and result["stitch_client_id"] == 1001
    assert result["job_name"].startswith("1001.2001.sync.")
    assert result["exit_statuses"] == {"discovery": 0, "tap": 0, "target": 0}
    assert sorted(result["streams"]) == STREAMS
    assert all(s["status"] == "loaded" and s["loaded_at"] for s in result["streams"].values())
    assert all(s["loaded_at"] >= result["extraction_completion"] for s in result["streams"].values())
    assert result["url"].endswith("/client/1001/pipeline/v2/sources/2001/summary")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("failing_step", "phase_text"),
    [
        ({"fail_discovery": "Discovery failed: could not connect"}, "discovery exited with status 1"),
        ({"fail_tap": "Response returned http error code 401"}, "tap exited with status 1"),
        ({"fail_target": "Target rejected the batch"}, "target exited with status 1"),
    ],
    ids=["discovery", "tap", "target"],
)
def test_extraction_failure_raises_with_stitch_reason(
    mode: str, failing_step: dict[str, str], phase_text: str, emulator: Any
) -> None:
    scenario(emulator, **failing_step)
    with pytest.raises(StitchReplicationError) as failure:
        run_in_mode(mode)
    message = str(failure.value)
    assert "shop_db (2001)" in message and "1001.2001.sync." in message
    assert "failed during extraction" in message
    assert phase_text in message and next(iter(failing_step.values())) in message
    assert failure.value.result["status"] == "failed"


@pytest.mark.parametrize("mode", MODES)
def test_load_error_state_fails_with_warehouse_message(mode: str, emulator: Any) -> None:
    scenario(emulator, load_errors={"orders": "permission denied for schema shop_db"})
    with pytest.raises(StitchReplicationError) as failure:
        run_in_mode(mode)
    assert "failed during loading" in str(failure.value)
    assert "orders: permission denied for schema shop_db" in str(failure.value)
    assert failure.value.result["streams"]["orders"]["status"] == "failed"


@pytest.mark.parametrize("mode", MODES)
def test_stopped_job_is_reported_cancelled(mode: str, emulator: Any, hook: StitchConnectHook) -> None:
    scenario(emulator, **SLOW_EXTRACTION)

    def stop_once_the_wait_saw_it_extracting() -> None:
        wait_until(lambda: emulator.admin.jobs(SHOP_DB))
        wait_until(lambda: extraction_reads(emulator) >= 2)
        hook.stop_replication_job(SHOP_DB)

    stopper = threading.Thread(target=stop_once_the_wait_saw_it_extracting, daemon=True)
    stopper.start()
    with pytest.raises(StitchReplicationError) as failure:
        run_in_mode(mode)
    stopper.join()
    assert "was cancelled" in str(failure.value) and "Terminated" in str(failure.value)
    assert failure.value.result["status"] == "cancelled"


@pytest.mark.parametrize("mode", MODES)
def test_timeout_stops_the_job(mode: str, emulator: Any, hook: StitchConnectHook) -> None:
    scenario(emulator, **SLOW_EXTRACTION)
    with pytest.raises((StitchReplicationError, AirflowSensorTimeout)) as failure:
        run_in_mode(mode, timeout=ONE_SECOND)
    if isinstance(failure.value, StitchReplicationError):
        assert "timed out while extracting" in str(failure.value)
        assert "the job was stopped" in str(failure.value)
    assert stopped_by(hook) == "Terminated"


@pytest.mark.parametrize("mode", MODES)
def test_already_running_attaches_to_that_job(mode: str, emulator: Any, hook: StitchConnectHook) -> None:
    running = hook.start_replication_job(SHOP_DB)
    result = run_in_mode(mode)
    assert result["status"] == "succeeded"
    assert result["job_name"] == running


def test_attaching_never_takes_the_previous_job_for_ours(emulator: Any, hook: StitchConnectHook) -> None:
    previous = hook.start_replication_job(SHOP_DB)
    emulator.admin.advance(1000)  # it completes: the source's row now shows it
    running = hook.start_replication_job(SHOP_DB)
    operator = run_op(deferrable=False)
    context = make_context()
    result = operator.execute(context)
    assert result["job_name"] == running != previous
    saved = context["ti"].xcoms[JOB_XCOM_KEY]
    assert saved["job_name"] is None and saved["previous_job_name"] == previous


def test_attaching_learns_the_job_name_where_running_jobs_are_listed(
    stitch_emulator_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = stitch_emulator_factory(list_running_extractions=True, speed=20)
    monkeypatch.setenv("AIRFLOW_CONN_STITCH_DEFAULT", server.connection_uri)
    scenario(server)
    hook = StitchConnectHook(http_retry_policy=FAST_RETRIES)
    running = hook.start_replication_job(SHOP_DB)
    context = make_context()
    result = run_op(deferrable=False).execute(context)
    assert result["status"] == "succeeded" and result["job_name"] == running
    assert context["ti"].xcoms[JOB_XCOM_KEY]["job_name"] == running


@pytest.mark.parametrize("mode", MODES)
def test_already_running_fails_when_asked(mode: str, emulator: Any, hook: StitchConnectHook) -> None:
    scenario(emulator, durations={"tap": 2000})  # still extracting when the operator looks, however slow
    hook.start_replication_job(SHOP_DB)
    with pytest.raises(StitchReplicationError, match="already running on source shop_db"):
        run_in_mode(mode, if_running="fail")


@pytest.mark.parametrize("mode", MODES)
def test_already_running_skips_when_asked(mode: str, emulator: Any, hook: StitchConnectHook) -> None:
    scenario(emulator, durations={"tap": 2000})  # still extracting when the operator looks, however slow
    hook.start_replication_job(SHOP_DB)
    with pytest.raises(AirflowSkipException, match="already running on source shop_db"):
        run_in_mode(mode, if_running="skip")


@pytest.mark.parametrize("mode", MODES)
def test_transient_5xx_and_429_mid_wait_are_retried(mode: str, emulator: Any) -> None:
    emulator.admin.inject_fault("GET", "/v4/1001/extractions", status=503, count=2)
    emulator.admin.inject_fault("GET", "/v4/1001/loads", status=429, retry_after=0.05, count=1)
    emulator.admin.inject_fault("GET", "/v4/1001/loads", status=502, count=1)
    assert run_in_mode(mode)["status"] == "succeeded"
    assert emulator.admin.faults() == [] or all(f.get("count", 0) == 0 for f in emulator.admin.faults())


@pytest.mark.parametrize("mode", MODES)
def test_an_outage_longer_than_the_retries_only_delays_the_wait(mode: str, emulator: Any) -> None:
    # 8 failures in a row outlast one call's 5 attempts: the poll fails, the wait goes on.
    emulator.admin.inject_fault("GET", "/v4/1001/extractions", status=503, count=8)
    assert run_in_mode(mode)["status"] == "succeeded"


@pytest.mark.parametrize("mode", MODES)
def test_zero_record_streams_are_not_awaited(mode: str, emulator: Any) -> None:
    scenario(emulator, zero_record_streams=["products"])
    result = run_in_mode(mode)
    assert result["status"] == "succeeded"
    assert sorted(result["streams"]) == ["customers", "orders"]


@pytest.mark.parametrize("mode", MODES)
def test_all_streams_without_records_succeed_without_loads(mode: str, emulator: Any) -> None:
    scenario(emulator, zero_record_streams=STREAMS)
    result = run_in_mode(mode)
    assert result["status"] == "succeeded" and result["streams"] == {}
    assert "no stream had new records" in result["reason"]


@pytest.mark.parametrize("mode", MODES)
def test_wait_for_extraction_only(mode: str, emulator: Any) -> None:
    scenario(emulator, durations={"preparation": 2000})
    result = run_in_mode(mode, wait_for="extraction")
    assert result["status"] == "succeeded" and result["streams"] == {}
    assert result["extraction_completion"] is not None


# --- retries and idempotence ---------------------------------------------------------------------


@needs_task_state_store
@pytest.mark.parametrize("retry_mode", ["blocking", "deferrable"])
def test_retried_task_reattaches_instead_of_starting_a_duplicate(
    retry_mode: str, emulator: Any, hook: StitchConnectHook
) -> None:
    store = TaskStateStore()
    # First try: starts the job, saves it, defers; then its worker dies before the trigger fires.
    with pytest.raises(TaskDeferred):
        run_op(deferrable=True).execute(make_context(store))
    first = job_name_in(store)
    assert first is not None
    # Second try (a new operator instance with the same task state store) must not start a new job.
    result = run_in_mode(retry_mode, context=make_context(store))
    assert result["status"] == "succeeded" and result["job_name"] == first
    assert starts(emulator) == 1


def starts(emulator: Any) -> int:
    """How many replication jobs were asked for (POST .../sync) since the emulator's reset."""
    return int(emulator.admin.stats()["by_route"].get("POST /v4/sources/{source_id}/sync", 0))


def job_name_in(store: TaskStateStore) -> str | None:
    return store[StitchRunReplicationJobOperator.external_id_key]["job_name"]  # type: ignore[no-any-return]


@needs_task_state_store
@pytest.mark.parametrize("retry_mode", ["blocking", "deferrable"])
def test_retry_after_success_returns_the_result_without_a_new_job(retry_mode: str, emulator: Any) -> None:
    store = TaskStateStore()
    first = run_in_mode("blocking", context=make_context(store))
    # Nothing to wait for: even the deferrable operator returns without deferring.
    again = run_op(deferrable=retry_mode == "deferrable").execute(make_context(store))
    assert again == first


@needs_task_state_store
def test_retry_after_a_failed_job_starts_a_fresh_one(emulator: Any) -> None:
    store = TaskStateStore()
    scenario(emulator, fail_tap="boom")
    with pytest.raises(StitchReplicationError):
        run_in_mode("blocking", context=make_context(store))
    failed = job_name_in(store)
    scenario(emulator)
    result = run_in_mode("blocking", context=make_context(store))
    assert result["status"] == "succeeded" and result["job_name"] != failed


# --- same XCom in every mode ------------------------------------------------------------------------


@needs_task_state_store
def test_identical_xcom_in_every_mode(emulator: Any) -> None:
    """Every mode, waiting on the same finished job, returns exactly the same value."""
    context = make_context()
    run_op(wait_for_completion=False).execute(context)
    job = context["ti"].xcoms[JOB_XCOM_KEY]
    emulator.admin.advance(1000)
    common = {"task_id": "wait", "job_name": job["job_name"], "started_after": job["started_after"]}
    common |= {"poke_interval": 20, "http_retry_policy": FAST_RETRIES}
    poke = StitchReplicationJobSensor(**common).execute(make_context())
    rescheduled = sense_rescheduled(
        lambda: StitchReplicationJobSensor(mode="reschedule", **common), make_context()
    )
    deferred = defer_and_resume(StitchReplicationJobSensor(deferrable=True, **common), make_context())
    # The run operator, retried after its job finished (blocking and deferrable alike return at once):
    key = StitchRunReplicationJobOperator.external_id_key
    blocking = run_op(deferrable=False).execute(make_context(TaskStateStore({key: job})))
    deferrable = run_op(deferrable=True).execute(make_context(TaskStateStore({key: job})))
    assert poke["status"] == "succeeded"
    assert poke == rescheduled == deferred == blocking == deferrable


def test_blocking_and_deferrable_operators_return_the_same_shape(emulator: Any) -> None:
    blocking = run_in_mode("blocking")
    deferred = run_in_mode("deferrable")
    assert blocking.keys() == deferred.keys()
    varying = {"job_name", "extraction_start", "extraction_completion", "streams"}
    assert {k: v for k, v in blocking.items() if k not in varying} == {
        k: v for k, v in deferred.items() if k not in varying
    }
    assert {k: v["status"] for k, v in blocking["streams"].items()} == {
        k: v["status"] for k, v in deferred["streams"].items()
    }


# --- the rest of the operator contract ---------------------------------------------------------------


def test_fire_and_forget_returns_the_started_job(emulator: Any) -> None:
    context = make_context()
    result = run_op(wait_for_completion=False).execute(context)
    assert result["status"] == "extracting" and result["job_name"].startswith("1001.2001.sync.")
    assert context["ti"].xcoms["stitch_source"]["url"] == result["url"]
    assert context["ti"].xcoms[JOB_XCOM_KEY]["job_name"] == result["job_name"]


def test_source_name_is_resolved_at_execute_time(emulator: Any) -> None:
    assert run_in_mode("blocking", source_id=None, source_name="Shop DB")["source_id"] == SHOP_DB


def test_unknown_source_name_fails_before_any_start(emulator: Any) -> None:
    with pytest.raises(StitchConfigurationError, match="Did you mean: shop_db"):
        run_op(source_id=None, source_name="shop_bd").execute(make_context())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"source_id": None},
        {"source_name": "shop_db"},
        {"wait_for": "everything"},
        {"if_running": "ignore"},
        {"poll_interval": 5},
        {"poll_interval": float("nan")},
        {"poll_interval": "60"},
        {"poll_interval": None},
        {"timeout": 0},
        {"timeout": float("inf")},
        {"timeout": 1e15},
        {"timeout": float("nan")},
        {"http_retry_policy": "fast"},
    ],
)
def test_bad_arguments_are_refused_at_construction(kwargs: dict[str, Any]) -> None:
    with pytest.raises(StitchConfigurationError):
        run_op(**kwargs)


def test_deferral_carries_everything_the_trigger_needs(emulator: Any) -> None:
    with pytest.raises(TaskDeferred) as deferred:
        run_op(deferrable=True, timeout=300 * ONE_SECOND).execute(make_context())
    classpath, kwargs = deferred.value.trigger.serialize()
    assert classpath == "airflow_provider_stitch.triggers.replication.StitchReplicationJobTrigger"
    assert kwargs["http_retry_policy"] == FAST_RETRIES
    assert kwargs["stitch_client_id"] == 1001 and kwargs["deadline"] > time.time() + 250
    assert deferred.value.timeout is not None and deferred.value.timeout.total_seconds() > 300
    assert emulator.token not in json.dumps(kwargs)


def test_on_kill_stops_a_blocking_wait(emulator: Any, hook: StitchConnectHook) -> None:
    scenario(emulator, **SLOW_EXTRACTION)
    operator = run_op(deferrable=False, timeout=30 * ONE_SECOND)

    def kill_once_the_wait_saw_it_extracting() -> None:
        wait_until(lambda: emulator.admin.jobs(SHOP_DB))
        wait_until(lambda: extraction_reads(emulator) >= 2)
        operator.on_kill()

    killer = threading.Thread(target=kill_once_the_wait_saw_it_extracting, daemon=True)
    killer.start()
    with pytest.raises(StitchReplicationError, match="was cancelled"):
        operator.execute(make_context())
    assert stopped_by(hook) == "Terminated"


def test_stop_operator(emulator: Any, hook: StitchConnectHook) -> None:
    scenario(emulator, **SLOW_EXTRACTION)
    hook.start_replication_job(SHOP_DB)
    StitchStopReplicationJobOperator(task_id="stop", source_name="shop_db").execute(make_context())
    assert stopped_by(hook) == "Terminated"


# --- more than 100 extraction rows (two pages) ------------------------------------------------------

FILLER_SOURCES = 120


@pytest.fixture(scope="module")
def crowded_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An account with 120 more sources, each with a completed extraction: the list has two pages."""
    from importlib.resources import files

    from airflow_provider_stitch.emulator import EmulatorServer

    seed = json.loads(files("airflow_provider_stitch.emulator").joinpath("default_seed.json").read_text())
    account = seed["accounts"][0]
    shop_db = next(s for s in account["sources"] if s["id"] == SHOP_DB)
    for number in range(FILLER_SOURCES):
        filler = dict(shop_db, id=1000 + number, display_name=f"Filler {number}", name=f"filler_{number}")
        filler["selected_streams"] = ["customers"]
        filler["scenario"] = {"zero_record_streams": ["customers"]}  # no loads rows: one page of loads
        filler["replicated"] = True  # one completed extraction each, without running 120 jobs
        account["sources"].append(filler)
    server = EmulatorServer(
        seed=seed, speed=20, warehouse_path=tmp_path_factory.mktemp("crowded") / "warehouse.duckdb"
    )
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("mode", MODES)
def test_more_than_100_extraction_rows(
    mode: str, crowded_emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_STITCH_DEFAULT", crowded_emulator.connection_uri)
    assert len(StitchConnectHook().list_extractions()) >= FILLER_SOURCES
    result = run_in_mode(mode)
    assert result["status"] == "succeeded" and sorted(result["streams"]) == STREAMS
    assert [r.source_id for r in StitchConnectHook().list_extractions()].index(SHOP_DB) >= 100


# --- a real Airflow run --------------------------------------------------------------------------------


DEFERRABLE_DAG = """
from airflow.sdk import DAG
from airflow_provider_stitch.operators import StitchRunReplicationJobOperator

with DAG("stitch_replication_deferrable_test", schedule=None, catchup=False) as dag:
    StitchRunReplicationJobOperator(
        task_id="replicate",
        source_name="shop_db",
        deferrable=True,
        poll_interval=20,
        timeout=24000,
        http_retry_policy={"max_attempts": 5, "initial_delay": 0.01, "max_delay": 0.05, "max_elapsed": 5},
    )
"""


@dag_test_defers
def test_dag_test_runs_the_deferrable_operator_end_to_end(
    airflow_db: Any, emulator: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``dag.test()`` runs the task in a task runner and its trigger inline, as a triggerer would."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    (tmp_path / "stitch_deferrable_dag.py").write_text(DEFERRABLE_DAG)
    # dag.test() writes the DAG to the metadata DB from the dags-folder bundle, read from here:
    monkeypatch.setattr("airflow.settings.DAGS_FOLDER", str(tmp_path))
    spec = importlib.util.spec_from_file_location(
        "stitch_deferrable_dag", tmp_path / "stitch_deferrable_dag.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag_run = module.dag.test()
    assert dag_run.state == "success"
    with create_session() as session:
        rows = list(
            session.scalars(
                XComModel.get_many(run_id=dag_run.run_id, dag_ids=module.dag.dag_id, key="return_value")
            )
        )
        result = XComModel.deserialize_value(rows[0])
    assert result["status"] == "succeeded" and sorted(result["streams"]) == STREAMS


def test_source_link_reads_the_url_pushed_before_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.execution_time.xcom import XCom

    from airflow_provider_stitch.links import SOURCE_LINK_XCOM_KEY, StitchSourceLink, source_url

    url = source_url("http://127.0.0.1:8080/", 1001, SHOP_DB)
    assert url == "http://127.0.0.1:8080/client/1001/pipeline/v2/sources/2001/summary"
    assert source_url("https://app.stitchdata.com", None, SHOP_DB) is None
    pushed: dict[str, Any] = {
        SOURCE_LINK_XCOM_KEY: {"source_id": SHOP_DB, "stitch_client_id": 1001, "url": url}
    }
    monkeypatch.setattr(XCom, "get_value", classmethod(lambda cls, *, ti_key, key: pushed.get(key)))
    link = StitchSourceLink()
    assert link.get_link(run_op(), ti_key=None) == url  # type: ignore[arg-type]
    pushed.clear()
    assert link.get_link(run_op(), ti_key=None) == ""  # type: ignore[arg-type]


def test_a_wait_without_any_deadline_is_refused() -> None:
    # Nothing waits forever: timeout=None is fine only when execution_timeout bounds the wait.
    with pytest.raises(StitchConfigurationError, match="timeout"):
        run_op(timeout=None)
    bounded = run_op(timeout=None, execution_timeout=dt.timedelta(hours=2))
    assert bounded.timeout is None
    assert run_op(timeout=None, wait_for_completion=False).timeout is None


@needs_task_state_store
def test_a_retry_that_meets_an_outage_still_reattaches(emulator: Any) -> None:
    store = TaskStateStore()
    with pytest.raises(TaskDeferred):
        run_op(deferrable=True).execute(make_context(store))
    first = job_name_in(store)
    # The retry's first look at its saved job outlasts the hook's retries: like every other poll, it
    # must ride that out and reattach, not fail the try.
    emulator.admin.inject_fault("GET", "/v4/1001/extractions", status=503, count=5)
    result = run_in_mode("blocking", context=make_context(store))
    assert result["status"] == "succeeded" and result["job_name"] == first
    assert starts(emulator) == 1
