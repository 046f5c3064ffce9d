"""Judge one run against the emulator's ground truth: what really happened to each job.

The provider may say ``unknown`` only where Stitch's API cannot tell (a newer job replaced the evidence),
and ``timeout`` only when the job had no outcome by the deadline (or its last error is identical to an
earlier job's, which no client can tell apart). Everything else must match the truth exactly.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from runner import Run

SLACK_S = 5.0
#: The longest real pause between two polls in the suite (budget-stretched 20 s of Stitch time).
POLL_S = 0.3


def _second(iso: str | None) -> str | None:
    return iso[:19] if iso else None


def violations(run: Run) -> list[str]:
    s, result, truth = run.scenario, run.result or {}, {j["job_name"]: j for j in run.truth}
    found: list[str] = []
    # Rule: no job is stopped that the task did not start.
    for job in run.truth:
        if job["stopped_by"] == "api" and job["started_by"] != "api":
            found.append(f"the task stopped {job['job_name']}, started by {job['started_by']}")
    # Rule: every wait ends by its deadline (the retry and clear runs have two tries, two deadlines).
    tries = (
        2 if (s.worker_crash_after_polls and run.mode == "blocking") or s.clear or s.retry_after_stop else 1
    )
    if run.ended - run.began > tries * run.deadline_s + SLACK_S * tries + _world_time(s):
        found.append(f"the wait took {run.ended - run.began:.1f} s, past its deadline {run.deadline_s:.1f} s")
    if run.notes and any(n.startswith("choreography failed") for n in run.notes):
        found.extend(run.notes)
    job_name = result.get("job_name")
    expected = _expected_job(run)
    if run.outcome == "succeeded":
        if expected is not None and job_name != expected and not _attach_limit(run, expected, job_name):
            found.append(f"succeeded with job {job_name}, but the task's job is {expected}")
        job = truth.get(job_name or "")
        if job is None:
            return [*found, f"succeeded with a job the emulator never ran: {job_name}"]
        if job["verdict"] != "succeeded":
            found.append(f"succeeded, but the truth for {job_name} is {job['verdict']}")
        if _second(result.get("extraction_completion")) != _second(job["completion_time"]):
            found.append("the result's extraction times are not its job's")
        detected = _second_iso(run.ended)
        for name, stream in job["streams"].items():
            if stream["records"] and (stream["loaded_at"] is None or stream["loaded_at"] > detected):
                found.append(
                    f"succeeded before {name} of {job_name} loaded ({stream['loaded_at']} > {detected})"
                )
        return found
    if run.outcome == "unknown":
        job = truth.get(job_name or expected or "")
        replaced = job is not None and (job.get("replaced_by") or _newer_completed(run, job))
        if not replaced:
            found.append(f"'unknown' although nothing replaced {job_name}'s evidence: {run.message}")
        return found
    if run.outcome == "timeout":
        job = truth.get(job_name or expected or "")
        # The job must not have ended (seen by a poll, at Stitch's second precision) before the wait
        # gave up; a job the task stopped itself at its deadline ended because of the timeout.
        gave_up = _second_iso(run.ended - 2 * POLL_S - 2.0)
        finished = (
            job is not None
            and job.get("finished_at")
            and job["finished_at"] < gave_up
            and job["stopped_by"] != "api"
        )
        if finished and not _indistinguishable_error(run, job):
            found.append(
                f"timed out, but {job['job_name']} had ended {job['verdict']} at {job['finished_at']}"
            )
        if not s.times_out and job is None:
            found.append(f"timed out without a job: {run.message}")
        return found
    if run.outcome in ("failed", "cancelled"):
        job = truth.get(job_name or expected or "")
        if job is None:
            return [*found, f"{run.outcome} with no job the emulator ran: {run.message}"]
        if (
            expected is not None
            and job["job_name"] != expected
            and not _attach_limit(run, expected, job["job_name"])
        ):
            found.append(f"{run.outcome} about {job['job_name']}, but the task's job is {expected}")
        if job["verdict"] != run.outcome:
            found.append(
                f"{run.outcome}, but the truth for {job['job_name']} is {job['verdict']}: {run.message}"
            )
        return found
    return [*found, f"unexpected outcome {run.outcome!r}: {run.message}"]


def _expected_job(run: Run) -> str | None:
    """The job the verdict must be about: the one the task's last job reference names: the job it
    started, or (attached without a name) the job that was running then, not the one before it."""
    if not run.refs:
        return None
    ref = run.refs[-1]
    if ref.get("job_name"):
        return str(ref["job_name"])
    running = _running_candidates(run)
    return running[-1] if running else None


def _running_candidates(run: Run) -> list[str]:
    """Jobs running when the task attached without a name (second precision), not the one before."""
    if not run.refs or run.refs[-1].get("job_name"):
        return []
    ref = run.refs[-1]
    attached_at = _second_iso_of(ref["started_after"])
    return [
        str(j["job_name"])
        for j in run.truth
        if j["job_name"] != ref.get("previous_job_name")
        and j["created_at"] <= attached_at
        and (j["completion_time"] is None or j["completion_time"] >= attached_at)
    ]


def _second_iso_of(iso: str) -> str:
    return iso[:19] + "Z"


def _attach_limit(run: Run, expected: str, got: str | None) -> bool:
    return _running_at_attach(run, got) or _replaced_within_margin(run, expected, got)


def _running_at_attach(run: Run, got: str | None) -> bool:
    """At second precision, several jobs may have been running at the attach (one stopped and the next
    started within that second): the verdict may be about any of them but the one before."""
    return got is not None and got in _running_candidates(run)


def _replaced_within_margin(run: Run, expected: str, got: str | None) -> bool:
    """The documented limit of a wait attached without a job name (docs/replication.md, "Our job"):
    the running job completed and a newer one, created within the clocks' 10 s margin of the attach,
    replaced its row before the wait's first look, so the newer one was taken for it."""
    if not run.refs or run.refs[-1].get("job_name") or got is None:
        return False
    truth = {j["job_name"]: j for j in run.truth}
    ours, newer = truth.get(expected), truth.get(got)
    if ours is None or newer is None or ours.get("replaced_by") != got:
        return False
    attached = dt.datetime.fromisoformat(run.refs[-1]["started_after"].replace("Z", "+00:00"))
    created = dt.datetime.fromisoformat(newer["created_at"].replace("Z", "+00:00"))
    if created <= attached + dt.timedelta(seconds=10):
        run.notes.append(f"documented attach limit: {got} taken for {expected}")
        return True
    return False


def _newer_completed(run: Run, job: dict[str, Any]) -> bool:
    return any(
        other["created_at"] >= job["created_at"]
        and other["job_name"] != job["job_name"]
        and other["completion_time"] is not None
        for other in run.truth
    )


def _indistinguishable_error(run: Run, job: dict[str, Any]) -> bool:
    """The job's load failed with the same error as the earlier job's: no client can tell them apart."""
    return bool(run.scenario.earlier_load_error) and job["verdict"] == "failed"


def _world_time(s: Any) -> float:
    # The retry-after-stop run waits for another whole job between its two tries.
    return 10.0 if s.retry_after_stop else 0.0


def _second_iso(epoch: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
