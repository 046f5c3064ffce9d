"""Sources: listing, creation and its validation errors, the report-card lifecycle, update/pause/delete,
connection checks, source types and Import API tokens."""

from __future__ import annotations

from typing import Any

from airflow_provider_stitch.emulator import EmulatorServer

from ._support import Api

# The docs' platform.postgres form: user and dbname, an integer port, the required schema-prefix flag.
PG_PROPS = {
    "host": "db.example.com",
    "port": 5432,
    "user": "stitch",
    "password": "secret",
    "dbname": "sales",
    "include_schemas_in_destination_stream_name": "false",
}


def _create(api: Api, **body: Any) -> Any:
    payload = {"type": "platform.postgres", "display_name": "Sales DB", "properties": PG_PROPS, **body}
    return api.post("/v4/sources", json=payload)


def test_seeded_sources(api: Api) -> None:
    sources = {s["id"]: s for s in api.get("/v4/sources").json()}
    shop, crm = sources[2001], sources[2002]
    assert (shop["name"], shop["display_name"], shop["type"]) == ("shop_db", "Shop DB", "platform.postgres")
    assert shop["report_card"]["current_step_type"] == "fully_configured"
    assert shop["report_card"]["current_step"] == 4
    assert shop["schedule"]["type"] == "interval" and shop["schedule"]["interval"] == 60.0
    assert "password" not in shop["properties"]  # credentials are never returned
    assert shop["properties"]["port"] == "5432" and shop["stitch_client_id"] == 1001
    assert crm["report_card"]["current_step_type"] == "field_selection" and crm["schedule"] is None
    assert api.get("/v4/sources/2001").json()["id"] == 2001


def test_unknown_source_is_404(api: Api) -> None:
    response = api.get("/v4/sources/99999")
    assert response.status_code == 404
    assert response.json()["error"] == "InvalidId"


def test_create_runs_check_and_discovery_then_field_selection(
    stitch_emulator: EmulatorServer, api: Api
) -> None:
    response = _create(api)
    assert response.status_code == 200
    source = response.json()
    assert source["name"] == "sales_db"
    assert source["report_card"]["current_step_type"] == "discover_schema"
    assert source["schedule"] is None and source["check_job_name"].startswith(f"1001.{source['id']}.check.")
    sid = source["id"]
    check = api.get(f"/v4/sources/{sid}/last-connection-check").json()
    assert check["status"] == "running" and check["completion_time"] is None
    assert api.get(f"/v4/sources/{sid}/streams").json() == []
    stitch_emulator.admin.advance(60)
    check = api.get(f"/v4/sources/{sid}/last-connection-check").json()
    assert check["status"] == "succeeded" and check["discovery_exit_status"] == 0 and check["error"] is False
    assert check["name"] == source["check_job_name"] and check["mode"] == "check"
    assert api.get(f"/v4/sources/{sid}").json()["report_card"]["current_step_type"] == "field_selection"
    streams = api.get(f"/v4/sources/{sid}/streams").json()
    assert {s["tap_stream_id"] for s in streams} == {
        "sales-public-customers",
        "sales-public-orders",
        "sales-public-products",
    }
    assert all(s["selected"] is None for s in streams)
    api.put(
        f"/v4/sources/{sid}/streams/metadata",
        json={
            "streams": [
                {
                    "tap_stream_id": "sales-public-orders",
                    "metadata": [{"breadcrumb": [], "metadata": {"selected": True}}],
                }
            ]
        },
    )
    configured = api.get(f"/v4/sources/{sid}").json()
    assert configured["report_card"]["current_step_type"] == "fully_configured"
    assert configured["schedule"] is not None
    api.run_job(sid)
    assert sorted(api.loads("sales_db")) == ["orders"]


def test_incomplete_form_stays_at_form(api: Api) -> None:
    source = _create(api, properties={"host": "h"}).json()
    assert source["report_card"]["current_step_type"] == "form"
    assert "check_job_name" not in source
    provided = {p["name"]: p["provided"] for p in source["report_card"]["steps"][0]["properties"]}
    assert provided["host"] is True and provided["password"] is False
    assert api.get(f"/v4/sources/{source['id']}/last-connection-check").status_code == 404
    updated = api.put(f"/v4/sources/{source['id']}", json={"properties": PG_PROPS}).json()
    assert updated["report_card"]["current_step_type"] == "discover_schema"


