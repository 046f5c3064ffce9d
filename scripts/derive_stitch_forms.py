"""Derive the emulator's connection forms (``emulator/forms.json``) from a copy of Stitch's own docs.

Usage: ``python scripts/derive_stitch_forms.py [DOCS_DIR] [--check]``. ``DOCS_DIR`` defaults to
``$STITCH_DOCS`` or ``../shared/stitchdata-docs`` next to the repository. ``--check`` writes nothing and
exits 1 when ``forms.json`` differs from what the docs give (``tests/emulator/test_forms.py`` runs the
same comparison where the docs copy is present).

Every property in the output names the docs file (and the YAML key inside it) it came from, so each
fact can be traced. The rules:

1. A type's report card is its whole form, printed as the API returns it: first the responses of
   ``GET /v4/source-types`` / ``GET /v4/destination-types`` (``_developer-files/connect/api/objects/
   {source,destination}-types/list-*.md`` and ``get-*.md``, 184 source and 6 destination types), then
   the cards in ``_data/connect/code-examples/{source,destination}-report-cards.yml``. Steps, names,
   required/credential/system flags, ``property_type`` and ``json_schema`` are kept as printed.
2. A type no card shows is described by its form-property page under
   ``_developer-files/connect/api/objects/form-properties/``: a database source page takes its own
   ``object-attributes`` (which win), the fields common to all databases, its family's fields
   (``mysql``, ``postgres``, ``mssql`` in ``_data/connect/common/database-sources.yml``) and the feature
   fields (binlog fields for the families their ``database:`` line names; SSL and SSH fields on every
   page with ``uses-feature-fields``: the per-database feature flags are not in the docs copy); a
   destination page with ``uses-common-fields`` takes ``_data/connect/common/destination-forms.yaml``.
   A page's ``type`` becomes ``{"type": <type>}``; pages give no patterns or formats.
3. On a page, a property is a credential when the page says so (``credential``, or "never be returned
   by the API") or when its name holds a secret (password, secret, token, credentials, ``*_key``: the
   BigQuery key file and the Databricks token are not flagged by their pages). Fields marked
   ``internal`` ("for Stitch use only") or described as provided by Stitch are system-provided.
4. Sources built from pages take the system property ``image_version`` and the schedule fields
   (``frequency_in_minutes``, ``anchor_time``, ``cron_expression``) as the cards print them; pages
   with ``uses-start-date`` also take ``start_date``.
5. Cards printed without steps (retired types: ``access: false``, ``upgrade_available`` names the
   successor) have no form and are left out.

Where the docs contradict themselves the output keeps what they print and ``emulator/catalog.py``
applies the emulator's declared choice (docs/emulator.md, "Connection forms").
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "airflow_provider_stitch" / "emulator" / "forms.json"
DOCS_COMMIT = "3f1ccba35"

CONNECT = "_data/connect"
SOURCE_CARDS = f"{CONNECT}/code-examples/source-report-cards.yml"
DESTINATION_CARDS = f"{CONNECT}/code-examples/destination-report-cards.yml"
DATABASE_FIELDS = f"{CONNECT}/common/database-sources.yml"
SOURCE_FIELDS = f"{CONNECT}/common/all-sources.yml"
DESTINATION_FIELDS = f"{CONNECT}/common/destination-forms.yaml"
FORM_PAGES = "_developer-files/connect/api/objects/form-properties"
DELETE_EXAMPLE = "_developer-files/connect/api/objects/sources/delete-a-source.md"
OBJECTS = "_developer-files/connect/api/objects"
API_SOURCE_CARDS = (
    f"{OBJECTS}/source-types/list-source-types.md",
    f"{OBJECTS}/source-types/get-a-source-type.md",
)
API_DESTINATION_CARDS = (
    f"{OBJECTS}/destination-types/list-destination-types.md",
    f"{OBJECTS}/destination-types/get-a-destination-type.md",
)

SOURCE_STEPS = ("form", "discover_schema", "field_selection", "fully_configured")
DESTINATION_STEPS = ("form", "fully_configured")
SCHEDULE_FIELDS = ("frequency_in_minutes", "anchor_time", "cron_expression")
STITCH_PROVIDED = re.compile(r"provided by Stitch|for Stitch use only", re.IGNORECASE)
NEVER_RETURNED = re.compile(r"never be returned by the API", re.IGNORECASE)
# Pages only (cards carry the flag): names that hold secrets however terse the page is.
SECRET_NAME = re.compile(r"password|secret|token|credentials|(^|_)key$")
# One Liquid conditional names a property differently for one type (the MySQL family's database field).
LIQUID_NAME = re.compile(
    r'\{%\s*if form-property\.api-type == "(?P<type>[^"]+)"\s*%\}(?P<then>\w+)'
    r"\{%\s*else\s*%\}(?P<else>\w+)\{%\s*endif\s*%\}"
)


# --- reading the docs -------------------------------------------------------------------------------


def _yaml(docs: Path, path: str) -> Any:
    return yaml.safe_load((docs / path).read_text("utf-8"))


def _front_matter(path: Path) -> dict[str, Any]:
    text = path.read_text("utf-8")
    if not text.startswith("---"):
        return {}
    return yaml.safe_load(text[3:].split("\n---", 1)[0]) or {}


def _card_json(text: str) -> dict[str, Any]:
    """A report card printed in the docs: placeholders such as ``<STEP_NUMBER>`` stand for numbers."""
    body = re.sub(r":\s*<[A-Z_]+>", ": null", text).strip()
    if not body.startswith("{"):
        body = "{" + body + "}"  # one card is printed without its enclosing braces
    data = json.loads(body)
    return data.get("report_card", data)


def _property_name(raw: object, api_type: str) -> str:
    name = str(raw).strip()
    match = LIQUID_NAME.fullmatch(name)
    if match:
        return match["then"] if match["type"] == api_type else match["else"]
    return name


# --- building a form --------------------------------------------------------------------------------


class FormBuilder:
    """The steps of one type's form, filled from several docs files; the first source of a fact wins."""

    def __init__(self, api_type: str, steps: tuple[str, ...], kind: str) -> None:
        self.api_type = api_type
        self.kind = kind
        self.steps: dict[str, dict[str, dict[str, Any]]] = {step: {} for step in steps}

    def add(self, step: str, prop: dict[str, Any], where: str) -> None:
        existing = self._find(prop["name"])
        if existing is not None:
            if where not in existing["docs"]:
                existing["docs"].append(where)
            return
        self.steps.setdefault(step, {})[prop["name"]] = {**prop, "docs": [where]}

    def _find(self, name: str) -> dict[str, Any] | None:
        return next((props[name] for props in self.steps.values() if name in props), None)

    def add_card(self, card: dict[str, Any], where: str) -> None:
        for step in card.get("steps", []):
            self.steps.setdefault(step["type"], {})
            for raw in step.get("properties", []):
                self.add(step["type"], _from_card(raw), where)

    def add_page_field(self, step: str, raw: dict[str, Any], where: str) -> None:
        self.add(step, _from_page(raw, self.api_type), where)

    def put_oauth_after_form(self) -> None:
        """Stitch's step order: the OAuth step (added last when only a page names it) follows the form."""
        if "oauth" in self.steps:
            order = ["form", "oauth", *(step for step in self.steps if step not in ("form", "oauth"))]
            self.steps = {step: self.steps.get(step, {}) for step in order}

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "steps": [
                {"type": step, "properties": [props[name] for name in sorted(props)]}
                for step, props in self.steps.items()
            ],
        }


