"""The weekly jobs of good practices: a practice of the week per channel, and the priority list.

Both run from the organisation job `practices` (hourly; one replica claims each run) and send
at most once per ISO week, from Monday 07:00 UTC: each channel post is claimed in
`practice_posts` and each mission leader's list in the notification ledger (kind `priority`)
before it is sent, under their unique keys, so a second replica or a second run in the same
week sends nothing. Ledger rows of this job are never pending: the deliverer leaves them alone.

A leader's list keeps the etiquette of every reminder: it goes in their working hours (their
own time zone and week), waits while they are away or have paused reminders, and is not sent
at all to someone who muted non-essential reminders. A list that could not be delivered is
tried again an hour later, up to `ATTEMPTS` times in its week; a retry first looks for the
message carrying its key, so a send whose outcome was unknown is not posted twice. A channel's
post is tried once a week (a failure is recorded).

What each gets is only what its audience may see: a channel's practice is one its members may
all see (`knowledge.practices.weekly_pick`), a leader's list holds what they may see, of the
missions they lead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, time, timedelta
from typing import Literal

from sqlalchemy import select, update

from handlers import reach
from handlers.chat import ConversationRef, Notifier, Reply, Text
from handlers.curation import priority_elements
from handlers.deps import Deps
from handlers.practices import practice_card
from knowledge.curation import Curation
from knowledge.models import (
    Notification,
    NotificationStatus,
    Person,
    PracticePost,
    ReminderPreference,
)
from knowledge.practices import Practices, Target
from knowledge.reviews import Member, Reviews
from knowledge.storage import Store
from knowledge.weekly import Channel, Weekly, week_of
from scheduler.config import SchedulerSettings
from scheduler.people import Prefs
from scheduler.sql import Db, insert_ignoring

log = logging.getLogger(__name__)
JOB = "practices"
EVERY = timedelta(hours=1)
FROM = time(7, 0)  # Monday, UTC: nothing is sent earlier in a week
PRIORITY = "priority"  # the ledger kind of a mission leader's weekly list
RETRY = timedelta(hours=1)  # a list not delivered is tried again after this (also its lease)
ATTEMPTS = 8


def due(now: datetime) -> bool:
    """Return True once this week's messages may go out (from Monday 07:00 UTC)."""
    return now.weekday() > 0 or now.time() >= FROM


async def run(
    *,
    db: Db,
    store: Store,
    notifiers: Sequence[Notifier],
    now: datetime,
    settings: SchedulerSettings | None = None,
) -> int:
    """Post this week's practices and send this week's priority lists; return how many went."""
    settings = settings or SchedulerSettings()
    if not due(now):
        return 0
    sent = 0
    for channel in await db.run(Weekly(store).channels):
        try:
            sent += await _practice_of_the_week(channel, db, store, notifiers, now)
        except Exception:  # one channel must not stop the others
            log.exception("scheduler: the practice of the week failed in channel %s", channel.id)
    for person_id, missions in await db.run(Weekly(store).leaders):
        try:
            sent += await _priority_list(person_id, missions, db, store, notifiers, now, settings)
        except Exception:
            log.exception("scheduler: the priority list failed for person %s", person_id)
    return sent


async def _practice_of_the_week(
    channel: Channel, db: Db, store: Store, notifiers: Sequence[Notifier], now: datetime
) -> int:
    notifier = next((n for n in notifiers if n.platform == channel.platform), None)
    if notifier is None:
        return 0
    target = Target(channel.platform, channel.channel_id, channel.channel_name)
    practice = await Practices(store).weekly_pick(channel.id, target)
    period = week_of(now.date())
    if practice is None:
        return 0
    if not await db.run(_claim_post, db, channel.id, period, practice.lesson_id, now):
        return 0
    heading = Text("★ *Practice of the week*")
    card = Reply((heading, *practice_card(practice)), in_thread=False)
    where = ConversationRef(channel.platform, channel.channel_id, None, channel.channel_name)
    try:
        await notifier.post(where, card)
    except Exception:
        log.warning("scheduler: could not post the practice of the week in %s", channel.id)
        await db.run(_mark_post, db, channel.id, period, "failed", now)
        return 0
    await db.run(_mark_post, db, channel.id, period, "sent", now)
    return 1


async def _priority_list(
    person_id: int,
    missions: frozenset[str] | None,
    db: Db,
    store: Store,
    notifiers: Sequence[Notifier],
    now: datetime,
    settings: SchedulerSettings,
) -> int:
    when = await db.run(_reachable, db, person_id, now, settings)
    if when != "now":
        if when == "muted":
            await db.run(_claim_list, db, person_id, week_of(now.date()), now, True)
        return 0
    viewer = await store.viewer_for(person_id)
    listed = await Curation(store).priority_list(viewer, missions=missions, today=now.date())
    period = week_of(now.date())
    if not listed:
        return 0
    attempt = await db.run(_claim_list, db, person_id, period, now, False)
    if not attempt:
        return 0
    heading = f"🚩 *Priority lessons to review this week* ({len(listed)})"
    reply = Reply.of(*priority_elements(listed, heading=heading))
    reply = replace(reply, key=f"{PRIORITY}:{person_id}:{period}")
    member = await Reviews(store).member(person_id)
    for notifier in notifiers:
        deps = Deps(store, notifier, settings.handlers)
        if attempt > 1 and await _was_sent(member, reply, deps):
            await db.run(_mark_list, db, person_id, period, notifier.platform, now)
            return 0  # it went last time, though the platform did not say so
        if await reach.send(member, reply, deps):
            await db.run(_mark_list, db, person_id, period, notifier.platform, now)
            return 1
    return 0


