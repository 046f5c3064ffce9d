"""The operator extra link to a source's page in the Stitch app.

Airflow 3 computes link values on the worker and the API server only reads them back, so the link is
built from an XCom the task pushes *before* it waits: the link works while the job runs and after a
failure. The app base URL comes from the connection (extra ``app_url``), so it can point at the emulator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

#: The XCom key holding ``{"source_id", "stitch_client_id", "url"}`` for the link.
SOURCE_LINK_XCOM_KEY = "stitch_source"


def source_url(app_url: str, stitch_client_id: int | None, source_id: int) -> str | None:
    """``{app_url}/client/{client_id}/pipeline/v2/sources/{source_id}/summary`` (None without a client id)."""
    if stitch_client_id is None:
        return None
    return f"{app_url.rstrip('/')}/client/{stitch_client_id}/pipeline/v2/sources/{source_id}/summary"


class StitchSourceLink(BaseOperatorLink):
    """ "Stitch source" button: the replicated source's summary page in the Stitch app."""

    name = "Stitch source"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        value: Any = XCom.get_value(ti_key=ti_key, key=SOURCE_LINK_XCOM_KEY)
        if isinstance(value, dict) and isinstance(value.get("url"), str):
            return value["url"]
        return ""
