"""Layer 1: the Stitch Connect API model.

Pure Python: no sockets, no Airflow imports. Typed objects, error parsing, request descriptions
(sans-I/O operations that the hook's sync and async drivers both execute), the retry policy, the
jobs-call budget, and the replication progress rules.
"""
