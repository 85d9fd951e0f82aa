"""The planner: due timers → ledger rows, set-based, in the transaction that advances the timers.

A tick reads only the `daily` timers that are due (an index on kind, next_at), a batch at a time
(PostgreSQL locks them with FOR UPDATE SKIP LOCKED, so replicas plan disjoint people). People
sharing a schedule are planned together: one INSERT … SELECT … ON CONFLICT DO NOTHING per kind,
whose unique key makes planning twice harmless. Missed slots collapse: only the latest slot is
planned, and one more than `stale_after` old is skipped. The timers then move to the next slot
and the `deliver` timers of everyone who got something wake up — all in one transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    String,
    func,
    literal,
    select,
    update,
)

from knowledge.models import (
    Notification,
    Person,
    ReminderPreference,
    SchedulerTimer,
)
from scheduler.config import Cadence, SchedulerSettings
from scheduler.kinds import Kind
from scheduler.people import Prefs
from scheduler.selects import COLUMNS, Group, Selects, followup_query
from scheduler.slots import Schedule
from scheduler.sql import (
    insert_ignoring,
    one_of,
    pending,
    upsert,
)

DAILY = "daily"
DELIVER = "deliver"
N = Notification
T = SchedulerTimer


@dataclass(slots=True)
class PlanStats:
    """What one planning pass did."""

    people: int = 0
    planned: int = 0
    stale: int = 0
    away: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)

    def add(self, other: PlanStats) -> None:
        """Add another pass's figures to these."""
        self.people += other.people
        self.planned += other.planned
        self.stale += other.stale
        self.away += other.away
        for kind, n in other.by_kind.items():
            self.by_kind[kind] = self.by_kind.get(kind, 0) + n


def plan_batch(
    conn: Connection, *, now: datetime, settings: SchedulerSettings, postgres: bool, limit: int
) -> PlanStats:
    """Plan one batch of due `daily` timers and advance them; return what was done.

    Timers due within `settings.plan_ahead` are planned too, for their own slot (their rows
    wait for it): the caller plans only once a timer is due now, so people of several time
    zones share one transaction instead of one each.
    """
    rows = conn.execute(_due_timers(now + settings.plan_ahead, limit, postgres)).all()
    stats = PlanStats(people=len(rows))
    if not rows:
        return stats
    groups: dict[tuple[date, datetime, bool, date | None], list[int]] = defaultdict(list)
    advance: dict[tuple[datetime, date | None], list[int]] = defaultdict(list)
    slots: dict[tuple[Schedule, datetime], tuple[datetime, datetime | None]] = {}
    for row in rows:
        prefs = Prefs.of(row)
        schedule = prefs.schedule(row.timezone, settings)
        at = max(now, row.next_at)  # a slot planned ahead is planned as of that slot
        if (schedule, at) not in slots:  # shared by a time zone
            slots[(schedule, at)] = (schedule.next_slot(at), schedule.latest_slot(at))
        next_at, slot = slots[(schedule, at)]
        if slot is None or now - slot > settings.stale_after:
            stats.stale += 1
            advance[(next_at, None)].append(row.person_id)
            continue
        today = schedule.today(slot)
        if prefs.away_on(today) or prefs.paused_at(at):
            stats.away += 1  # planned when they are back, from the day last planned
            advance[(next_at, None)].append(row.person_id)
            continue
        groups[(today, slot, prefs.muted, row.planned_on)].append(row.person_id)
        advance[(next_at, today)].append(row.person_id)
    woken: set[int] = set()
    for (today, slot, muted, since), ids in groups.items():
        group = Group(tuple(ids), today, slot, muted, since)
        counts, managers = plan_group(
            conn, group, now=now, cadence=settings.cadence, postgres=postgres
        )
        for kind, n in counts.items():
            stats.by_kind[kind] = stats.by_kind.get(kind, 0) + n
            stats.planned += n
        woken.update(ids)
        woken.update(managers)
    _advance(conn, advance, postgres)
    wake(conn, sorted(woken), postgres)
    return stats


