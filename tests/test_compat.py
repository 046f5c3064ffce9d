"""What depends on the installed Airflow minor, checked on whichever minor runs the tests.

make test-matrix runs this file on every supported minor, so each side of each version line is tested.
"""

from __future__ import annotations

import importlib.metadata

import airflow
import pytest
from packaging.version import Version

from airflow_provider_stitch import __version__, compat
from airflow_provider_stitch.get_provider_info import get_provider_info
from airflow_provider_stitch.operators import StitchRunReplicationJobOperator

AIRFLOW = Version(Version(airflow.__version__).base_version)


def test_features_follow_the_installed_minor() -> None:
    assert Version("3.1") <= AIRFLOW, "pyproject.toml's floor is 3.1"
    assert compat.TRIGGER_ON_KILL is (Version("3.3") <= AIRFLOW)
    assert compat.RESUMABLE_JOBS is (Version("3.3") <= AIRFLOW)
    mixin_module = compat.ResumableJobMixin.__module__
    if compat.RESUMABLE_JOBS:
        assert mixin_module.startswith("airflow.sdk")
    else:
        assert mixin_module == "airflow_provider_stitch.compat"
    assert compat.ResumableJobMixin in StitchRunReplicationJobOperator.__mro__


def test_task_control_exceptions_are_the_ones_airflow_raises() -> None:
    # The task runner catches these by class: the compat names must be Airflow's own on every minor.
    from airflow.sdk import BaseOperator

    module = "airflow.sdk.exceptions" if compat.AIRFLOW_V_3_2_PLUS else "airflow.exceptions"
    for exc in (compat.TaskDeferred, compat.AirflowSkipException, compat.AirflowFailException):
        assert exc.__module__ == module
    with pytest.raises(compat.TaskDeferred):
        BaseOperator(task_id="t").defer(trigger=None, method_name="x")  # type: ignore[arg-type]


def test_one_version_everywhere() -> None:
    assert importlib.metadata.version("airflow-provider-stitch") == __version__
    assert get_provider_info()["versions"] == [__version__]


def test_package_urls_give_the_providers_page_a_working_link() -> None:
    # Airflow 3.3's Providers page links to the "Documentation" Project-URL, else to airflow.apache.org.
    urls = dict(
        entry.split(", ", 1)
        for entry in importlib.metadata.metadata("airflow-provider-stitch").get_all("Project-URL")
    )
    assert set(urls) >= {"Documentation", "Source", "Changelog"}
    assert "airflow.apache.org" not in urls["Documentation"]


def test_connection_form_hints_show_where_airflow_renders_them() -> None:
    form = get_provider_info()["connection-types"][0]
    standard = {"host", "port", "login", "password", "schema", "extra", "description"}
    assert set(form["ui-field-behaviour"]["placeholders"]) <= standard
    assert {"retry_limit", "retry_delay", "retry_max_delay", "retry_max_elapsed"} <= set(form["conn-fields"])


def test_connection_form_fields_from_airflow_3_2_on() -> None:
    from airflow.providers_manager import ProvidersManager

    widgets = ProvidersManager().connection_form_widgets
    ours = {name for name in widgets if "stitch" in name and "client_id" in name}
    if compat.AIRFLOW_V_3_2_PLUS:
        assert ours, "Airflow 3.2+ renders the declared conn-fields"
    else:
        # Airflow 3.1 builds extra fields from a hook's WTForms widgets only (documented: on 3.1 the
        # extras go in the connection's Extra JSON, which the hook reads the same way).
        assert not ours
