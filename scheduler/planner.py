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
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    String,
    select,
    type_coerce,
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
from scheduler.sql import (
    insert_ignoring,
    one_of,
    person_slots,
    person_times,
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
    own = _own_prefs(conn, [r[0] for r in rows if r[4] is not None], postgres)
    groups: dict[tuple[date, datetime, bool, date | None], list[int]] = defaultdict(list)
    advance: dict[tuple[datetime, date | None], list[int]] = defaultdict(list)
    decided: dict[tuple[datetime, str | None, Prefs], _Decision] = {}
    times: dict[Any, datetime] = {}  # the stored slot → an aware datetime, once per distinct slot
    for person_id, stored, planned_on, timezone, _ in rows:
        next_at = times.get(stored) or times.setdefault(stored, _utc(stored))
        prefs = own.get(person_id, DEFAULTS)
        key = (next_at, timezone, prefs)  # the same for everyone of a zone on the defaults
        decision = decided.get(key)
        if decision is None:
            decision = decided[key] = _decide(prefs, timezone, next_at, now, settings)
        next_slot, today, slot, muted = decision
        if today is None:  # a stale slot (skipped), or away or snoozed (planned when back)
            stats.stale += slot is None
            stats.away += slot is not None
            advance[(next_slot, None)].append(person_id)
            continue
        assert slot is not None
        groups[(today, slot, muted, planned_on)].append(person_id)
        advance[(next_slot, today)].append(person_id)
    # On SQLite, people of several slots (zones planned ahead) on the same day, last planned the
    # same day, get their nudges from one statement, which measured about half the cost of one
    # a zone there. (PostgreSQL's per-zone statements read only the fresh due dates' index
    # ranges already; one statement joining a person→slot array measured no faster there.)
    steady: dict[tuple[date, date], dict[int, datetime]] = defaultdict(dict)
    for (today, slot, _, since), ids in groups.items():
        if since is not None and not postgres:
            steady[(today, since)].update(dict.fromkeys(ids, slot))
    shared = {key: slots for key, slots in steady.items() if len(set(slots.values())) > 1}
    woken: dict[int, datetime] = {}
    for (today, slot, muted, since), ids in groups.items():
        group = Group(tuple(ids), today, slot, muted, since)
        nudges = since is None or (today, since) not in shared
        counts, due = plan_group(
            conn, group, now=now, cadence=settings.cadence, postgres=postgres, nudges=nudges
        )
        _count(stats, woken, counts, due)
    for (today, since), slots in shared.items():
        counts, due = plan_nudges(
            conn, slots, today, since, now=now, cadence=settings.cadence, postgres=postgres
        )
        _count(stats, woken, counts, due)
    _advance(conn, advance, postgres)
    wake(conn, woken, postgres)
    return stats


def _count(
    stats: PlanStats,
    woken: dict[int, datetime],
    counts: dict[str, int],
    due: dict[int, datetime],
) -> None:
    """Add a plan's rows to the figures, and its recipients to those whose timers wake."""
    for kind, n in counts.items():
        stats.by_kind[kind] = stats.by_kind.get(kind, 0) + n
        stats.planned += n
    for person, at in due.items():
        if person not in woken or at < woken[person]:
            woken[person] = at


# A plan's decision for people sharing a zone, slot and preferences: their next slot, and the
# local day, slot and mute setting they are planned with (day and slot None: not planned now).
_Decision = tuple[datetime, date | None, datetime | None, bool]
DEFAULTS = Prefs()


def _decide(
    prefs: Prefs, zone: str | None, next_at: datetime, now: datetime, settings: SchedulerSettings
) -> _Decision:
    schedule = prefs.schedule(zone, settings)
    at = max(now, next_at)  # a slot planned ahead is planned as of that slot
    next_slot, slot = schedule.next_slot(at), schedule.latest_slot(at)
    if slot is None or now - slot > settings.stale_after:
        return (next_slot, None, None, False)  # stale: skipped
    today = schedule.today(slot)
    if prefs.away_on(today) or prefs.paused_at(at):
        return (next_slot, None, slot, False)  # planned when they are back, from planned_on
    return (next_slot, today, slot, prefs.muted)


def _utc(stored: str | datetime) -> datetime:
    """Return a stored timer time as an aware UTC datetime (SQLite keeps text, without offset)."""
    value = datetime.fromisoformat(stored) if isinstance(stored, str) else stored
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _own_prefs(conn: Connection, people: list[int], postgres: bool) -> dict[int, Prefs]:
    """Return the preferences of those who have their own (everyone else has the defaults)."""
    if not people:
        return {}
    pref = ReminderPreference
    rows = conn.execute(
        select(
            pref.person_id, pref.delivery, pref.digest_at, pref.muted, pref.snoozed_until,
            pref.away_from, pref.away_until, pref.work_hours, pref.work_days,
        ).where(one_of(pref.person_id, people, postgres))
    )  # fmt: skip
    return {row.person_id: Prefs.of(row) for row in rows}


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
    """Return the due daily timers: person, slot, day last planned, zone, and whether the person
    has preferences of their own (read apart: most people have none)."""
    query = (
        select(
            T.person_id,
            type_coerce(T.next_at, String),  # as stored: converted once per distinct slot
            T.planned_on,
            Person.timezone,
            ReminderPreference.person_id,
        )
        .join(Person, Person.id == T.person_id)
        .outerjoin(ReminderPreference, ReminderPreference.person_id == T.person_id)
        .where(T.kind == DAILY, T.next_at <= until)
        .order_by(T.next_at)
        .limit(limit)
    )
    if postgres:
        query = query.with_for_update(skip_locked=True, of=T)
    return query


def plan_group(
    conn: Connection,
    group: Group,
    *,
    now: datetime,
    cadence: Cadence,
    postgres: bool,
    nudges: bool = True,
) -> tuple[dict[str, int], dict[int, datetime]]:
    """Plan every kind for one group (nudges too, unless planned apart with other slots'
    people); return rows planned per kind, and when each recipient's new rows are first due
    (managers escalated to included)."""
    planner = Selects(conn, group, now=now, cadence=cadence, postgres=postgres)
    selects: list[tuple[Kind, Select[Any]]] = [
        *((Kind.NUDGE, q) for q in (planner.nudges() if nudges else [])),
        (Kind.EOAR, planner.eoar()),
        (Kind.DEPARTURE, planner.departures()),
        (Kind.ESCALATE, planner.escalations()),
    ]
    if not group.muted:
        selects += [
            *((Kind.DUE_SOON, q) for q in planner.due_soon()),
            (Kind.DIGEST, planner.manager_digests()),
            (Kind.PBPO, planner.pbpo_digests()),
        ]
    counts: dict[str, int] = {}
    due: dict[int, datetime] = {}
    for kind, query in selects:
        at = now if kind == Kind.ESCALATE else group.slot  # the rows' next_attempt_at
        counts[kind] = counts.get(kind, 0) + _insert(conn, query, postgres, due, at)
    return {k: n for k, n in counts.items() if n}, due


def plan_nudges(
    conn: Connection,
    slots: dict[int, datetime],
    today: date,
    since: date,
    *,
    now: datetime,
    cadence: Cadence,
    postgres: bool,
) -> tuple[dict[str, int], dict[int, datetime]]:
    """Plan the nudges of people of several slots who share a local day and a last plan, each
    row at its owner's slot; return them as `plan_group` does."""
    people = Group(tuple(sorted(slots)), today, min(slots.values()), False, since)
    relation = person_slots(conn, slots)
    planner = Selects(conn, people, now=now, cadence=cadence, postgres=postgres, slots=relation)
    due: dict[int, datetime] = {}
    n = sum(_insert(conn, query, postgres, due, slots) for query in planner.nudges())
    return ({Kind.NUDGE: n} if n else {}), due


def _insert(
    conn: Connection,
    query: Select[Any],
    postgres: bool,
    due: dict[int, datetime],
    at: datetime | dict[int, datetime],
) -> int:
    """INSERT the rows (… ON CONFLICT DO NOTHING); note when each recipient's new rows are due
    (`at`, the rows' next_attempt_at: one for all, or each recipient's).

    Only the recipients of the rows inserted come back (RETURNING), so the deliver timers are
    woken from them without reading the ledger again.
    """
    n = 0
    for (recipient,) in conn.execute(
        insert_ignoring(N.__table__, postgres).from_select(COLUMNS, query).returning(N.recipient_id)
    ):
        n += 1
        when = at[recipient] if isinstance(at, dict) else at
        if recipient not in due or when < due[recipient]:
            due[recipient] = when
    return n


def plan_followups(conn: Connection, *, now: datetime, cadence: Cadence, postgres: bool) -> int:
    """Plan "did the change work?" for lessons applied `followup_weeks` ago (once per lesson).

    The recipient is who validated the lesson, else the owner of its first action. The row has
    no slot of its own: it goes out in the recipient's working hours (or daily digest).
    """
    due: dict[int, datetime] = {}
    n = _insert(conn, followup_query(now=now, cadence=cadence), postgres, due, now)
    wake(conn, due, postgres)
    return n


def wake(conn: Connection, due: dict[int, datetime], postgres: bool) -> None:
    """Make each person's `deliver` timer due by when their new rows are (a sooner one stays).

    A person with pending rows has a deliver timer due by the earliest of them already (the
    deliverer keeps it so, and the hourly sync repairs one that went missing), so only the rows
    just planned need looking at: the ledger is not read again. On PostgreSQL in one statement,
    in ascending person order, so concurrent replicas lock timer rows in the same order.
    """
    for rows in person_times(due, DELIVER, postgres):
        conn.execute(_upsert_timer(rows, postgres))


def _upsert_timer(rows: Any, postgres: bool) -> Any:
    statement = upsert(T.__table__, postgres).from_select(["person_id", "kind", "next_at"], rows)
    return statement.on_conflict_do_update(
        index_elements=["person_id", "kind"],
        set_={"next_at": statement.excluded.next_at},
        where=statement.excluded.next_at < T.next_at,  # a timer already due keeps its row
    )
