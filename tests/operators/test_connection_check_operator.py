"""StitchConnectionCheckOperator and its trigger over HTTP against the emulator, in both modes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_stitch.compat import TaskDeferred
from airflow_provider_stitch.exceptions import StitchConfigurationError
from airflow_provider_stitch.operators import StitchConnectionCheckOperator
from airflow_provider_stitch.operators.connection_checks import StitchConnectionCheckError
from airflow_provider_stitch.triggers import StitchConnectionCheckTrigger

SHOP_DB = 2001
FAST_POLL = 0.1  # the emulator runs 20x faster than Stitch
MODES = pytest.mark.parametrize("deferrable", [False, True], ids=["blocking", "deferrable"])


def _operator(**kwargs: Any) -> StitchConnectionCheckOperator:
    kwargs.setdefault("poll_interval", FAST_POLL)
    kwargs.setdefault("timeout", 30)
    return StitchConnectionCheckOperator(task_id="check", **kwargs)


@pytest.fixture
def seed_check(stitch_conns: Any) -> str:
    """The name of the seeded source's check, read before any test step can start another one."""
    from airflow_provider_stitch.hooks import StitchConnectHook

    name = StitchConnectHook().get_last_connection_check(SHOP_DB).name
    assert name and name.startswith("1001.2001.check.")
    return name


@pytest.fixture
def rotated_credentials(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], str]:
    """Register an Airflow connection holding database credentials; returns its id."""

    def register(password: str) -> str:
        monkeypatch.setenv(
            "AIRFLOW_CONN_SHOP_DB_CREDENTIALS",
            json.dumps({"conn_type": "postgres", "login": "stitch_reader", "password": password}),
        )
        return "shop_db_credentials"

    return register


@MODES
def test_latest_check_that_passed_lets_the_pipeline_continue(
    stitch_conns: Any, seed_check: str, run_operator: Callable[..., Any], deferrable: bool
) -> None:
    result = run_operator(_operator(source_name="shop_db", deferrable=deferrable))
    assert result["status"] == "succeeded"
    assert result["object_id"] == SHOP_DB
    assert result["check_name"] == seed_check


def test_latest_check_returns_without_deferring_when_already_final(stitch_conns: Any) -> None:
    # No trigger (and no triggerer slot) for a check that has already ended.
    result = _operator(source_id=SHOP_DB, deferrable=True).execute({})
    assert result["status"] == "succeeded"


