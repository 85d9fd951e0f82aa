"""Finding 7 of issue 21: each reminder re-reads the actions it names right before it is sent.

A batch's facts are read once; paced at the platform's rate, its last message goes out
seconds later. An action closed in the meantime must not be nudged.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, timedelta

from scheduler_world import Recorder, add_action, add_lesson, add_person, at_local, ledger
from sqlalchemy import update

from handlers.chat import Reply, UserRef
from knowledge.models import Action, ActionStatus
from knowledge.storage import Store
from scheduler.clock import ManualClock, RunningClock
from scheduler.config import SchedulerSettings
from scheduler.jobs import Scheduler

WED = date(2026, 11, 25)


@dataclass
class Closing(Recorder):
    """Sends; on the first send, the other person closes their action (as they would in chat)."""

    store: Store | None = None
    actions: dict[str, int] = field(default_factory=dict)  # email → their action

    async def send(self, to: UserRef, reply: Reply) -> str | None:
        ref = await super().send(to, reply)
        if len(self.sent) == 1 and self.store is not None:
            other = next(a for email, a in self.actions.items() if email != to.user_id)
            with self.store.session() as s:
                s.execute(update(Action).where(Action.id == other).values(status=ActionStatus.DONE))
        return ref


async def test_an_action_closed_while_its_batch_is_paced_is_not_nudged(store: Store) -> None:
    lesson = add_lesson(store)
    rec = Closing(store=store)
    for name, what in (("Amina Diallo", "Brief the drivers"), ("Tomas Herrera", "Fuel the trucks")):
        person = add_person(store, name)
        action = add_action(store, lesson, person, WED - timedelta(days=1), description=what)
        rec.actions[f"{name.split()[0].lower()}@example.org"] = action
    settings = SchedulerSettings(platform_rate=4.0)  # 0.25 s between two messages
    s = Scheduler(
        store=store,
        notifiers=[rec],
        settings=settings,
        clock=ManualClock(at_local(WED, 9, 5)),
        reviews=False,
    )
    try:
        await s.tick()
    finally:
        await s.aclose()
    assert len(rec.sent) == 1  # the second person's action was done before their turn came
    nudges = {n.status.value: n for n in ledger(store, "nudge")}
    assert "sent" in nudges and "skipped" in nudges
    assert "done" in (nudges["skipped"].last_error or "")


@dataclass
class Slow(Recorder):
    """A platform whose answers take `seconds` (429s with Retry-After, a slow proxy)."""

    seconds: float = 0.0

    async def send(self, to: UserRef, reply: Reply) -> str | None:
        await asyncio.sleep(self.seconds)
        return await super().send(to, reply)


async def test_a_send_slower_than_the_lease_is_not_sent_again_by_another_replica(
    store: Store,
) -> None:
    """Finding 1: the lease is renewed while the send is in flight."""
    amina = add_person(store, "Amina Diallo")
    add_action(store, add_lesson(store), amina, WED - timedelta(days=1))
    settings = SchedulerSettings(lease=timedelta(seconds=1), platform_rate=0)
    clock = RunningClock(at_local(WED, 9, 5))
    slow, quick = Slow(seconds=2.5), Recorder()
    first = Scheduler(store=store, notifiers=[slow], settings=settings, clock=clock, reviews=False)
    second = Scheduler(
        store=store, notifiers=[quick], settings=settings, clock=clock, reviews=False
    )
    try:
        sending = asyncio.create_task(first.tick())
        for _ in range(4):  # the other replica ticks while the slow send is on its way
            await asyncio.sleep(0.5)
            await second.tick()
        await sending
    finally:
        await first.aclose()
        await second.aclose()
    assert len(slow.sent) + len(quick.sent) == 1  # one message, not one per replica


async def test_an_organisation_job_cut_short_is_taken_up_after_its_lease(store: Store) -> None:
    """Finding 6: a replica killed after claiming `sync` leaves it to another within the lease."""
    settings = SchedulerSettings(lease=timedelta(minutes=5))
    start = at_local(WED, 9, 5)
    killed = Scheduler(
        store=store, notifiers=[Recorder()], settings=settings, clock=ManualClock(start),
        reviews=False,
    )  # fmt: skip
    await killed.tick()  # seeds and runs every job once
    later = start + timedelta(hours=1, minutes=1)
    claimed = await killed.db.run(killed._claim_jobs, later)  # claims them, then is killed
    assert "sync" in claimed
    killed.close()
    amina = add_person(store, "Amina Diallo")  # a newcomer the lost sync never gave a timer
    add_action(store, add_lesson(store), amina, WED - timedelta(days=1))
    clock = ManualClock(later + timedelta(minutes=6))  # past the lease, long before the hour
    other = Scheduler(
        store=store, notifiers=[Recorder()], settings=settings, clock=clock, reviews=False
    )
    try:
        report = await other.tick()
    finally:
        await other.aclose()
    assert "sync" in report.jobs
