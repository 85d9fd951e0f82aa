"""End of Assignment interviews through the router: in the DM, saved private, then validated."""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from handlers import router
from handlers.chat import (
    Button,
    ButtonPress,
    Command,
    ConversationRef,
    Edit,
    Message,
    Reply,
    Text,
    UserRef,
)
from handlers.deps import Deps, HandlerSettings
from handlers.reviews.cards import AarButton, EoarButton
from handlers.reviews.config import eoar_question_set as question_set
from handlers.reviews.eoar import start_eoar
from handlers.router import dispatch
from knowledge.models import (
    Action,
    LessonStatus,
    Product,
    ProposalStatus,
    ProposedAction,
    Review,
    ReviewAnswer,
    ReviewStatus,
)
from knowledge.reviews import DEFAULT_EOAR_QUESTIONS
from knowledge.storage import Store

AMINA = UserRef("local", "amina.diallo@un.example", "Amina Diallo")  # MINUSCA, manager Ngozi
TOMAS = UserRef("local", "tomas.herrera@un.example", "Tomás Herrera")
GUEST = UserRef("local", "visitor@example.org", "Visitor")
CHANNEL = ConversationRef("local", "elections", channel_name="elections")
DM = ConversationRef("local", "dm:amina.diallo@un.example")
_ids = itertools.count(1)

ANSWERS = (
    "Set up a joint election security cell with the police in six prefectures.",
    "Risk maps drawn with communities were more accurate than our own patrol reports.",
    "Weekly security briefings for polling staff, in Sango, kept rumours down.",
    "The radio network for polling stations is still not tested end to end.",
    "@Tomás Herrera to hand over the prefecture contact list within 2 weeks.\n"
    "My successor should renew the radio maintenance contract.",
)


class Notifier:
    """The platform side: records deliveries; a DM with an anchor lands in the person's DM."""

    platform = "local"

    def __init__(self, store: Store) -> None:
        self.store = store
        self.sent: list[tuple[UserRef, Reply]] = []

    async def send(self, to: UserRef, reply: Reply) -> None:
        """Record a direct message and report where an anchored one landed, as adapters do."""
        self.sent.append((to, reply))
        if reply.anchor is not None:
            landed = ConversationRef("local", f"dm:{to.user_id}", f"d{next(_ids)}")
            await router.posted(reply.anchor, landed, Deps(store=self.store, notifier=self))

    async def post(self, where: ConversationRef, reply: Reply) -> ConversationRef | None:
        """Channels are not used by interviews."""
        raise AssertionError(f"an interview posted in {where}")

    async def lookup(self, email: str) -> str | None:
        """On the local chat a person is their email."""
        return email

    def to(self, email: str) -> list[Reply]:
        """Return what was sent to one person."""
        return [reply for who, reply in self.sent if who.user_id == email]


@pytest.fixture
def notifier(demo_store: Store) -> Notifier:
    return Notifier(demo_store)


@pytest.fixture
def deps(demo_store: Store, notifier: Notifier) -> Deps:
    return Deps(store=demo_store, notifier=notifier)


def text_of(reply: Reply | None) -> str:
    assert reply is not None
    return "\n".join(e.markdown for e in reply.elements if isinstance(e, Text))


def buttons(reply: Reply | None) -> dict[str, Button]:
    assert reply is not None
    return {e.action: e for e in reply.elements if isinstance(e, Button)}


async def say(deps: Deps, text: str, who: UserRef = AMINA, where: ConversationRef = DM) -> Reply:
    message = Message(who, where, text, direct=True, message_id=f"m{next(_ids)}")
    reply = await dispatch(message, deps)
    assert reply is not None
    return reply


def interview(store: Store) -> Review:
    with store.session() as s:
        found = s.scalars(
            select(Review).where(Review.kind == "eoar").order_by(Review.id.desc())
        ).first()
        assert found is not None
        return found


def stored(store: Store) -> list[str]:
    with store.session() as s:
        return list(s.scalars(select(ReviewAnswer.text).order_by(ReviewAnswer.id)))


async def visible_to(store: Store, email: str | None, words: str) -> bool:
    person = await store.person_for("local", email) if email else None
    found = await store.ask(words, viewer=await store.viewer_for(person), limit=10)
    return any((h.external_id or "").startswith("eoar:") for h in found.hits)


