"""Names of the tables Stitch loads and of the streams it reads, as Airflow assets and OpenLineage
datasets. Pure: no I/O, no Airflow import.

Stitch loads stream ``<stream>`` of source ``<name>`` into table ``<stream>`` of schema ``<name>`` (the
source's ``name`` *is* its destination schema; BigQuery calls it a dataset). The destination's type and
form properties (``GET /v4/destinations``) say where that schema lives. Each destination type is named
as OpenLineage's naming spec names it, and the Airflow asset URI is the namespace followed by the
dataset name's parts as path segments, which is how Airflow's own providers write asset URIs
(``postgres://host:port/database/schema/table``):

* ``postgres``: namespace ``postgres://{host}:{port}``, name ``{database}.{schema}.{table}``, URI
  ``postgres://{host}:{port}/{database}/{schema}/{table}``;
* ``redshift``: namespace ``redshift://{cluster}.{region}:{port}``, name and URI path as Postgres;
* ``snowflake``: namespace ``snowflake://{account}``, name and URI path as Postgres;
* ``bigquery_v2``: namespace ``bigquery``, name ``{project}.{dataset}.{table}``, URI
  ``bigquery://{project}/{dataset}/{table}``;
* the emulator's DuckDB file: namespace ``duckdb://localhost{file path}``, name ``{schema}.{table}``,
  URI ``duckdb://localhost{file path}/{schema}/{table}``
  (``duckdb://localhost/tmp/w/warehouse.duckdb/shop_db/orders``).

The emulator presents its DuckDB file as a ``postgres`` destination whose ``database`` is the file's
absolute path (ending ``.duckdb``); that is recognised and named with the ``duckdb`` scheme, whose
namespace is the file on this host (there is no server; ``localhost`` is there because Airflow's asset
URI normalisation turns an empty host, ``duckdb:///tmp/...``, into ``duckdb:/tmp/...``) and whose name
is ``schema.table`` (a DuckDB file is one database). Redshift hosts of the form
``{cluster}.{id}.{region}.redshift.amazonaws.com`` are shortened to ``{cluster}.{region}`` as the spec
asks; other hosts (a custom endpoint) stay whole. Snowflake's ``host``
(``{account}.snowflakecomputing.com``) gives the account. Other destination types (S3, data.world, ...)
have no table naming here: no asset is emitted for them, and the operator logs why.

Table names are the stream names as Stitch reports them in the loads list; Stitch may adjust names a
destination cannot hold (its "table name rules"), which the API does not expose.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Scheme of the emulator's DuckDB warehouse (see the module docstring).
DUCKDB_SCHEME = "duckdb"
_REDSHIFT_HOST = re.compile(
    r"^(?P<cluster>[^.]+)\.[^.]+\.(?P<region>[a-z0-9-]+)\.redshift(-serverless)?\.amazonaws\.com$"
)
_SNOWFLAKE_SUFFIX = ".snowflakecomputing.com"
_DEFAULT_PORTS = {"postgres": "5432", "redshift": "5439"}


@dataclass(frozen=True)
class DatasetName:
    """One table (or stream) named the OpenLineage way, and the Airflow asset URI made from it."""

    namespace: str
    name: str
    uri: str


class UnnamedDestinationError(ValueError):
    """The destination's type (or its missing properties) gives no table naming."""


@dataclass(frozen=True)
class DestinationNaming:
    """How one destination names its tables: ``table(schema, table)``."""

    namespace: str
    #: Name parts before ``schema.table`` (the database, or BigQuery's project).
    prefix: tuple[str, ...]
    #: What the asset URI's path follows, when not the namespace and a slash (BigQuery's).
    uri_base: str | None = None

    def table(self, schema: str, table: str) -> DatasetName:
        parts = (*self.prefix, schema, table)
        base = self.uri_base if self.uri_base is not None else self.namespace + "/"
        return DatasetName(self.namespace, ".".join(parts), base + "/".join(parts))


