"""Provider registration: schema-valid provider info, visible to a real Airflow CLI process."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import airflow
import jsonschema
import pytest

from airflow_provider_stitch.get_provider_info import get_provider_info

AIRFLOW_DIR = Path(airflow.__file__).parent
AIRFLOW_BIN = str(Path(sys.executable).parent / "airflow")


def test_provider_info_matches_airflow_schema() -> None:
    schema = json.loads((AIRFLOW_DIR / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_connection_form_matches_provider_yaml_schema() -> None:
    """conn-fields and ui-field-behaviour follow provider.yaml's stricter schema (Airflow 3.2+ form)."""
    yaml_schema = json.loads((AIRFLOW_DIR / "provider.yaml.schema.json").read_text())
    item_schema = yaml_schema["properties"]["connection-types"]["items"]
    for connection_type in get_provider_info()["connection-types"]:
        jsonschema.validate(connection_type, item_schema)


def test_every_declared_module_and_class_imports() -> None:
    info = get_provider_info()
    for section in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[section]:
            for module in entry["python-modules"]:
                importlib.import_module(module)
    for dotted in [*info["extra-links"], *(c["hook-class-name"] for c in info["connection-types"])]:
        module, _, name = dotted.rpartition(".")
        assert hasattr(importlib.import_module(module), name), dotted


def test_secret_fields_are_masked_in_the_form() -> None:
    fields = get_provider_info()["connection-types"][0]["conn-fields"]
    assert fields["partner_secret"]["schema"]["format"] == "password"


def _airflow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AIRFLOW_BIN, *args], capture_output=True, text=True, env=os.environ.copy(), timeout=120
    )


@pytest.mark.usefixtures("airflow_db")
def test_airflow_cli_lists_the_provider_and_accepts_a_stitch_connection() -> None:
    providers = _airflow("providers", "list", "--output", "json")
    assert providers.returncode == 0, providers.stderr
    assert "airflow-provider-stitch" in providers.stdout

    hooks = _airflow("providers", "hooks", "--output", "json")
    assert "stitch" in hooks.stdout and "StitchConnectHook" in hooks.stdout

    added = _airflow(
        "connections",
        "add",
        "stitch_cli_test",
        "--conn-type",
        "stitch",
        "--conn-host",
        "https://api.stitchdata.com",
        "--conn-password",
        "ac_cli_secret_token",
        "--conn-extra",
        '{"stitch_client_id": 1001}',
    )
    assert added.returncode == 0, added.stderr
    shown = _airflow("connections", "get", "stitch_cli_test", "--output", "json")
    assert shown.returncode == 0, shown.stderr
    # Airflow 3.2 prints alembic's plugin set-up lines to stdout before the JSON: read the JSON line.
    record = json.loads(shown.stdout.strip().splitlines()[-1])[0]
    assert record["conn_type"] == "stitch"
    assert int(record["extra_dejson"]["stitch_client_id"]) == 1001
