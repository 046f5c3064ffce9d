"""Asset events per loaded stream, in every mode, judged against the emulator's ground truth.

The emulator's warehouse is a DuckDB file presented as a ``postgres`` destination: its tables are named
``duckdb://<file>/<schema>/<table>`` (``airflow_provider_stitch.lineage.naming``).
"""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk import AssetAlias
from replication_modes import MODES, run_in_mode, run_op
from replication_support import SHOP_DB, STREAMS, make_context, scenario

from airflow_provider_stitch.exceptions import StitchError, StitchReplicationError
from airflow_provider_stitch.lineage.assets import DEFAULT_ASSET_ALIAS
from airflow_provider_stitch.sensors.replication import StitchReplicationJobSensor

#: An S3 destination's form, as the emulator's forms.json derives it from Stitch's docs.
S3_PROPERTIES = {
    "s3_bucket": "com-stitch-lake",
    "output_file_format": "csv",
    "s3_key_format_string": "[integration_name]/[table_name]/[table_version]_[timestamp_loaded]",
    "sentinel_key": "stitch-challenge-file-af295ad1-7a4b-4881-89dc-c9be27de13a5",
}


def alias_events(context: dict[str, Any], alias: str = DEFAULT_ASSET_ALIAS) -> list[Any]:
    return list(context["outlet_events"][AssetAlias(name=alias)].asset_alias_events)


def truth_loaded(emulator: Any, job_name: str) -> dict[str, str]:
    """Stream -> loaded_at of the streams the job really loaded (``GET /_emulator/jobs/{name}``)."""
    streams = emulator.admin.job(job_name)["streams"]
    return {name: s["loaded_at"] for name, s in streams.items() if s["load"] == "loaded"}


@pytest.mark.parametrize("mode", MODES)
def test_one_event_per_loaded_stream_in_every_mode(mode: str, emulator: Any) -> None:
    context = make_context()
    result = run_in_mode(mode, context)
    truth = truth_loaded(emulator, result["job_name"])
    assert sorted(truth) == STREAMS
    events = alias_events(context)
    warehouse = emulator.warehouse_path
    assert [e.dest_asset_key.uri for e in events] == [
        f"duckdb://localhost{warehouse}/shop_db/{stream}" for stream in STREAMS
    ]
    assert {e.extra["stream"]: e.extra["loaded_at"] for e in events} == truth
    for event in events:
        assert event.source_alias_name == DEFAULT_ASSET_ALIAS
        assert event.extra["job_name"] == result["job_name"]
        assert (event.extra["source_id"], event.extra["source_name"]) == (SHOP_DB, "shop_db")
        assert event.extra["stitch_client_id"] == 1001


@pytest.mark.parametrize("mode", MODES)
def test_streams_without_new_records_emit_nothing(mode: str, emulator: Any) -> None:
    scenario(emulator, zero_record_streams=["orders"])
    context = make_context()
    result = run_in_mode(mode, context)
    truth = truth_loaded(emulator, result["job_name"])
    assert sorted(truth) == ["customers", "products"]
    assert sorted(e.extra["stream"] for e in alias_events(context)) == sorted(truth)


@pytest.mark.parametrize("mode", MODES)
def test_a_failed_replication_emits_nothing(mode: str, emulator: Any) -> None:
    scenario(emulator, fail_target="Target rejected the batch")
    context = make_context()
    with pytest.raises(StitchReplicationError):
        run_in_mode(mode, context)
    assert alias_events(context) == []


def test_waiting_for_the_extraction_only_emits_nothing(emulator: Any) -> None:
    context = make_context()
    result = run_in_mode("blocking", context, wait_for="extraction")
    assert result["status"] == "succeeded"
    assert alias_events(context) == []


def test_the_operator_declares_its_alias_and_a_chosen_one(emulator: Any) -> None:
    assert run_op().outlets == [AssetAlias(name=DEFAULT_ASSET_ALIAS)]
    assert run_op(asset_alias="shop_db_loads").outlets == [AssetAlias(name="shop_db_loads")]
    sensor = StitchReplicationJobSensor(task_id="wait", source_id=SHOP_DB, asset_alias=None)
    assert sensor.outlets == []


def test_no_alias_no_events(emulator: Any) -> None:
    context = make_context()
    run_in_mode("blocking", context, asset_alias=None)
    assert all(not accessor.asset_alias_events for accessor in context["outlet_events"]._dict.values())


