"""Working-hours slots in each person's own time zone: pure, DST-correct, stored in UTC.

A person's *slot* is the moment of a working day when their reminders go out: the start of their
working hours (09:00 by default), or the time they chose for a daily digest. Slots are computed
on the local calendar with `zoneinfo` and only then turned into UTC, so 09:00 in New York stays
09:00 across the March and November clock changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scheduler.config import WorkWeek

_SEARCH_DAYS = 8  # every schedule has a working day within a week


@cache
def zone(name: str | None) -> ZoneInfo:
    """Return the time zone called `name`; UTC when it is empty or unknown."""
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class Schedule:
    """When one person may be reached, and at what time of day their slot is."""

    zone: ZoneInfo
    week: WorkWeek
    at: time

    @property
    def key(self) -> tuple[str, str, str]:
        """Return what people planned together share."""
        return (self.zone.key, self.week.key, self.at.isoformat())

    def local(self, moment: datetime) -> datetime:
        """Return a moment on this person's wall clock."""
        return moment.astimezone(self.zone)

    def today(self, moment: datetime) -> date:
        """Return this person's date at a moment."""
        return self.local(moment).date()

    def slot_on(self, day: date) -> datetime:
        """Return the slot of a local day, in UTC."""
        return datetime.combine(day, self.at, tzinfo=self.zone).astimezone(UTC)

    def latest_slot(self, now: datetime) -> datetime | None:
        """Return the last slot of a working day at or before now."""
        day = self.today(now)
        for back in range(_SEARCH_DAYS):
            candidate = day - timedelta(days=back)
            if candidate.weekday() in self.week.days:
                slot = self.slot_on(candidate)
                if slot <= now:
                    return slot
        return None

    def next_slot(self, now: datetime) -> datetime:
        """Return the first slot of a working day after now."""
        day = self.today(now)
        for ahead in range(_SEARCH_DAYS + 1):
            candidate = day + timedelta(days=ahead)
            if candidate.weekday() in self.week.days:
                slot = self.slot_on(candidate)
                if slot > now:
                    return slot
        raise ValueError("a work week needs at least one working day")

    def in_hours(self, now: datetime) -> bool:
        """Return True when now falls in this person's working hours on a working day."""
        local = self.local(now)
        return local.weekday() in self.week.days and (
            self.week.start <= local.time().replace(tzinfo=None) < self.week.end
        )

    def opening(self, now: datetime) -> datetime:
        """Return now when within working hours, else when they next begin."""
        if self.in_hours(now):
            return now
        day = self.today(now)
        for ahead in range(_SEARCH_DAYS + 1):
            candidate = day + timedelta(days=ahead)
            if candidate.weekday() in self.week.days:
                start = datetime.combine(candidate, self.week.start, tzinfo=self.zone)
                if start.astimezone(UTC) > now:
                    return start.astimezone(UTC)
        raise ValueError("a work week needs at least one working day")


def iso_week(day: date) -> str:
    """Return the ISO week of a day, like "2026-W48"."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"
