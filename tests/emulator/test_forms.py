"""Connection forms: the emulator's forms are Stitch's documented ones, and it refuses what they refuse.

Every documented source and destination type is created with values made from its own schemas; each
property is then sent once with a value of the wrong type, which must be refused. Where the docs copy is
present (``../shared/stitchdata-docs``, or ``$STITCH_DOCS``), ``forms.json`` must be exactly what
``scripts/derive_stitch_forms.py`` derives from it.
"""

from __future__ import annotations

import importlib.util
import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from form_values import complete_values, wrong_value

from airflow_provider_stitch.emulator import EmulatorServer

from ._support import Api, minimal_seed

REPO = Path(__file__).resolve().parents[2]
FORMS = json.loads(resources.files("airflow_provider_stitch.emulator").joinpath("forms.json").read_text())
SOURCE_TYPES = sorted(FORMS["source_types"])
#: The types whose forms the issue names: every database source, the SaaS sources the docs show whole
#: report cards for in their code examples, and the Import API. The other SaaS types are checked for
#: their served form only (making valid values for 150 vendors' patterns is not this test's job).
CREATED_SOURCE_TYPES = sorted(
    name
    for name, form in FORMS["source_types"].items()
    if form["kind"] == "database"
    or name in ("platform.hubspot", "platform.shopify", "platform.toggl", "import_api")
)
DESTINATION_TYPES = sorted(FORMS["destination_types"])