def test_a_destination_without_table_naming_emits_nothing_and_says_why(
    emulator: Any, hook: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # An S3 destination has no tables: the replication still succeeds.
    hook.delete_destination(3001)
    hook.create_destination(
        type="s3",
        name="Lake",
        properties=S3_PROPERTIES,
    )
    context = make_context()
    result = run_in_mode("blocking", context)
    assert result["status"] == "succeeded"
    assert alias_events(context) == []
    assert (
        "No asset events for shop_db (2001): destination type 's3' has no table naming"
        in capsys.readouterr().out
    )


@pytest.mark.parametrize(
    ("kind", "properties", "expected_base"),
    [
        (
            "snowflake",
            {
                "host": "xy12345.us-east-1.snowflakecomputing.com",
                "port": "443",
                "warehouse": "LOADING",
                "database": "RAW",
                "username": "stitch",
                "password": "s3cret-pw",
            },
            "snowflake://xy12345.us-east-1/RAW",
        ),
        (
            "redshift",
            {
                "host": "analytics.c1abcdef.eu-west-1.redshift.amazonaws.com",
                "port": "5439",
                "username": "stitch",
                "password": "s3cret-pw",
                "database": "dev",
                "encryption_type": "none",
            },
            "redshift://analytics.eu-west-1:5439/dev",
        ),
    ],
)
def test_the_asset_names_the_table_in_the_destination_the_source_loads_into(
    kind: str, properties: dict[str, str], expected_base: str, emulator: Any, hook: Any
) -> None:
    hook.delete_destination(3001)
    hook.create_destination(type=kind, name="Warehouse", properties=properties)
    context = make_context()
    run_in_mode("blocking", context)
    uris = [e.dest_asset_key.uri for e in alias_events(context)]
    assert uris == [f"{expected_base}/shop_db/{stream}" for stream in STREAMS]
    assert not any("s3cret-pw" in uri for uri in uris)


def test_with_several_destinations_the_one_the_source_is_mapped_to_names_the_tables(
    emulator: Any, hook: Any
) -> None:
    hook.create_destination(type="s3", name="Lake", properties=S3_PROPERTIES)
    assert hook.get_source(SHOP_DB).raw["mapped_destination_ids"] == [3001]
    context = make_context()
    run_in_mode("blocking", context)
    warehouse = emulator.warehouse_path
    assert [e.dest_asset_key.uri for e in alias_events(context)] == [
        f"duckdb://localhost{warehouse}/shop_db/{stream}" for stream in STREAMS
    ]


def test_a_failed_lookup_fails_the_try_and_the_retry_emits_the_events(emulator: Any) -> None:
    from replication_support import TaskStateStore

    store = TaskStateStore()
    # Every attempt of the hook's retries fails: the data landed, but its tables cannot be named.
    emulator.admin.inject_fault("GET", "/v4/destinations", status=503, count=5)
    with pytest.raises(StitchError):
        run_in_mode("blocking", make_context(store))
    emulator.admin.clear_faults()
    retried = make_context(store)  # the retry reattaches to the succeeded job through the state store
    result = run_in_mode("blocking", retried)
    assert sorted(e.extra["stream"] for e in alias_events(retried)) == sorted(
        truth_loaded(emulator, result["job_name"])
    )


@pytest.mark.parametrize("mode", MODES)
def test_openlineage_facets_name_the_streams_and_tables_in_every_mode(mode: str, emulator: Any) -> None:
    pytest.importorskip("airflow.providers.openlineage")
    from replication_modes import run_op as make_op

    context = make_context()
    task = make_op(deferrable=mode == "deferrable", wait_for_completion=mode != "reschedule")
    if mode == "reschedule":
        task.execute(context)
        task = StitchReplicationJobSensor(
            task_id="wait",
            job_reference=context["ti"].xcoms["stitch_job"],
            mode="reschedule",
            poke_interval=20,
        )
        result = sense(task, context)
    elif mode == "deferrable":
        from replication_modes import defer_and_resume

        result = defer_and_resume(task, context)
    else:
        result = task.execute(context)
    lineage = task.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [
        ("postgres://shop-db.internal:5432", f"shop.{s}") for s in STREAMS
    ]
    assert [d.name for d in lineage.outputs] == [f"shop_db.{s}" for s in STREAMS]
    facet = lineage.run_facets["stitchReplication"]
    assert facet.job_name == result["job_name"]
    assert facet.streams_loaded_at == truth_loaded(emulator, result["job_name"])


def sense(sensor: StitchReplicationJobSensor, context: dict[str, Any]) -> dict[str, Any]:
    """Pokes of one sensor instance until it returns (the instance answers OpenLineage afterwards)."""
    import time

    from airflow_provider_stitch.compat import AirflowRescheduleException

    while True:
        try:
            return sensor.execute(context)  # type: ignore[no-any-return]
        except AirflowRescheduleException:
            time.sleep(0.1)


def test_nothing_loaded_reports_no_lineage(emulator: Any) -> None:
    pytest.importorskip("airflow.providers.openlineage")
    task = run_op(wait_for="extraction")
    task.execute(make_context())
    lineage = task.get_openlineage_facets_on_complete(None)
    assert (lineage.inputs, lineage.outputs, lineage.run_facets) == ([], [], {})
