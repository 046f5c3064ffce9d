"""A read-only stand-in for the Stitch app's source summary page.

The provider's "Stitch source" operator link points at
``{app_url}/client/{id}/pipeline/v2/sources/{id}/summary``. With ``app_url`` set to the emulator, that
link should open something useful rather than a JSON 404: this page shows the source, its last
extraction (and a running job) and the latest load of each stream. It needs no token, as a browser
following the link from Airflow has none; it changes nothing.

Every value shown comes from API input (display names, scenario messages, stream names from seeds), so
each one is HTML-escaped.
"""

from __future__ import annotations

import html
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from airflow_provider_stitch.emulator.clock import iso
from airflow_provider_stitch.emulator.models import Account, Extraction, Source
from airflow_provider_stitch.emulator.responses.common import backend_of, parse_int

router = APIRouter()

_STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:60em}"
    "table{border-collapse:collapse;margin-bottom:1.5em}"
    "th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}"
    "th{background:#f4f4f4}"
)


def _e(value: object) -> str:
    """Escape one value for HTML text or an attribute; ``None`` shows as a dash."""
    return "—" if value is None else html.escape(str(value), quote=True)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>\n"
    )
    # The page is built from user input: forbid scripts outright, should escaping ever miss a spot.
    headers = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
    return HTMLResponse(document, status_code=status, headers=headers)


def _rows(pairs: list[tuple[str, object]]) -> str:
    return "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in pairs)


def _state(source: Source) -> str:
    if source.deleted_at is not None:
        return f"deleted at {iso(source.deleted_at)}"
    if source.paused_at is not None:
        return f"paused at {source.paused_at}"
    return "active"


def _extraction_rows(extraction: Extraction) -> list[tuple[str, object]]:
    return [
        ("Job", extraction.job_name),
        ("Started", iso(extraction.start_time)),
        ("Completed", iso(extraction.completion_time)),
        ("Discovery exit status", extraction.discovery_exit_status),
        ("Discovery", extraction.discovery_description),
        ("Tap exit status", extraction.tap_exit_status),
        ("Tap", extraction.tap_description),
        ("Target exit status", extraction.target_exit_status),
        ("Target", extraction.target_description),
    ]


def _load_error(error_state: dict[str, Any] | None) -> str | None:
    if not error_state:
        return None
    data = error_state.get("notification_data") or {}
    message = data.get("exception_message") or data.get("message") if isinstance(data, dict) else None
    return str(message or "load error")


def _loads_table(account: Account, source: Source) -> str:
    loads = {stream: row for (name, stream), row in account.loads.items() if name == source.name}
    selected = {s.stream_name: s.selected for s in source.streams.values()}
    streams = sorted(set(loads) | {name for name, chosen in selected.items() if chosen})
    if not streams:
        return "<p>No stream is selected and nothing has loaded yet.</p>"
    body = "".join(
        "<tr>"
        f"<td>{_e(stream)}</td>"
        f"<td>{_e('yes' if selected.get(stream) else 'no')}</td>"
        f"<td>{_e(iso(loads[stream].last_batch_loaded_at) if stream in loads else None)}</td>"
        f"<td>{_e(_load_error(loads[stream].error_state) if stream in loads else None)}</td>"
        "</tr>"
        for stream in streams
    )
    return (
        "<table><tr><th>Stream</th><th>Selected</th><th>Last batch loaded</th><th>Load error</th></tr>"
        f"{body}</table>"
    )


@router.get("/client/{stitch_client_id}/pipeline/v2/sources/{source_id}/summary")
async def source_summary(stitch_client_id: str, source_id: str, request: Request) -> HTMLResponse:
    backend = backend_of(request)
    backend.tick()
    cid, sid = parse_int(stitch_client_id), parse_int(source_id)
    account = backend.accounts.get(cid) if cid is not None else None
    source = account.sources.get(sid) if account is not None and sid is not None else None
    if account is None or source is None:
        text = f"No source {source_id} in client account {stitch_client_id}."
        return _page("Source not found", f"<h1>Source not found</h1><p>{_e(text)}</p>", status=404)
    check = source.check
    parts = [
        f"<h1>{_e(source.display_name)}</h1>",
        "<p>Stitch Connect emulator: a read-only summary of this source.</p>",
        "<h2>Source</h2><table>",
        _rows(
            [
                ("Id", source.id),
                ("Name", source.name),
                ("Type", source.type.type),
                ("State", _state(source)),
                ("Configuration step", source.step),
                ("Last connection check", f"{check.name}: {check.status}" if check is not None else None),
            ]
        ),
        "</table>",
    ]
    running = backend.engine.running_job(account.client_id, source.id)
    if running is not None:
        parts += ["<h2>Running job</h2><table>", _rows([("Job", running.name)]), "</table>"]
    extraction = account.extractions.get(source.id)
    parts.append("<h2>Last extraction</h2>")
    if extraction is None:
        parts.append("<p>No extraction has completed yet.</p>")
    else:
        parts += ["<table>", _rows(_extraction_rows(extraction)), "</table>"]
    parts += ["<h2>Loads</h2>", _loads_table(account, source)]
    return _page(f"{source.display_name} · Stitch emulator", "".join(parts))
