"""``python -m airflow_provider_stitch.emulator``: same as the ``stitch-emulator`` command."""

from airflow_provider_stitch.emulator.cli import main

raise SystemExit(main())
