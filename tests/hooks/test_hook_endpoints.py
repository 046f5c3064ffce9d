"""StitchConnectHook over real HTTP against the emulator: the endpoint catalogue, sync and async."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from airflow_provider_stitch.exceptions import (
    StitchAPIError,
    StitchAuthenticationError,
    StitchConfigurationError,
    StitchJobAlreadyRunningError,
    StitchNotFoundError,
)
from airflow_provider_stitch.hooks import StitchConnectHook

SHOP_DB = 2001
CRM = 2002


def test_test_connection_reports_the_account(hook: StitchConnectHook) -> None:
    ok, message = hook.test_connection()
    assert ok, message
    assert "client account 1001" in message


def test_test_connection_failure_is_clear(stitch_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = json.loads(stitch_emulator.connection_uri)
    conn["password"] = "ac_revoked_token"
    monkeypatch.setenv("AIRFLOW_CONN_STITCH_DEFAULT", json.dumps(conn))
    ok, message = StitchConnectHook().test_connection()
    assert not ok
    assert "HTTP 401" in message and "access token" in message
    assert "ac_revoked_token" not in message


def test_client_id_is_discovered_when_not_configured(
    stitch_emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = json.loads(stitch_emulator.connection_uri)
    conn["extra"] = {}
    monkeypatch.setenv("AIRFLOW_CONN_STITCH_DEFAULT", json.dumps(conn))
    hook = StitchConnectHook()
    assert hook.get_client_id() == 1001
    assert hook.list_extractions() is not None


def test_sources(hook: StitchConnectHook) -> None:
    sources = {s.id: s for s in hook.list_sources()}
    assert sources[SHOP_DB].name == "shop_db"
    assert sources[SHOP_DB].type == "platform.postgres"
    assert sources[SHOP_DB].current_step_type == "fully_configured"
    assert hook.get_source(SHOP_DB).stitch_client_id == 1001
    assert hook.find_source("shop_db").id == SHOP_DB
    display_name = sources[SHOP_DB].display_name
    assert display_name and hook.find_source(display_name).id == SHOP_DB


def test_find_source_suggests_close_names(hook: StitchConnectHook) -> None:
    with pytest.raises(StitchConfigurationError, match="Did you mean: shop_db"):
        hook.find_source("shop_dbb")


def test_unknown_source_names_the_id(hook: StitchConnectHook) -> None:
    with pytest.raises(StitchAPIError) as info:
        hook.get_source(987654)
    assert "987654" in str(info.value)


def test_create_update_pause_unpause_delete_source(hook: StitchConnectHook) -> None:
    created = hook.create_source(
        display_name="Billing API",
        type="platform.hubspot",
        properties={"start_date": "2026-01-01T00:00:00Z", "frequency_in_minutes": "60"},
    )
    assert created.name == "billing_api"
    renamed = hook.update_source(created.id, display_name="Billing")
    assert renamed.display_name == "Billing" and renamed.name == "billing_api"
    paused = hook.pause_source(created.id)
    assert paused.is_paused and paused.raw.get("schedule") is None
    assert not hook.unpause_source(created.id).is_paused
    deleted = hook.delete_source(created.id)
    assert deleted.is_deleted
    assert created.id in {s.id for s in hook.list_sources()}
    assert created.id not in {s.id for s in hook.list_sources(include_deleted=False)}


def test_duplicate_source_name_is_stitchs_error(hook: StitchConnectHook) -> None:
    with pytest.raises(StitchAPIError) as info:
        hook.create_source(display_name="shop_db", type="platform.postgres")
    assert info.value.code == "InvalidName"


def test_source_types_and_destination_types(hook: StitchConnectHook) -> None:
    assert any(t.get("type") == "platform.postgres" for t in hook.list_source_types())
    assert hook.get_source_type("platform.postgres")["type"] == "platform.postgres"
    assert hook.list_destination_types()
    first = hook.list_destination_types()[0]["type"]
    assert hook.get_destination_type(first)["type"] == first


def test_destinations(hook: StitchConnectHook) -> None:
    destinations = hook.list_destinations()
    assert len(destinations) >= 1
    destination_id = destinations[0]["id"]
    updated = hook.update_destination(destination_id, {"username": "loader"})
    assert updated["id"] == destination_id


def test_connection_check(hook: StitchConnectHook) -> None:
    check = hook.get_last_connection_check(SHOP_DB)
    assert check.succeeded
    assert check.name and ".check." in check.name


def test_streams_schema_and_metadata(hook: StitchConnectHook) -> None:
    streams = {s.stream_name: s for s in hook.list_streams(SHOP_DB)}
    assert {"customers", "orders", "products"} <= set(streams)
    assert streams["customers"].selected is True
    schema = hook.get_stream_schema(SHOP_DB, streams["customers"].stream_id)
    assert schema.schema.get("type") == "object"  # decoded from Stitch's JSON string
    assert "properties" in schema.schema
    assert "selected" in schema.non_discoverable_metadata_keys
    crm_streams = hook.list_streams(CRM)
    target = crm_streams[0]
    assert hook.update_stream_metadata(
        CRM,
        [
            {
                "tap_stream_id": target.tap_stream_id,
                "metadata": [{"breadcrumb": [], "metadata": {"selected": True}}],
            }
        ],
    ) == {"status": 200}
    assert {s.tap_stream_id: s.selected for s in hook.list_streams(CRM)}[target.tap_stream_id] is True


def test_stream_metadata_errors_are_stitchs(hook: StitchConnectHook) -> None:
    with pytest.raises(StitchAPIError) as info:
        hook.update_stream_metadata(
            CRM,
            [
                {
                    "tap_stream_id": "no-such-stream",
                    "metadata": [{"breadcrumb": [], "metadata": {"selected": True}}],
                }
            ],
        )
    assert "invalid tap-stream-ids" in info.value.message


def test_replication_job_lifecycle(stitch_conn: Any, hook: StitchConnectHook) -> None:
    job_name = hook.start_replication_job(SHOP_DB)
    assert job_name.startswith("1001.2001.sync.")
    with pytest.raises(StitchJobAlreadyRunningError) as info:
        hook.start_replication_job(SHOP_DB)
    assert info.value.status == 200 and info.value.after_ambiguous_failure is False
    stitch_conn.admin.advance(3600)
    rows = {e.source_id: e for e in hook.list_extractions()}
    assert rows[SHOP_DB].job_name == job_name
    assert rows[SHOP_DB].exit_statuses == {"discovery": 0, "tap": 0, "target": 0}
    loads = {(load.source_name, load.stream_name): load for load in hook.list_loads()}
    assert loads[("shop_db", "customers")].last_batch_loaded_at is not None
    assert loads[("shop_db", "customers")].last_batch_loaded_at >= rows[SHOP_DB].completion_time  # type: ignore[operator]
    logs = hook.get_extraction_logs(job_name)
    assert "replicated" in logs and "customers" in logs


def test_stop_replication_job(stitch_conn: Any, hook: StitchConnectHook) -> None:
    job_name = hook.start_replication_job(SHOP_DB)
    hook.stop_replication_job(SHOP_DB)
    stitch_conn.admin.advance(3600)
    row = {e.source_id: e for e in hook.list_extractions()}[SHOP_DB]
    assert row.job_name == job_name
    assert set(row.descriptions.values()) == {"Terminated"}


def test_start_on_unknown_source(hook: StitchConnectHook) -> None:
    with pytest.raises(StitchNotFoundError) as info:
        hook.start_replication_job(424242)
    assert info.value.code == "invalid_source"
    assert "source 424242" in str(info.value)


def test_import_tokens(hook: StitchConnectHook) -> None:
    source = hook.create_source(display_name="Webhook Feed", type="import_api")
    token = hook.create_import_token(source.id)
    assert token["id"] and token["access_token"]
    listed = hook.list_import_tokens(source.id)
    assert token["id"] in [t["token_id"] for t in listed]
    assert hook.delete_import_token(source.id, token["id"]).id == source.id


def test_notifications(hook: StitchConnectHook) -> None:
    email = hook.create_custom_email("alerts@example.com")
    assert email["email_address"] == "alerts@example.com"
    assert email["id"] in [e["id"] for e in hook.list_custom_emails()]
    assert hook.set_custom_email_disabled_at(email["id"], "2026-11-28T00:00:00Z")["disabled_at"]
    assert hook.set_custom_email_disabled_at(email["id"], None)["disabled_at"] is None
    assert hook.delete_custom_email(email["id"]) == [1]

    destination_id = hook.list_destinations()[0]["id"]
    created = hook.create_notification_hook("https://hooks.example.com/stitch", destination_id)
    assert created["type"] == "post_load"
    assert hook.set_notification_hook_enabled(created["id"], False)["disabled_at"]
    assert hook.set_notification_hook_enabled(created["id"], True)["disabled_at"] is None
    assert created["id"] in [h["id"] for h in hook.list_notification_hooks()]
    assert hook.delete_notification_hook(created["id"]) is None


def test_create_account_and_use_its_token(stitch_conn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_STITCH_PARTNER", stitch_conn.partner_connection_uri)
    partner = StitchConnectHook("stitch_partner")
    account = partner.create_account(
        first_name="Ada", last_name="Lovelace", company="Analytical Engines", email="ada@example.com"
    )
    assert account.stitch_account_id > 0
    assert account.access_token not in repr(account)
    conn = {"conn_type": "stitch", "host": stitch_conn.base_url, "password": account.access_token}
    monkeypatch.setenv("AIRFLOW_CONN_STITCH_NEW", json.dumps(conn))
    ok, message = StitchConnectHook("stitch_new").test_connection()
    assert ok, message
    with pytest.raises(StitchAPIError) as info:
        partner.create_account(first_name="A", last_name="L", company="C", email="ada@example.com")
    assert info.value.code == "ExistingUser"


def test_create_account_without_partner_credentials(hook: StitchConnectHook) -> None:
    with pytest.raises(StitchConfigurationError, match="partner_id"):
        hook.create_account(first_name="A", last_name="B", company="C", email="x@example.com")


def test_wrong_token_is_a_401(stitch_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = json.loads(stitch_emulator.connection_uri)
    conn["password"] = "ac_nobody"
    monkeypatch.setenv("AIRFLOW_CONN_STITCH_DEFAULT", json.dumps(conn))
    with pytest.raises(StitchAuthenticationError):
        StitchConnectHook().list_sources()


async def test_async_paths(stitch_conn: Any) -> None:
    hook = StitchConnectHook(http_retry_policy={"max_attempts": 3, "initial_delay": 0.01})
    async with hook:
        job_name = hook.start_replication_job(SHOP_DB)
        stitch_conn.admin.advance(3600)
        assert await hook.aget_client_id() == 1001
        extractions = {e.source_id: e for e in await hook.alist_extractions()}
        assert extractions[SHOP_DB].job_name == job_name
        assert {load.stream_name for load in await hook.alist_loads() if load.source_name == "shop_db"} >= {
            "customers"
        }
        assert "customers" in await hook.aget_extraction_logs(job_name)
        assert (await hook.aget_source(SHOP_DB)).name == "shop_db"
        assert (await hook.aget_last_connection_check(SHOP_DB)).succeeded
        assert {s.stream_name for s in await hook.alist_streams(SHOP_DB)} >= {"orders"}
        assert len(await hook.alist_sources()) >= 2
        hook.start_replication_job(SHOP_DB)
        assert await hook.astop_replication_job(SHOP_DB) == {"status": 200}


def test_oauth_code_exchange(stitch_conn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_STITCH_PARTNER", stitch_conn.partner_connection_uri)
    partner = StitchConnectHook("stitch_partner")
    code = stitch_conn.admin.mint_oauth_code(client_id=1001, partner_id=stitch_conn.partner_id)
    account = partner.exchange_oauth_code(code)
    assert account.stitch_account_id == 1001
    assert account.access_token not in repr(account)
    with pytest.raises(StitchAPIError):  # codes are single-use
        partner.exchange_oauth_code(code)


def test_ephemeral_session(hook: StitchConnectHook) -> None:
    assert hook.create_ephemeral_session()


def test_create_and_delete_destination(hook: StitchConnectHook) -> None:
    created = hook.create_destination(
        type="postgres",
        name="Second warehouse",
        # The docs' postgres destination form: port a digit string, ssl a boolean, encryption_type set.
        properties={
            "host": "127.0.0.1",
            "port": "5432",
            "username": "u",
            "password": "p",
            "database": "d",
            "ssl": False,
            "encryption_type": "none",
        },
    )
    assert created["type"] == "postgres" and created["name"] == "Second warehouse"
    check = hook.get_destination_last_connection_check(created["id"])
    assert check.name is None or ".check." in check.name

    async def read_async() -> Any:
        async with hook:
            return await hook.aget_destination_last_connection_check(created["id"])

    assert asyncio.run(read_async()) == check  # the triggerer's twin reads the same check
    hook.delete_destination(created["id"])
    with pytest.raises(StitchAPIError):
        hook.delete_destination(created["id"])
