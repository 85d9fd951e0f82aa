"""The deliverer: claimed notifications → one message per recipient, marked sent once confirmed.

For each claimed recipient, in their own time zone: outside working hours, on leave or snoozed,
everything waits; stale, muted or no longer due notifications are dropped (the plan is checked
again now: a done, cancelled or handed-over action gets no reminder). The rest becomes one
message, sent through the first platform that reaches the person (their id, else a lookup by
email). When an earlier attempt's outcome was unknown, its message is looked for first.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete

from handlers import reach
from handlers.chat import Notifier, UserRef
from handlers.deps import Deps
from knowledge import access
from knowledge.models import DeliveryMode, UnreachablePerson
from knowledge.storage import Store
from knowledge.views import ActionView
from scheduler import ledger
from scheduler.config import SchedulerSettings
from scheduler.digests import mission_week, team_week
from scheduler.facts import Facts, Recipient, load, recheck, still_due
from scheduler.kinds import ACTION_KINDS, Kind
from scheduler.ledger import Claim, Item
from scheduler.messages import Bundle, reminder_reply
from scheduler.pace import Pace
from scheduler.slots import Schedule
from scheduler.sql import Db, one_of, upsert

log = logging.getLogger(__name__)
RECHECK_UNREACHABLE = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Delivery:
    """What became of one recipient's notifications in a run (logs, tests, `run-once`)."""

    person_id: int
    name: str
    outcome: str  # sent, found, failed, deferred, skipped, unreachable, released
    kinds: tuple[str, ...] = ()
    platform: str | None = None
    text: str = ""
    detail: str = ""


@dataclass(slots=True)
class Outcome:
    """What to record for one claimed recipient (written for a whole batch at once)."""

    claim: Claim
    sent: list[tuple[int, str, str | None]] = field(default_factory=list)  # id, platform, ref
    failed: list[tuple[int, str, datetime]] = field(default_factory=list)  # id, error, retry at
    deferred: list[tuple[int, datetime]] = field(default_factory=list)
    dropped: list[tuple[Item, str]] = field(default_factory=list)
    unreachable: bool = False
    keep: bool = False  # our lease ran out: leave the claim to expire
    nudged: list[int] = field(default_factory=list)  # actions nudged (for the unanswered count)

    def defer(self, items: Sequence[tuple[Item, datetime]]) -> None:
        """Put items back until their time."""
        self.deferred += [(i.id, at) for i, at in items]

    def send(self, items: Sequence[Item], platform: str, ref: str | None) -> None:
        """Record items delivered in one message."""
        self.sent += [(i.id, platform, ref) for i in items]
        self.nudged += [i.subject_id for i in items if i.kind == Kind.NUDGE]


