"""The ledger and the timers: idempotent plans, claims with leases, fenced writes, cheap ticks."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from scheduler_world import (
    Recorder,
    add_action,
    add_lesson,
    add_person,
    at_local,
    ledger,
    scheduler,
)
from sqlalchemy import event, func, select

from knowledge.models import Notification, NotificationStatus, SchedulerTimer
from knowledge.storage import Store
from scheduler import ledger as book
from scheduler.clock import ManualClock
from scheduler.config import SchedulerSettings
from scheduler.planner import DAILY, DELIVER, plan_batch

WED = date(2026, 11, 25)
LEASE = timedelta(minutes=5)


def world(store: Store, people: int = 3) -> list[int]:
    lesson = add_lesson(store)
    ids = []
    for n in range(people):
        person = add_person(store, f"Person{n} Example", email=f"p{n}@example.org")
        add_action(store, lesson, person, WED - timedelta(days=1), description=f"Late {n}")
        add_action(store, lesson, person, WED - timedelta(days=8), description=f"Later {n}")
        ids.append(person)
    return ids


async def seed(store: Store, clock: ManualClock) -> None:
    """Let a scheduler create the timers, delivering nothing (nobody can be reached yet)."""
    s = scheduler(store, Recorder(), clock)
    await s.db.run(s._claim_jobs, clock())
    await s.db.run(s._seed_timers, clock())


async def test_planning_twice_plans_once(store: Store) -> None:
    world(store)
    clock = ManualClock(at_local(WED, 9, 5))
    await seed(store, clock)
    settings = SchedulerSettings()
    postgres = store.backend == "postgresql"
    with store.engine.begin() as conn:
        first = plan_batch(conn, now=clock(), settings=settings, postgres=postgres, limit=100)
    with store.engine.begin() as conn:  # as if the timers had not moved (a replica's race)
        conn.execute(SchedulerTimer.__table__.update().values(next_at=clock() - timedelta(hours=1)))
    with store.engine.begin() as conn:
        again = plan_batch(conn, now=clock(), settings=settings, postgres=postgres, limit=100)
    assert first.planned == 6 and again.planned == 0 and again.people == 3
    assert len(ledger(store)) == 6
    with store.engine.connect() as conn:
        daily = conn.execute(
            select(func.min(SchedulerTimer.next_at)).where(SchedulerTimer.kind == DAILY)
        ).scalar_one()
        woken = conn.execute(
            select(func.count()).where(SchedulerTimer.kind == DELIVER)
        ).scalar_one()
    assert daily == at_local(WED + timedelta(days=1), 9)  # the next slot: tomorrow 09:00
    assert woken == 3


@pytest.mark.postgres
@pytest.mark.parametrize("store", ["postgres"], indirect=True)  # row locks are PostgreSQL's
async def test_replicas_plan_disjoint_people_with_skip_locked(store: Store) -> None:
    world(store, people=6)
    clock = ManualClock(at_local(WED, 9, 5))
    await seed(store, clock)
    settings = SchedulerSettings()
    seen: dict[str, int] = {}
    inside = threading.Event()
    finish = threading.Event()

    def first() -> None:
        with store.engine.begin() as conn:
            seen["first"] = plan_batch(
                conn, now=clock(), settings=settings, postgres=True, limit=2
            ).people
            inside.set()
            finish.wait(10)  # hold the row locks while the other replica plans

    holder = threading.Thread(target=first)
    holder.start()
    assert inside.wait(10)
    with store.engine.begin() as conn:
        seen["second"] = plan_batch(
            conn, now=clock(), settings=settings, postgres=True, limit=100
        ).people
    finish.set()
    holder.join(10)
    assert seen == {"first": 2, "second": 4}
    assert len(ledger(store)) == 12
    assert len({n.key for n in ledger(store)}) == 12


def _claim(store: Store, clock: ManualClock, me: str) -> list[book.Claim]:
    with store.engine.begin() as conn:
        return book.claim(
            conn,
            now=clock(),
            me=me,
            lease=LEASE,
            limit=10,
            postgres=store.backend == "postgresql",
        )


async def planned(store: Store, clock: ManualClock, people: int = 2) -> list[int]:
    ids = world(store, people)
    await seed(store, clock)
    with store.engine.begin() as conn:
        plan_batch(
            conn,
            now=clock(),
            settings=SchedulerSettings(),
            postgres=store.backend == "postgresql",
            limit=100,
        )
    return ids


async def test_a_claim_takes_all_of_a_recipients_rows_under_a_lease(store: Store) -> None:
    clock = ManualClock(at_local(WED, 9, 5))
    people = await planned(store, clock)
    claims = _claim(store, clock, "replica-a")
    assert [c.person_id for c in claims] == people
    assert all(len(c.items) == 2 for c in claims)
    assert all({i.delivery for i in c.items} == {c.key} for c in claims)
    assert _claim(store, clock, "replica-b") == []  # leased
    assert {n.status for n in ledger(store)} == {NotificationStatus.CLAIMED}


async def test_a_crashed_replicas_claims_come_back_after_the_lease(store: Store) -> None:
    clock = ManualClock(at_local(WED, 9, 5))
    await planned(store, clock, people=1)
    [crashed] = _claim(store, clock, "replica-a")  # …and replica-a dies here
    clock.advance(LEASE + timedelta(seconds=1))
    [taken] = _claim(store, clock, "replica-b")
    assert [i.id for i in taken.items] == [i.id for i in crashed.items]
    # The rows keep replica-a's delivery key: replica-b looks for that message first.
    assert taken.earlier_keys == {crashed.key}
    assert {n.claimed_by for n in ledger(store)} == {"replica-b"}


async def test_writes_are_fenced_on_the_claim_but_a_real_send_always_counts(
    store: Store,
) -> None:
    clock = ManualClock(at_local(WED, 9, 5))
    await planned(store, clock, people=1)
    [late] = _claim(store, clock, "replica-a")
    clock.advance(LEASE + timedelta(seconds=1))
    [current] = _claim(store, clock, "replica-b")
    ids = [i.id for i in late.items]
    postgres = store.backend == "postgresql"
    with store.engine.begin() as conn:  # replica-a wakes up: its failure changes nothing
        book.mark_failed(conn, [(i, "late", clock()) for i in ids], me="replica-a", now=clock())
        book.mark_skipped(conn, ids, me="replica-a", reason="x", now=clock(), postgres=postgres)
        book.release(conn, [late.person_id], me="replica-a", postgres=postgres)
    assert {n.status for n in ledger(store)} == {NotificationStatus.CLAIMED}
    with store.engine.begin() as conn:  # but what it did send is recorded
        book.mark_sent(conn, [(i, "local", "m1") for i in ids], now=clock())
        book.release(conn, [current.person_id], me="replica-b", postgres=postgres)
    assert {n.status for n in ledger(store)} == {NotificationStatus.SENT}
    with store.engine.connect() as conn:
        left = conn.execute(select(func.count()).where(SchedulerTimer.kind == DELIVER)).scalar_one()
    assert left == 0  # nothing pending: the deliver timer is gone


async def test_a_tick_with_nothing_due_is_one_indexed_read(store: Store) -> None:
    world(store, people=2)
    rec = Recorder()
    clock = ManualClock(at_local(WED, 9, 5))
    s = scheduler(store, rec, clock)
    await s.tick()
    assert len(rec.sent) == 2
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        clock.advance(timedelta(minutes=1))
        report = await s.tick()
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    assert report.plan.people == 0 and report.deliveries == [] and report.jobs == []
    assert len(statements) == 1, statements
    assert "scheduler_timers" in statements[0] and "scheduler_jobs" in statements[0]


async def test_old_sent_rows_are_pruned(store: Store) -> None:
    world(store, people=1)
    rec = Recorder()
    clock = ManualClock(at_local(WED, 9, 5))
    s = scheduler(store, rec, clock)
    await s.tick()
    assert len(ledger(store)) == 2
    clock.advance(timedelta(days=s.settings.keep_days + 2))
    with store.engine.begin() as conn:
        pruned = book.prune(
            conn, before=clock() - timedelta(days=90), postgres=store.backend == "postgresql"
        )
    assert pruned == 2
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Notification)).scalar_one() == 0


async def test_slots_within_plan_ahead_are_planned_together_and_wait_for_their_hour(
    store: Store,
) -> None:
    lesson = add_lesson(store)
    zones = {"Asia/Bangkok": "Somchai Wong", "Africa/Nairobi": "Wanjiru Kamau",
             "America/New_York": "Grace Miller"}  # fmt: skip
    people = {tz: add_person(store, name, tz=tz) for tz, name in zones.items()}
    for person in people.values():
        add_action(store, lesson, person, WED - timedelta(days=3))
    rec = Recorder()
    clock = ManualClock(at_local(WED, 0, 1, "UTC"))
    s = scheduler(store, rec, clock, SchedulerSettings(plan_ahead=timedelta(hours=6)))
    got: dict[str, str] = {}
    planners: dict[str, int] = {}
    for hour in range(24):
        clock.set(at_local(WED, hour, 1, "UTC"))
        report = await s.tick()
        planners[f"{hour:02d}:01"] = report.plan.people
        for m in rec.sent:
            got.setdefault(m.to.user_id, f"{hour:02d}:01")
        if hour == 2:  # Bangkok's 09:00 came: Nairobi's, four hours on, is planned with it
            rows = {n.recipient_id: n for n in ledger(store, "nudge")}
            assert set(rows) == {people["Asia/Bangkok"], people["Africa/Nairobi"]}
            waiting = rows[people["Africa/Nairobi"]]
            assert waiting.status == NotificationStatus.PLANNED
            assert waiting.slot_at == waiting.next_attempt_at == at_local(WED, 9, 0)
    # Each is still reached at 09:00 in their own zone, never before.
    assert got == {"somchai@example.org": "02:01", "wanjiru@example.org": "06:01",
                   "grace@example.org": "14:01"}  # fmt: skip
    # Only a slot that came plans (the hourly jobs plan nothing ahead): two plans, not three.
    assert {t: n for t, n in planners.items() if n} == {"02:01": 2, "14:01": 1}


async def test_steady_plans_ahead_give_each_nudge_its_owners_slot(store: Store) -> None:
    """Zones planned together after their first plan share one nudge statement: each row still
    waits for its owner's own 09:00, and only the new cadence point is added."""
    lesson = add_lesson(store)
    zones = {"Asia/Bangkok": "Somchai Wong", "Africa/Nairobi": "Wanjiru Kamau"}
    people = {tz: add_person(store, name, tz=tz) for tz, name in zones.items()}
    for person in people.values():
        add_action(store, lesson, person, WED - timedelta(days=1))
    rec = Recorder()
    clock = ManualClock(at_local(WED, 0, 1, "UTC"))
    s = scheduler(store, rec, clock, SchedulerSettings(plan_ahead=timedelta(hours=6)))
    fri = WED + timedelta(days=2)
    for day in (WED, WED + timedelta(days=1), fri):
        for hour in range(24):
            clock.set(at_local(day, hour, 1, "UTC"))
            await s.tick()
    rows = {(n.recipient_id, n.period): n for n in ledger(store, "nudge")}
    due = (WED - timedelta(days=1)).isoformat()
    assert set(rows) == {(p, f"{due}+{point}") for p in people.values() for point in (1, 3)}
    for tz, person in people.items():
        third = rows[(person, f"{due}+3")]  # planned on Friday, at 02:01 UTC with Bangkok's
        assert third.slot_at == at_local(fri, 9, 0, tz)
    assert len(rec.sent) == 4  # Wednesday's and Friday's, each in its own working hours
