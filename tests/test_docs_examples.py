"""The Python examples in the README and docs/ build real DAGs and operators: docs that match the code.

Each example that defines operators runs as written (inside a DAG where it has none), with sockets
blocked: building them must need no network, as at DAG-parse time.
"""

from __future__ import annotations

import re
import socket
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _examples() -> list[tuple[str, str]]:
    """One program per document: its standalone DAG examples as they are, and its other operator
    examples together in one DAG, in order (later examples use tasks defined by earlier ones)."""
    found = []
    for doc in DOCS:
        fragments = []
        for index, block in enumerate(re.findall(r"```python\n(.*?)```", doc.read_text(), re.S)):
            if not re.search(r"Stitch\w+(Operator|Sensor)\(", block):
                continue
            if "with DAG(" in block:
                found.append((f"{doc.name}#{index}", block))
            else:
                fragments.append(block)
        if fragments:
            found.append((f"{doc.name}#examples", _in_one_dag(fragments)))
    return found


def _in_one_dag(fragments: list[str]) -> str:
    lines = [line for fragment in fragments for line in fragment.splitlines()]
    imports, body, in_import = [], [], False
    for line in lines:
        if line.startswith(("from ", "import ")) or in_import:
            imports.append(line)
            in_import = line.rstrip().endswith("(") or (in_import and not line.startswith(")"))
        else:
            body.append(line)
    header = ["from datetime import timedelta", "from airflow.sdk import DAG", *imports]
    return (
        "\n".join(header)
        + '\nwith DAG("docs_example", schedule=None):\n'
        + textwrap.indent("\n".join(body), "    ")
    )


EXAMPLES = _examples()


def test_examples_are_found() -> None:
    assert {where.split("#")[0] for where, _ in EXAMPLES} >= {
        "README.md",
        "replication.md",
        "operators-onboarding.md",
    }


@pytest.mark.parametrize(("where", "code"), EXAMPLES, ids=[where for where, _ in EXAMPLES])
def test_example_builds_without_network(where: str, code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"{where} opened a network connection while building operators")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    namespace: dict[str, object] = {}
    exec(compile(code, where, "exec"), namespace)  # noqa: S102 - our own documentation
