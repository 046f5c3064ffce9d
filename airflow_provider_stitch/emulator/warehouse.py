"""The DuckDB "destination": loaded streams land in ``<source name>.<stream name>``.

DuckDB is an optional extra, imported only when a load happens; without it jobs still run and loads write
nothing (with one warning). The file is opened per load and closed again, so other processes (dbt, a test,
the DuckDB CLI) can open it between loads.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_SQL_TYPES = {
    "integer": "BIGINT",
    "number": "DOUBLE",
    "string": "VARCHAR",
    "boolean": "BOOLEAN",
    "date-time": "TIMESTAMPTZ",
}
# Stitch adds these system columns to every table it loads.
_SDC_COLUMNS = (
    ("_sdc_extracted_at", "TIMESTAMPTZ"),
    ("_sdc_received_at", "TIMESTAMPTZ"),
    ("_sdc_batched_at", "TIMESTAMPTZ"),
    ("_sdc_sequence", "BIGINT"),
    ("_sdc_table_version", "BIGINT"),
)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class Warehouse:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._warned = False

    def load(
        self,
        schema: str,
        table: str,
        columns: list[tuple[str, str]],
        key_properties: list[str],
        rows: list[dict[str, Any]],
        extracted_at: float,
    ) -> int:
        """Upsert ``rows`` by primary key; returns the number of rows written (0 without DuckDB)."""
        try:
            import duckdb
        except ImportError:
            if not self._warned:
                log.warning("duckdb is not installed: loads complete but write nothing (pip install duckdb)")
                self._warned = True
            return 0
        cols = [(name, _SQL_TYPES[ftype]) for name, ftype in columns] + list(_SDC_COLUMNS)
        keys = [k for k in key_properties if any(k == c for c, _ in columns)]
        stamp = datetime.fromtimestamp(extracted_at, tz=timezone.utc)
        now = datetime.now(tz=timezone.utc)
        names = [c for c, _ in cols]
        records = [
            (*tuple(row.get(c) for c, _ in columns), stamp, now, now, int(extracted_at * 1000) + i, None)
            for i, row in enumerate(rows)
        ]
        qualified = f"{_quote(schema)}.{_quote(table)}"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = duckdb.connect(str(self.path))
            try:
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)}")
                pk = f", PRIMARY KEY ({', '.join(_quote(k) for k in keys)})" if keys else ""
                defs = ", ".join(f"{_quote(c)} {t}" for c, t in cols)
                con.execute(f"CREATE TABLE IF NOT EXISTS {qualified} ({defs}{pk})")
                # A newly selected field becomes a new column, as Stitch does.
                for c, t in cols:
                    con.execute(f"ALTER TABLE {qualified} ADD COLUMN IF NOT EXISTS {_quote(c)} {t}")
                verb = "INSERT OR REPLACE INTO" if keys else "INSERT INTO"
                collist = ", ".join(_quote(c) for c in names)
                row_marks = "(" + ", ".join("?" for _ in names) + ")"
                # One multi-row INSERT per chunk: DuckDB's executemany is slow row by row.
                for start in range(0, len(records), 500):
                    chunk = records[start : start + 500]
                    params = [value for record in chunk for value in record]
                    values = ", ".join(row_marks for _ in chunk)
                    con.execute(f"{verb} {qualified} ({collist}) VALUES {values}", params)
            finally:
                con.close()
        return len(records)

    def reset(self) -> None:
        """Forget every loaded row (``POST /_emulator/reset``)."""
        with self._lock:
            for suffix in ("", ".wal"):
                Path(str(self.path) + suffix).unlink(missing_ok=True)
