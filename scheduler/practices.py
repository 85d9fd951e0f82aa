"""The weekly jobs of good practices: a practice of the week per channel, and the priority list.

Both run from the organisation job `practices` (hourly; one replica claims each run) and send
at most once per ISO week, from Monday 07:00 UTC: each channel post is claimed in
`practice_posts` and each mission leader's list in the notification ledger (kind `priority`)
before it is sent, under their unique keys, so a second replica or a second run in the same
week sends nothing. Ledger rows of this job are never pending: the deliverer leaves them alone,
and a failed send is recorded, not retried (a week's list is stale by the next one).

What each gets is only what its audience may see: a channel's practice is one its members may
all see (`knowledge.practices.weekly_pick`), a leader's list holds what they may see, of the
missions they lead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, time, timedelta

from sqlalchemy import update

from handlers import reach
from handlers.chat import ConversationRef, Notifier, Reply, Text
from handlers.curation import priority_elements
from handlers.practices import practice_card
from handlers.router import Deps
from knowledge.curation import Curation
from knowledge.models import Notification, NotificationStatus, PracticePost
from knowledge.practices import Practices, Target
from knowledge.reviews import Reviews
from knowledge.storage import Store
from knowledge.weekly import Channel, Weekly, week_of
from scheduler.sql import Db, insert_ignoring

log = logging.getLogger(__name__)
JOB = "practices"
EVERY = timedelta(hours=1)
FROM = time(7, 0)  # Monday, UTC: nothing is sent earlier in a week
PRIORITY = "priority"  # the ledger kind of a mission leader's weekly list


def due(now: datetime) -> bool:
    """Return True once this week's messages may go out (from Monday 07:00 UTC)."""
    return now.weekday() > 0 or now.time() >= FROM


async def run(*, db: Db, store: Store, notifiers: Sequence[Notifier], now: datetime) -> int:
    """Post this week's practices and send this week's priority lists; return how many went."""
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
            sent += await _priority_list(person_id, missions, db, store, notifiers, now)
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
) -> int:
    viewer = await store.viewer_for(person_id)
    listed = await Curation(store).priority_list(viewer, missions=missions, today=now.date())
    period = week_of(now.date())
    if not listed or not await db.run(_claim_list, db, person_id, period, now):
        return 0
    heading = f"🚩 *Priority lessons to review this week* ({len(listed)})"
    reply = Reply.of(*priority_elements(listed, heading=heading))
    member = await Reviews(store).member(person_id)
    for notifier in notifiers:
        if await reach.send(member, reply, Deps(store=store, notifier=notifier)):
            await db.run(_mark_list, db, person_id, period, notifier.platform, now)
            return 1
    return 0


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


def _claim_list(db: Db, person_id: int, period: str, now: datetime) -> bool:
    """Claim a leader's list for the week: a row that is not pending, so never redelivered."""
    values = {
        "kind": PRIORITY, "subject_id": 0, "recipient_id": person_id, "period": period,
        "status": NotificationStatus.SKIPPED, "next_attempt_at": now, "attempts": 1,
        "last_error": "not delivered: nobody could be reached", "planned_at": now,
        "updated_at": now,
    }  # fmt: skip
    with db.begin() as conn:
        claim = insert_ignoring(Notification.__table__, db.postgres).returning(Notification.id)
        return conn.execute(claim, values).first() is not None


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
