"""Destinations (v4, v3, types), partner accounts, OAuth code exchange, sessions and notifications."""

from __future__ import annotations

import requests

from airflow_provider_stitch.emulator import EmulatorServer

from ._support import Api

PG = {
    "host": "wh.example.com",
    "port": "5432",
    "username": "u",
    "password": "p",
    "database": "d",
    "ssl": True,
    "encryption_type": "none",
}


def test_list_and_create_destination(stitch_emulator: EmulatorServer, api: Api) -> None:
    seeded = api.get("/v4/destinations").json()
    assert [d["id"] for d in seeded] == [3001]
    assert seeded[0]["type"] == "postgres"
    assert seeded[0]["properties"]["database"] == str(stitch_emulator.warehouse_path)
    assert "password" not in seeded[0]["properties"]
    created = api.post("/v4/destinations", json={"type": "postgres", "name": "Second", "properties": PG})
    assert created.status_code == 200
    dest = created.json()
    assert dest["properties"]["port"] == "5432" and dest["properties"]["ssl"] == "true"
    assert dest["report_card"]["current_step_type"] == "fully_configured" and dest["check_job_name"]
    assert api.get(f"/v4/destinations?destination_id={dest['id']}").json()[0]["id"] == dest["id"]
    assert [d["id"] for d in api.get("/v4/destinations?source_id=2001").json()] == [3001]
    bad_param = api.get("/v4/destinations?foo=1")
    assert bad_param.status_code == 400
    assert bad_param.text == "GET may only include the params: source_id and/or destination_id"
    assert api.get(f"/v4/destinations/{dest['id']}").json()["name"] == "Second"


def test_create_destination_errors(stitch_emulator_factory) -> None:  # type: ignore[no-untyped-def]
    from ._support import minimal_seed

    server = stitch_emulator_factory(seed=minimal_seed(destination_limit=1))
    api = Api(server)
    prohibited = api.post("/v4/destinations", json={"type": "postgres", "properties": PG, "x": 1})
    assert prohibited.status_code == 400 and prohibited.text.startswith("POST body may only include a type")
    assert prohibited.headers["content-type"].startswith("text/plain")
    assert api.post("/v4/destinations", json={"type": "nope", "properties": PG}).status_code == 400
    assert api.post("/v4/destinations", json={"type": "postgres", "properties": PG}).status_code == 200
    limit = api.post("/v4/destinations", json={"type": "postgres", "properties": PG})
    assert limit.status_code == 400 and limit.text == "you are at your destination limit"


def test_update_and_delete_destination(api: Api) -> None:
    old = api.get("/v4/destinations").json()[0]
    updated = api.put("/v4/destinations/3001", json={"properties": {"username": "new"}})
    assert updated.status_code == 200
    assert updated.json()["properties"]["username"] == "new"
    assert updated.json()["check_job_name"] != old["check_job_name"]
    check = api.get("/v4/destinations/3001/last-connection-check").json()
    assert check["mode"] == "check" and check["name"] == updated.json()["check_job_name"]
    change_type = api.put("/v4/destinations/3001", json={"type": "redshift", "properties": {}})
    assert change_type.text == "this API endpoint does not support modifying destination type"
    assert api.put("/v4/destinations/42", json={"properties": {}}).text == "invalid connection id"
    assert api.delete("/v4/destinations/3001").json() == {}
    again = api.delete("/v4/destinations/3001")
    assert (
        again.status_code == 400 and again.text == "Unable to locate dest (3001) for client (1001) to delete"
    )
    assert api.delete("/v4/destinations/abc").status_code == 404
    assert api.get("/v4/destinations").json() == []


def test_destination_types(api: Api) -> None:
    types = {t["type"] for t in api.get("/v4/destination-types").json()}
    assert {"postgres", "snowflake", "redshift", "s3"} <= types
    card = api.get("/v4/destination-types/redshift").json()
    assert card["current_step_type"] == "form" and card["details"]["access"] is True
    assert api.get("/v4/destination-types/nope").status_code == 404


def test_v3_destinations(api: Api) -> None:
    listed = api.get("/v3/destinations").json()
    assert len(listed) == 1 and "connection" in listed[0] and "last_check" in listed[0]
    bad = api.post("/v3/destinations", json={"type": "s3", "connection": {}})
    assert bad.status_code == 400 and bad.text.startswith("body must be a map with type")
    assert (
        api.put("/v3/destinations/3001", json={"connection": {"username": "v3"}}).json()["connection"][
            "username"
        ]
        == "v3"
    )


def test_create_account_with_partner_credentials(stitch_emulator: EmulatorServer) -> None:
    base = stitch_emulator.base_url
    body = {
        "partner_id": "oc_emulator_partner",
        "partner_secret": "oc_emulator_partner_secret",
        "first_name": "Ann",
        "last_name": "Lee",
        "company": "Acme",
        "email": "ann@acme.example",
    }
    created = requests.post(base + "/v3/accounts", json=body, timeout=5)
    assert created.status_code == 200
    token, account_id = created.json()["access_token"], created.json()["stitch_account_id"]
    assert token.startswith("ac_") and isinstance(account_id, int)
    new_api = requests.Session()
    new_api.headers["Authorization"] = f"Bearer {token}"
    assert new_api.get(base + "/v4/sources", timeout=5).json() == []
    assert new_api.get(f"{base}/v4/{account_id}/extractions", timeout=5).json()["total"] == 0
    assert new_api.get(f"{base}/v4/1001/extractions", timeout=5).status_code == 401

    def error(**changes: object) -> dict[str, object]:
        response = requests.post(base + "/v3/accounts", json={**body, **changes}, timeout=5)
        assert response.status_code == 400
        return dict(response.json())

    assert error() == {
        "code": "ExistingUser",
        "message": "This email address is already associated with an active user.",
    }
    assert error(partner_id=None)["errors"] == {"partner_id": "required"}
    assert error(partner_id="oc_other")["errors"] == {"partner_id": "required"}
    assert error(partner_secret="wrong")["errors"] == {"partner_secret": "required"}
    assert error(email="x@y.example", company="")["errors"] == {"company": "required"}
    assert error(email="z@y.example", region="mars-1")["errors"] == {"region": "invalid"}
    malformed = requests.post(base + "/v3/accounts", data="{", timeout=5)
    assert malformed.json() == {"code": "BadRequest", "message": "Invalid form data.", "errors": {}}


