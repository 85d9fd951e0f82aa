"""Follow-ups: filters alone ("only AARs", "since 2022") narrow the last question of a thread."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from handlers import router
from handlers.ask import AskAction
from handlers.chat import (
    Button,
    Command,
    ConversationRef,
    Fields,
    Message,
    Reply,
    Text,
    UserRef,
)
from handlers.deps import Deps
from handlers.followups import WINDOW, whole_question
from handlers.router import dispatch
from knowledge.models import Question, ReviewAnswer
from knowledge.storage import Store

AMINA = UserRef("local", "amina.diallo@un.example", "Amina Diallo")
TOMAS = UserRef("local", "tomas.herrera@un.example", "Tomás Herrera")
CHANNEL = ConversationRef("local", "elections", channel_name="elections")
DM = ConversationRef("local", "dm:7")  # the local chat's DMs have no channel name
SLACK_USER = UserRef("slack", "U0AMINA")
SLACK_THREAD = ConversationRef("slack", "C0ELECT", "1700000000.000100")
ELECTIONS = "what did we learn about elections?"
_ids = itertools.count(100)


async def say(
    store: Store,
    who: UserRef,
    where: ConversationRef,
    text: str,
    *,
    direct: bool = False,
    message_id: str | None = None,
) -> Reply | None:
    """Post a message as an adapter does (not mentioning the bot unless direct)."""
    message = Message(who, where, text, direct=direct, message_id=message_id or f"{next(_ids)}")
    return await dispatch(message, Deps(store=store))


async def mention(store: Store, who: UserRef, text: str) -> tuple[ConversationRef, Reply]:
    """Ask at the root of the channel: the answer goes in the thread the question starts."""
    root = f"{next(_ids)}"
    reply = await say(store, who, CHANNEL, text, direct=True, message_id=root)
    assert reply is not None
    return replace(CHANNEL, thread_id=root), reply


def types(reply: Reply | None) -> list[str]:
    return [dict(e.pairs)["Type"] for e in _cards(reply)]


def _cards(reply: Reply | None) -> list[Fields]:
    assert reply is not None
    return [e for e in reply.elements if isinstance(e, Fields)]


def text_of(reply: Reply | None) -> str:
    assert reply is not None
    return "\n".join(e.markdown for e in reply.elements if isinstance(e, Text))


def questions(store: Store) -> list[Question]:
    with store.session() as s:
        return list(s.scalars(select(Question).order_by(Question.id)))


async def test_a_question_is_logged_with_the_thread_it_is_answered_in(demo_store: Store) -> None:
    thread, _ = await mention(demo_store, AMINA, ELECTIONS)
    await say(demo_store, AMINA, DM, ELECTIONS, direct=True)
    await dispatch(Command(AMINA, CHANNEL, "lessons", ELECTIONS), Deps(store=demo_store))

    logged = [(q.platform, q.channel_id, q.thread_id) for q in questions(demo_store)]
    assert logged == [
        ("local", "elections", thread.thread_id),
        ("local", "dm:7", None),
        ("local", "elections", None),
    ]


async def test_only_aars_in_the_thread_narrows_the_question_without_a_mention(
    demo_store: Store,
) -> None:
    thread, first = await mention(demo_store, AMINA, ELECTIONS)
    assert set(types(first)) != {"After-Action Review"}

    reply = await say(demo_store, TOMAS, thread, "only AARs")

    assert reply is not None and not reply.private and reply.in_thread
    assert reply.elements[0] == Text(f"Following up on *{ELECTIONS}* with *only AARs*.")
    assert text_of(reply).count("closest lesson") == 1
    assert "Nothing matched" not in text_of(reply)
    assert types(reply) and set(types(reply)) == {"After-Action Review"}
    last = questions(demo_store)[-1]
    assert (last.channel_id, last.thread_id) == ("elections", thread.thread_id)
    assert last.text == f"{ELECTIONS} AARs"
    helpful = next(e for e in reply.elements if isinstance(e, Button))
    assert helpful.value.endswith(f":{last.id}")  # votes count for the narrowed question


async def test_follow_ups_chain_and_a_new_date_replaces_the_old_one(demo_store: Store) -> None:
    """Slack: the mention's thread is its own ts; every follow-up narrows the last one."""
    deps = Deps(store=demo_store)
    asked = Message(SLACK_USER, SLACK_THREAD, ELECTIONS, message_id=SLACK_THREAD.thread_id)
    assert await dispatch(asked, deps) is not None

    since = await say(demo_store, SLACK_USER, SLACK_THREAD, "since 2024")
    dates = [date.fromisoformat(dict(f.pairs)["Date"]) for f in _cards(since)]
    assert dates and min(dates) >= date(2024, 1, 1)

    mission = await say(demo_store, SLACK_USER, SLACK_THREAD, "just MINUSCA")
    assert {dict(f.pairs)["Mission"] for f in _cards(mission)} == {"MINUSCA"}
    assert "Nothing matched" not in text_of(mission)

    earlier = await say(demo_store, SLACK_USER, SLACK_THREAD, "since 2025")
    assert questions(demo_store)[-1].text == f"{ELECTIONS} in MINUSCA since 2025"
    assert "Following up on" in text_of(earlier)

    # Nothing on elections in MINUSCA in 2019: the new message is answered alone, its filter
    # kept (not every filter of both dropped).
    alone = await say(demo_store, SLACK_USER, SLACK_THREAD, "and in 2019?")
    assert questions(demo_store)[-1].text == "and in 2019?"
    assert text_of(alone).startswith("Nothing matched *")
    assert "so this answers *and in 2019?* alone" in text_of(alone)
    years = {dict(f.pairs)["Date"][:4] for f in _cards(alone)}
    assert years == {"2019"}


