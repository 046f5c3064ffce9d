"""Derive the emulator's connection forms (``emulator/forms.json``) from a copy of Stitch's own docs.

Usage: ``python scripts/derive_stitch_forms.py [DOCS_DIR] [--check]``. ``DOCS_DIR`` defaults to
``$STITCH_DOCS`` or ``../shared/stitchdata-docs`` next to the repository. ``--check`` writes nothing and
exits 1 when ``forms.json`` differs from what the docs give (``tests/emulator/test_forms_from_docs.py``
runs the same comparison where the docs copy is present).

Every property in the output names the docs files (and the YAML key inside them) it came from, so each
fact can be traced. The rules, in order of precedence:

1. A full report card in ``_data/connect/code-examples/{source,destination}-report-cards.yml`` (the
   JSON the API returns): steps, names, required/credential/system flags and ``json_schema`` as printed.
2. A form-property page under ``_developer-files/connect/api/objects/form-properties/`` adds what the
   card lacks (or describes a type no card shows). A database source page takes the fields common to all
   databases, its database family's fields (``mysql``, ``postgres``, ``mssql`` in
   ``_data/connect/common/database-sources.yml``), the feature fields (binlog fields only for the
   families their ``database:`` line names; SSL and SSH fields for every page with
   ``uses-feature-fields``: the per-database feature flags are not in the docs copy), then its own
   ``object-attributes`` (which win over common fields of the same name). A destination page with
   ``uses-common-fields`` takes ``_data/connect/common/destination-forms.yaml``.
   A page's ``type`` becomes ``{"type": <type>}``; the page gives no patterns or formats.
3. A property is a credential when the card or page says so, or when it is a ``password`` (the common
   database fields say a password is never returned; two pages omit the sentence). Fields marked
   ``internal`` ("for Stitch use only") and those whose description says Stitch provides them are
   system-provided: never required from the user.
4. Sources with discovery take the system property ``image_version`` and the schedule fields
   (``frequency_in_minutes``, ``anchor_time``, ``cron_expression``), as every such card prints them; pages with ``uses-start-date`` also take ``start_date``. Their schemas come
   from the report cards, which print them the same way for every type.

Where the docs contradict themselves the output keeps what they print and ``catalog.py`` applies the
emulator's documented choice (see docs/emulator.md, "Declared deviations"): e.g. the report cards mark
``frequency_in_minutes`` required, while ``all-sources.yml`` and the delete-a-source example say it is
optional with a default.
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

SOURCE_STEPS = ("form", "discover_schema", "field_selection", "fully_configured")
DESTINATION_STEPS = ("form", "fully_configured")
SCHEDULE_FIELDS = ("frequency_in_minutes", "anchor_time", "cron_expression")
STITCH_PROVIDED = re.compile(r"provided by Stitch|for Stitch use only", re.IGNORECASE)
NEVER_RETURNED = re.compile(r"never be returned by the API", re.IGNORECASE)
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
    return {
        "name": raw["name"],
        "is_required": bool(raw.get("is_required")),
        "is_credential": bool(raw.get("is_credential")),
        "system_provided": bool(raw.get("system_provided")),
        "json_schema": raw.get("json_schema"),
    }


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
        or raw["name"] == "password",
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
    for key, card in source_cards.items():
        kind = "saas" if any(step["type"] == "discover_schema" for step in card["steps"]) else "import"
        builder = sources.setdefault(card["type"], FormBuilder(card["type"], (), kind))
        builder.add_card(card, f"{SOURCE_CARDS}#{key}")

    for page in sorted((docs / FORM_PAGES / "sources").rglob("*.md")):
        where = str(page.relative_to(docs))
        meta = _front_matter(page)
        api_type = meta["api-type"]
        if meta.get("source-type") != "database":
            continue  # the Import API page overrides nothing the card lacks
        builder = sources.setdefault(api_type, FormBuilder(api_type, SOURCE_STEPS, "database"))
        builder.kind = "database"  # a card read earlier cannot tell a database from a SaaS source
        # The page's own attributes first: they win over the common fields of the same name (a card,
        # read earlier, wins over both).
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
        if "discover_schema" in builder.steps:
            for raw, where in schedule:
                builder.add("form", _from_card(raw), where)
            for raw in common_source["fields"]:  # names the same fields (as optional): docs only
                builder.add_page_field("form", raw, f"{SOURCE_FIELDS}#fields")

    destinations: dict[str, FormBuilder] = {}
    for key, card in destination_cards.items():
        builder = destinations.setdefault(card["type"], FormBuilder(card["type"], (), "destination"))
        builder.add_card(card, f"{DESTINATION_CARDS}#{key}")
    for page in sorted((docs / FORM_PAGES / "destinations").glob("*.md")):
        where = str(page.relative_to(docs))
        meta = _front_matter(page)
        api_type = meta["api-type"]
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
