"""Layer 3: sensors."""

from airflow_provider_stitch._lazy import lazy_exports

_EXPORTS = {"StitchReplicationJobSensor": "replication"}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
