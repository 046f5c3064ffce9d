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
