"""Claiming due notifications per recipient with a lease, and recording what became of them.

A recipient's `deliver` timer is the unit of work: claiming it (FOR UPDATE SKIP LOCKED on
PostgreSQL) gives one replica every due notification of that person, so they get one message.
Each claimed row gets a delivery key the message will carry; a row that already had one comes
from an attempt whose outcome is unknown, and the deliverer looks for that message first.
Every write after the claim is fenced on `claimed_by`: a replica whose lease ran out (and whose
rows another replica took over) changes nothing but what it actually sent.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Connection,
    bindparam,
    case,
    delete,
    func,
    literal,
    select,
    update,
)

from knowledge.models import (
    Action,
    ActionNudge,
    Notification,
    NotificationStatus,
    SchedulerTimer,
)
from scheduler.kinds import Kind, ledger_key
from scheduler.planner import DELIVER
from scheduler.sql import joined, one_of, pending, upsert

N = Notification
T = SchedulerTimer
MAX_ERROR = 500


@dataclass(frozen=True, slots=True)
class Item:
    """One claimed notification."""

    id: int
    key: str
    kind: Kind
    subject_id: int
    recipient_id: int
    period: str
    slot_at: datetime | None
    attempts: int
    delivery: str
    planned_at: datetime


@dataclass(frozen=True, slots=True)
class Claim:
    """Everything due for one person, claimed until `lease_until`."""

    person_id: int
    items: tuple[Item, ...]
    key: str  # the delivery key of this attempt
    lease_until: datetime

    @property
    def earlier_keys(self) -> set[str]:
        """Return the delivery keys of earlier attempts whose outcome is unknown."""
        return {i.delivery for i in self.items if i.delivery != self.key}


def claim(
    conn: Connection,
    *,
    now: datetime,
    me: str,
    lease: timedelta,
    limit: int,
    postgres: bool,
) -> list[Claim]:
    """Claim up to `limit` recipients whose deliver timer is due, with their due rows."""
    lease_until = now + lease
    people = _claim_people(
        conn, now=now, me=me, lease_until=lease_until, limit=limit, postgres=postgres
    )
    if not people:
        return []
    batch = f"{me[:40]}.{uuid.uuid4().hex[:10]}"
    by_person = _claim_rows(
        conn, people, now=now, me=me, lease_until=lease_until, batch=batch, postgres=postgres
    )
    return [
        Claim(p, tuple(by_person.get(p, ())), f"{batch}:{p}", lease_until) for p in sorted(people)
    ]


def _claim_people(
    conn: Connection, *, now: datetime, me: str, lease_until: datetime, limit: int, postgres: bool
) -> list[int]:
    """Move the due deliver timers of up to `limit` people to the lease's end; return them."""
    due = (
        select(T.person_id)
        .where(T.kind == DELIVER, T.next_at <= now)
        .order_by(T.next_at)
        .limit(limit)
    )
    if postgres:
        due = due.with_for_update(skip_locked=True)
    return list(
        conn.execute(
            update(T)
            .where(T.kind == DELIVER, T.person_id.in_(due.scalar_subquery()))
            .values(next_at=lease_until, lease_until=lease_until, claimed_by=me)
            .returning(T.person_id)
        ).scalars()
    )


def _claim_rows(
    conn: Connection,
    people: list[int],
    *,
    now: datetime,
    me: str,
    lease_until: datetime,
    batch: str,
    postgres: bool,
) -> dict[int, list[Item]]:
    """Claim the claimed people's due rows (each keeps its delivery key, or gets the batch's)."""
    rows = conn.execute(
        select(
            N.id, N.kind, N.subject_id, N.recipient_id, N.period,
            N.slot_at, N.attempts, N.delivery, N.planned_at,
        ).where(
            one_of(N.recipient_id, people, postgres),
            pending(),
            N.next_attempt_at <= now,
        ).order_by(N.id)
    )  # fmt: skip
    by_person: dict[int, list[Item]] = defaultdict(list)
    ids: list[int] = []
    for n in rows:
        ids.append(n.id)
        key = n.delivery or f"{batch}:{n.recipient_id}"
        by_person[n.recipient_id].append(
            Item(
                n.id, ledger_key(n.kind, n.subject_id, n.recipient_id, n.period), Kind(n.kind),
                n.subject_id, n.recipient_id, n.period,
                n.slot_at, n.attempts, key, n.planned_at,
            )
        )  # fmt: skip
    if ids:
        conn.execute(
            update(N)
            .where(one_of(N.id, ids, postgres))
            .values(
                status=NotificationStatus.CLAIMED,
                claimed_by=me,
                lease_until=lease_until,
                next_attempt_at=lease_until,
                delivery=func.coalesce(N.delivery, joined(batch, ":", N.recipient_id)),
                updated_at=now,
            )
        )
    return by_person


