"""Injection: hostile text through the real handlers and renderers, on SQLite and PostgreSQL.

- Search: FTS5 and tsquery syntax, SQL meta characters, NUL, lone surrogates, RTL marks, emoji
  and 10,000-character questions are answered (or refused kindly), never an error.
- CSV: exported cells never start a formula (`=cmd|' /C calc'!A0`).
- Echo: whatever of a user's text the bot repeats (a shared answer's topic, a follow-up, an AAR
  summary) pings nobody and links nowhere on Slack (mrkdwn), Teams (Adaptive Card markdown) and
  the local chat (HTML).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import logging
import re

import hostile  # noqa: F401  (the hypothesis profile)
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import select

from bot import admin
from bot.local import render as html
from bot.slack import render as slack
from bot.teams import render as teams
from handlers import router
from handlers.ask import quote
from handlers.chat import Command, ConversationRef, Message, Reply, Text, UserRef
from handlers.deps import Deps
from knowledge.audit import Audit
from knowledge.models import LessonStatus, Person, ReviewAnswer
from knowledge.storage import Store

AMINA = UserRef("local", "amina.diallo@un.example", "Amina Diallo")
DM = ConversationRef("local", "dm:1")
CHANNEL = ConversationRef("local", "elections-team", channel_name="elections-team")
HOSTILE = [
    '"',
    '"unbalanced',
    "elections*",
    "*",
    "NEAR(elections fraud, 2)",
    "elections AND OR NOT",
    "NOT",
    "^elections",
    "-elections",
    "title:elections",
    "lessons:x {a b}",
    "a:b:c",
    "elections'; DROP TABLE lessons;--",
    "' OR '1'='1",
    "1; SELECT pg_sleep(10)",
    "%_\\",
    "elections\x00fraud",
    "\x00",
    "\ud800 elections",
    "\u202eslennahc\u202c elections",
    "🗳️ elections 🇺🇳",
    "elections " * 1000,
    "x" * 10_000,
    "(((((((((((",
    "!@#$%^&*()_+-=[]{}|;':\",./<>?`~",
]
HOSTILE_TEXT = st.sampled_from(HOSTILE)
ECHOES = [
    "<!channel> <!here> <!everyone> @channel @here",
    "<@U0AMINA> <@W123|someone> <#C123|general> <!subteam^S123>",
    "<http://evil.example|click here>",
    "[click here](http://evil.example) [mail](mailto:x@evil.example)",
    "<script>alert(1)</script> <img src=x onerror=alert(1)>",
    "<at>Everyone</at>",
]


@pytest.fixture
def deps(demo_store: Store) -> Deps:
    return Deps(store=demo_store)


def said(reply: Reply | None) -> str:
    assert reply is not None
    return reply.fallback


async def test_hostile_questions_are_answered_not_crashed(
    deps: Deps, caplog: pytest.LogCaptureFixture
) -> None:
    crashed = []
    for text in HOSTILE:
        asked = await router.dispatch(Message(AMINA, DM, text, direct=True, message_id="1"), deps)
        command = await router.dispatch(Command(AMINA, CHANNEL, "lessons", text), deps)
        if router.SORRY in said(asked) or router.SORRY in said(command):
            crashed.append(text[:40])

    assert crashed == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@given(text=st.text(st.characters(codec=None, categories=None), max_size=200))
@example(text="elections\x00")
@example(text='" OR 1=1 --')
async def test_any_question_gets_an_answer_or_a_kind_refusal(
    demo_store: Store, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    reply = await router.dispatch(
        Message(AMINA, DM, text, direct=True, message_id="1"), Deps(store=demo_store)
    )

    assert reply is None or router.SORRY not in reply.fallback
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


# Echoes ----------------------------------------------------------------------------------------


def echoed(text: str) -> Reply:
    """Return a reply that repeats user text the way handlers do (quoted, and as a bullet)."""
    return Reply.of(Text(f"Shared what we learned about *{quote(text)}*\n• {quote(text)}"))


def slack_text(reply: Reply) -> str:
    blocks, fallback = slack.message(reply)
    return json.dumps(blocks) + fallback


@pytest.mark.parametrize("text", ECHOES)
def test_echoed_text_pings_nobody_and_links_nowhere_on_slack(text: str) -> None:
    out = slack_text(echoed(text))

    assert not re.search(r"<[!@#]", out)  # no <!channel>, <@U…>, <#C…> or <!subteam>
    assert "<http" not in out and "<mailto" not in out  # no link made of the user's text
    assert not re.search(r"(?<![\w&])@(here|channel|everyone)\b", out)


@pytest.mark.parametrize("text", ECHOES)
def test_echoed_text_links_nowhere_on_teams(text: str) -> None:
    card = json.dumps(teams.card(echoed(text)))

    assert "](http" not in card and "](mailto" not in card
    assert "entities" not in card  # Teams pings only through a mention entity: none is made


@pytest.mark.parametrize("text", ECHOES)
def test_echoed_text_is_inert_html_in_the_local_chat(text: str) -> None:
    page = html.render(echoed(text))

    assert "<script" not in page and "<img" not in page  # tags arrive as text
    assert 'href="http://evil' not in page and 'href="mailto:x@evil' not in page


# CSV exports -----------------------------------------------------------------------------------

FORMULAS = [
    "=cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    '  =HYPERLINK("http://evil.example","click")',
    "\t=1+1",
    "\r=1+1",
]


def runnable(cell: str) -> bool:
    """Return True when a spreadsheet would read a cell as a formula."""
    return cell.lstrip(" \u00a0").startswith(("=", "+", "-", "@")) or cell[:1] in ("\t", "\r")


async def test_the_audit_csv_export_never_holds_a_formula(demo_store: Store) -> None:
    farida = await demo_store.person_for("local", "farida.rahimi@un.example")
    assert farida is not None
    for lesson_id, formula in enumerate(FORMULAS, start=1):
        await rename(demo_store, farida, formula)
        await demo_store.move_lesson(
            lesson_id, LessonStatus.WITHDRAWN, actor_id=farida, note=formula
        )
    rows = await Audit(demo_store).events(since=None, subject=None, limit=100)

    exported = list(csv.reader(io.StringIO(admin.render(rows, "csv"), newline="")))

    cells = [cell for row in exported[1:] for cell in row]
    assert len(exported) > len(FORMULAS)  # one withdrawal each (and the moves they caused)
    assert [c for c in cells if runnable(c)] == []
    kept = {cell.removeprefix("'").strip() for cell in cells}
    assert {formula.strip() for formula in FORMULAS} <= kept  # the notes, shown as text


@given(st.text(max_size=30))
@example("=1+1")
@example(" \u00a0-1")
def test_csv_cells_are_never_formulas_and_keep_their_text(value: str) -> None:
    cell = admin.csv_cell(value)

    assert not runnable(cell)
    assert cell in (value, "'" + value)


async def rename(store: Store, person_id: int, name: str) -> None:
    """Give a person a hostile display name (as a Slack profile could)."""
    with store.session() as s:
        person = s.get(Person, person_id)
        assert person is not None
        person.name = name


# AAR answers -------------------------------------------------------------------------------------

AAR_CHANNEL = ConversationRef("local", "elections-team", channel_name="elections-team")
ANSWER_IDS = itertools.count(1)


@pytest.fixture
async def review_thread(demo_store: Store) -> ConversationRef:
    """Start a review in a channel and post its opening, as an adapter does; return its thread."""
    deps = Deps(store=demo_store)
    reply = await router.dispatch(Command(AMINA, AAR_CHANNEL, "aar", "start Election day"), deps)
    assert reply is not None and reply.anchor is not None
    thread = ConversationRef("local", AAR_CHANNEL.channel_id, "t1", "elections-team")
    await router.posted(reply.anchor, thread, deps)
    return thread


@given(
    text=st.one_of(st.text(st.characters(codec=None, categories=None), max_size=300), HOSTILE_TEXT)
)
@example(text="\x00\ud800 [x](http://evil.example) <!channel>")
@example(text="next")
async def test_aar_answers_of_any_text_are_kept_or_kindly_refused(
    demo_store: Store,
    review_thread: ConversationRef,
    text: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    message = Message(AMINA, review_thread, text, direct=False, message_id=f"a{next(ANSWER_IDS)}")

    reply = await router.dispatch(message, Deps(store=demo_store))

    assert reply is None or router.SORRY not in reply.fallback
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    with demo_store.session() as s:
        stored = s.scalars(select(ReviewAnswer.text)).all()
    assert not any("\x00" in t or "\ud800" in t for t in stored)


async def test_a_hostile_aar_answer_is_saved_clean(
    demo_store: Store, review_thread: ConversationRef
) -> None:
    said = "Ballots\x00 late \ud800 [x](http://evil.example) <!channel>"
    message = Message(AMINA, review_thread, said, direct=False, message_id="hostile-1")

    await router.dispatch(message, Deps(store=demo_store))

    with demo_store.session() as s:
        stored = s.scalars(select(ReviewAnswer.text)).all()
    assert stored == ["Ballots late \ufffd [x](http://evil.example) <!channel>"]