def test_failed_check_then_fixed_credentials(stitch_emulator: EmulatorServer, api: Api) -> None:
    source = _create(api, properties={**PG_PROPS, "password": "wrong"}).json()
    sid = source["id"]
    stitch_emulator.admin.set_scenario(sid, connection_check_fail_when={"password": "wrong"})
    stitch_emulator.admin.advance(60)
    check = api.get(f"/v4/sources/{sid}/last-connection-check").json()
    assert check["status"] == "failed" and check["error"] is True
    assert check["discovery_exit_status"] == 1 and check["check_exit_status"] is None
    assert check["discovery_error_message"].startswith("FATAL: password authentication failed for user")
    assert api.get(f"/v4/sources/{sid}").json()["report_card"]["current_step_type"] == "discover_schema"
    fixed = api.put(f"/v4/sources/{sid}", json={"properties": {"password": "right"}}).json()
    assert fixed["check_job_name"] != source["check_job_name"]
    stitch_emulator.admin.advance(60)
    assert api.get(f"/v4/sources/{sid}/last-connection-check").json()["status"] == "succeeded"
    assert api.get(f"/v4/sources/{sid}").json()["report_card"]["current_step_type"] == "field_selection"


def test_connection_check_fail_switch(stitch_emulator: EmulatorServer, api: Api) -> None:
    stitch_emulator.admin.set_scenario(2001, connection_check="fail", connection_check_message="timeout")
    old = api.get("/v4/sources/2001").json()["check_job_name"]
    new = api.put("/v4/sources/2001", json={"properties": {"host": "other"}}).json()["check_job_name"]
    assert new != old
    stitch_emulator.admin.advance(60)
    check = api.get("/v4/sources/2001/last-connection-check").json()
    assert check["status"] == "failed" and check["discovery_error_message"] == "timeout"


def test_create_validation_errors(stitch_emulator: EmulatorServer, api: Api) -> None:
    def err(response: Any) -> tuple[int, str, str]:
        body = response.json()
        return response.status_code, body["error"], body["data"]["message"]

    body_msg = (
        "POST body may only include a non-empty type, a non-empty display_name and map of string properties"
    )
    assert err(api.post("/v4/sources", data="not json")) == (400, "InvalidBody", body_msg)
    assert err(api.post("/v4/sources", json={"type": "platform.postgres"})) == (400, "InvalidBody", body_msg)
    assert err(_create(api, extra=1)) == (400, "InvalidBody", body_msg)
    assert err(_create(api, type="platform.x")) == (400, "InvalidType", "invalid source type (platform.x)")
    assert err(_create(api, type="platform.marketo")) == (
        400,
        "AccessDenied",
        "you do not have access to source type (platform.marketo)",
    )
    assert err(_create(api, display_name="####")) == (
        400,
        "InvalidDisplayName",
        "invalid name after deriving it from display_name (#### -> )",
    )
    assert err(_create(api, display_name="Shop-DB")) == (
        400,
        "InvalidName",
        "non-unique name after deriving it from display_name (Shop-DB -> shop_db)",
    )
    assert err(_create(api, name="shop_db")) == (400, "InvalidName", "non-unique name (shop_db)")
    assert err(_create(api, name="9lives"))[1] == "InvalidName"
    # The form's schemas: port an integer or a digit string, ssl "true" or "false", frequency one of
    # the listed values; username is not a platform.postgres property (the docs name it user).
    bad = _create(
        api,
        properties={**PG_PROPS, "port": "abc", "ssl": True, "frequency_in_minutes": "7", "username": "u"},
    )
    assert bad.status_code == 400 and bad.json()["error"] == "InvalidProperties"
    assert bad.json()["data"]["bad_properties"] == ["frequency_in_minutes", "port", "ssl", "username"]
    assert bad.json()["data"]["report_card"]["type"] == "platform.postgres"
    cron = _create(api, properties={**PG_PROPS, "cron_expression": "0 0 12 1 * MON *"})
    assert err(cron)[1] == "InvalidCronExpression"
    assert "day-of-week AND a day-of-month" in err(cron)[2]
    assert (
        _create(
            api, name="explicit_name", properties={**PG_PROPS, "cron_expression": "0 0 12 ? * MON-FRI *"}
        ).json()["name"]
        == "explicit_name"
    )