async def answer_all(deps: Deps, answers: tuple[str, ...] = ANSWERS) -> None:
    for i, answer in enumerate(answers):
        saved = await say(deps, answer)
        assert f"Saved to question {i + 1}" in text_of(saved), text_of(saved)
        if i < len(answers) - 1:
            assert f"Question {i + 2} of 5" in text_of(await say(deps, "next"))


async def test_an_eoar_runs_in_the_dm_and_is_saved_private_until_validated(
    deps: Deps, notifier: Notifier
) -> None:
    store = deps.store
    moved = await dispatch(Command(AMINA, CHANNEL, "lessons", "eoar"), deps)

    assert moved is not None and moved.private
    assert "has started in our direct messages" in text_of(moved)
    [opening] = notifier.to("amina.diallo@un.example")
    assert "*Your End of Assignment Report*" in text_of(opening)
    assert "*Question 1 of 5:* What were your key achievements" in text_of(opening)
    assert AarButton.ANONYMOUS not in buttons(opening)  # one to one: nothing to hide
    row = interview(store)
    assert (row.platform, row.channel_id, row.thread_id) == ("local", DM.channel_id, None)

    await answer_all(deps)
    summary = await say(deps, "close")

    text = text_of(summary)
    assert "*Your End of Assignment Report is saved*" in text
    title = "End of Assignment Report: Amina Diallo, MINUSCA (2026)"
    assert f"Saved in the lessons index as *{title}* with 3 lessons" in text
    assert "only you, your manager and your mission's PBPOs can see it" in text
    assert "I asked Ngozi Okafor to validate it." in text
    assert "hand over the prefecture contact list within 2 weeks. → Tomás Herrera" in text
    assert "*For you to complete*" in text
    assert "renew the radio maintenance contract. — no owner named" in text
    assert AarButton.COMPLETE in buttons(summary)
    [request] = notifier.to("ngozi.okafor@un.example")
    assert "Validation requested: End of Assignment Report of Amina Diallo" in text_of(request)
    [card] = notifier.to("tomas.herrera@un.example")
    assert "An action for you from the End of Assignment Report of Amina Diallo" in text_of(card)

    with store.session() as s:
        product = s.scalars(select(Product).where(Product.external_id.like("eoar:%"))).one()
        assert product.external_id == f"eoar:{interview(store).id}"
        assert [a.person.email for a in product.authors] == ["amina.diallo@un.example"]
        assert {a.principal for a in product.audience} == {
            "person:amina.diallo@un.example",
            "person:ngozi.okafor@un.example",  # her manager
            "person:farida.rahimi@un.example",  # MINUSCA's PBPO
        }
        assert {lesson.status for lesson in product.lessons} == {LessonStatus.IDENTIFIED}
        assert product.lessons[0].title.startswith("Lesson: Risk maps")
        assert "Set up a joint election security cell" in product.summary
    question = "what did we learn about risk maps drawn with communities"
    for email in ("amina.diallo@un.example", "ngozi.okafor@un.example", "farida.rahimi@un.example"):
        assert await visible_to(store, email, question), email
    for email in ("tomas.herrera@un.example", "hiroshi.tanaka@un.example", None):
        assert not await visible_to(store, email, question), email

    accepted = await dispatch(
        ButtonPress(
            TOMAS,
            ConversationRef("local", "dm:tomas"),
            AarButton.ACCEPT,
            buttons(card)[AarButton.ACCEPT].value,
        ),
        deps,
    )
    assert "Accepted" in text_of(accepted)
    with store.session() as s:
        action = s.scalars(
            select(Action).where(Action.description.contains("prefecture contact list"))
        ).one()
        assert action.notes == "Proposed by the End of Assignment Report of Amina Diallo."