@MODES
def test_rotated_credentials_start_a_fresh_check_and_wait_for_that_one(
    stitch_conns: Any,
    seed_check: str,
    run_operator: Callable[..., Any],
    rotated_credentials: Callable[[str], str],
    deferrable: bool,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stitch_conns.admin.update_scenario(SHOP_DB, durations={"check": 10})  # 0.5 s at the fixture's speed
    conn_id = rotated_credentials("n3w-s3cret-pw")
    operator = _operator(
        source_id=SHOP_DB,
        properties_conn_id=conn_id,
        properties_conn_fields={"login": "user", "password": "password"},
        deferrable=deferrable,
    )
    result = run_operator(operator)
    logs = capsys.readouterr().out

    assert result["status"] == "succeeded"
    assert result["check_name"].startswith("1001.2001.check.")
    assert result["check_name"] != seed_check  # not the check from before the update
    if not deferrable:
        assert "is running" in logs  # it really waited for a running check
    assert "n3w-s3cret-pw" not in logs


@MODES
def test_failing_check_fails_the_task_with_stitchs_message(
    stitch_conns: Any,
    run_operator: Callable[..., Any],
    rotated_credentials: Callable[[str], str],
    deferrable: bool,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stitch_conns.admin.update_scenario(SHOP_DB, connection_check_fail_when={"password": "wrong-password"})
    conn_id = rotated_credentials("wrong-password")
    operator = _operator(
        source_name="shop_db",
        properties_conn_id=conn_id,
        properties_conn_fields={"password": "password"},
        deferrable=deferrable,
    )
    with pytest.raises(StitchConnectionCheckError) as error:
        run_operator(operator)

    assert "for source shop_db (2001) failed: FATAL: password authentication failed" in str(error.value)
    assert error.value.result["status"] == "failed"
    assert "wrong-password" not in str(error.value)
    assert "wrong-password" not in capsys.readouterr().out

    # The gate keeps failing afterwards in "check the latest" mode: the failed check is the latest one.
    with pytest.raises(StitchConnectionCheckError, match="password authentication failed"):
        run_operator(_operator(source_id=SHOP_DB, deferrable=deferrable))


@MODES
def test_a_check_that_outlasts_the_timeout_fails_with_a_timeout(
    stitch_conns: Any, run_operator: Callable[..., Any], deferrable: bool
) -> None:
    stitch_conns.admin.update_scenario(SHOP_DB, durations={"check": 100_000})
    operator = _operator(source_id=SHOP_DB, properties={"ssl": "false"}, timeout=0.5, deferrable=deferrable)
    with pytest.raises(StitchConnectionCheckError, match=r"Gave up .* is running") as error:
        run_operator(operator)
    assert error.value.result["status"] == "timeout"


def test_a_fresh_check_sends_numbers_and_booleans_as_strings(
    stitch_conns: Any, seed_check: str, run_operator: Callable[..., Any]
) -> None:
    # Stitch takes string property values only (https://www.stitchdata.com/docs/developers/stitch-connect/api#properties-object); without conversion the update is refused.
    result = run_operator(_operator(source_id=SHOP_DB, properties={"ssl": False, "port": 5432}))
    assert result["status"] == "succeeded"
    assert result["check_name"] != seed_check


def test_trigger_round_trips_and_carries_no_secret(stitch_conns: Any) -> None:
    stitch_conns.admin.update_scenario(SHOP_DB, durations={"check": 100_000})
    operator = _operator(source_id=SHOP_DB, properties={"ssl": "false"}, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({})

    trigger = deferred.value.trigger
    assert isinstance(trigger, StitchConnectionCheckTrigger)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_stitch.triggers.connection_checks.StitchConnectionCheckTrigger"
    assert StitchConnectionCheckTrigger(**kwargs).serialize() == (classpath, kwargs)
    assert kwargs["expected_check_name"].startswith("1001.2001.check.")
    assert stitch_conns.token not in json.dumps(kwargs)
    assert deferred.value.timeout is not None  # a backstop beyond the trigger's own deadline


def test_destination_checks_work_in_both_modes(stitch_conns: Any, run_operator: Callable[..., Any]) -> None:
    destination_id = 3001
    latest = run_operator(_operator(destination_id=destination_id))
    assert latest["status"] == "succeeded"
    fresh = run_operator(
        _operator(destination_id=destination_id, properties={"ssl": "false"}, deferrable=True)
    )
    assert fresh["status"] == "succeeded"
    assert fresh["target"] == "destination"
    assert fresh["check_name"] != latest["check_name"]


def test_unknown_source_names_fail_with_suggestions(stitch_conns: Any) -> None:
    with pytest.raises(StitchConfigurationError, match="Did you mean: shop_db"):
        _operator(source_name="shop-db").execute({})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, r"Give the object to check: a source \(source_id or source_name\) or destination_id"),
        ({"source_id": 1, "destination_id": 2}, "not both; got source_id, destination_id"),
        ({"source_id": 1, "source_name": "crm"}, "exactly one of source_id and source_name; got both"),
        ({"source_id": "abc"}, "source_id must be a numeric Stitch id"),
        ({"source_id": 1, "properties": "not a mapping"}, "properties must be a mapping"),
        ({"source_id": 1, "timeout": 0}, "timeout must be a positive duration"),
    ],
)
def test_bad_arguments_fail_at_dag_parse_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(StitchConfigurationError, match=message):
        StitchConnectionCheckOperator(task_id="check", **kwargs)
