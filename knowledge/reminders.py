"""Reminder preferences and answers to follow-up checks: the reads and writes handlers need."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select

from knowledge import access
from knowledge.errors import DomainError, NotFound
from knowledge.models import (
    DeliveryMode,
    Lesson,
    LessonEvent,
    LessonStatus,
    Notification,
    Person,
    ReminderPreference,
)
from knowledge.storage import Store
from knowledge.threads import blocking

_UNSET = object()
FOLLOWUP_NOT_YOURS = (
    "That question was not sent to you (or the lesson is not open to you), so nothing was recorded."
)


@dataclass(frozen=True, slots=True)
class PreferenceView:
    """How one person is reminded (the organisation's defaults where they chose nothing)."""

    delivery: str
    digest_at: str | None
    muted: bool
    paused_until: datetime | None
    away_from: date | None
    away_until: date | None
    work_hours: str
    work_days: str
    timezone: str


class Reminders:
    """Reminder preferences and follow-up answers, over a Store's sessions."""

    def __init__(
        self, store: Store, *, work_hours: str = "09:00-17:00", work_days: str = "mon-fri"
    ) -> None:
        self.store = store
        # The organisation's defaults (LESSONS_WORK_HOURS/DAYS, read at start-up by bot/).
        self.work_hours = work_hours
        self.work_days = work_days

    def _preferences(self, person_id: int) -> PreferenceView:
        """Return a person's reminder preferences."""
        with self.store.session() as s:
            person = s.get(Person, person_id)
            if person is None:
                raise NotFound("That person is not in the directory.")
            return self._view(person, s.get(ReminderPreference, person_id))

    preferences = blocking(_preferences)

    def _update(
        self,
        person_id: int,
        *,
        delivery: str | None = None,
        muted: bool | None = None,
        pause: object = _UNSET,
        away: object = _UNSET,
    ) -> PreferenceView:
        """Change a person's preferences: delivery mode, mute, a pause (a span) or leave dates."""
        now = self.store.clock()
        with self.store.session() as s:
            person = s.get(Person, person_id)
            if person is None:
                raise NotFound("That person is not in the directory.")
            row = s.get(ReminderPreference, person_id)
            if row is None:
                row = ReminderPreference(
                    person_id=person_id, delivery=DeliveryMode.INSTANT, muted=False, updated_at=now
                )
                s.add(row)
            if delivery is not None:
                row.delivery = DeliveryMode(delivery)
            if muted is not None:
                row.muted = muted
            if pause is not _UNSET:
                row.snoozed_until = now + pause if isinstance(pause, timedelta) else None
            if away is not _UNSET:
                row.away_from, row.away_until = _leave(away)
            row.updated_at = now
            s.flush()
            return self._view(person, row)

    update = blocking(_update)

    def _record_followup(self, lesson_id: int, *, person_id: int | None, worked: bool) -> None:
        """Keep the answer to "did the change work?" on the lesson's record."""
        if person_id is None:
            raise NotFound(FOLLOWUP_NOT_YOURS)
        principals = self.store._viewer_for(person_id).principals
        with self.store.session() as s:
            # Only the person the question went to answers it (the ledger has their row), and
            # only while the lesson is still theirs to see: a forged id changes nothing.
            asked = s.scalars(
                select(Notification.id)
                .where(
                    Notification.kind == "followup",
                    Notification.subject_id == lesson_id,
                    Notification.recipient_id == person_id,
                )
                .limit(1)
            ).first()
            lesson = s.get(Lesson, lesson_id)
            if asked is None or lesson is None:
                raise NotFound(FOLLOWUP_NOT_YOURS)
            access.check_visible(s.connection(), principals, lesson_id)
            note = "follow-up: the change worked" if worked else "follow-up: not working yet"
            s.add(
                LessonEvent(
                    lesson_id=lesson_id,
                    from_status=LessonStatus(lesson.status).value,
                    to_status=LessonStatus(lesson.status).value,
                    actor_id=person_id,
                    note=note,
                    at=self.store.clock(),
                )
            )

    record_followup = blocking(_record_followup)

    def _view(self, person: Person, row: ReminderPreference | None) -> PreferenceView:
        return PreferenceView(
            delivery=(row.delivery if row else DeliveryMode.INSTANT).value,
            digest_at=row.digest_at if row else None,
            muted=bool(row and row.muted),
            paused_until=row.snoozed_until if row else None,
            away_from=row.away_from if row else None,
            away_until=row.away_until if row else None,
            work_hours=(row.work_hours if row and row.work_hours else self.work_hours),
            work_days=(row.work_days if row and row.work_days else self.work_days),
            timezone=person.timezone,
        )


def _leave(away: object) -> tuple[date | None, date | None]:
    if away is None:
        return None, None
    if not (isinstance(away, tuple) and len(away) == 2):
        raise DomainError("Leave needs a first and a last day.")
    first, last = away
    if not isinstance(first, date) or not isinstance(last, date):
        raise DomainError("Leave needs a first and a last day.")
    if last < first:
        raise DomainError("The last day of leave comes before the first.")
    return first, last