@pytest.mark.parametrize(
    "said",
    ["thanks!", "Great, I will read the AARs tomorrow", "what about convoys in Mali?", "+1", ""],
)
async def test_chatter_and_new_topics_in_the_thread_get_no_answer(
    demo_store: Store, said: str
) -> None:
    thread, _ = await mention(demo_store, AMINA, ELECTIONS)

    assert await say(demo_store, TOMAS, thread, said) is None
    assert len(questions(demo_store)) == 1


async def test_a_long_message_is_never_a_follow_up(demo_store: Store) -> None:
    thread, _ = await mention(demo_store, AMINA, ELECTIONS)
    said = "only AARs " + "please " * 20

    assert await say(demo_store, TOMAS, thread, said) is None


async def test_a_thread_without_a_question_gets_no_answer(demo_store: Store) -> None:
    await mention(demo_store, AMINA, ELECTIONS)
    elsewhere = replace(CHANNEL, thread_id="999")

    assert await say(demo_store, TOMAS, elsewhere, "only AARs") is None
    assert await say(demo_store, TOMAS, CHANNEL, "only AARs") is None  # the channel itself
    assert len(questions(demo_store)) == 1


async def test_an_aar_thread_still_goes_to_the_aar(demo_store: Store) -> None:
    deps = Deps(store=demo_store)
    opening = await dispatch(Command(AMINA, CHANNEL, "aar", "start Election day"), deps)
    assert opening is not None and opening.anchor is not None
    thread = replace(CHANNEL, thread_id="aar-thread")
    await router.posted(opening.anchor, thread, deps)
    await demo_store.log_question(
        ELECTIONS,
        person_id=None,
        platform="local",
        hits=5,
        channel_id=thread.channel_id,
        thread_id=thread.thread_id,
    )

    assert await say(demo_store, TOMAS, thread, "only AARs") is None  # an answer to the review

    with demo_store.session() as s:
        assert s.scalars(select(ReviewAnswer.text)).all() == ["only AARs"]
    assert len(questions(demo_store)) == 1


async def test_a_dm_follow_up_narrows_the_previous_question(demo_store: Store) -> None:
    await say(demo_store, AMINA, DM, ELECTIONS, direct=True)

    reply = await say(demo_store, AMINA, DM, "only AARs", direct=True)

    assert reply is not None
    assert "Following up on" in text_of(reply)
    assert types(reply) and set(types(reply)) == {"After-Action Review"}
    last = questions(demo_store)[-1]
    assert (last.text, last.channel_id, last.thread_id) == (f"{ELECTIONS} AARs", "dm:7", None)


async def test_a_new_question_in_a_dm_stays_a_new_question(demo_store: Store) -> None:
    await say(demo_store, AMINA, DM, ELECTIONS, direct=True)

    reply = await say(demo_store, AMINA, DM, "what about convoys since 2022?", direct=True)

    assert "Following up" not in text_of(reply)
    assert questions(demo_store)[-1].text == "what about convoys since 2022?"


async def test_a_dm_follow_up_long_after_the_question_is_asked_alone(demo_store: Store) -> None:
    await say(demo_store, AMINA, DM, ELECTIONS, direct=True)
    later = demo_store.clock() + WINDOW + timedelta(minutes=1)
    demo_store.clock = lambda: later

    reply = await say(demo_store, AMINA, DM, "only AARs", direct=True)

    assert "Following up" not in text_of(reply)
    assert questions(demo_store)[-1].text == "only AARs"


