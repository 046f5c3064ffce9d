"""Provider metadata for Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

The connection form is declared here (``conn-fields`` and ``ui-field-behaviour``), so the Airflow 3.2+
UI renders it without importing the hook or any form library.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_stitch import __version__

_INTEGRATION = "Stitch"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-stitch",
        "name": "Stitch",
        "description": "Run and monitor Stitch (Stitch Connect API) replication from Apache Airflow.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://www.stitchdata.com/docs/developers/stitch-connect/api",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {"integration-name": _INTEGRATION, "python-modules": ["airflow_provider_stitch.hooks.stitch"]}
        ],
        "operators": [
            {"integration-name": _INTEGRATION, "python-modules": ["airflow_provider_stitch.operators"]}
        ],
        "sensors": [
            {"integration-name": _INTEGRATION, "python-modules": ["airflow_provider_stitch.sensors"]}
        ],
        "triggers": [
            {"integration-name": _INTEGRATION, "python-modules": ["airflow_provider_stitch.triggers"]}
        ],
        "extra-links": ["airflow_provider_stitch.links.StitchSourceLink"],
        "connection-types": [
            {
                "connection-type": "stitch",
                "hook-class-name": "airflow_provider_stitch.hooks.stitch.StitchConnectHook",
                "hook-name": "Stitch",
                "ui-field-behaviour": {
                    "hidden-fields": ["port", "login", "schema"],
                    "relabeling": {"host": "API base URL", "password": "API access token"},
                    # Airflow shows placeholders on its standard fields only; the extra fields' hints are in
                    # their descriptions below.
                    "placeholders": {
                        "host": "https://api.stitchdata.com",
                        "password": "ac_... (Account Settings > API access keys)",
                    },
                },
                "conn-fields": {
                    "stitch_client_id": {
                        "label": "Client account ID",
                        "description": "The number in app URLs /client/<id>/, e.g. 116078. Optional: read "
                        "from the account's sources when empty.",
                        "schema": {"type": ["integer", "null"], "minimum": 1},
                    },
                    "partner_id": {
                        "label": "Partner ID",
                        "description": "Stitch partner ID, e.g. oc_... Partners only: used to create client "
                        "accounts.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "partner_secret": {
                        "label": "Partner secret",
                        "description": "Stitch partner secret (oc_...). Only used to create client accounts "
                        "and exchange OAuth codes.",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "timeout": {
                        "label": "Request timeout (seconds)",
                        "description": "Per-request timeout. Default 30.",
                        "schema": {"type": ["number", "null"], "minimum": 1},
                    },
                    "retry_limit": {
                        "label": "Attempts per request",
                        "description": "Including the first. Retries cover 429, 5xx, connection errors and "
                        "timeouts. Default 5.",
                        "schema": {"type": ["integer", "null"], "minimum": 1},
                    },
                    "retry_delay": {
                        "label": "First retry delay (seconds)",
                        "description": "Exponential backoff with jitter starts here. Default 1.",
                        "schema": {"type": ["number", "null"], "minimum": 0},
                    },
                    "retry_max_delay": {
                        "label": "Longest retry delay (seconds)",
                        "description": "Cap on any single wait between attempts, Retry-After included. "
                        "Default 60.",
                        "schema": {"type": ["number", "null"], "minimum": 0},
                    },
                    "retry_max_elapsed": {
                        "label": "Total retry time (seconds)",
                        "description": "Give up on a request when the next retry would end later than this "
                        "after its first attempt. Default 300.",
                        "schema": {"type": ["number", "null"], "minimum": 0},
                    },
                    "proxies": {
                        "label": "Proxies",
                        "description": 'JSON map of scheme to proxy URL, e.g. {"https": "http://proxy:3128"}.',
                        "schema": {"type": ["object", "null"], "format": "json"},
                    },
                    "app_url": {
                        "label": "Stitch app URL",
                        "description": "Base of the links to the Stitch app (https://app.stitchdata.com by "
                        "default; the emulator's URL when testing).",
                        "schema": {"type": ["string", "null"], "format": "url"},
                    },
                },
            }
        ],
    }