class Deliverer:
    """Claims due recipients and delivers to each, a batch at a time."""

    def __init__(
        self,
        *,
        db: Db,
        store: Store,
        notifiers: Sequence[Notifier],
        settings: SchedulerSettings,
        clock: Callable[[], datetime],
        me: str,
        pace: Pace | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.notifiers = list(notifiers)
        self.settings = settings
        self.clock = clock
        self.me = me
        self.pace = pace or Pace(settings.platform_rate)
        self._slots = asyncio.Semaphore(settings.concurrency)

    async def batch(self) -> list[Delivery] | None:
        """Claim and deliver one batch; None when nobody was due."""
        now = self.clock()
        claims = await self.db.run(self._claim, now)
        if not claims:
            return None
        facts = await self.db.run(self._facts, claims)
        outcomes = [Outcome(c) for c in claims]
        try:
            done = await asyncio.gather(*(self._guarded(o, facts) for o in outcomes))
        finally:  # what was sent is recorded even if the batch is interrupted
            await self.db.run(self._write, outcomes)
        return [d for d in done if d is not None]

    def _claim(self, now: datetime) -> list[Claim]:
        with self.db.begin() as conn:
            return ledger.claim(
                conn,
                now=now,
                me=self.me,
                lease=self.settings.lease,
                limit=self.settings.deliver_batch,
                postgres=self.db.postgres,
            )

    def _facts(self, claims: list[Claim]) -> Facts:
        with self.db.begin() as conn:
            return load(conn, claims, postgres=self.db.postgres)

    async def _guarded(self, o: Outcome, facts: Facts) -> Delivery | None:
        async with self._slots:
            try:
                return await self._deliver(o, facts)
            except Exception:  # one recipient's trouble never stops the others
                log.exception("scheduler: delivery to person %s failed", o.claim.person_id)
                retry_at = self.clock() + backoff(1, None)
                done = {i for i, _, _ in o.sent}
                o.failed = [
                    (i.id, "internal error", retry_at) for i in o.claim.items if i.id not in done
                ]
                return Delivery(o.claim.person_id, "", "failed", detail="internal error")

    async def _deliver(self, o: Outcome, facts: Facts) -> Delivery | None:
        now, claim = self.clock(), o.claim
        recipient = facts.people.get(claim.person_id)
        if recipient is None or not claim.items:
            o.dropped = [(i, "the person is gone") for i in claim.items]
            return None
        name = recipient.member.name
        schedule = recipient.prefs.schedule(recipient.member.timezone, self.settings)
        wait = self._wait_until(recipient, schedule, now)
        if wait is not None:
            o.defer([(i, wait) for i in claim.items])
            kinds = tuple(sorted({str(i.kind) for i in claim.items}))
            return Delivery(
                claim.person_id, name, "deferred", kinds, detail=f"until {wait:%Y-%m-%d %H:%M}Z"
            )
        later, o.dropped, live = self._sort(claim.items, recipient, schedule, facts, now)
        o.defer(later)
        if not live:
            return Delivery(claim.person_id, name, "skipped", detail=_reasons(o.dropped))
        return await self._send(o, recipient, facts, live)

    def _wait_until(self, r: Recipient, schedule: Schedule, now: datetime) -> datetime | None:
        """Return when to try again, or None when the person may be reached now."""
        prefs = r.prefs
        moment = now
        if prefs.paused_at(moment) and prefs.snoozed_until is not None:
            moment = prefs.snoozed_until
        for _ in range(3):  # leave, then the next working hours after it
            day = schedule.today(moment)
            if prefs.away_on(day) and prefs.away_until is not None:
                moment = schedule.slot_on(prefs.away_until + timedelta(days=1))
            moment = schedule.opening(moment)
            if not prefs.away_on(schedule.today(moment)):
                break
        return None if moment == now else moment

    def _sort(
        self,
        items: Sequence[Item],
        r: Recipient,
        schedule: Schedule,
        facts: Facts,
        now: datetime,
    ) -> tuple[list[tuple[Item, datetime]], list[tuple[Item, str]], list[Item]]:
        """Split items into those that wait, those dropped (with why) and those to send now."""
        later: list[tuple[Item, datetime]] = []
        dropped: list[tuple[Item, str]] = []
        live: list[Item] = []
        daily = r.prefs.delivery == DeliveryMode.DAILY
        for item in items:
            if item.slot_at is not None and now - item.slot_at > self.settings.stale_after:
                dropped.append((item, "stale: its slot passed more than the stale limit ago"))
            elif r.prefs.muted and not item.kind.essential:
                dropped.append((item, "muted"))
            elif (reason := still_due(item, facts, now)) is not None:
                dropped.append((item, reason))
            elif daily and item.slot_at is None:
                later.append((item, schedule.next_slot(now)))  # into tomorrow's one message
            else:
                live.append(item)
        return later, dropped, live

    async def _send(self, o: Outcome, r: Recipient, facts: Facts, live: list[Item]) -> Delivery:
        claim, name = o.claim, r.member.name
        reached = await self._reach(r, facts)
        if reached is None:
            o.dropped += [(i, "unreachable on every platform") for i in live]
            o.unreachable = True
            return Delivery(claim.person_id, name, "unreachable", detail="no platform knows them")
        notifier, to = reached
        live, found = await self._found(o, notifier, to, live)
        if not live:
            return Delivery(
                claim.person_id, name, "found", platform=notifier.platform, detail=found
            )
        if any(i.delivery != claim.key for i in live):
            await self.db.run(self._rekey, claim, live)  # before sending: a crash must find it
        bundle = await self._bundle(live, r, facts)
        kinds = tuple(sorted({str(i.kind) for i in live}))
        if bundle.empty:
            o.dropped += [(i, "nothing to report") for i in live]
            return Delivery(claim.person_id, name, "skipped", kinds, detail="nothing to report")
        if self.clock() > claim.lease_until - self._margin():
            log.warning("scheduler: lease of person %s ran out before sending", claim.person_id)
            o.keep = True
            return Delivery(claim.person_id, name, "released", kinds, detail="lease ran out")
        hold = _Hold(self, claim.person_id)
        try:
            return await self._paced_send(o, r, notifier, to, live, bundle, kinds, facts, hold)
        finally:
            await hold.stop()

    async def _paced_send(
        self,
        o: Outcome,
        r: Recipient,
        notifier: Notifier,
        to: UserRef,
        live: list[Item],
        bundle: Bundle,
        kinds: tuple[str, ...],
        facts: Facts,
        hold: _Hold,
    ) -> Delivery:
        """Wait for the platform's pace, check what the message names, and send it."""
        claim, name = o.claim, r.member.name
        await self.pace.wait(notifier.platform)
        if hold.lost:
            log.warning("scheduler: person %s was claimed elsewhere while waiting", claim.person_id)
            o.keep = True
            return Delivery(claim.person_id, name, "released", kinds, detail="lease lost")
        # The facts were read for the whole batch; what this message names is read again now.
        named = sorted({i.subject_id for i in live if i.kind in ACTION_KINDS})
        if named:
            await self.db.run(self._recheck, named, facts)
            now = self.clock()
            gone = [(i, why) for i in live if (why := still_due(i, facts, now)) is not None]
            if gone:
                o.dropped += gone
                dropped = {i.id for i, _ in gone}
                live = [i for i in live if i.id not in dropped]
                if not live:
                    return Delivery(claim.person_id, name, "skipped", kinds, detail=_reasons(gone))
                bundle = await self._bundle(live, r, facts)
                kinds = tuple(sorted({str(i.kind) for i in live}))
        today = r.prefs.schedule(r.member.timezone, self.settings).today(self.clock())
        reply = reminder_reply(bundle, today=today, key=claim.key)
        try:
            ref = await notifier.send(to, reply)
        except Exception as exc:
            if getattr(exc, "unreachable", False):  # the platform refuses to reach them (Teams)
                o.dropped += [(i, "unreachable on every platform") for i in live]
                o.unreachable = True
                return Delivery(claim.person_id, name, "unreachable", kinds, detail=str(exc))
            self._failed(o, live, exc, notifier)
            return Delivery(claim.person_id, name, "failed", kinds, notifier.platform, repr(exc))
        o.send(live, notifier.platform, ref)
        return Delivery(claim.person_id, name, "sent", kinds, notifier.platform, reply.fallback)

    async def _reach(self, r: Recipient, facts: Facts) -> tuple[Notifier, UserRef] | None:
        """Return the first platform that knows this person: by id, else by email lookup."""
        member = r.member
        for notifier in self.notifiers:
            user_id = member.user_id(notifier.platform)
            if user_id:
                return notifier, UserRef(notifier.platform, user_id, member.name)
        checked = facts.checked.get(member.id)
        if checked is not None and self.clock() - checked < RECHECK_UNREACHABLE:
            return None  # looked up lately and not found: spare the platform's rate limit
        for notifier in self.notifiers:
            to = await reach.user_for(member, Deps(self.store, notifier, self.settings.handlers))
            if to is not None:
                return notifier, to
        return None

    async def _found(
        self, o: Outcome, notifier: Notifier, to: UserRef, live: list[Item]
    ) -> tuple[list[Item], str]:
        """Look for the messages of earlier attempts; what they carried was sent."""
        found = []
        for key in sorted({i.delivery for i in live} - {o.claim.key}):
            ref = await notifier.find(to, key)
            if ref is None:
                continue
            o.send([i for i in live if i.delivery == key], notifier.platform, ref)
            live = [i for i in live if i.delivery != key]
            found.append(ref)
        return live, f"already delivered as {', '.join(found)}" if found else ""

    async def _bundle(self, live: list[Item], r: Recipient, facts: Facts) -> Bundle:
        bundle = Bundle(name=r.member.name)
        now = self.clock()
        for item in live:
            match item.kind:
                case Kind.NUDGE:
                    bundle.nudges.append(facts.actions[item.subject_id])
                case Kind.DUE_SOON:
                    bundle.due_soon.append(facts.actions[item.subject_id])
                case Kind.ESCALATE:
                    bundle.escalations.append(facts.actions[item.subject_id])
                case Kind.DEPARTURE:
                    bundle.departure = facts.open_actions.get(item.subject_id, [])
                    bundle.departure_end = r.assignment_end
                    manager = facts.people.get(r.member.manager_id or -1)
                    bundle.manager = manager.member.name if manager else None
                case Kind.EOAR:
                    end, _, after = item.period.partition("@")
                    bundle.eoar.append((datetime.fromisoformat(end).date(), int(after)))
                case Kind.FOLLOWUP:
                    bundle.followups.append((item.subject_id, facts.lessons[item.subject_id][0]))
                case Kind.DIGEST:
                    bundle.team = await team_week(self.db, self.store, r.member.id, now=now)
                case Kind.PBPO:
                    bundle.mission = await mission_week(self.db, self.store, r.member.id, now=now)
        bundle.nudges.sort(key=lambda a: (a.due_date is None, a.due_date, a.id))
        bundle.due_soon.sort(key=lambda a: (a.due_date is None, a.due_date, a.id))
        return await self._as_seen_by(bundle, r.member.id)

    async def _as_seen_by(self, bundle: Bundle, person_id: int) -> Bundle:
        """Show the recipient only what they may see (`knowledge.access`): a lesson they may
        not read is "a restricted lesson (ask its PBPO)", someone else's action on it too."""
        actions = [*bundle.nudges, *bundle.due_soon, *bundle.escalations, *bundle.departure]
        lessons = {a.lesson_id for a in actions} | {lesson for lesson, _ in bundle.followups}
        if not lessons:
            return bundle
        viewer = await self.store.viewer_for(person_id)
        seen = await self.store.visible_lessons(viewer, lessons)

        def shown(found: list[ActionView]) -> list[ActionView]:
            return [
                access.action_for(a, visible=a.lesson_id in seen, own=a.owner_id == person_id)
                for a in found
            ]

        bundle.nudges, bundle.due_soon = shown(bundle.nudges), shown(bundle.due_soon)
        bundle.escalations, bundle.departure = shown(bundle.escalations), shown(bundle.departure)
        bundle.followups = [
            (lesson, access.shown_title(title, visible=lesson in seen))
            for lesson, title in bundle.followups
        ]
        return bundle

    def _failed(self, o: Outcome, live: list[Item], exc: Exception, notifier: Notifier) -> None:
        """Record a failed send: retried with backoff, its delivery key kept for `find`."""
        attempts = max((i.attempts for i in live), default=0) + 1
        retry_after = retry_after_of(exc)
        if retry_after:
            self.pace.hold(notifier.platform, retry_after)
        log.warning(
            "scheduler: send to person %s on %s failed (attempt %s): %r",
            o.claim.person_id, notifier.platform, attempts, exc,
        )  # fmt: skip
        retry_at = self.clock() + backoff(attempts, retry_after)
        error = f"{type(exc).__name__}: {exc}"
        o.failed = [(i.id, error, retry_at) for i in live]

    # Writes (worker threads) ------------------------------------------------------------------

    def _write(self, outcomes: list[Outcome]) -> None:
        """Record a batch's outcomes and hand back its timers, in one transaction."""
        now, pg, me = self.clock(), self.db.postgres, self.me
        with self.db.begin() as conn:
            ledger.mark_sent(conn, [s for o in outcomes for s in o.sent], now=now)
            nudged = [a for o in outcomes for a in o.nudged]
            ledger.count_nudges(conn, nudged, now=now, postgres=pg)
            ledger.mark_failed(conn, [f for o in outcomes for f in o.failed], me=me, now=now)
            ledger.defer(conn, [d for o in outcomes for d in o.deferred], me=me, now=now)
            by_reason: dict[str, list[int]] = {}
            for item, reason in (d for o in outcomes for d in o.dropped):
                by_reason.setdefault(reason, []).append(item.id)
            for reason, ids in sorted(by_reason.items()):
                ledger.mark_skipped(conn, ids, me=me, reason=reason, now=now, postgres=pg)
            reached = sorted({o.claim.person_id for o in outcomes if o.sent})
            if reached:
                gone = one_of(UnreachablePerson.person_id, reached, pg)
                conn.execute(delete(UnreachablePerson).where(gone))
            for o in sorted(outcomes, key=lambda o: o.claim.person_id):
                if o.unreachable:
                    self._unreachable(conn, o.claim.person_id, now)
            people = [o.claim.person_id for o in outcomes if not o.keep]
            ledger.release(conn, people, me=me, postgres=pg)

    def _unreachable(self, conn: Connection, person_id: int, now: datetime) -> None:
        names = ",".join(n.platform for n in self.notifiers)[:100]
        statement = upsert(UnreachablePerson.__table__, self.db.postgres).values(
            person_id=person_id, since=now, checked_at=now, platforms=names
        )
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=["person_id"], set_={"checked_at": now, "platforms": names}
            )
        )

    def _recheck(self, ids: list[int], facts: Facts) -> None:
        with self.db.begin() as conn:
            recheck(conn, facts, ids, postgres=self.db.postgres)

    def _rekey(self, claim: Claim, live: list[Item]) -> None:
        with self.db.begin() as conn:
            ledger.rekey(
                conn, [i.id for i in live], me=self.me, key=claim.key, postgres=self.db.postgres
            )

    def _margin(self) -> timedelta:
        return min(timedelta(seconds=30), self.settings.lease / 4)