async def test_outside_threads_only_ones_own_question_is_narrowed(demo_store: Store) -> None:
    """Slash commands in one channel share no thread: Tomás's filter is not Amina's question."""
    deps = Deps(store=demo_store)
    await dispatch(Command(AMINA, CHANNEL, "lessons", ELECTIONS), deps)

    theirs = await dispatch(Command(TOMAS, CHANNEL, "lessons", "only AARs"), deps)
    mine = await dispatch(Command(AMINA, CHANNEL, "lessons", "only AARs"), deps)

    assert "Following up" not in text_of(theirs)
    assert f"Following up on *{ELECTIONS}*" in text_of(mine)
    assert mine is not None
    assert any(
        isinstance(e, Button) and e.action == AskAction.SHARE for e in mine.elements
    )  # a narrowed slash-command answer is still private, so still shareable


async def test_a_mention_in_the_thread_narrows_it_too(demo_store: Store) -> None:
    thread, _ = await mention(demo_store, AMINA, ELECTIONS)

    reply = await say(demo_store, TOMAS, thread, "just applied ones", direct=True)

    assert f"Following up on *{ELECTIONS}*" in text_of(reply)
    statuses = {dict(f.pairs)["Status"] for f in _cards(reply)}
    assert statuses == {"● applied"}
    assert questions(demo_store)[-1].thread_id == thread.thread_id


# The DM sequences of issue 20 -------------------------------------------------------------------


async def test_a_whole_question_in_a_dm_is_not_glued_onto_the_last_one(demo_store: Store) -> None:
    """ "elections in 2010", then "#gender lessons last 3 years": a new question, not elections."""
    await say(demo_store, AMINA, DM, "elections in 2010", direct=True)

    reply = await say(demo_store, AMINA, DM, "#gender lessons last 3 years", direct=True)

    assert "Following up" not in text_of(reply) and "Nothing matched" not in text_of(reply)
    assert questions(demo_store)[-1].text == "#gender lessons last 3 years"
    since = demo_store.today().replace(day=1, year=demo_store.today().year - 3)
    dates = [date.fromisoformat(dict(f.pairs)["Date"]) for f in _cards(reply)]
    assert dates and min(dates) >= since


async def test_the_issue_dm_sequence_ends_with_minusca_lessons(demo_store: Store) -> None:
    """ "only AARs since 2023 about elections", "theme: gender", "what did we learn in MINUSCA"."""
    first = await say(demo_store, AMINA, DM, "only AARs since 2023 about elections", direct=True)
    assert set(types(first)) == {"After-Action Review"}

    gender = await say(demo_store, AMINA, DM, "theme: gender", direct=True)
    # A bare filter narrows; if the combination leaves nothing it is answered alone, saying so.
    said = text_of(gender)
    assert said.startswith(("Following up on *only AARs", "Nothing matched *only AARs"))
    assert _cards(gender)

    minusca = await say(demo_store, AMINA, DM, "what did we learn in MINUSCA", direct=True)
    assert "Following up" not in text_of(minusca) and "Nothing matched" not in text_of(minusca)
    missions = {dict(f.pairs)["Mission"] for f in _cards(minusca)}
    assert missions == {"MINUSCA"}
    assert questions(demo_store)[-1].text == "what did we learn in MINUSCA"


@pytest.mark.parametrize(
    ("follow_up", "check"),
    [
        ("what about UNMISS?", lambda f: f["Mission"] == "UNMISS"),
        ("only AARs", lambda f: f["Type"] == "After-Action Review"),
        ("since 2022", lambda f: f["Date"] >= "2022-01-01"),
        ("#gender", lambda f: True),
    ],
)
async def test_refinements_in_a_dm_narrow_and_say_what_they_combined(
    demo_store: Store, follow_up: str, check: Callable[[dict[str, str]], bool]
) -> None:
    await say(demo_store, AMINA, DM, ELECTIONS, direct=True)

    reply = await say(demo_store, AMINA, DM, follow_up, direct=True)

    assert text_of(reply).startswith(f"Following up on *{ELECTIONS}* with *{follow_up}*.")
    fields = [dict(f.pairs) for f in _cards(reply)]
    assert fields and all(check(f) for f in fields)
    assert questions(demo_store)[-1].text.startswith(ELECTIONS)


@pytest.mark.parametrize(
    "message",
    [
        "what did we learn in MINUSCA",
        "any lessons on gender since 2022",
        "#gender lessons last 3 years",
        "lessons from UNMISS",
    ],
)
def test_whole_questions_are_told_from_refinements(message: str) -> None:
    assert whole_question(message)


@pytest.mark.parametrize(
    "message",
    ["only AARs", "what about UNMISS?", "since 2022", "theme: gender", "just applied lessons"],
)
def test_refinements_are_not_whole_questions(message: str) -> None:
    assert not whole_question(message)
