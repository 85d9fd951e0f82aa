"""PostgreSQL going away during an AAR and during a scheduler run, through a proxy we can cut.

The shared server is never restarted (other test runs use it); the bot reaches it through
pg_proxy.PgProxy, and cutting the proxy is, for the bot, the server restarting: every pooled
connection dies and new ones fail until it is back. Nothing the users sent may be lost without
them being told, and no nudge may go out twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import _fakes  # noqa: F401
import pytest
from big_import import big_file
from conftest import demo_records, private_schema, schema_url
from pg_proxy import PgProxy
from scheduler_world import Recorder, add_action, add_lesson, add_person, at_local, ledger
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from handlers.chat import Command, ConversationRef, Message, Reply, Text, UserRef
from handlers.deps import Deps
from handlers.router import NOT_SAVED, dispatch
from handlers.router import posted as router_posted
from knowledge.database import make_engine, upgrade
from knowledge.errors import database_trouble
from knowledge.importers import open_source
from knowledge.models import Lesson, NotificationStatus, Product, ReviewAnswer
from knowledge.storage import Store
from scheduler.clock import ManualClock
from scheduler.config import SchedulerSettings
from scheduler.jobs import Scheduler

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WED = date(2026, 11, 25)
AMINA = UserRef("local", "amina.diallo@un.example", "Amina Diallo")
TOMAS = UserRef("local", "tomas.herrera@un.example", "Tomás Herrera")
CHANNEL = ConversationRef("local", "elections", channel_name="elections")


@pytest.fixture
def proxied() -> Iterator[tuple[Store, PgProxy]]:
    """A migrated private schema, and a Store that reaches it only through a proxy."""
    with private_schema("lessons_cut") as schema:
        engine = make_engine(schema_url(schema))
        upgrade(engine)
        engine.dispose()
        proxy = PgProxy(schema_url(schema))
        store = Store.open(proxy.url(schema_url(schema)), clock=lambda: NOW)
        try:
            yield store, proxy
        finally:
            proxy.close()
            store.close()


def text_of(reply: Reply | None) -> str:
    assert reply is not None
    return "\n".join(e.markdown for e in reply.elements if isinstance(e, Text))


def saved(store: Store) -> list[str]:
    with store.session() as s:
        return list(s.scalars(select(ReviewAnswer.text).order_by(ReviewAnswer.id)))


async def test_an_aar_answer_is_saved_or_the_user_is_told_it_was_not(
    proxied: tuple[Store, PgProxy],
) -> None:
    store, proxy = proxied
    await store.import_records(demo_records(store.today()), source="demo")
    deps = Deps(store=store)
    opening = await dispatch(Command(AMINA, CHANNEL, "aar", "start Polling day"), deps)
    assert opening is not None and opening.anchor is not None
    thread = ConversationRef("local", CHANNEL.channel_id, "m-root", CHANNEL.channel_name)
    await router_posted(opening.anchor, thread, deps)

    def say(text: str, message_id: str) -> Message:
        return Message(TOMAS, thread, text, direct=False, message_id=message_id)

    assert await dispatch(say("Kits reached 38 of 40 stations.", "m1"), deps) is None
    proxy.cut()  # the server restarts while the review runs
    refused = await dispatch(say("Two stations had no ballots.", "m2"), deps)
    assert refused is not None and refused.private
    assert text_of(refused) == NOT_SAVED["unreachable"]  # told plainly: not saved, send again
    assert "Traceback" not in text_of(refused)
    proxy.restore()
    # The pool's dead connections are noticed on checkout (pre-ping): the next answer just works.
    assert await dispatch(say("Two stations had no ballots.", "m3"), deps) is None
    assert saved(store) == ["Kits reached 38 of 40 stations.", "Two stations had no ballots."]
    assert proxy.refused > 0  # the outage was real: connections were turned away


async def test_an_aar_answer_cut_off_mid_transaction_is_not_saved_and_says_so(
    proxied: tuple[Store, PgProxy],
) -> None:
    store, proxy = proxied
    await store.import_records(demo_records(store.today()), source="demo")
    deps = Deps(store=store)
    opening = await dispatch(Command(AMINA, CHANNEL, "aar", "start Convoy week"), deps)
    assert opening is not None and opening.anchor is not None
    thread = ConversationRef("local", CHANNEL.channel_id, "m-root", CHANNEL.channel_name)
    await router_posted(opening.anchor, thread, deps)

    def cut_at_the_insert(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().startswith("INSERT INTO review_answers"):
            proxy.cut()  # the server goes away while the answer's transaction is open

    event.listen(store.engine, "before_cursor_execute", cut_at_the_insert)
    try:
        reply = await dispatch(
            Message(TOMAS, thread, "The fuel ran out.", direct=False, message_id="m1"), deps
        )
    finally:
        event.remove(store.engine, "before_cursor_execute", cut_at_the_insert)
    assert text_of(reply) == NOT_SAVED["unreachable"]  # not "nothing you sent was lost"
    proxy.restore()
    again = Message(TOMAS, thread, "The fuel ran out.", direct=False, message_id="m2")
    assert await dispatch(again, deps) is None
    assert saved(store) == ["The fuel ran out."]


class CutAfterSend(Recorder):
    """Delivers the first message, then the database goes away before it can be marked sent."""

    def __init__(self, proxy: PgProxy) -> None:
        super().__init__()
        self.proxy = proxy

    async def send(self, to: UserRef, reply: Reply) -> str | None:
        ref = await super().send(to, reply)
        if len(self.sent) == 1:
            self.proxy.cut()
        return ref


async def test_a_scheduler_run_cut_short_sends_no_nudge_twice(
    proxied: tuple[Store, PgProxy],
) -> None:
    store, proxy = proxied
    lesson = add_lesson(store)
    people = [add_person(store, f"Owner{n} Example", email=f"o{n}@example.org") for n in range(3)]
    for person in people:
        add_action(store, lesson, person, WED - timedelta(days=1))
    rec = CutAfterSend(proxy)
    clock = ManualClock(at_local(WED, 9, 5))
    settings = SchedulerSettings()
    s = Scheduler(store=store, notifiers=[rec], settings=settings, clock=clock, reviews=False)
    try:
        with pytest.raises(Exception) as cut_short:
            await s.tick()  # the run dies with the connection, after one nudge went out
        assert "OperationalError" in type(cut_short.value).__name__
        proxy.restore()
        clock.set(clock() + settings.lease + timedelta(minutes=1))  # the lease has run out
        await s.tick()
        clock.set(clock() + timedelta(hours=2))  # past any backoff
        await s.tick()
    finally:
        await s.aclose()
    nudged = sorted(sent.to.user_id for sent in rec.sent)
    assert nudged == sorted(f"o{n}@example.org" for n in range(3))  # each once, none lost
    rows = ledger(store, "nudge")
    assert len(rows) == 3 and {r.status for r in rows} == {NotificationStatus.SENT}
    assert rec.finds  # the one whose outcome was unknown was looked for, not posted again


async def test_an_import_cut_short_leaves_nothing_and_runs_again(
    proxied: tuple[Store, PgProxy], tmp_path: Path
) -> None:
    store, proxy = proxied
    source = open_source(big_file(tmp_path / "big.jsonl", 2_500))

    def cut_after_the_first_batch(done: int, step: str = "") -> None:
        if done >= 1_000:
            proxy.cut()  # the server goes away half-way through the one transaction

    with pytest.raises(OperationalError) as cut_short:
        await store.import_records(
            source.records(today=store.today()), source="big", progress=cut_after_the_first_batch
        )
    assert database_trouble(cut_short.value) == "unreachable"  # not masked by the rollback
    proxy.restore()
    assert counts(store) == (0, 0)  # all-or-nothing: nothing of it was kept
    stats = await store.import_records(source.records(today=store.today()), source="big")
    assert stats.created == 2_500 and counts(store) == (2_500, 5_000)


def counts(store: Store) -> tuple[int, int]:
    with store.session() as s:
        products = s.scalar(select(func.count()).select_from(Product)) or 0
        lessons = s.scalar(select(func.count()).select_from(Lesson)) or 0
        return products, lessons
