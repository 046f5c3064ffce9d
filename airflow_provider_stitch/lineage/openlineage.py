"""OpenLineage for a replication (the ``[openlineage]`` extra: ``apache-airflow-providers-openlineage``).

The OpenLineage provider calls the run operator's and the sensor's ``get_openlineage_facets_on_complete``
once the task succeeded; this builds its answer from what the task already looked up for its asset
events (no call to Stitch here):

* inputs: the loaded streams as the source reads them (:func:`~.naming.source_stream`: a database
  source's server, ``postgres://shop-db.internal:5432`` with ``shop.orders``; a SaaS source's type);
* outputs: the tables they loaded into, named as the asset events name them;
* run facet ``stitchReplication`` (:class:`StitchReplicationRunFacet`): the job name, the source, and
  each stream's load time.

A task that loaded nothing (no new records, a failure, ``wait_for="extraction"``) reports no datasets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attr
from openlineage.client.generated.base import InputDataset, OutputDataset, RunFacet

from airflow_provider_stitch.lineage.naming import source_stream

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage

    from airflow_provider_stitch.lineage.assets import LoadedTables

#: The facet's JSON schema: shipped in this package (``lineage/StitchReplicationRunFacet.json``, whose
#: ``$id`` this is). A URN, not a URL: the project publishes no schema site to point at.
FACET_SCHEMA_URL = (
    "urn:airflow-provider-stitch:StitchReplicationRunFacet.json#/$defs/StitchReplicationRunFacet"
)


@attr.define
class StitchReplicationRunFacet(RunFacet):
    """The Stitch job a task run waited for, and when each of its streams loaded."""

    job_name: str | None
    source_id: int | None
    source_name: str | None
    stitch_client_id: int | None
    #: Stream -> ``loaded_at`` (Stitch's ``last_batch_loaded_at``, UTC, second precision).
    streams_loaded_at: dict[str, str] = attr.field(factory=dict)

    @staticmethod
    def _get_schema() -> str:
        return FACET_SCHEMA_URL


def replication_lineage(result: dict[str, Any] | None, loaded: LoadedTables | None) -> OperatorLineage:
    from airflow.providers.openlineage.extractors import OperatorLineage

    if result is None or loaded is None:
        return OperatorLineage()
    source = loaded.source
    properties = source.raw.get("properties") or {}
    inputs = []
    outputs = []
    for stream, table in loaded.tables.items():
        read = source_stream(source.type, properties, stream)
        inputs.append(InputDataset(namespace=read.namespace, name=read.name))
        outputs.append(OutputDataset(namespace=table.namespace, name=table.name))
    facet = StitchReplicationRunFacet(
        job_name=result.get("job_name"),
        source_id=result.get("source_id"),
        source_name=result.get("source_name"),
        stitch_client_id=result.get("stitch_client_id"),
        streams_loaded_at=dict(loaded.loaded_at),
    )
    return OperatorLineage(inputs=inputs, outputs=outputs, run_facets={"stitchReplication": facet})
