"""What a Stitch job name says: ``<stitch_client_id>.<source_id>.sync.<uuid>`` (Stitch's examples, e.g.
https://www.stitchdata.com/docs/developers/stitch-connect/api#start-a-job).

The uuid in Stitch's documented job names is a version-1 (time-based) uuid, so it also says when the
job was created; that lets a wait that only knows the job name tell older jobs from newer ones.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

_UUID_EPOCH = dt.datetime(1582, 10, 15, tzinfo=dt.timezone.utc)


_JOB_NAME = re.compile(r"^\d+\.\d+\.sync\.[0-9A-Za-z-]+$")


def _parts(job_name: str) -> list[str]:
    return job_name.split(".")


def is_job_name(value: str) -> bool:
    """Whether ``value`` has the shape of a Stitch job name (``<client>.<source>.sync.<id>``)."""
    return bool(_JOB_NAME.match(value))


def client_id_from_job_name(job_name: str) -> int | None:
    head = _parts(job_name)[0]
    return int(head) if head.isdigit() else None


def source_id_from_job_name(job_name: str) -> int | None:
    parts = _parts(job_name)
    return int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else None


def job_created_at(job_name: str, *, precise: bool = False) -> dt.datetime | None:
    """When the job was created, from a version-1 uuid; None for any other name.

    Second precision (like Stitch's timestamps) unless ``precise``, which keeps the microseconds to
    order two jobs created within one second.
    """
    try:
        job_uuid = uuid.UUID(_parts(job_name)[-1])
    except ValueError:
        return None
    if job_uuid.version != 1:
        return None
    created = _UUID_EPOCH + dt.timedelta(microseconds=job_uuid.time // 10)
    return created if precise else created.replace(microsecond=0)
