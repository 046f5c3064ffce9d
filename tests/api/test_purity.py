"""Layer 1 is pure: importing any module of ``airflow_provider_stitch.api`` loads no Airflow code.

Checked in a fresh interpreter, since this test process has imported Airflow long before.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import airflow_provider_stitch.api as api

LAYER_1 = sorted(f"{api.__name__}.{info.name}" for info in pkgutil.iter_modules(api.__path__))

_PROBE = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(m for m in sys.modules if m == "airflow" or m.startswith("airflow."))))
"""


def airflow_modules_loaded_by(modules: list[str]) -> list[str]:
    """The ``airflow`` modules a fresh interpreter holds after importing ``modules``."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *modules], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(done.stdout)


def test_layer_1_and_the_exception_family_import_no_airflow_module() -> None:
    assert "airflow_provider_stitch.api.wait" in LAYER_1  # the listing found the package's modules
    loaded = airflow_modules_loaded_by([api.__name__, *LAYER_1, "airflow_provider_stitch.exceptions"])
    assert loaded == []


def test_the_check_sees_an_airflow_import() -> None:
    # The same probe on a module that does import Airflow reports it: an empty list above means something.
    assert "airflow.sdk" in airflow_modules_loaded_by(["airflow_provider_stitch.exceptions", "airflow.sdk"])
    from_hooks = airflow_modules_loaded_by(["airflow_provider_stitch.hooks.stitch"])
    assert any(name.startswith("airflow.") for name in from_hooks)


def test_the_airflow_typed_account_error_loads_airflow_only_when_asked_for() -> None:
    probe = (
        "import sys; import airflow_provider_stitch.exceptions as e; before = 'airflow' in sys.modules; "
        "from airflow.sdk.exceptions import AirflowFailException as F; "
        "cls = e.StitchAccountError; "
        "print(before, issubclass(cls, F) and issubclass(cls, e.StitchError), cls.__module__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split() == ["False", "True", "airflow_provider_stitch.exceptions"]
