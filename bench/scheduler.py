"""Benchmark of the scheduler (`lessons bench scheduler`): plan, claim, empty tick, deliveries.

A synthetic organisation is written with bulk SQL: `people` people in 24 time zones (one per
UTC hour, so each hour's 09:00 slot belongs to one zone), a manager for every ten, a PBPO per
hundred, and `actions` actions due between 60 days ago and 30 days ahead. Then, on a clock that
moves an hour at a time:

* one time-zone hour's plan (the ~1/24 of people whose slot came), and a full day's (24 hours);
  the first day is cold (every overdue action gets its collapsed nudge), the second is steady;
* claim latency of a delivery batch, and a tick with nothing due;
* deliveries per second through `deliver(…)`, given by the caller (the Slack sink with its
  rate limits, in `bench/slack_sink.py`), unpaced and paced.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, text, update

from knowledge.models import Notification, Person, SchedulerJob, SchedulerTimer
from knowledge.storage import Store
from scheduler import ledger
from scheduler.clock import ManualClock
from scheduler.config import SchedulerSettings
from scheduler.jobs import Scheduler
from scheduler.planner import DELIVER, PlanStats
from scheduler.sql import one_of, pending

StoreFactory = Callable[[str], AbstractContextManager[Store]]
Deliver = Callable[[Scheduler, int, float, int], Awaitable[dict[str, Any]]]
START = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)  # a Wednesday, midnight UTC
# Etc/GMT-N is UTC+N: one zone for each UTC hour, from UTC-11 to UTC+12.
ZONES = [f"Etc/GMT{-o:+d}" if o else "UTC" for o in range(-11, 13)]


def run(
    *,
    backend: str,
    stores: StoreFactory,
    people: int = 100_000,
    actions: int = 1_000_000,
    deliver: Deliver | None = None,
) -> dict[str, Any]:
    """Run the scheduler benchmark on one backend and return its figures."""
    tuning = SchedulerSettings.from_env(os.environ)
    report: dict[str, Any] = {
        "backend": backend,
        "people": people,
        "actions": actions,
        "plan_ahead_h": tuning.plan_ahead.total_seconds() / 3600,
        "plan_batch": tuning.plan_batch,
    }
    with stores(backend) as store:
        started = time.perf_counter()
        generate(store, people=people, actions=actions)
        report["generate_s"] = round(time.perf_counter() - started, 1)
        report.update(asyncio.run(_measure(store, deliver)))
    report["rss_mb"] = _rss()
    return report


async def _measure(store: Store, deliver: Deliver | None) -> dict[str, Any]:
    clock = ManualClock(START)
    # LESSONS_PLAN_* apply
    settings = replace(SchedulerSettings.from_env(os.environ), platform_rate=0)
    s = Scheduler(store=store, notifiers=[], settings=settings, clock=clock, reviews=False)
    figures: dict[str, Any] = {}
    started = time.perf_counter()
    seeding = replace(settings, stale_after=timedelta(0))  # every timer at its next slot
    seeder = Scheduler(store=store, notifiers=[], settings=seeding, clock=clock, reviews=False)
    while await seeder.db.run(seeder._seed_timers, clock()) >= settings.plan_batch:
        pass
    figures["seed_timers_s"] = round(time.perf_counter() - started, 2)
    for day in ("cold_day", "steady_day"):
        figures[day] = await _day(s, clock)
    figures["claim_ms"] = await _claims(s, clock)
    figures["empty_tick_ms"] = await _empty_ticks(s, clock)
    if deliver is not None:
        figures["deliveries"] = await _deliveries(s, clock, deliver)
    return figures


async def _day(s: Scheduler, clock: ManualClock) -> dict[str, Any]:
    """Plan 24 hours, one time zone's slot an hour (planning as a tick does); return the figures.

    With `plan_ahead`, a plan also takes the slots due within it, so fewer hours plan, each
    for more people: the day's time is also given per 100,000 people planned.
    """
    hours: list[tuple[float, PlanStats]] = []
    cpus: list[float] = []  # this process's CPU: with SQLite, the database's work too
    rss = [_rss()]
    for _ in range(24):
        clock.advance(timedelta(hours=1))
        now = clock() + timedelta(minutes=5)
        started, cpu = time.perf_counter(), time.process_time()
        total = PlanStats()
        planning = (await s.db.run(s._peek, now)).plan  # as a tick: only once a slot came
        while planning:
            stats = await s.db.run(s._plan, now)
            total.add(stats)
            planning = stats.people >= s.settings.plan_batch
        hours.append((time.perf_counter() - started, total))
        cpus.append(time.process_time() - cpu)
        rss.append(_rss())
    seconds = [h[0] for h in hours]
    plans = [h for h in hours if h[1].people]  # hours in which a slot came (all, unless ahead)
    return {
        "plans": len(plans),
        "plan_s": round(statistics.median(h[0] for h in plans), 3),
        "plan_max_s": round(max(h[0] for h in plans), 3),
        "plan_people": plans[0][1].people,
        "plan_planned": plans[0][1].planned,
        "day_s": round(sum(seconds), 2),
        "day_cpu_s": round(sum(cpus), 2),
        "day_people": sum(h[1].people for h in hours),
        # planning ahead plans more than a day's slots in a day: per 100,000 people planned
        "s_per_100k_people": round(sum(seconds) * 1e5 / max(1, sum(h[1].people for h in hours)), 2),
        "day_planned": sum(h[1].planned for h in hours),
        "rss_mb_first_last": [rss[0], rss[-1]],
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],  # the machine may be shared
    }


async def _claims(s: Scheduler, clock: ManualClock, batches: int = 20) -> dict[str, float]:
    """Time claiming delivery batches (then put them back unsent)."""
    times = []
    now = clock() + timedelta(minutes=5)
    for _ in range(batches):
        started = time.perf_counter()
        claims = await s.db.run(_claim, s, now)
        times.append((time.perf_counter() - started) * 1000)
        await s.db.run(_unclaim, s, claims)
    return _summary(times)


def _claim(s: Scheduler, now: datetime) -> list[ledger.Claim]:
    with s.db.begin() as conn:
        return ledger.claim(
            conn,
            now=now,
            me=s.me,
            lease=s.settings.lease,
            limit=s.settings.deliver_batch,
            postgres=s.db.postgres,
        )


def _unclaim(s: Scheduler, claims: list[ledger.Claim]) -> None:
    items = [(i.id, START) for c in claims for i in c.items]
    with s.db.begin() as conn:
        ledger.defer(conn, items, me=s.me, now=START)
        conn.execute(
            update(SchedulerTimer)
            .where(SchedulerTimer.kind == DELIVER, SchedulerTimer.claimed_by == s.me)
            .values(next_at=START + timedelta(days=365), lease_until=None, claimed_by=None)
        )


async def _empty_ticks(s: Scheduler, clock: ManualClock, n: int = 200) -> dict[str, float]:
    """Time ticks when nothing is due (deliver timers and jobs moved out of the way)."""
    with s.db.begin() as conn:
        later = START + timedelta(days=365)
        conn.execute(
            update(SchedulerTimer).where(SchedulerTimer.kind == DELIVER).values(next_at=later)
        )
        conn.execute(update(SchedulerJob).values(next_at=later))
    s._seeded = True
    clock.advance(timedelta(minutes=1))  # the next zone's slot is almost an hour away
    await s.tick()
    times = []
    for _ in range(n):
        started = time.perf_counter()
        report = await s.tick()
        times.append((time.perf_counter() - started) * 1000)
        assert report.plan.people == 0 and not report.deliveries
    return _summary(times)


async def _deliveries(s: Scheduler, clock: ManualClock, deliver: Deliver) -> dict[str, Any]:
    results = {}
    rounds = (("unpaced", 1500, 0.0, 3), ("paced", 600, 40.0, 4))  # two zones: fresh people
    for label, count, rate, offset in rounds:
        results[label] = await deliver(s, count, rate, offset)
    return results


async def make_due(s: Scheduler, count: int, offset: int = 3) -> datetime:
    """Make the deliver timers of `count` recipients with pending reminders due; return when.

    They are people of the zone UTC+`offset`, at 10:00 there on the first day (their 09:00
    plans are fresh, and their working hours open).
    """

    def run() -> datetime:
        zone, at = _zone_at_work(offset)
        with s.db.begin() as conn:
            people = list(
                conn.execute(
                    select(Notification.recipient_id)
                    .join(Person, Person.id == Notification.recipient_id)
                    .where(pending(), Notification.next_attempt_at <= at, Person.timezone == zone)
                    .distinct()
                    .order_by(Notification.recipient_id)
                    .limit(count)
                ).scalars()
            )
            conn.execute(
                update(SchedulerTimer)
                .where(
                    SchedulerTimer.kind == DELIVER,
                    one_of(SchedulerTimer.person_id, people, s.db.postgres),
                )
                .values(next_at=at, lease_until=None, claimed_by=None)
            )
        return at

    return await s.db.run(run)


def _zone_at_work(offset: int) -> tuple[str, datetime]:
    """Return the zone UTC+offset and 10:00 there on the first day (slots still fresh)."""
    return f"Etc/GMT-{offset}", START + timedelta(hours=10 - offset)


def generate(store: Store, *, people: int, actions: int) -> None:
    """Write the synthetic organisation with a few INSERT … SELECT statements."""
    postgres = store.backend == "postgresql"
    series = (
        "SELECT g FROM generate_series(1, :n) AS s(g)"
        if postgres
        else "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < :n) "
        "SELECT g FROM s"
    )
    # Everything was last changed three months before the run, as in a long-running office.
    then = START - timedelta(days=90)
    stamp = then.strftime("%Y-%m-%d %H:%M:%S") + ("+00" if postgres else ".000000")
    with store.connection() as conn:
        _generate_people(conn, series, people=people, stamp=stamp)
        _generate_actions(conn, series, postgres, people=people, actions=actions, stamp=stamp)
    # Statistics, and on PostgreSQL the visibility map, as autovacuum leaves a database whose
    # rows were written months ago (index-only scans need it); outside a transaction.
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE" if postgres else "ANALYZE")


def _generate_people(conn: Connection, series: str, *, people: int, stamp: str) -> None:
    """Write the people, in the 24 zones, a manager for every ten, and their roles."""
    conn.execute(text("CREATE TEMPORARY TABLE bench_zones (i INTEGER PRIMARY KEY, name TEXT)"))
    conn.execute(
        text("INSERT INTO bench_zones (i, name) VALUES (:i, :name)"),
        [{"i": i, "name": z} for i, z in enumerate(ZONES)],
    )
    conn.execute(
        text(
            "INSERT INTO people (id, name, email, slack_user_id, timezone, manager_id, "
            "mission, created_at) SELECT g, 'Person ' || g, 'p' || g || '@example.org', "
            "'U' || g, z.name, CASE WHEN g % 10 = 1 THEN NULL ELSE g - ((g - 1) % 10) END, "
            f"'M' || (g % 20), :stamp FROM ({series}) AS q JOIN bench_zones z ON z.i = g % 24"
        ),
        {"n": people, "stamp": stamp},
    )
    conn.execute(
        text(
            "INSERT INTO person_roles (person_id, role, scope) SELECT id, CASE "
            "WHEN id % 100 = 1 THEN 'pbpo' WHEN id % 10 = 1 THEN 'manager' ELSE 'staff' END, "
            "'' FROM people"
        )
    )
    conn.execute(text("DROP TABLE bench_zones"))


def _generate_actions(
    conn: Connection, series: str, postgres: bool, *, people: int, actions: int, stamp: str
) -> None:
    """Write one product and lesson per hundred actions, then the actions, due over 90 days."""
    base = (START - timedelta(days=60)).date().isoformat()
    due = (
        "CAST(:base AS date) + CAST(((CAST(g AS BIGINT) * 7919) % 90) AS integer)"
        if postgres
        else "date(:base, '+' || ((CAST(g AS BIGINT) * 7919) % 90) || ' days')"
    )
    lessons = max(1, actions // 100)
    conn.execute(
        text(
            "INSERT INTO products (id, type, title, summary, body, mission, status, "
            f"created_at, updated_at) SELECT g, 'aar', 'Bench ' || g, '', '', 'M' || (g % 20), "
            f"'published', :stamp, :stamp FROM ({series}) AS q"
        ),
        {"n": lessons, "stamp": stamp},
    )
    conn.execute(
        text(
            "INSERT INTO lessons (id, product_id, position, observation, lesson, "
            "recommendation, status, identified_at, updated_at) SELECT id, id, 0, '', "
            "'Bench lesson', '', 'validated', :stamp, :stamp FROM products"
        ),
        {"stamp": stamp},
    )
    conn.execute(
        text(
            "INSERT INTO actions (lesson_id, description, owner_id, due_date, status, notes, "
            "created_at, updated_at) SELECT 1 + (g % :lessons), 'Action ' || g, "
            f"1 + ((CAST(g AS BIGINT) * 104729) % :people), {due}, "
            "CASE WHEN g % 10 = 0 THEN 'done' ELSE 'open' END, '', :stamp, :stamp "
            f"FROM ({series}) AS q"
        ),
        {"n": actions, "lessons": lessons, "people": people, "base": base, "stamp": stamp},
    )


def _summary(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {
        "median_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1], 2),
        "max_ms": round(ordered[-1], 2),
    }


def _rss() -> float:
    try:
        with open(f"/proc/{os.getpid()}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0