def destination_naming(destination: Mapping[str, Any]) -> DestinationNaming:
    """The naming of a destination object (``GET /v4/destinations``); raises
    :class:`UnnamedDestinationError` for types without table naming."""
    kind = str(destination.get("type") or "")
    props = destination.get("properties") or {}
    if not isinstance(props, Mapping):
        props = {}

    def prop(name: str) -> str:
        value = props.get(name)
        if value in (None, ""):
            raise UnnamedDestinationError(f"destination {destination.get('id')} ({kind}) has no {name!r}")
        return str(value)

    if kind == "postgres" and str(props.get("database") or "").endswith(".duckdb"):
        return DestinationNaming(f"{DUCKDB_SCHEME}://localhost{prop('database')}", ())
    if kind in ("postgres", "redshift"):
        host = prop("host")
        port = str(props.get("port") or _DEFAULT_PORTS[kind])
        if kind == "redshift" and (match := _REDSHIFT_HOST.match(host.lower())):
            host = f"{match['cluster']}.{match['region']}"
        return DestinationNaming(f"{kind}://{host}:{port}", (prop("database"),))
    if kind == "snowflake":
        host = prop("host").lower()
        account = host[: -len(_SNOWFLAKE_SUFFIX)] if host.endswith(_SNOWFLAKE_SUFFIX) else host
        return DestinationNaming(f"snowflake://{account}", (prop("database"),))
    if kind in ("bigquery", "bigquery_v2"):
        return DestinationNaming("bigquery", (prop("project_id"),), uri_base="bigquery://")
    raise UnnamedDestinationError(f"destination type {kind!r} has no table naming")


#: Source types whose streams are tables of a database reachable at ``host``/``port``, and the
#: OpenLineage scheme of that database.
_DATABASE_SCHEMES = {
    "postgres": ("postgres", "5432"),
    "mysql": ("mysql", "3306"),
    "mssql": ("sqlserver", "1433"),
    "oracle": ("oracle", "1521"),
    "mongodb": ("mongodb", "27017"),
}


def source_stream(source_type: str, properties: Mapping[str, Any], stream: str) -> DatasetName:
    """The stream a source reads, as an OpenLineage input: database sources in the namespace of their
    server (``postgres://host:port``, name ``{database}.{stream}``), SaaS sources in one named after
    their type (``hubspot``, name ``{stream}``)."""
    kind = source_type.removeprefix("platform.")
    host = properties.get("host")
    if kind in _DATABASE_SCHEMES and host:
        scheme, default_port = _DATABASE_SCHEMES[kind]
        namespace = f"{scheme}://{host}:{properties.get('port') or default_port}"
        database = properties.get("dbname") or properties.get("database")
        name = f"{database}.{stream}" if database else stream
        uri = f"{namespace}/{name.replace('.', '/')}"
        return DatasetName(namespace, name, uri)
    return DatasetName(kind, stream, f"{kind}://{stream}")


def destination_of(
    source: Mapping[str, Any], destinations: Sequence[Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    """The destination a source loads into: the one it is mapped to (``mapped_destination_ids``, an
    undocumented field some accounts show), else the account's only active destination; None when
    that cannot be told (several destinations and no mapping)."""
    active = [d for d in destinations if not d.get("deleted_at")]
    mapped = source.get("mapped_destination_ids")
    if isinstance(mapped, list) and mapped:
        chosen = [d for d in active if d.get("id") in mapped]
        if len(chosen) == 1:
            return chosen[0]
    return active[0] if len(active) == 1 else None


def loaded_streams(result: Mapping[str, Any]) -> dict[str, str]:
    """Stream -> ``loaded_at`` of the streams a successful wait saw load new records (the run
    operator's and the sensor's XCom value). Streams without new records are not in a result's
    ``streams`` (the job's log shows no records for them), and a result of any other status loads
    nothing."""
    if result.get("status") != "succeeded":
        return {}
    streams = result.get("streams") or {}
    return {
        name: str(stream["loaded_at"])
        for name, stream in sorted(streams.items())
        if stream.get("status") == "loaded" and stream.get("loaded_at")
    }
