"""Lineage: which tables a replication loaded, as Airflow asset events and OpenLineage datasets.

:mod:`.naming` is pure (destination and source naming); :mod:`.assets` emits Airflow asset events;
:mod:`.openlineage` builds OpenLineage facets (needs the ``[openlineage]`` extra).
"""
