"""PostgreSQL pool exhaustion: more requests than connections wait their turn, and one that
waited out the pool's timeout is told plainly that it was not saved, never a stack trace."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from conftest import NOW, demo_records, private_schema, schema_url
from sqlalchemy import select

from handlers.chat import Command, ConversationRef, Message, Reply, Text, UserRef
from handlers.deps import Deps
from handlers.router import NOT_SAVED, dispatch, posted
from knowledge.database import make_engine, upgrade
from knowledge.models import Question, ReviewAnswer
from knowledge.storage import Store

pytestmark = pytest.mark.postgres

AMINA = UserRef("local", "amina.diallo@un.example", "Amina Diallo")
TOMAS = UserRef("local", "tomas.herrera@un.example", "Tomás Herrera")
CHANNEL = ConversationRef("local", "elections", channel_name="elections")
TOPICS = ("elections", "logistics", "mediation", "gender", "early warning", "convoys")


@pytest.fixture
def small_pool(request: pytest.FixtureRequest) -> Iterator[Store]:
    """The demo corpus behind a pool of two connections that waits at most 0.5 s for one (or
    the time a test marks with ``pool_timeout``: a queue of 24 questions on a loaded machine
    can wait longer than 0.5 s in all, and that wait is the behaviour under test)."""
    mark = request.node.get_closest_marker("pool_timeout")
    timeout = mark.args[0] if mark else 0.5
    with private_schema("lessons_pool") as schema:
        engine = make_engine(schema_url(schema))
        upgrade(engine)
        engine.dispose()
        store = Store(
            make_engine(schema_url(schema), pool_size=2, max_overflow=0, pool_timeout=timeout),
            clock=lambda: NOW,
        )
        asyncio.run(store.import_records(demo_records(store.today()), source="demo"))
        yield store
        store.close()


def text_of(reply: Reply | None) -> str:
    assert reply is not None
    return "\n".join(e.markdown for e in reply.elements if isinstance(e, Text))


@pytest.mark.pool_timeout(60)
async def test_more_questions_than_connections_wait_their_turn(small_pool: Store) -> None:
    deps = Deps(store=small_pool)
    questions = [
        Message(AMINA, CHANNEL, f"what did we learn about {TOPICS[n % 6]} {n}?", direct=True)
        for n in range(24)
    ]
    replies = await asyncio.gather(*(dispatch(q, deps) for q in questions))
    for reply in replies:
        assert "not* saved" not in text_of(reply) and "went wrong" not in text_of(reply)
    with small_pool.session() as s:
        assert len(s.scalars(select(Question)).all()) == 24  # every question logged


async def test_an_answer_that_finds_no_connection_is_told_it_was_not_saved(
    small_pool: Store,
) -> None:
    deps = Deps(store=small_pool)
    opening = await dispatch(Command(AMINA, CHANNEL, "aar", "start Convoy week"), deps)
    assert opening is not None and opening.anchor is not None
    thread = ConversationRef("local", CHANNEL.channel_id, "m-root", CHANNEL.channel_name)
    await posted(opening.anchor, thread, deps)
    held = [small_pool.engine.connect() for _ in range(2)]  # e.g. two slow reports
    try:
        reply = await dispatch(Message(TOMAS, thread, "Fuel ran out.", direct=False), deps)
    finally:
        for connection in held:
            connection.close()
    assert reply is not None and reply.private
    assert text_of(reply) == NOT_SAVED["busy"]
    assert await dispatch(Message(TOMAS, thread, "Fuel ran out.", direct=False), deps) is None
    with small_pool.session() as s:
        assert s.scalars(select(ReviewAnswer.text)).all() == ["Fuel ran out."]
