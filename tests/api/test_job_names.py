"""Reading Stitch job names: client, source, and the creation time in the version-1 uuid."""

from __future__ import annotations

import datetime as dt
import uuid

from airflow_provider_stitch.api.job_names import (
    client_id_from_job_name,
    job_created_at,
    source_id_from_job_name,
)

DOCUMENTED = "116078.120643.sync.c12fb0a7-7e4a-11e9-abdc-0edc2c318fba"  # the API reference's example


def test_ids() -> None:
    assert client_id_from_job_name(DOCUMENTED) == 116078
    assert source_id_from_job_name(DOCUMENTED) == 120643
    assert client_id_from_job_name("x.y") is None
    assert source_id_from_job_name("1001") is None


def test_creation_time_of_the_documented_example() -> None:
    # Stitch's example dates from May 2019, like the other examples on that page.
    assert job_created_at(DOCUMENTED) == dt.datetime(2019, 5, 24, 17, 38, 34, tzinfo=dt.timezone.utc)


def test_creation_time_of_a_fresh_uuid1() -> None:
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    created = job_created_at(f"1001.2001.sync.{uuid.uuid1()}")
    assert created is not None and before <= created <= before + dt.timedelta(seconds=2)


def test_no_creation_time_without_a_uuid1() -> None:
    assert job_created_at(f"1001.2001.sync.{uuid.uuid4()}") is None
    assert job_created_at("1001.2001.sync.not-a-uuid") is None
