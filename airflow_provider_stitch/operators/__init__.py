"""Layer 3: operators. Thin wiring of the hook and the progress rules into Airflow's task lifecycle."""

from airflow_provider_stitch._lazy import lazy_exports

_EXPORTS = {
    "StitchBaseOperator": "base",
    "SourceReference": "base",
    "StitchRunReplicationJobOperator": "replication",
    "StitchStopReplicationJobOperator": "replication",
    "StitchCreateAccountOperator": "accounts",
    "StitchExchangeOAuthCodeOperator": "accounts",
    "StitchConnectionCheckOperator": "connection_checks",
    "StitchSelectStreamsOperator": "streams",
    "StitchPauseSourceOperator": "sources",
    "StitchUnpauseSourceOperator": "sources",
    "StitchCreateSourceOperator": "sources",
    "StitchCreateDestinationOperator": "sources",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
