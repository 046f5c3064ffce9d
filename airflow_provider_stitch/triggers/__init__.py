"""Layer 3: triggers (fully async; they run in the triggerer's event loop)."""

from airflow_provider_stitch._lazy import lazy_exports

_EXPORTS = {
    "StitchReplicationJobTrigger": "replication",
    "StitchConnectionCheckTrigger": "connection_checks",
    "StitchStreamLoadedTrigger": "stream_loads",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
