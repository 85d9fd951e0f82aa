"""A person's reminder preferences, and the schedule they give: zone, working hours, slot time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from knowledge.models import DeliveryMode
from scheduler.config import SchedulerSettings, WorkWeek, parse_days, parse_hours
from scheduler.slots import Schedule, zone


@dataclass(frozen=True, slots=True)
class Prefs:
    """What one person chose (a missing preference row means the defaults)."""

    delivery: DeliveryMode = DeliveryMode.INSTANT
    digest_at: str | None = None
    muted: bool = False
    snoozed_until: datetime | None = None
    away_from: date | None = None
    away_until: date | None = None
    work_hours: str | None = None
    work_days: str | None = None

    @classmethod
    def of(cls, row: Any) -> Prefs:
        """Read the preference columns of a row joined to reminder_preferences (may be NULL)."""
        return cls(
            delivery=DeliveryMode(row.delivery) if row.delivery else DeliveryMode.INSTANT,
            digest_at=row.digest_at,
            muted=bool(row.muted),
            snoozed_until=row.snoozed_until,
            away_from=row.away_from,
            away_until=row.away_until,
            work_hours=row.work_hours,
            work_days=row.work_days,
        )

    def week(self, default: WorkWeek) -> WorkWeek:
        """Return this person's working week: their own hours and days, else the default."""
        if not (self.work_hours or self.work_days):
            return default
        try:
            start, end = (
                parse_hours(self.work_hours) if self.work_hours else (default.start, default.end)
            )
            days = parse_days(self.work_days) if self.work_days else default.days
        except ValueError:  # a bad stored value never stops the reminders: use the default
            return default
        return WorkWeek(start, end, days)

    def schedule(self, timezone: str | None, settings: SchedulerSettings) -> Schedule:
        """Return when this person is reached and at what time of day their slot is."""
        week = self.week(settings.work)
        at = week.start
        if self.delivery == DeliveryMode.DAILY and self.digest_at:
            try:
                chosen = time.fromisoformat(self.digest_at)
            except ValueError:
                chosen = week.start
            if week.start <= chosen < week.end:
                at = chosen
        return schedule_for(timezone, week, at)

    def away_on(self, day: date) -> bool:
        """Return True when this person is on leave that (local) day."""
        if self.away_from is None and self.away_until is None:
            return False
        starts = self.away_from or date.min
        ends = self.away_until or date.max
        return starts <= day <= ends

    def paused_at(self, moment: datetime) -> bool:
        """Return True while their reminders are snoozed."""
        return self.snoozed_until is not None and moment < self.snoozed_until


_SCHEDULES: dict[tuple[str | None, WorkWeek, time], Schedule] = {}


def schedule_for(timezone: str | None, week: WorkWeek, at: time) -> Schedule:
    """Return the (shared, cached) schedule of a zone, week and slot time."""
    key = (timezone, week, at)
    found = _SCHEDULES.get(key)
    if found is None:
        if len(_SCHEDULES) > 10_000:
            _SCHEDULES.clear()
        found = _SCHEDULES[key] = Schedule(zone(timezone), week, at)
    return found
