"""Deterministic synthetic rows for each stream.

Rows depend only on (source name, stream, job index), so two runs of the same scenario produce the same
warehouse. Job 1 extracts the initial rows; every later job extracts new rows plus updates to older ones,
all with a replication key past the previous job's bookmark, like a real incremental tap.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from typing import Any

from airflow_provider_stitch.emulator.catalog import StreamDef

# Synthetic timeline: job k "happens" on day k after this date, so bookmarks strictly increase.
_BASE = datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp()
_DAY = 86400

_FIRST = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim", "Margaret")
_LAST = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman", "Lee")
_COUNTRIES = ("US", "GB", "DE", "FR", "NL", "ES", "CA", "JP")
_ADJ = ("Classic", "Deluxe", "Compact", "Organic", "Smart", "Vintage", "Wireless", "Eco")
_NOUN = ("Mug", "Lamp", "Backpack", "Notebook", "Headphones", "Chair", "Bottle", "Jacket")
_CHOICES: dict[str, tuple[str, ...]] = {
    "status": ("pending", "paid", "shipped", "delivered", "refunded"),
    "state": ("open", "closed"),
    "currency": ("USD", "EUR", "GBP"),
    "lifecyclestage": ("subscriber", "lead", "opportunity", "customer"),
    "dealstage": ("appointmentscheduled", "qualifiedtobuy", "closedwon", "closedlost"),
    "country": _COUNTRIES,
}


def _total_after(stream: StreamDef, job_index: int) -> int:
    if job_index <= 0:
        return 0
    return stream.initial_rows + (job_index - 1) * stream.new_rows_per_job


def _created_job(stream: StreamDef, row_id: int) -> int:
    if row_id <= stream.initial_rows or stream.new_rows_per_job == 0:
        return 1
    return 2 + (row_id - stream.initial_rows - 1) // stream.new_rows_per_job


def _updated_ids(source_key: str, stream: StreamDef, job_index: int) -> list[int]:
    existing = _total_after(stream, job_index - 1)
    if job_index <= 1 or existing == 0:
        return []
    rng = random.Random(f"{source_key}|{stream.stream_name}|updates|{job_index}")
    return sorted(rng.sample(range(1, existing + 1), min(stream.updated_rows_per_job, existing)))


def _last_touched(source_key: str, stream: StreamDef, row_id: int, job_index: int) -> int:
    touched = _created_job(stream, row_id)
    for k in range(touched + 1, job_index + 1):
        if row_id in _updated_ids(source_key, stream, k):
            touched = k
    return touched


def _stamp(job: int, row_id: int, salt: int) -> str:
    # Seconds within the synthetic day; stays below one day so days never overlap.
    ts = _BASE + (job - 1) * _DAY + (row_id * 7919 + salt * 104729) % 86000
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _value(
    field: str,
    ftype: str,
    row_id: int,
    created: int,
    version: int,
    key: str,
    stable: random.Random,
    varying: random.Random,
) -> Any:
    lower = field.lower()
    if ftype == "date-time":
        if "updat" in lower:
            return _stamp(version, row_id, 1)
        return _stamp(created, row_id, 0)
    if ftype == "integer":
        if lower.endswith("id") or lower.endswith("_id"):
            return stable.randint(1, 50)
        return varying.randint(0, 1000)
    if ftype == "number":
        return round(varying.uniform(5, 500), 2)
    if ftype == "boolean":
        return varying.random() < 0.8
    first, last = _FIRST[row_id % len(_FIRST)], _LAST[(row_id // len(_FIRST)) % len(_LAST)]
    if lower in ("first_name", "firstname"):
        return first
    if lower in ("last_name", "lastname"):
        return last
    if lower == "email":
        return f"{first}.{last}.{row_id}@example.com".lower()
    if lower == "sku":
        return f"SKU-{row_id:05d}"
    if lower in _CHOICES:
        choices = _CHOICES[lower]
        return (stable if lower in ("country", "currency") else varying).choice(choices)
    if lower == "domain":
        return f"{last.lower()}{row_id}.example.com"
    if lower == "name":
        return f"{stable.choice(_ADJ)} {stable.choice(_NOUN)}"
    return f"{field}-{row_id}"


def make_row(
    source_key: str, stream: StreamDef, row_id: int, version: int, fields: list[str]
) -> dict[str, Any]:
    stable = random.Random(f"{source_key}|{stream.stream_name}|{row_id}")
    varying = random.Random(f"{source_key}|{stream.stream_name}|{row_id}|{version}")
    created = _created_job(stream, row_id)
    key = stream.key_properties[0] if stream.key_properties else None
    row: dict[str, Any] = {}
    for fdef in stream.fields:
        if fdef.name not in fields:
            continue
        if fdef.name == key:
            row[fdef.name] = row_id
        else:
            row[fdef.name] = _value(
                fdef.name, fdef.type, row_id, created, version, source_key, stable, varying
            )
    return row


def extract_batch(
    source_key: str, stream: StreamDef, job_index: int, fields: list[str], full_table: bool
) -> list[dict[str, Any]]:
    """Rows the ``job_index``-th successful extraction (1-based) emits for this stream."""
    total = _total_after(stream, job_index)
    if full_table:
        return [
            make_row(source_key, stream, rid, _last_touched(source_key, stream, rid, job_index), fields)
            for rid in range(1, total + 1)
        ]
    before = _total_after(stream, job_index - 1)
    new_ids = list(range(before + 1, total + 1))
    rows = [
        make_row(source_key, stream, rid, job_index, fields)
        for rid in _updated_ids(source_key, stream, job_index)
    ]
    rows += [make_row(source_key, stream, rid, job_index, fields) for rid in new_ids]
    return rows
