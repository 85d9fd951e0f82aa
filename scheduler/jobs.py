"""One tick of the scheduler: organisation jobs, planning, delivery, and the AAR clock.

Every tick does only what is due, from indexed reads: the organisation's periodic jobs (timer
sync hourly, follow-up checks hourly, clean-up daily, each claimed by one replica), the people
whose `daily` timer is due (planned in batches), the recipients whose `deliver` timer is due
(delivered in batches), `handlers.reviews.clock.tick` for reviews on each platform, and the
notices owed while a platform was down (`scheduler.notices`). A tick with nothing due reads four
small index ranges (in one statement) and returns.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, exists, func, literal, select, update

from handlers.chat import Notifier
from handlers.reviews import clock as review_clock
from handlers.router import Deps
from knowledge.models import (
    Notification,
    PendingNotice,
    Person,
    ReminderPreference,
    SchedulerJob,
    SchedulerTimer,
)
from knowledge.notices import Notices
from knowledge.storage import Store
from scheduler import ledger, notices, planner, practices
from scheduler.clock import system
from scheduler.config import SchedulerSettings
from scheduler.deliver import Deliverer, Delivery
from scheduler.people import Prefs
from scheduler.planner import DAILY, DELIVER, PlanStats
from scheduler.sql import Db, DryDb, insert_ignoring, pending

log = logging.getLogger(__name__)
JOBS: dict[str, timedelta] = {
    "sync": timedelta(hours=1),  # daily timers for new people; deliver timers that went missing
    "followups": timedelta(hours=1),  # "did the change work?" checks
    "prune": timedelta(days=1),  # forget old sent and skipped notifications
    practices.JOB: practices.EVERY,  # practice of the week, priority lists: once a week each
}
MAX_ROUNDS = 10_000  # a tick stops after this many batches (the next tick goes on)
T = SchedulerTimer


@dataclass(frozen=True, slots=True)
class Due:
    """What a tick has to do."""

    jobs: bool
    plan: bool
    deliver: bool
    notices: bool = False  # notices owed while a platform was down


@dataclass(slots=True)
class TickReport:
    """What one tick did."""

    at: datetime
    jobs: list[str] = field(default_factory=list)
    plan: PlanStats = field(default_factory=PlanStats)
    deliveries: list[Delivery] = field(default_factory=list)
    reviews: int = 0
    notices: int = 0  # notices owed while a platform was down, posted now
    practices: int = 0  # practices of the week posted, priority lists sent
    seconds: float = 0.0

    @property
    def sent(self) -> int:
        """Return how many messages went out."""
        return sum(1 for d in self.deliveries if d.outcome == "sent")


class Scheduler:
    """The scheduler of one process: it ticks; the database holds everything that matters."""

    def __init__(
        self,
        *,
        store: Store,
        notifiers: Sequence[Notifier],
        settings: SchedulerSettings | None = None,
        clock: Callable[[], datetime] = system,
        db: Db | None = None,
        name: str | None = None,
        reviews: bool = True,
    ) -> None:
        self.store = store
        self.notifiers = list(notifiers)
        self.settings = settings or SchedulerSettings()
        self.clock = clock
        self.db = db or Db(store.engine)
        self.me = name or f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.reviews = reviews
        self.deliverer = Deliverer(
            db=self.db,
            store=store,
            notifiers=self.notifiers,
            settings=self.settings,
            clock=clock,
            me=self.me,
        )
        self._seeded = False

    @classmethod
    def dry(
        cls,
        *,
        store: Store,
        notifiers: Sequence[Notifier],
        settings: SchedulerSettings | None = None,
        clock: Callable[[], datetime] = system,
    ) -> Scheduler:
        """Return a scheduler whose every write is rolled back (close() it): a dry run."""
        settings = replace(settings or SchedulerSettings(), concurrency=1)
        return cls(
            store=store,
            notifiers=notifiers,
            settings=settings,
            clock=clock,
            db=DryDb(store.engine),
            reviews=False,
        )

    def close(self) -> None:
        """Roll back a dry run."""
        if isinstance(self.db, DryDb):
            self.db.close()

    async def aclose(self) -> None:
        """Close what the notifiers hold open (HTTP sessions), for those that have `aclose`."""
        for notifier in self.notifiers:
            closing = getattr(notifier, "aclose", None)
            if closing is not None:
                await closing()

    async def tick(self) -> TickReport:
        """Do everything that is due now."""
        started = time.perf_counter()
        now = self.clock()
        report = TickReport(at=now)
        due = await self.db.run(self._peek, now) if self._seeded else Due(True, True, True, True)
        claims: dict[str, datetime] = {}
        if due.jobs:
            claims = await self.db.run(self._claim_jobs, now)
            report.jobs = list(claims)
        for job in report.jobs:
            await self.db.run(self._run_job, job, now)
            if job != practices.JOB:
                await self.db.run(self._finish_job, job, now, claims[job])
        if practices.JOB in report.jobs:
            report.practices = await practices.run(
                db=self.db, store=self.store, notifiers=self.notifiers, now=now,
                settings=self.settings,
            )  # fmt: skip
            await self.db.run(self._finish_job, practices.JOB, now, claims[practices.JOB])
        if report.jobs:  # they may have given new people a timer that is due
            due = await self.db.run(self._peek, now)
        for _ in range(MAX_ROUNDS if due.plan else 0):  # only once a slot came: see plan_ahead
            stats = await self.db.run(self._plan, now)
            report.plan.add(stats)
            if stats.people < self.settings.plan_batch:
                break
        for _ in range(MAX_ROUNDS if due.deliver or report.plan.planned or report.jobs else 0):
            done = await self.deliverer.batch()
            if done is None:
                break
            report.deliveries += done
        if self.reviews:
            report.reviews = await self._reviews(now)
        if due.notices and not isinstance(self.db, DryDb):  # a dry run posts nothing
            report.notices = await self._notices(now)
        report.seconds = time.perf_counter() - started
        if report.plan.planned or report.deliveries or report.jobs:
            log.info(
                "scheduler: planned %s for %s people, %s messages sent, %s deliveries in %.2f s",
                report.plan.planned, report.plan.people, report.sent, len(report.deliveries),
                report.seconds,
            )  # fmt: skip
        return report

    def _peek(self, now: datetime) -> Due:
        """Return what is due, in one indexed read (a tick with nothing due stops here)."""

        def soon(kind: str) -> Any:
            return exists().where(T.kind == kind, T.next_at <= now)

        jobs = exists().where(SchedulerJob.next_at <= now)
        owed = exists().where(
            PendingNotice.delivered_at.is_(None), PendingNotice.next_attempt_at <= now
        )
        with self.db.begin() as conn:
            row = conn.execute(select(jobs, soon(DAILY), soon(DELIVER), owed)).one()
        return Due(bool(row[0]), bool(row[1]), bool(row[2]), bool(row[3]))

    def _plan(self, now: datetime) -> PlanStats:
        with self.db.begin() as conn:
            return planner.plan_batch(
                conn,
                now=now,
                settings=self.settings,
                postgres=self.db.postgres,
                limit=self.settings.plan_batch,
            )

    async def _reviews(self, now: datetime) -> int:
        """Run the AAR clock (scheduled starts, time boxes) for each platform."""
        done = 0
        for notifier in self.notifiers:
            try:
                done += len(await review_clock.tick(Deps(store=self.store, notifier=notifier), now))
            except Exception:  # reviews must never stop reminders
                log.exception("scheduler: the AAR clock failed on %s", notifier.platform)
        return done

    async def _notices(self, now: datetime) -> int:
        """Post the notices owed while a platform was down, once it answers again."""
        owed = Notices(self.store.engine, clock=self.clock)
        try:
            return await notices.deliver(owed, self.notifiers, now=now, me=self.me)
        except Exception:  # notices must never stop reminders
            log.exception("scheduler: the pending notices failed")
            return 0

    # Organisation jobs ---------------------------------------------------------------------

    def _claim_jobs(self, now: datetime) -> dict[str, datetime]:
        """Claim the organisation jobs that are due (one replica gets each), with a lease.

        A job is claimed until its lease runs out (the scheduler's lease, at most its period)
        and moved to its next period only once it is done: killed half-way, it is taken up
        again by any replica when the lease runs out, not an hour later (each job is safe to
        run again: it does only what is still missing).
        """
        with self.db.begin() as conn:
            if not self._seeded:
                rows = [{"name": name, "next_at": now} for name in JOBS]
                conn.execute(insert_ignoring(SchedulerJob.__table__, self.db.postgres), rows)
                self._seeded = True
            due = conn.execute(
                select(SchedulerJob.name).where(SchedulerJob.next_at <= now)
            ).scalars()
            claimed: dict[str, datetime] = {}
            for name in list(due):
                if name not in JOBS:
                    continue
                until = now + min(self.settings.lease, JOBS[name])
                moved = conn.execute(
                    update(SchedulerJob)
                    .where(SchedulerJob.name == name, SchedulerJob.next_at <= now)
                    .values(next_at=until)
                )
                if moved.rowcount:
                    claimed[name] = until
            return claimed

    def _finish_job(self, name: str, now: datetime, until: datetime) -> None:
        """A job is done: its next run is a period away (unless another replica took it over)."""
        with self.db.begin() as conn:
            conn.execute(
                update(SchedulerJob)
                .where(SchedulerJob.name == name, SchedulerJob.next_at == until)
                .values(next_at=now + JOBS[name])
            )

    def _run_job(self, job: str, now: datetime) -> None:
        pg = self.db.postgres
        if job == "sync":
            while self._seed_timers(now) >= self.settings.plan_batch:
                pass
            with self.db.begin() as conn:
                _repair_deliver_timers(conn, pg)
        elif job == "followups":
            with self.db.begin() as conn:
                planner.plan_followups(conn, now=now, cadence=self.settings.cadence, postgres=pg)
        elif job == "prune":
            before = now - timedelta(days=self.settings.keep_days)
            while True:
                with self.db.begin() as conn:
                    if ledger.prune(conn, before=before, postgres=pg) == 0:
                        break

    def _seed_timers(self, now: datetime) -> int:
        """Give people without one a daily timer: their current slot if fresh, else the next."""
        pref = ReminderPreference
        with self.db.begin() as conn:
            rows = conn.execute(
                select(
                    Person.id.label("person_id"), Person.timezone, pref.delivery, pref.digest_at,
                    pref.muted, pref.snoozed_until, pref.away_from, pref.away_until,
                    pref.work_hours, pref.work_days,
                )
                .outerjoin(pref, pref.person_id == Person.id)
                .where(~exists().where(T.person_id == Person.id, T.kind == DAILY))
                .order_by(Person.id)
                .limit(self.settings.plan_batch)
            ).all()  # fmt: skip
            values = [
                {"person_id": r.person_id, "kind": DAILY, "next_at": self._first_slot(r, now)}
                for r in rows
            ]
            # In slot order: the timers of people planned together then share pages, so moving
            # a zone's timers rewrites a few pages, not every page of the table (SQLite).
            values.sort(key=lambda v: (v["next_at"], v["person_id"]))
            if values:
                conn.execute(insert_ignoring(T.__table__, self.db.postgres), values)
            return len(rows)

    def _first_slot(self, row: object, now: datetime) -> datetime:
        schedule = Prefs.of(row).schedule(getattr(row, "timezone", None), self.settings)
        slot = schedule.latest_slot(now)
        if slot is not None and now - slot <= self.settings.stale_after:
            return slot
        return schedule.next_slot(now)


def _repair_deliver_timers(conn: Connection, postgres: bool) -> None:
    """Wake anyone with pending notifications but no deliver timer (a lost race, a crash)."""
    n = Notification
    orphans = (
        select(n.recipient_id, literal(DELIVER), func.min(n.next_attempt_at))
        .where(
            pending(),
            ~exists().where(T.person_id == n.recipient_id, T.kind == DELIVER),
        )
        .group_by(n.recipient_id)
        .order_by(n.recipient_id)
    )
    conn.execute(
        insert_ignoring(T.__table__, postgres).from_select(
            ["person_id", "kind", "next_at"], orphans
        )
    )