def test_oauth_code_exchange(stitch_emulator: EmulatorServer) -> None:
    url = stitch_emulator.base_url + "/oauth/token"
    code = stitch_emulator.admin.mint_oauth_code(1001)
    form = {"client_secret": "oc_emulator_partner_secret", "code": code, "grant_type": "authorization_code"}
    response = requests.post(url, data=form, timeout=5)
    assert response.status_code == 200
    assert response.json() == {
        "token_type": "bearer",
        "access_token": "ac_emulator_demo_token",
        "stitch_account_id": 1001,
    }
    reused = requests.post(url, data=form, timeout=5)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    fresh = stitch_emulator.admin.mint_oauth_code(1001)
    assert (
        requests.post(url, data={**form, "code": fresh, "client_secret": "x"}, timeout=5).status_code == 401
    )
    assert requests.post(url, data={**form, "code": fresh, "grant_type": "password"}, timeout=5).json()[
        "error"
    ] == ("unsupported_grant_type")
    assert requests.post(url, data={"code": fresh}, timeout=5).json()["error"] == "invalid_request"


def test_ephemeral_session(stitch_emulator: EmulatorServer, api: Api) -> None:
    assert api.post("/v3/sessions/ephemeral").json()["ephemeral_token"]
    assert requests.post(stitch_emulator.base_url + "/v3/sessions/ephemeral", timeout=5).status_code == 401


def test_custom_emails(api: Api) -> None:
    base = "/notifications/public/v1/api/custom-emails"
    created = api.post(base, json={"email_address": "ops@example.com"}).json()
    assert created["email_address"] == "ops@example.com" and created["disabled_at"] is None
    assert api.get(base).json() == [created]
    disabled = api.put(f"{base}/{created['id']}", json={"disabled_at": "2020-01-01T00:00:00Z"}).json()
    assert disabled == {"disabled_at": "2020-01-01T00:00:00Z"}
    assert api.put(f"{base}/{created['id']}", json={"disabled_at": None}).json() == {"disabled_at": None}
    invalid = api.put(f"{base}/{created['id']}", json={"disabled_at": "soon"})
    assert invalid.status_code == 400 and invalid.json() == {"disabled_at": "soon"}
    missing = api.put(f"{base}/999999", json={"disabled_at": None})
    assert missing.status_code == 404 and missing.json() == {"status": "NOT FOUND"}
    bad = api.post(base, json={"email_address": "nope"})
    assert bad.json() == {
        "error": {"message": {"email_address": "Required. Must be valid email address format."}}
    }
    for i in range(9):
        assert api.post(base, json={"email_address": f"o{i}@example.com"}).status_code == 200
    over = api.post(base, json={"email_address": "eleventh@example.com"})
    assert (
        over.json()["error"]["message"]
        == "Account not authorized to create additional custom notification email addresses."
    )
    assert api.delete(f"{base}/{created['id']}").json() == [1]
    assert api.delete(f"{base}/{created['id']}").status_code == 404


def test_hooks(api: Api) -> None:
    base = "/notifications/public/v1/api/hooks"
    hook = api.post(
        base, json={"type": "post_load", "destination_id": 3001, "config": {"url": "https://h.example/x"}}
    ).json()
    assert hook["type"] == "post_load" and hook["version"] == 1 and hook["disabled_at"] is None
    assert hook["destination_id"] == 3001 and hook["config"]["url"] == "https://h.example/x"
    assert api.get(base).json() == [hook]
    disabled = api.put(f"{base}/{hook['id']}", json={"enable": False}).json()
    assert disabled["disabled_at"] is not None
    assert api.put(f"{base}/{hook['id']}", json={"enable": True}).json()["disabled_at"] is None
    wrong = api.put(f"{base}/{hook['id']}", json={"enable": "yes"})
    assert wrong.json() == {
        "data": {"message": "PUT body must only contain boolean 'enable' key"},
        "error": "InvalidBody",
    }
    invalid = api.post(base, json={"type": "post_load", "config": {"url": "https://h.example"}})
    assert invalid.json() == {"data": {"message": "Invalid POST body"}, "error": "InvalidBody"}
    deleted = api.delete(f"{base}/{hook['id']}")
    assert deleted.status_code == 200 and deleted.json() is None
    assert api.delete(f"{base}/{hook['id']}").json() == {"error": "NotFound"}


def test_notification_features_gated_by_plan(stitch_emulator_factory) -> None:  # type: ignore[no-untyped-def]
    from ._support import minimal_seed

    server = stitch_emulator_factory(seed=minimal_seed(features={"custom_emails": False, "hooks": False}))
    api = Api(server)
    email = api.post("/notifications/public/v1/api/custom-emails", json={"email_address": "a@b.example"})
    assert (
        email.json()["error"]["message"]
        == "Account not authorized to create custom notification email addresses."
    )
    hook = api.post(
        "/notifications/public/v1/api/hooks",
        json={"type": "post_load", "destination_id": 1, "config": {"url": "https://x.example"}},
    )
    assert hook.json() == {"error": {"message": "Client does not have access to hooks."}}
