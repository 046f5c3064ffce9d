"""Small corners checked against Stitch's own docs (issue 9): each either follows the docs or is one of
the declared deviations in docs/emulator.md, and these tests pin the emulator to what is declared."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone
from typing import Any

from airflow_provider_stitch.emulator import EmulatorServer

from ._support import Api

CHECK_NAME = re.compile(
    r"^(\d+)\.(\d+)\.check\.([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)
_UUID_EPOCH = datetime(1582, 10, 15, tzinfo=timezone.utc)


def _ts(value: str) -> float:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


def _assert_time_based(check: dict[str, Any], client_id: int, owner_id: int) -> None:
    match = CHECK_NAME.match(check["name"])
    assert match, check["name"]
    assert (int(match[1]), int(match[2])) == (client_id, owner_id)
    name_uuid = uuid.UUID(match[3])
    assert name_uuid.version == 1  # like the docs' examples (…-11e9-…), not a random uuid4
    created = (_UUID_EPOCH.timestamp()) + name_uuid.time / 10_000_000
    # The uuid's time is the check's start (Stitch timestamps have second precision).
    assert abs(created - _ts(check["start_time"])) < 1.0


def test_put_invalid_display_name_uses_stitchs_put_wording(api: Api) -> None:
    response = api.put("/v4/sources/2001", json={"display_name": "!!"})
    assert response.status_code == 400
    assert response.json() == {
        "error": "InvalidDisplayName",
        "data": {"message": "invalid display_name (!!)"},
    }


def test_post_name_rule_uses_stitchs_wording(api: Api) -> None:
    body = {"type": "platform.postgres", "display_name": "Sales", "name": "9lives"}
    message = api.post("/v4/sources", json=body).json()["data"]["message"]
    assert message.startswith("The name field must be under 50 characters")


def test_delete_of_a_deleted_source_answers_it_again_unchanged(api: Api) -> None:
    first = api.delete("/v4/sources/2002")
    again = api.delete("/v4/sources/2002")
    assert first.status_code == again.status_code == 200
    assert again.json()["deleted_at"] == first.json()["deleted_at"]
    assert again.json()["updated_at"] == first.json()["updated_at"]


def test_no_connection_check_yet_is_a_sources_family_404(api: Api) -> None:
    created = api.post("/v4/sources", json={"type": "platform.postgres", "display_name": "Not Yet"}).json()
    assert created["report_card"]["current_step_type"] == "form" and "check_job_name" not in created
    response = api.get(f"/v4/sources/{created['id']}/last-connection-check")
    assert response.status_code == 404
    assert response.json() == {
        "error": "NotFound",
        "data": {"message": f"no connection check has run for source ({created['id']})"},
    }


def test_connection_check_names_are_time_based(stitch_emulator: EmulatorServer, api: Api) -> None:
    seeded = api.get("/v4/sources/2001/last-connection-check").json()
    _assert_time_based(seeded, 1001, 2001)
    assert api.put("/v4/sources/2001", json={"properties": {"host": "db2.example.com"}}).status_code == 200
    stitch_emulator.admin.advance(3600)
    fresh = api.get("/v4/sources/2001/last-connection-check").json()
    assert fresh["name"] != seeded["name"]
    _assert_time_based(fresh, 1001, 2001)
    assert api.get("/v4/sources/2001").json()["check_job_name"] == fresh["name"]
    destination = api.get("/v4/destinations").json()[0]
    _assert_time_based(
        api.get(f"/v4/destinations/{destination['id']}/last-connection-check").json(), 1001, destination["id"]
    )


def test_clock_skew_shows_in_check_names(stitch_emulator_factory: Any) -> None:
    server = stitch_emulator_factory(clock_skew=-7200)
    check = Api(server).get("/v4/sources/2001/last-connection-check").json()
    _assert_time_based(check, 1001, 2001)  # the name agrees with the skewed start_time, not the host


def test_declared_extra_and_missing_fields(api: Api) -> None:
    source = api.get("/v4/sources/2001").json()
    # Not in the docs' source object; declared (seen in real answers, per the API summary).
    assert "description" in source and isinstance(source["mapped_destination_ids"], list)
    # Source report cards as in the docs' source examples: no details (the report card page lists it).
    assert "details" not in source["report_card"]
    card = api.get("/v4/source-types/platform.postgres").json()
    assert "details" in card and card["upgrade_available"] is None
    email = api.post("/notifications/public/v1/api/custom-emails", json={"email_address": "a@b.example"})
    assert "modified_at" in email.json()  # in the object's attribute table, not in its examples