async def test_the_interview_can_pause_resume_and_be_picked_up_again(
    deps: Deps, notifier: Notifier
) -> None:
    store = deps.store
    here = await dispatch(Command(AMINA, DM, "lessons", "eoar"), deps)
    assert here is None  # typed in the DM: the first question is right there
    await say(deps, "Set up a joint election security cell.")

    paused = await say(deps, "pause")
    assert "Paused" in text_of(paused) and EoarButton.RESUME in buttons(paused)
    question = await say(deps, "what did we learn about elections?")
    assert "Saved to question" not in text_of(question)  # a paused interview frees the DM
    assert stored(store) == ["Set up a joint election security cell."]

    again = await dispatch(Command(AMINA, CHANNEL, "lessons", "eoar"), deps)
    assert "goes on in our direct messages" in text_of(again)
    assert interview(store).status == ReviewStatus.RUNNING
    resent = notifier.to("amina.diallo@un.example")[-1]
    assert "we are on question 1 of 5" in text_of(resent)
    press = ButtonPress(AMINA, DM, EoarButton.NEXT, buttons(resent)[EoarButton.NEXT].value)
    assert "Question 2 of 5" in text_of(await dispatch(press, deps))
    stale = await dispatch(press, deps)
    assert "moved on" in text_of(stale)
    assert "Question 1 of 5" in text_of(await say(deps, "back"))
    with store.session() as s:
        assert s.scalar(select(Review.id).where(Review.kind == "eoar").offset(1)) is None

    cancelled = await say(deps, "cancel")
    assert "nothing was added to the lessons index" in text_of(cancelled)
    with store.session() as s:
        assert s.scalars(select(Product).where(Product.external_id.like("eoar:%"))).first() is None


async def test_edge_cases_are_answered_and_nothing_is_lost(deps: Deps, notifier: Notifier) -> None:
    store = deps.store
    refused = await dispatch(Command(GUEST, CHANNEL, "lessons", "eoar"), deps)
    assert "not in the staff directory" in text_of(refused)
    await dispatch(Command(AMINA, CHANNEL, "lessons", "eoar"), deps)

    long = ("Patrols met village chiefs every week and wrote down what they heard. " * 60)[:4000]
    assert "Saved to question 1" in text_of(await say(deps, long))
    assert "was not added" in text_of(await say(deps, "🎉🎉"))
    assert "no text" in text_of(await say(deps, "   "))
    assert "A sentence on *why*" in text_of(await say(deps, "Trust."))
    bot = Message(UserRef("local", "bot", bot=True), DM, "Question 1 of 5", message_id="b1")
    assert await dispatch(bot, deps) is None
    someone = await say(deps, "Me too.", who=TOMAS)
    assert "This is Amina Diallo's interview" in text_of(someone)
    assert "How it works" not in text_of(await say(deps, "help"))
    assert "Answer in as many messages" in text_of(await say(deps, "help"))
    assert [len(t) for t in stored(store)] == [4000, 6]

    for _ in range(4):
        await say(deps, "next")
    await say(
        deps,
        "@Bob Marley to repair the generators by 20 Dec.\n"
        "@Tomás Herrera to write the radio procedure by 15 Jan 2020.",
    )
    summary = await say(deps, "close")

    text = text_of(summary)
    assert f"• {long[:299]}" not in text and "Patrols met village chiefs" in text  # trimmed
    assert max(len(e.markdown) for e in summary.elements if isinstance(e, Text)) <= 3000
    assert "@Bob Marley is not in the directory" in text
    assert "the due date 2020-01-15 is in the past" in text
    assert notifier.to("tomas.herrera@un.example") == []  # nothing silently accepted
    with store.session() as s:
        statuses = s.scalars(select(ProposedAction.status)).all()
        assert statuses == [ProposalStatus.DRAFT, ProposalStatus.DRAFT]
        product = s.scalars(select(Product).where(Product.external_id.like("eoar:%"))).one()
        assert long in product.body  # stored whole

    late = await say(deps, "One more thing about the radios.")
    assert late.private and "was closed" in text_of(late)
    assert "One more thing about the radios." in text_of(late)  # handed back, not lost
    assert len(stored(store)) == 3
    old = ButtonPress(AMINA, DM, EoarButton.NEXT, f"{interview(store).id}:0")
    assert "closed already" in text_of(await dispatch(old, deps))


async def test_the_scheduler_starts_an_interview_for_a_person(
    deps: Deps, notifier: Notifier
) -> None:
    store = deps.store
    amina = await store.person_for("local", "amina.diallo@un.example")
    assert amina is not None

    first = await start_eoar(amina, deps)
    second = await start_eoar(amina, deps)

    assert (first.resumed, first.reached) == (False, True)
    assert (second.review_id, second.resumed, second.reached) == (first.review_id, True, True)
    assert len(notifier.to("amina.diallo@un.example")) == 2
    unreachable = await start_eoar(amina, Deps(store=store))
    assert unreachable.reached is False and unreachable.review_id == first.review_id