class _Hold:
    """Renews a claim's lease while its message waits for the pace and is sent (finding 1)."""

    def __init__(self, deliverer: Deliverer, person_id: int) -> None:
        self.deliverer = deliverer
        self.person_id = person_id
        self.lost = False
        lease = deliverer.settings.lease.total_seconds()
        self.every = max(0.2, min(lease / 3, 30.0))
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        d = self.deliverer
        while True:
            await asyncio.sleep(self.every)
            try:
                held = await d.db.run(self._renew)
            except Exception:  # the database is away: the next turn tries again
                log.warning("scheduler: could not renew the lease of %s", self.person_id)
                continue
            if not held:
                self.lost = True
                return

    def _renew(self) -> bool:
        d = self.deliverer
        with d.db.begin() as conn:
            until = d.clock() + d.settings.lease
            return ledger.renew(conn, self.person_id, me=d.me, until=until)

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def backoff(attempts: int, retry_after: float | None) -> timedelta:
    """Return how long to wait after a failed attempt: 1, 2, 4 … minutes, at most an hour."""
    seconds = min(3600.0, 60.0 * 2 ** max(0, attempts - 1)) * random.uniform(0.9, 1.1)
    return timedelta(seconds=max(seconds, retry_after or 0.0))


def retry_after_of(exc: Exception) -> float | None:
    """Return the Retry-After a platform error carries (a neutral attribute), if any."""
    value = getattr(exc, "retry_after", None)
    return float(value) if isinstance(value, int | float) and value > 0 else None


def _reasons(dropped: list[tuple[Item, str]]) -> str:
    return "; ".join(sorted({reason for _, reason in dropped}))
