"""Apache Airflow provider for Stitch (Stitch Connect API)."""

__version__ = "0.1.0"