def renew(conn: Connection, person_id: int, *, me: str, until: datetime) -> bool:
    """Extend our claim on a person while their message is on its way; False: it is lost.

    A send can outlast the lease (429s with long Retry-After, slow answers): without this,
    another replica would claim the person, miss the post still in flight, and post again.
    """
    held = conn.execute(
        update(T)
        .where(T.kind == DELIVER, T.person_id == person_id, T.claimed_by == me)
        .values(next_at=until, lease_until=until)
    )
    if not getattr(held, "rowcount", 0):
        return False
    conn.execute(
        update(N)
        .where(N.recipient_id == person_id, *_mine(me))
        .values(lease_until=until, next_attempt_at=until)
    )
    return True


def _mine(me: str) -> tuple[ColumnElement[bool], ...]:
    return (N.claimed_by == me, N.status == NotificationStatus.CLAIMED)


def mark_sent(
    conn: Connection, rows: Sequence[tuple[int, str, str | None]], *, now: datetime
) -> None:
    """Record deliveries the platform confirmed: (id, platform, message ref) each.

    Not fenced on the claim: whoever holds it now, the message was sent.
    """
    if not rows:
        return
    conn.execute(
        update(N)
        .where(N.id == bindparam("nid"), N.status != NotificationStatus.SENT)
        .values(
            status=NotificationStatus.SENT,
            sent_at=now,
            platform=bindparam("nplatform"),
            message_ref=bindparam("nref"),
            attempts=N.attempts + 1,
            lease_until=None,
            claimed_by=None,
            last_error=None,
            updated_at=now,
        ),
        [
            {"nid": i, "nplatform": platform[:16], "nref": (ref or "")[:100] or None}
            for i, platform, ref in rows
        ],
    )


def mark_failed(
    conn: Connection,
    rows: Sequence[tuple[int, str, datetime]],
    *,
    me: str,
    now: datetime,
) -> None:
    """Record failed attempts: (id, error, retry at) each. The delivery key stays, for `find`."""
    if not rows:
        return
    conn.execute(
        update(N)
        .where(N.id == bindparam("nid"), *_mine(me))
        .values(
            status=NotificationStatus.FAILED,
            attempts=N.attempts + 1,
            next_attempt_at=bindparam("nretry", type_=N.next_attempt_at.type),
            last_error=bindparam("nerror"),
            lease_until=None,
            claimed_by=None,
            updated_at=now,
        ),
        [{"nid": i, "nerror": error[:MAX_ERROR], "nretry": at} for i, error, at in rows],
    )


def mark_skipped(
    conn: Connection, ids: Sequence[int], *, me: str, reason: str, now: datetime, postgres: bool
) -> None:
    """Give up on notifications: no longer due, stale, muted or nobody to send them to."""
    if not ids:
        return
    conn.execute(
        update(N)
        .where(one_of(N.id, ids, postgres), *_mine(me))
        .values(
            status=NotificationStatus.SKIPPED,
            last_error=reason[:MAX_ERROR],
            lease_until=None,
            claimed_by=None,
            updated_at=now,
        )
    )