async def _was_sent(member: Member | None, reply: Reply, deps: Deps) -> bool:
    if member is None or deps.notifier is None or reply.key is None:
        return False
    try:
        to = await reach.user_for(member, deps)
        return to is not None and await deps.notifier.find(to, reply.key) is not None
    except Exception:  # cannot tell: send it (the platform's own retry rules apply)
        log.warning("scheduler: could not look for person %s's priority list", member.id)
        return False


def _reachable(
    db: Db, person_id: int, now: datetime, settings: SchedulerSettings
) -> Literal["now", "later", "muted"]:
    """Return whether a leader may be sent their list now, later, or never (muted)."""
    pref = ReminderPreference
    with db.begin() as conn:
        row = conn.execute(
            select(
                Person.timezone, pref.delivery, pref.digest_at, pref.muted, pref.snoozed_until,
                pref.away_from, pref.away_until, pref.work_hours, pref.work_days,
            )
            .outerjoin(pref, pref.person_id == Person.id)
            .where(Person.id == person_id)
        ).first()  # fmt: skip
    if row is None:
        return "later"
    prefs = Prefs.of(row)
    if prefs.muted:
        return "muted"
    schedule = prefs.schedule(row.timezone, settings)
    if prefs.paused_at(now) or prefs.away_on(schedule.today(now)):
        return "later"
    return "now" if schedule.in_hours(now) else "later"


def _claim_post(db: Db, channel: int, period: str, lesson_id: int, now: datetime) -> bool:
    values = {"channel_ref": channel, "period": period, "lesson_id": lesson_id,
              "status": "claimed", "at": now}  # fmt: skip
    with db.begin() as conn:
        claim = insert_ignoring(PracticePost.__table__, db.postgres).returning(PracticePost.period)
        # rowcount is not reliable for ON CONFLICT DO NOTHING (psycopg says -1): a row back is.
        return conn.execute(claim, values).first() is not None


def _mark_post(db: Db, channel: int, period: str, status: str, now: datetime) -> None:
    with db.begin() as conn:
        conn.execute(
            update(PracticePost)
            .where(PracticePost.channel_ref == channel, PracticePost.period == period)
            .values(status=status, at=now)
        )


def _claim_list(db: Db, person_id: int, period: str, now: datetime, muted: bool) -> int:
    """Claim a leader's list for the week; return the attempt it is (0: not this replica's).

    The row is never pending, so the deliverer leaves it alone; until the list is sent it says
    why not, and `next_attempt_at` is when it may be claimed again (a lease and a backoff). A
    muted leader's row is only a record (`muted`): it is never claimed again.
    """
    n = Notification
    note = "not delivered: muted" if muted else "not delivered: nobody could be reached"
    values = {
        "kind": PRIORITY, "subject_id": 0, "recipient_id": person_id, "period": period,
        "status": NotificationStatus.SKIPPED, "attempts": 1, "last_error": note,
        "next_attempt_at": now + RETRY, "planned_at": now, "updated_at": now,
    }  # fmt: skip
    with db.begin() as conn:
        claim = insert_ignoring(n.__table__, db.postgres).returning(n.id)
        # rowcount is not reliable for ON CONFLICT DO NOTHING (psycopg says -1): a row back is.
        if conn.execute(claim, values).first() is not None:
            return 1
        if muted:
            return 0
        again = conn.execute(
            update(n)
            .where(n.kind == PRIORITY, n.period == period, n.subject_id == 0)
            .where(n.recipient_id == person_id, n.status == NotificationStatus.SKIPPED)
            .where(n.sent_at.is_(None), n.attempts < ATTEMPTS, n.next_attempt_at <= now)
            .where(n.last_error == note)
            .values(attempts=n.attempts + 1, next_attempt_at=now + RETRY, updated_at=now)
            .returning(n.attempts)
        ).first()
        return int(again[0]) if again is not None else 0


def _mark_list(db: Db, person_id: int, period: str, platform: str, now: datetime) -> None:
    n = Notification
    with db.begin() as conn:
        conn.execute(
            update(n)
            .where(n.kind == PRIORITY, n.period == period, n.subject_id == 0)
            .where(n.recipient_id == person_id)
            .values(
                status=NotificationStatus.SENT,
                sent_at=now,
                platform=platform,
                last_error=None,
                updated_at=now,
            )
        )
