"""Both triggers name their deadline ``deadline`` and their retry override ``http_retry_policy``.

A trigger serialized by an earlier release (``end_time``, ``retry_policy``) still resumes after an upgrade.
"""

from __future__ import annotations

import datetime as dt
import time

from airflow_provider_stitch.api.progress import JobRef, WaitFor
from airflow_provider_stitch.api.wait import WaitState
from airflow_provider_stitch.triggers.connection_checks import StitchConnectionCheckTrigger
from airflow_provider_stitch.triggers.replication import StitchReplicationJobTrigger

POLICY = {"max_attempts": 2, "initial_delay": 0.01, "max_delay": 0.05, "max_elapsed": 5.0}


def test_both_triggers_serialize_the_same_names() -> None:
    deadline = time.time() + 60
    check = StitchConnectionCheckTrigger(
        stitch_conn_id="c",
        target="source",
        object_id=1,
        subject="s",
        deadline=deadline,
        http_retry_policy=POLICY,
    )
    job = JobRef(2001, "shop_db", "1001.2001.sync.x", dt.datetime.now(dt.timezone.utc))
    replication = StitchReplicationJobTrigger(
        state=WaitState(job, WaitFor.LOADS).to_dict(), deadline=deadline, http_retry_policy=POLICY
    )
    for trigger in (check, replication):
        kwargs = trigger.serialize()[1]
        assert kwargs["deadline"] == deadline
        assert kwargs["http_retry_policy"] == POLICY
        assert "end_time" not in kwargs and "retry_policy" not in kwargs


def test_kwargs_an_earlier_release_serialized_still_build_the_trigger() -> None:
    old = StitchConnectionCheckTrigger(
        stitch_conn_id="c", target="source", object_id=1, subject="s", end_time=123.0, retry_policy=POLICY
    )
    assert (old.deadline, old.http_retry_policy) == (123.0, POLICY)
