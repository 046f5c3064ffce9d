"""The source summary page the operator link opens: real HTML, every value escaped, read-only."""

from __future__ import annotations

import requests

from airflow_provider_stitch.emulator import EmulatorServer
from airflow_provider_stitch.links import source_url

from ._support import SLOW, Api

HOSTILE = 'Shop <script>alert("x")</script> & co'
HOSTILE_ERROR = '<img src=x onerror=alert(1)> relation "orders" is locked'


def _page(server: EmulatorServer, source_id: int = 2001, client_id: int = 1001) -> requests.Response:
    # The same URL the provider's "Stitch source" link builds, with app_url pointing at the emulator.
    url = source_url(server.base_url, client_id, source_id)
    assert url is not None
    return requests.get(url, timeout=10)  # no token: a browser following the link has none


def test_summary_shows_source_last_extraction_and_loads(stitch_emulator: EmulatorServer, api: Api) -> None:
    stitch_emulator.admin.update_scenario(2001, load_errors={"orders": HOSTILE_ERROR})
    assert api.put("/v4/sources/2001", json={"display_name": HOSTILE}).status_code == 200
    job = api.run_job()
    before = api.get("/v4/sources/2001").json()

    page = _page(stitch_emulator)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    text = page.text
    # Nothing from the API input is markup: no script or img element, only their escaped text.
    assert "<script" not in text and "<img" not in text
    assert "Shop &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in text
    assert "&lt;img src=x onerror=alert(1)&gt; relation &quot;orders&quot; is locked" in text
    for fact in ("shop_db", "platform.postgres", "fully_configured", "active", job, "customers", "orders"):
        assert fact in text, fact
    loaded = api.loads()["customers"]["last_batch_loaded_at"]
    assert loaded and loaded in text
    # Read-only: looking at the page changed nothing.
    after = api.get("/v4/sources/2001").json()
    assert after == before


def test_summary_shows_a_running_job_and_a_paused_or_deleted_state(
    stitch_emulator: EmulatorServer, api: Api
) -> None:
    stitch_emulator.admin.set_scenario(2001, durations=SLOW)
    job = api.start()
    page = _page(stitch_emulator).text
    assert "Running job" in page and job in page
    api.put("/v4/sources/2001", json={"paused_at": "2026-01-01T00:00:00Z"})
    assert "paused at 2026-01-01T00:00:00Z" in _page(stitch_emulator).text
    api.delete("/v4/sources/2001")
    assert "deleted at " in _page(stitch_emulator).text


def test_unknown_source_or_client_is_an_html_404(stitch_emulator: EmulatorServer) -> None:
    for client_id, source_id in ((1001, 999999), (424242, 2001)):
        page = _page(stitch_emulator, source_id, client_id)
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")
        assert "Source not found" in page.text
