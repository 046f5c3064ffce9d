"""Every example DAG parses without import errors and without touching the network.

Airflow parses DAG files again and again; a file that calls Stitch (or anything else) at import time
costs API budget and slows every parse. Parse time is measured and printed (``pytest -s``), not asserted:
it depends on the machine.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "example_dags"
DAG_FILES = sorted(p for p in EXAMPLE_DAGS.glob("*.py") if not p.name.startswith("_"))


class NetworkAtParseTime(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connect or name lookup fails loudly, naming what was attempted."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise NetworkAtParseTime(f"network access while parsing DAG files: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_there_are_example_dags() -> None:
    assert DAG_FILES, f"no DAG files in {EXAMPLE_DAGS}"


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_example_dag_parses_offline(dag_file: Path, no_network: None) -> None:
    from airflow.dag_processing.dagbag import DagBag

    started = time.perf_counter()
    dagbag = DagBag(dag_folder=str(dag_file))
    elapsed = time.perf_counter() - started

    # DagBag records exceptions (ours above included) as import errors instead of raising them.
    assert dagbag.import_errors == {}
    assert dagbag.dag_ids, f"{dag_file.name} defines no DAG"
    print(f"{dag_file.name}: parsed {len(dagbag.dag_ids)} DAG(s) in {elapsed * 1000:.0f} ms")