async def test_the_questions_come_from_the_aar_question_file(
    deps: Deps, notifier: Notifier, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "questions.toml"
    path.write_text(
        '[[eoar_question]]\nkind = "lesson"\ntext = "What did you learn?"\n'
        '[[eoar_question]]\nkind = "recommend"\ntext = "What next?"\n',
        encoding="utf-8",
    )
    deps = replace(deps, settings=HandlerSettings(aar_questions=path))
    assert [q.text for q in question_set(deps.settings)] == ["What did you learn?", "What next?"]
    aar = await dispatch(Command(AMINA, CHANNEL, "aar", "start Town hall"), deps)
    assert "*Question 1 of 5:* What was supposed to happen?" in text_of(aar)  # AAR: defaults

    await dispatch(Command(AMINA, DM, "lessons", "eoar"), deps)
    assert "*Question 1 of 2:* What did you learn?" in text_of(notifier.sent[-1][1])

    path.write_text('[[question]]\ntext = "Anything else?"\n', encoding="utf-8")
    assert question_set(deps.settings) == DEFAULT_EOAR_QUESTIONS


async def test_edits_in_the_dm_change_the_answer_until_the_report_is_saved(deps: Deps) -> None:
    await dispatch(Command(AMINA, DM, "lessons", "eoar"), deps)
    said = Message(AMINA, DM, "Opened six field offices.", direct=True, message_id="a1")
    await dispatch(said, deps)

    assert await dispatch(Edit(AMINA, DM, "a1", "Opened seven field offices."), deps) is None
    assert stored(deps.store) == ["Opened seven field offices."]
    await say(deps, "close")

    late = await dispatch(Edit(AMINA, DM, "a1", "Opened eight field offices."), deps)
    assert "saved already, so it keeps your message as it was" in text_of(late)
    assert stored(deps.store) == ["Opened seven field offices."]


async def test_review_buttons_do_not_work_across_kinds(deps: Deps) -> None:
    await dispatch(Command(AMINA, DM, "lessons", "eoar"), deps)
    value = f"{interview(deps.store).id}:0"

    for action in (AarButton.CLOSE, AarButton.ANONYMOUS):
        crossed = await dispatch(ButtonPress(AMINA, DM, action, value), deps)
        assert "out of date" in text_of(crossed)
    assert interview(deps.store).status == ReviewStatus.RUNNING


async def test_a_dm_without_an_interview_is_looked_up_once_and_a_new_one_is_found_at_once(
    deps: Deps,
) -> None:
    store = deps.store
    looked: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "reviews.kind" in statement:
            looked.append(statement)

    event.listen(store.engine, "after_cursor_execute", count)
    try:
        await say(deps, "what did we learn about elections?")
        await say(deps, "what did we learn about logistics?")
        assert len(looked) == 1  # the second DM knew there was no interview here
        await dispatch(Command(AMINA, CHANNEL, "lessons", "eoar"), deps)
        saved = await say(deps, ANSWERS[0])  # opening it was a write: found at once
    finally:
        event.remove(store.engine, "after_cursor_execute", count)
    assert "Saved to question 1" in text_of(saved)


async def test_an_answer_in_the_dm_looks_its_interview_up_once(deps: Deps) -> None:
    """The check step finds the DM's interview; the handle step and the store reuse it."""
    await dispatch(Command(AMINA, CHANNEL, "lessons", "eoar"), deps)
    await say(deps, ANSWERS[0])
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(deps.store.engine, "before_cursor_execute", record)
    try:
        saved = await say(deps, ANSWERS[1])
    finally:
        event.remove(deps.store.engine, "before_cursor_execute", record)

    assert "Saved to question 1" in text_of(saved)
    assert stored(deps.store)[-1] == ANSWERS[1]
    reads = re.compile(r"^\s*SELECT\b.*\b(?:FROM|JOIN)\s+reviews\b", re.IGNORECASE | re.DOTALL)
    assert len([s for s in statements if reads.search(s)]) == 1, statements
