"""Layer 2: transport. ``StitchConnectHook`` turns an Airflow connection into Stitch API calls."""

from airflow_provider_stitch.hooks.stitch import StitchConnectHook

__all__ = ["StitchConnectHook"]
