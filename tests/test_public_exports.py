"""Every operator, sensor and trigger of the provider is importable from its package."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from airflow.sdk import BaseOperator
from airflow.triggers.base import BaseTrigger

PACKAGES = ("operators", "sensors", "triggers")


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_class_is_exported_by_its_package(package: str) -> None:
    name = f"airflow_provider_stitch.{package}"
    exported = set(importlib.import_module(name).__all__)
    defined = set()
    for info in pkgutil.iter_modules(importlib.import_module(name).__path__):
        module = importlib.import_module(f"{name}.{info.name}")
        defined |= {
            cls_name
            for cls_name, cls in inspect.getmembers(module, inspect.isclass)
            if cls.__module__ == module.__name__
            and cls_name.startswith("Stitch")
            and issubclass(cls, (BaseOperator, BaseTrigger))
        }
    assert defined, f"no Stitch classes found in {name}"
    assert defined - exported == set(), f"defined in {name} but not exported"
    for cls_name in exported:
        assert getattr(importlib.import_module(name), cls_name).__name__ == cls_name


def _package_modules() -> list[str]:
    import airflow_provider_stitch

    return [
        info.name
        for info in pkgutil.walk_packages(airflow_provider_stitch.__path__, "airflow_provider_stitch.")
        if ".emulator" not in info.name  # the emulator is a server with its own HTTP errors
    ]


def test_the_exception_family_lives_in_one_module_and_is_exported() -> None:
    from airflow_provider_stitch import exceptions

    family = {
        name
        for name, cls in inspect.getmembers(exceptions, inspect.isclass)
        if issubclass(cls, exceptions.StitchError)
    }
    assert {
        "StitchAccountError",
        "StreamSelectionError",
        "AirflowApiError",
        "StitchConnectionCheckError",
    } <= family
    assert family <= set(exceptions.__all__)
    for name in exceptions.__all__:
        assert getattr(exceptions, name).__module__ == exceptions.__name__
    # No other module defines a member of the family (its tree is drawn in one docstring).
    for module_name in _package_modules():
        module = importlib.import_module(module_name)
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, exceptions.StitchError):
                assert cls.__module__ == exceptions.__name__, f"{module_name}.{cls_name} is defined outside"
                assert cls_name in exceptions.__doc__, f"{cls_name} is missing from the drawn tree"


@pytest.mark.parametrize(
    ("old_home", "name"),
    [
        ("airflow_provider_stitch.operators.accounts", "StitchAccountError"),
        ("airflow_provider_stitch.operators.connection_checks", "StitchConnectionCheckError"),
        ("airflow_provider_stitch.airflow_api", "AirflowApiError"),
        ("airflow_provider_stitch.api.stream_selection", "StreamSelectionError"),
        ("airflow_provider_stitch.api.forms", "FormProblems"),
    ],
)
def test_the_old_import_paths_give_the_same_class(old_home: str, name: str) -> None:
    from airflow_provider_stitch import exceptions

    assert getattr(importlib.import_module(old_home), name) is getattr(exceptions, name)


def test_the_account_error_is_a_no_retry_failure_that_pickles() -> None:
    import pickle

    from airflow_provider_stitch.compat import AirflowFailException
    from airflow_provider_stitch.exceptions import StitchAccountError, StitchError

    error = StitchAccountError("Stitch refused the account")
    assert isinstance(error, AirflowFailException)
    assert isinstance(error, StitchError)
    # Airflow ships a task's exception between processes; this one is our own object.
    assert type(pickle.loads(pickle.dumps(error))) is StitchAccountError  # noqa: S301