def defer(
    conn: Connection, rows: Sequence[tuple[int, datetime]], *, me: str, now: datetime
) -> None:
    """Put notifications back until a time: (id, until) each (outside working hours, on leave,
    a daily digest). A row without a slot of its own takes `until` as its slot: staleness
    counts from there.
    """
    if not rows:
        return
    until = bindparam("nuntil", type_=N.next_attempt_at.type)
    conn.execute(
        update(N)
        .where(N.id == bindparam("nid"), *_mine(me))
        .values(
            status=NotificationStatus.PLANNED,
            next_attempt_at=until,
            slot_at=func.coalesce(N.slot_at, until),
            lease_until=None,
            claimed_by=None,
            updated_at=now,
        ),
        [{"nid": i, "nuntil": at} for i, at in rows],
    )


def rekey(conn: Connection, ids: Sequence[int], *, me: str, key: str, postgres: bool) -> None:
    """Give rows of an earlier, undelivered attempt this attempt's delivery key."""
    if ids:
        conn.execute(update(N).where(one_of(N.id, ids, postgres), *_mine(me)).values(delivery=key))


def count_nudges(
    conn: Connection, action_ids: Sequence[int], *, now: datetime, postgres: bool
) -> None:
    """Count one more unanswered nudge per action; an answer since (any change) restarts it."""
    if not action_ids:
        return
    rows = select(Action.id, Action.owner_id, literal(1), Action.updated_at, literal(now)).where(
        one_of(Action.id, sorted(set(action_ids)), postgres), Action.owner_id.is_not(None)
    )
    table = ActionNudge.__table__
    statement = upsert(table, postgres).from_select(
        ["action_id", "owner_id", "unanswered", "since", "last_at"], rows
    )
    same = (table.c.owner_id == statement.excluded.owner_id) & (
        table.c.since >= statement.excluded.since
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["action_id"],
            set_={
                "unanswered": case((same, table.c.unanswered + 1), else_=1),
                "owner_id": statement.excluded.owner_id,
                "since": statement.excluded.since,
                "last_at": statement.excluded.last_at,
            },
        )
    )


def release(conn: Connection, people: Sequence[int], *, me: str, postgres: bool) -> None:
    """Hand back recipients' deliver timers: due again at their next pending row, or gone.

    The timer rows are locked (in person order, like the planner's wake-ups) before the pending
    rows are read, so a planner adding rows for them meanwhile is either seen here or wakes the
    timer after. Timers another replica holds now (our lease ran out) are left alone.
    """
    if not people:
        return
    ordered = sorted(set(people))
    locked = (
        select(T.person_id)
        .where(T.kind == DELIVER, one_of(T.person_id, ordered, postgres), T.claimed_by == me)
        .order_by(T.person_id)
    )
    if postgres:
        locked = locked.with_for_update()
    mine = list(conn.execute(locked).scalars())
    if not mine:
        return
    next_at = dict(
        conn.execute(
            select(N.recipient_id, func.min(N.next_attempt_at))
            .where(one_of(N.recipient_id, mine, postgres), pending())
            .group_by(N.recipient_id)
        ).all()
    )
    idle = [p for p in mine if p not in next_at]
    if idle:
        conn.execute(
            delete(T).where(
                T.kind == DELIVER, one_of(T.person_id, idle, postgres), T.claimed_by == me
            )
        )
    if next_at:
        conn.execute(
            update(T)
            .where(T.kind == DELIVER, T.person_id == bindparam("pid"), T.claimed_by == me)
            .values(
                next_at=bindparam("pnext", type_=T.next_at.type), lease_until=None, claimed_by=None
            ),
            [{"pid": p, "pnext": at} for p, at in sorted(next_at.items())],
        )


def prune(conn: Connection, *, before: datetime, postgres: bool, limit: int = 50_000) -> int:
    """Forget sent and skipped notifications last touched before a time; return how many."""
    old = (
        select(N.id)
        .where(
            N.status.in_((NotificationStatus.SENT, NotificationStatus.SKIPPED)),
            N.updated_at < before,
        )
        .limit(limit)
    )
    result = conn.execute(delete(N).where(N.id.in_(old.scalar_subquery())))
    return max(0, int(result.rowcount or 0))