def _derive_script() -> Any:
    spec = importlib.util.spec_from_file_location(
        "derive_stitch_forms", REPO / "scripts/derive_stitch_forms.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_forms_json_is_what_the_docs_copy_gives() -> None:
    script = _derive_script()
    docs = script.default_docs_dir()
    if not (docs / "_data/connect").is_dir():
        pytest.skip(f"Stitch's docs copy is not at {docs} (set STITCH_DOCS to check against it)")
    assert json.loads(script.render(script.derive(docs))) == FORMS
    # Every property names where it came from, and that file exists in the copy.
    for kind in ("source_types", "destination_types"):
        for form in FORMS[kind].values():
            for step in form["steps"]:
                for prop in step["properties"]:
                    assert prop["docs"], prop
                    for where in prop["docs"]:
                        assert (docs / where.split("#")[0]).is_file(), where


def test_the_docs_names_of_the_database_forms() -> None:
    def names(type_name: str) -> set[str]:
        return {p["name"] for s in FORMS["source_types"][type_name]["steps"] for p in s["properties"]}

    assert {"host", "port", "user", "password", "dbname"} <= names("platform.postgres")
    assert {"username", "database"}.isdisjoint(names("platform.postgres"))
    assert {"host", "port", "user", "password", "database"} <= names("platform.mysql")
    hubspot = {
        s["type"]: {p["name"] for p in s["properties"]}
        for s in FORMS["source_types"]["platform.hubspot"]["steps"]
    }
    assert hubspot["oauth"] == {"client_id", "client_secret", "redirect_uri", "refresh_token"}
    assert "start_date" in hubspot["form"]


@pytest.fixture(scope="module")
def roomy(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One emulator for the module, with room for a destination of every type."""
    server = EmulatorServer(
        seed=minimal_seed(destination_limit=100), warehouse_path=tmp_path_factory.mktemp("wh") / "w.duckdb"
    )
    server.start()
    yield Api(server)
    server.stop()


def test_every_documented_source_type_is_served_with_its_own_form(roomy: Api) -> None:
    served_types = {card["type"]: card for card in roomy.get("/v4/source-types").json()}
    assert served_types.keys() == set(SOURCE_TYPES)
    for source_type, form in FORMS["source_types"].items():
        card = served_types[source_type]
        assert [s["type"] for s in card["steps"]] == [s["type"] for s in form["steps"]]
        for served_step, documented_step in zip(card["steps"], form["steps"], strict=True):
            served = {p["name"]: p for p in served_step["properties"]}
            documented = {p["name"]: p for p in documented_step["properties"]}
            assert served.keys() == documented.keys(), source_type
            for name, prop in documented.items():
                for key in ("json_schema", "is_credential", "system_provided"):
                    assert served[name][key] == prop[key], (source_type, name, key)


@pytest.mark.parametrize("source_type", CREATED_SOURCE_TYPES)
def test_every_documented_source_type_is_created_with_its_own_form(roomy: Api, source_type: str) -> None:
    form = FORMS["source_types"][source_type]
    documented = {p["name"]: p for s in form["steps"] for p in s["properties"]}

    values = complete_values(form)
    created = roomy.post(
        "/v4/sources", json={"type": source_type, "display_name": f"{source_type} src", "properties": values}
    )
    assert created.status_code == 200, created.text
    steps = [s["type"] for s in form["steps"]]
    expected = "discover_schema" if "discover_schema" in steps else "fully_configured"
    assert created.json()["report_card"]["current_step_type"] == expected
    shown = created.json()["properties"]
    credentials = {n for n, p in documented.items() if p["is_credential"]}
    assert credentials.isdisjoint(shown)  # credentials are stored, never returned
    assert all(isinstance(v, str) for v in shown.values() if v is not None)


@pytest.mark.parametrize("source_type", CREATED_SOURCE_TYPES)
def test_the_oauth_step_waits_for_its_credentials(roomy: Api, source_type: str) -> None:
    form = FORMS["source_types"][source_type]
    if "oauth" not in [s["type"] for s in form["steps"]]:
        pytest.skip(f"{source_type} has no OAuth step")
    only_form = complete_values(form, steps=("form",))
    created = roomy.post(
        "/v4/sources",
        json={"type": source_type, "display_name": f"{source_type} oauth", "properties": only_form},
    ).json()
    assert created["report_card"]["current_step_type"] == "oauth"
    oauth = complete_values(form, steps=("oauth",))
    updated = roomy.put(f"/v4/sources/{created['id']}", json={"properties": oauth}).json()
    assert updated["report_card"]["current_step_type"] == "discover_schema"


@pytest.mark.parametrize("source_type", CREATED_SOURCE_TYPES)
def test_a_wrong_type_for_any_property_is_refused(roomy: Api, source_type: str) -> None:
    form = FORMS["source_types"][source_type]
    complete = complete_values(form)
    for step in form["steps"]:
        for prop in step["properties"]:
            if prop["json_schema"] is None:
                continue  # Stitch's own properties (image_version) carry no schema
            wrong = wrong_value(prop["json_schema"])
            body = {
                "type": source_type,
                "display_name": "Wrong",
                "properties": {**complete, prop["name"]: wrong},
            }
            response = roomy.post("/v4/sources", json=body)
            assert response.status_code == 400, (prop["name"], response.text)
            assert response.json()["data"]["bad_properties"] == [prop["name"]]


@pytest.mark.parametrize("destination_type", DESTINATION_TYPES)
def test_every_documented_destination_type_is_created_and_checked(roomy: Api, destination_type: str) -> None:
    form = FORMS["destination_types"][destination_type]
    values = complete_values(form)
    created = roomy.post(
        "/v4/destinations",
        json={"type": destination_type, "name": f"{destination_type} dw", "properties": values},
    )
    assert created.status_code == 200, created.text
    assert [s["type"] for s in created.json()["report_card"]["steps"]] == [s["type"] for s in form["steps"]]
    # Only the form step is needed to create one: leaving out any of its required values is refused.
    needed = complete_values(form, steps=("form",))
    first = sorted(needed)[0]
    missing = {k: v for k, v in values.items() if k != first}
    refused = roomy.post("/v4/destinations", json={"type": destination_type, "properties": missing})
    assert refused.status_code == 400 and first in refused.text
    for name in values:
        prop = next(p for s in form["steps"] for p in s["properties"] if p["name"] == name)
        wrong = wrong_value(prop["json_schema"])
        response = roomy.post(
            "/v4/destinations", json={"type": destination_type, "properties": {**values, name: wrong}}
        )
        assert response.status_code == 400 and name in response.text, (name, response.text)
