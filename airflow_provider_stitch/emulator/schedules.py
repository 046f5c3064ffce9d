"""Stitch's own schedule (``--run-schedules``): a busy source whose jobs nobody asked for through the API.

Every fully configured, unpaused, undeleted source with an interval (frequency) schedule gets a timer
that fires every ``frequency_in_minutes`` divided by the speed, as every emulator duration is. A firing
starts a job (``started_by: "schedule"``) unless one runs already, in which case that run is skipped, as
Stitch skips a scheduled run while the previous job is still extracting. Cron schedules are not fired
(computing Quartz fire times is out of scope). Timers are engine events, so ``advance`` moves them too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from airflow_provider_stitch.emulator.clock import iso
from airflow_provider_stitch.emulator.engine import Event, JobEngine
from airflow_provider_stitch.emulator.models import Account, Source


@dataclass
class _Timer:
    interval_minutes: float
    event: Event


@dataclass
class _Counts:
    started: int = 0
    skipped: int = 0
    last_job_name: str | None = None


class ScheduleRunner:
    def __init__(self, engine: JobEngine, *, enabled: bool) -> None:
        self.engine = engine
        self.enabled = enabled
        self._timers: dict[tuple[int, int], _Timer] = {}
        self._counts: dict[tuple[int, int], _Counts] = {}
        self._sources: dict[tuple[int, int], tuple[Account, Source]] = {}

    @staticmethod
    def interval_minutes(source: Source, now: float) -> float | None:
        """The source's interval when its schedule should fire, else None (cron, paused, unconfigured...)."""
        schedule = source.schedule(now)
        if schedule is None or schedule.get("type") != "interval":
            return None
        minutes = float(schedule["interval"])
        return minutes if minutes > 0 else None

    def set_enabled(self, enabled: bool, accounts: Iterable[Account], now: float) -> None:
        self.enabled = enabled
        if not enabled:
            for key in list(self._timers):
                self._drop(key)
        self.sync(accounts, now)

    def sync(self, accounts: Iterable[Account], now: float) -> None:
        """Arm a timer for each source that became eligible, drop those that no longer are."""
        if not self.enabled:
            return
        for account in accounts:
            for source in account.sources.values():
                key = (account.client_id, source.id)
                minutes = self.interval_minutes(source, now)
                timer = self._timers.get(key)
                if minutes is None:
                    if timer is not None:
                        self._drop(key)
                    continue
                if timer is None or timer.interval_minutes != minutes:
                    # A new or changed frequency counts from now.
                    self._arm(account, source, now, minutes)
                else:
                    source.scheduled_fire_at = timer.event.due

    def _drop(self, key: tuple[int, int]) -> None:
        self._timers.pop(key, None)
        pair = self._sources.pop(key, None)
        if pair is not None:
            pair[1].scheduled_fire_at = None

    def _arm(self, account: Account, source: Source, start: float, minutes: float) -> None:
        key = (account.client_id, source.id)
        timer: _Timer | None = None

        def fire(due: float) -> None:
            if self._timers.get(key) is not timer:
                return  # dropped or re-armed since
            self._fire(account, source, key, due, minutes)

        event = self.engine.schedule(start + minutes * 60 / self.engine.speed, fire)
        timer = _Timer(minutes, event)
        self._timers[key] = timer
        self._sources[key] = (account, source)
        source.scheduled_fire_at = event.due

    def _fire(
        self, account: Account, source: Source, key: tuple[int, int], due: float, minutes: float
    ) -> None:
        if not self.enabled or self.interval_minutes(source, due) is None:
            self._drop(key)
            return
        counts = self._counts.setdefault(key, _Counts())
        if self.engine.running_job(account.client_id, source.id) is not None:
            counts.skipped += 1
        else:
            job = self.engine.start_job(account, source, due, started_by="schedule")
            counts.started += 1
            counts.last_job_name = job.name
        self._arm(account, source, due, minutes)

    def to_json(self) -> dict[str, Any]:
        keys = sorted(set(self._timers) | set(self._counts))
        rows = []
        for key in keys:
            timer = self._timers.get(key)
            counts = self._counts.get(key, _Counts())
            rows.append(
                {
                    "client_id": key[0],
                    "source_id": key[1],
                    "interval_minutes": timer.interval_minutes if timer is not None else None,
                    "next_fire_at": iso(timer.event.due) if timer is not None else None,
                    "jobs_started": counts.started,
                    "runs_skipped": counts.skipped,
                    "last_job_name": counts.last_job_name,
                }
            )
        return {"enabled": self.enabled, "sources": rows}