def _from_card(raw: dict[str, Any]) -> dict[str, Any]:
    prop = {
        "name": raw["name"],
        "is_required": bool(raw.get("is_required")),
        "is_credential": bool(raw.get("is_credential")),
        "system_provided": bool(raw.get("system_provided")),
        "json_schema": raw.get("json_schema"),
    }
    if raw.get("property_type"):
        prop["property_type"] = raw["property_type"]
    return prop


def _from_page(raw: dict[str, Any], api_type: str) -> dict[str, Any]:
    description = str(raw.get("description") or "")
    kind = raw.get("type")
    return {
        "name": _property_name(raw["name"], api_type),
        "is_required": bool(raw.get("required")),
        # A password is a credential on every page that says so; the SFTP and Responsys pages do not say
        # it, and Stitch returning a password there is less likely than a terse page.
        "is_credential": bool(raw.get("credential"))
        or bool(NEVER_RETURNED.search(description))
        or bool(SECRET_NAME.search(_property_name(raw["name"], api_type))),
        "system_provided": bool(raw.get("internal")) or bool(STITCH_PROVIDED.search(description)),
        "json_schema": {"type": kind} if kind else None,
    }


def _card_fields(cards: dict[str, dict[str, Any]], names: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Fields printed the same way on every card that has them (schedule fields, ``start_date``)."""
    found: dict[str, dict[str, Any]] = {}
    for card in cards.values():
        for step in card.get("steps", []):
            for raw in step.get("properties", []):
                if raw["name"] in names and raw["name"] not in found:
                    found[raw["name"]] = raw
    return found


def _cron_field(docs: Path) -> dict[str, Any]:
    """``cron_expression`` appears in a response example only (delete-a-source), not on a card."""
    text = (docs / DELETE_EXAMPLE).read_text("utf-8")
    start = text.index('"name":"cron_expression"')
    block = text[text.rindex("{", 0, start) : text.index("}", start) + 1]
    return json.loads(block)


def _response_cards(docs: Path, paths: tuple[str, ...]) -> list[tuple[dict[str, Any], str]]:
    """The report cards printed as API responses (list and get pages of source and destination types)."""
    cards: list[tuple[dict[str, Any], str]] = []
    for path in paths:
        for example in _front_matter(docs / path).get("examples") or []:
            if example.get("type") == "Response" and str(example.get("code") or "").strip():
                body = json.loads(example["code"])
                # A card without steps is a retired type (``access: false``, ``upgrade_available`` names
                # its successor): it has no form to fill, so it is left out.
                cards += [
                    (card, path) for card in (body if isinstance(body, list) else [body]) if card.get("steps")
                ]
    return cards


def _kind(builder: FormBuilder, database_pages: set[str]) -> str:
    if "discover_schema" not in builder.steps:
        return "import"
    names = {name for props in builder.steps.values() for name in props}
    looks_like_database = "host" in names and bool(names & {"user", "username", "dbname", "database"})
    return "database" if builder.api_type in database_pages or looks_like_database else "saas"


def derive(docs: Path) -> dict[str, Any]:
    """The whole forms document, deterministic for one docs copy."""
    source_cards = {
        key: _card_json(text) for key, text in _yaml(docs, SOURCE_CARDS).items() if isinstance(text, str)
    }
    destination_cards = {
        key: _card_json(text) for key, text in _yaml(docs, DESTINATION_CARDS).items() if isinstance(text, str)
    }
    database = _yaml(docs, DATABASE_FIELDS)
    common_source = _yaml(docs, SOURCE_FIELDS)
    common_destination = _yaml(docs, DESTINATION_FIELDS)
    card_schedule = _card_fields(source_cards, (*SCHEDULE_FIELDS, "start_date", "image_version"))
    schedule = [
        (card_schedule["image_version"], SOURCE_CARDS),
        (card_schedule["frequency_in_minutes"], SOURCE_CARDS),
        (card_schedule["anchor_time"], SOURCE_CARDS),
        (_cron_field(docs), DELETE_EXAMPLE),
    ]

    sources: dict[str, FormBuilder] = {}
    # A type's card is its whole form: the API's own responses first, then the code-example cards.
    # Pages describe only the types no card shows.
    for card, where in _response_cards(docs, API_SOURCE_CARDS):
        if card["type"] not in sources:
            sources[card["type"]] = FormBuilder(card["type"], (), "")
            sources[card["type"]].add_card(card, where)
    for key, card in source_cards.items():
        if card["type"] not in sources:
            sources[card["type"]] = FormBuilder(card["type"], (), "")
            sources[card["type"]].add_card(card, f"{SOURCE_CARDS}#{key}")
    from_cards = set(sources)
    database_pages: set[str] = set()

    for page in sorted((docs / FORM_PAGES / "sources").rglob("*.md")):
        where = str(page.relative_to(docs))
        meta = _front_matter(page)
        api_type = meta["api-type"]
        if meta.get("source-type") != "database":
            continue  # the Import API page overrides nothing the card lacks
        database_pages.add(api_type)
        if api_type in from_cards:
            continue
        builder = sources.setdefault(api_type, FormBuilder(api_type, SOURCE_STEPS, "database"))
        # The page's own attributes first: they win over the common fields of the same name.
        for raw in meta.get("object-attributes") or []:
            builder.add_page_field("form", raw, where)
        family = meta.get("db-type")
        if meta.get("uses-common-fields"):
            for raw in database["all-databases"]:
                builder.add_page_field("form", raw, f"{DATABASE_FIELDS}#all-databases")
            for raw in database.get(family, []) if family in ("mysql", "postgres", "mssql") else []:
                builder.add_page_field("form", raw, f"{DATABASE_FIELDS}#{family}")
        if meta.get("uses-feature-fields"):
            for raw in database["binlog-replication"]:
                families = [f.strip() for f in str(raw.get("database", "")).split(",")]
                if family in families:
                    builder.add_page_field("form", raw, f"{DATABASE_FIELDS}#binlog-replication")
            for group in ("ssl", "ssh"):
                for raw in database[group]:
                    builder.add_page_field("form", raw, f"{DATABASE_FIELDS}#{group}")
        if meta.get("uses-start-date"):
            builder.add("form", _from_card(card_schedule["start_date"]), f"{SOURCE_CARDS}#start_date")

    for builder in sources.values():
        builder.kind = _kind(builder, database_pages)
        if builder.api_type not in from_cards and "discover_schema" in builder.steps:
            for raw, where in schedule:
                builder.add("form", _from_card(raw), where)
            for raw in common_source["fields"]:  # names the same fields (as optional): docs only
                builder.add_page_field("form", raw, f"{SOURCE_FIELDS}#fields")

    destinations: dict[str, FormBuilder] = {}
    for card, where in _response_cards(docs, API_DESTINATION_CARDS):
        if card["type"] not in destinations:
            destinations[card["type"]] = FormBuilder(card["type"], (), "destination")
            destinations[card["type"]].add_card(card, where)
    for key, card in destination_cards.items():
        if card["type"] not in destinations:
            destinations[card["type"]] = FormBuilder(card["type"], (), "destination")
            destinations[card["type"]].add_card(card, f"{DESTINATION_CARDS}#{key}")
    for page in sorted((docs / FORM_PAGES / "destinations").glob("*.md")):
        where = str(page.relative_to(docs))
        meta = _front_matter(page)
        api_type = meta["api-type"]
        if api_type in destinations:
            continue
        builder = destinations.setdefault(api_type, FormBuilder(api_type, DESTINATION_STEPS, "destination"))
        for raw in meta.get("object-attributes") or []:
            builder.add_page_field("form", raw, where)
        if meta.get("uses-common-fields"):
            for raw in common_destination["all-destinations"]:
                builder.add_page_field("form", raw, f"{DESTINATION_FIELDS}#all-destinations")
        for raw in meta.get("oauth-attributes") or []:
            builder.add_page_field("oauth", raw, where)

    for builder in (*sources.values(), *destinations.values()):
        builder.put_oauth_after_form()
    return {
        "_comment": (
            "Generated by scripts/derive_stitch_forms.py from Stitch's Connect API docs "
            f"(stitchdata/docs {DOCS_COMMIT}); do not edit by hand. Each property's `docs` names its sources."
        ),
        "docs_commit": DOCS_COMMIT,
        "source_types": {name: sources[name].to_json() for name in sorted(sources)},
        "destination_types": {name: destinations[name].to_json() for name in sorted(destinations)},
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, sort_keys=False) + "\n"


def default_docs_dir() -> Path:
    return Path(os.environ.get("STITCH_DOCS") or REPO.parent / "shared" / "stitchdata-docs")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("docs", nargs="?", type=Path, default=default_docs_dir())
    parser.add_argument("--check", action="store_true", help="compare with forms.json; write nothing")
    args = parser.parse_args(argv)
    text = render(derive(args.docs))
    if args.check:
        if OUTPUT.read_text("utf-8") != text:
            print(f"{OUTPUT} differs from what {args.docs} gives; run {Path(__file__).name}", file=sys.stderr)
            return 1
        print(f"{OUTPUT.name} matches {args.docs}")
        return 0
    OUTPUT.write_text(text, "utf-8")
    print(f"wrote {OUTPUT} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