def test_cron_not_permitted_on_plan(stitch_emulator_factory) -> None:  # type: ignore[no-untyped-def]
    from ._support import minimal_seed

    server = stitch_emulator_factory(seed=minimal_seed(features={"cron_scheduling": False}))
    response = Api(server).put(
        "/v4/sources/2001", json={"properties": {"cron_expression": "0 0 12 ? * MON *"}}
    )
    assert response.status_code == 400
    assert response.json()["data"]["message"] == "access to cron_expression based scheduling is not permitted"


def test_update_pause_unpause(api: Api) -> None:
    paused = api.put("/v4/sources/2001", json={"paused_at": "2031-05-01T10:00:00.000Z"}).json()
    assert paused["paused_at"] == "2031-05-01T10:00:00Z" and paused["schedule"] is None
    resumed = api.put("/v4/sources/2001", json={"paused_at": None}).json()
    assert resumed["paused_at"] is None and resumed["schedule"] is not None
    renamed = api.put("/v4/sources/2001", json={"display_name": "Shop Database"}).json()
    assert renamed["display_name"] == "Shop Database" and renamed["name"] == "shop_db"


def test_update_errors(api: Api) -> None:
    typo = "PUT body many only include the keys: display_name, properties, and paused_at"
    for body in ({"destination_id": 3001}, {"name": "x"}, {}):
        response = api.put("/v4/sources/2001", json=body)
        assert response.status_code == 400
        assert response.json() == {"error": "InvalidBody", "data": {"message": typo}}
    assert api.put("/v4/sources/2001", json={"display_name": "!!"}).json()["error"] == "InvalidDisplayName"
    assert (
        api.put("/v4/sources/2001", json={"properties": {"port": "abc"}}).json()["error"]
        == "InvalidProperties"
    )
    assert api.put("/v4/sources/2001", json={"paused_at": "yesterday"}).json()["error"] == "InvalidBody"
    missing = api.put("/v4/sources/777", json={"paused_at": None})
    assert missing.status_code == 400
    assert missing.json() == {"error": "InvalidId", "data": {"message": "source not found (777)"}}


def test_delete_keeps_the_row(api: Api) -> None:
    deleted = api.delete("/v4/sources/2002").json()
    assert deleted["deleted_at"] is not None and deleted["schedule"] is None
    listed = {s["id"]: s for s in api.get("/v4/sources").json()}
    assert listed[2002]["deleted_at"] == deleted["deleted_at"]
    assert api.get("/v4/sources/2002").json()["deleted_at"] == deleted["deleted_at"]
    assert api.delete("/v4/sources/777").json()["error"] == "InvalidId"


def test_source_types(api: Api) -> None:
    types = {t["type"]: t for t in api.get("/v4/source-types").json()}
    assert {"platform.postgres", "platform.hubspot", "import_api"} <= set(types)
    card = api.get("/v4/source-types/platform.hubspot").json()
    assert card["current_step"] == 1 and card["current_step_type"] == "form"
    assert card["details"]["access"] is True and card["details"]["default_scheduling_interval"] == 60
    assert all(p["provided"] is False for p in card["steps"][0]["properties"])
    assert types["platform.marketo"]["details"]["access"] is False
    assert api.get("/v4/source-types/platform.nope").status_code == 404


def test_import_api_tokens(api: Api) -> None:
    source = api.post("/v4/sources", json={"type": "import_api", "display_name": "Webhooks"}).json()
    assert source["report_card"]["current_step_type"] == "fully_configured"
    assert [s["type"] for s in source["report_card"]["steps"]] == ["form", "fully_configured"]
    sid = source["id"]
    first = api.post(f"/v4/sources/{sid}/tokens").json()
    second = api.post(f"/v4/sources/{sid}/tokens").json()
    assert second["id"] > first["id"] and first["access_token"]
    assert api.post(f"/v4/sources/{sid}/tokens").json()["error"] == "TokenLimit"
    listed = api.get(f"/v4/sources/{sid}/tokens").json()
    assert [t["token_id"] for t in listed] == [first["id"], second["id"]]
    assert api.delete(f"/v4/sources/{sid}/tokens/{first['id']}").json()["id"] == sid
    assert api.delete(f"/v4/sources/{sid}/tokens/{first['id']}").json()["error"] == "InvalidId"
    assert api.post("/v4/sources/2001/tokens").json()["error"] == "InvalidType"
    assert api.post(f"/v4/sources/{sid}/sync").json()["error"]["type"] == "generic"