def _advance(
    conn: Connection, advance: dict[tuple[datetime, date | None], list[int]], postgres: bool
) -> None:
    """Move the daily timers to their next slot (and the day planned, when one was)."""
    for (next_at, planned_on), ids in advance.items():
        moved: dict[str, Any] = {"next_at": next_at}
        if planned_on is not None:
            moved["planned_on"] = planned_on
        conn.execute(
            update(T).where(T.kind == DAILY, one_of(T.person_id, ids, postgres)).values(**moved)
        )


def _due_timers(until: datetime, limit: int, postgres: bool) -> Any:
    pref = ReminderPreference
    query = (
        select(
            T.person_id,
            T.next_at,
            T.planned_on,
            Person.timezone,
            pref.delivery,
            pref.digest_at,
            pref.muted,
            pref.snoozed_until,
            pref.away_from,
            pref.away_until,
            pref.work_hours,
            pref.work_days,
        )
        .join(Person, Person.id == T.person_id)
        .outerjoin(pref, pref.person_id == T.person_id)
        .where(T.kind == DAILY, T.next_at <= until)
        .order_by(T.next_at)
        .limit(limit)
    )
    if postgres:
        query = query.with_for_update(skip_locked=True, of=T)
    return query


def plan_group(
    conn: Connection, group: Group, *, now: datetime, cadence: Cadence, postgres: bool
) -> tuple[dict[str, int], set[int]]:
    """Plan every kind for one group; return rows planned per kind and managers escalated to."""
    planner = Selects(conn, group, now=now, cadence=cadence, postgres=postgres)
    selects: list[tuple[Kind, Select[Any]]] = [
        (Kind.NUDGE, planner.nudges()),
        (Kind.EOAR, planner.eoar()),
        (Kind.DEPARTURE, planner.departures()),
    ]
    if not group.muted:
        selects += [
            (Kind.DUE_SOON, planner.due_soon()),
            (Kind.DIGEST, planner.manager_digests()),
            (Kind.PBPO, planner.pbpo_digests()),
        ]
    counts: dict[str, int] = {}
    for kind, query in selects:
        counts[kind] = _insert(conn, query, postgres)
    managers = [
        r
        for (r,) in conn.execute(
            insert_ignoring(N.__table__, postgres)
            .from_select(COLUMNS, planner.escalations())
            .returning(N.recipient_id)
        )
    ]
    counts[Kind.ESCALATE] = len(managers)
    return {k: n for k, n in counts.items() if n}, set(managers)


def _insert(conn: Connection, query: Select[Any], postgres: bool) -> int:
    result = conn.execute(
        insert_ignoring(N.__table__, postgres).from_select(COLUMNS, query),
        execution_options={"preserve_rowcount": True},  # INSERT … SELECT counts on psycopg too
    )
    return max(0, int(result.rowcount or 0))


def plan_followups(conn: Connection, *, now: datetime, cadence: Cadence, postgres: bool) -> int:
    """Plan "did the change work?" for lessons applied `followup_weeks` ago (once per lesson).

    The recipient is who validated the lesson, else the owner of its first action. The row has
    no slot of its own: it goes out in the recipient's working hours (or daily digest).
    """
    query = followup_query(now=now, cadence=cadence)
    recipients = [
        r
        for (r,) in conn.execute(
            insert_ignoring(N.__table__, postgres)
            .from_select(COLUMNS, query)
            .returning(N.recipient_id)
        )
    ]
    wake(conn, sorted(set(recipients)), postgres)
    return len(recipients)


def wake(conn: Connection, people: Sequence[int], postgres: bool) -> None:
    """Make each person's `deliver` timer due by their earliest pending notification.

    In ascending person order, so concurrent replicas lock timer rows in the same order.
    """
    if not people:
        return
    due = (
        select(N.recipient_id, literal(DELIVER, String), func.min(N.next_attempt_at))
        .where(one_of(N.recipient_id, people, postgres), pending())
        .group_by(N.recipient_id)
        .order_by(N.recipient_id)
    )
    statement = _upsert_timer(due, postgres)
    conn.execute(statement)


def _upsert_timer(rows: Any, postgres: bool) -> Any:
    statement = upsert(T.__table__, postgres).from_select(["person_id", "kind", "next_at"], rows)
    return statement.on_conflict_do_update(
        index_elements=["person_id", "kind"],
        set_={"next_at": statement.excluded.next_at},
        where=statement.excluded.next_at < T.next_at,  # a timer already due keeps its row
    )
