"""Ask a colleague: who may hand a question on, who may answer it, bad answers, saving once."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from handlers.chat import (
    Button,
    ButtonPress,
    ConversationRef,
    FormSubmit,
    Message,
    Reply,
    Text,
    UserRef,
)
from handlers.deps import Deps
from handlers.router import dispatch
from knowledge.models import Lesson, ProductAudience
from knowledge.storage import Store

NYIBOL = UserRef("local", "nyibol.deng@un.example", "Nyibol Deng")  # UNMISS staff
RAFAEL = UserRef("local", "rafael.souza@un.example", "Rafael Souza")  # UNMISS staff
GRACE = UserRef("local", "grace.achieng@un.example", "Grace Achieng")  # UNMISS PBPO
DM = ConversationRef("local", "dm:10")
CHOLERA = "lessons about cholera outbreaks in camps"


class FakeNotifier:
    """Records what would have been sent, as the platform side of proactive messages."""

    platform = "local"

    def __init__(self) -> None:
        self.sent: list[tuple[UserRef, Reply]] = []
        self.posted: list[tuple[ConversationRef, Reply]] = []

    async def send(self, to: UserRef, reply: Reply) -> None:
        self.sent.append((to, reply))

    async def post(self, where: ConversationRef, reply: Reply) -> ConversationRef | None:
        self.posted.append((where, reply))
        return where

    async def lookup(self, email: str) -> str | None:
        return None

    def to(self, email: str) -> list[Reply]:
        return [reply for who, reply in self.sent if who.user_id == email]


@pytest.fixture
def notifier() -> FakeNotifier:
    return FakeNotifier()


@pytest.fixture
def deps(demo_store: Store, notifier: FakeNotifier) -> Deps:
    return Deps(store=demo_store, notifier=notifier)


def text_of(reply: Reply | None) -> str:
    assert reply is not None
    return "\n".join(e.markdown for e in reply.elements if isinstance(e, Text))


def button(reply: Reply | None, action: str) -> Button:
    assert reply is not None
    (found,) = [e for e in reply.elements if isinstance(e, Button) and e.action == action]
    return found


async def handed_on(deps: Deps, notifier: FakeNotifier) -> tuple[str, Button]:
    """Nyibol asks about cholera and hands it on; return the question id and Grace's button."""
    answer = await dispatch(Message(NYIBOL, DM, CHOLERA), deps)
    ask = button(answer, "colleague.ask")
    told = await dispatch(ButtonPress(NYIBOL, DM, ask.action, ask.value), deps)
    assert told is not None and told.private and "I asked" in text_of(told)
    (card,) = notifier.to(GRACE.user_id)
    return ask.value, button(card, "colleague.answer")


async def test_only_the_asker_may_hand_a_question_on(deps: Deps) -> None:
    answer = await dispatch(Message(NYIBOL, DM, CHOLERA), deps)
    ask = button(answer, "colleague.ask")

    refused = await dispatch(ButtonPress(RAFAEL, DM, ask.action, ask.value), deps)

    assert refused is not None and refused.private
    assert text_of(refused) == "⚠️ Only the person who asked this question can hand it on."


async def test_asking_twice_asks_nobody_twice(deps: Deps, notifier: FakeNotifier) -> None:
    question, _ = await handed_on(deps, notifier)
    sent = len(notifier.sent)

    again = await dispatch(ButtonPress(NYIBOL, DM, "colleague.ask", question), deps)

    assert "already asked" in text_of(again) and len(notifier.sent) == sent


@pytest.mark.parametrize(
    ("values", "said"),
    [
        ({"answer": "  ", "lesson": ""}, "Write a line of answer, or give the number of a lesson"),
        ({"answer": "", "lesson": "forty-two"}, "Give the lesson by its number"),
        ({"answer": "", "lesson": "#999999"}, "There is no lesson #999999."),
        ({"answer": "x" * 2001}, "Please keep the answer under 2000 characters."),
        ({"lesson": "RESTRICTED"}, "is restricted to its audience: answer in words instead."),
    ],
)
async def test_a_bad_answer_gets_a_friendly_message_and_nothing_is_sent(
    deps: Deps, notifier: FakeNotifier, values: dict[str, str], said: str
) -> None:
    _, answer = await handed_on(deps, notifier)
    form = f"colleague.reply:{answer.value}"
    if values.get("lesson") == "RESTRICTED":
        with deps.store.session() as s:
            restricted = s.scalars(
                select(Lesson.id).where(Lesson.product_id.in_(select(ProductAudience.product_id)))
            ).first()
        values = {"lesson": f"#{restricted}"}

    reply = await dispatch(FormSubmit(GRACE, DM, form, values), deps)

    assert reply is not None and reply.private and said in text_of(reply)
    assert notifier.posted == []


async def test_only_the_colleague_asked_may_answer(deps: Deps, notifier: FakeNotifier) -> None:
    _, answer = await handed_on(deps, notifier)

    reply = await dispatch(
        FormSubmit(RAFAEL, DM, f"colleague.reply:{answer.value}", {"answer": "boil it"}), deps
    )

    assert "handed to someone else" in text_of(reply) and notifier.posted == []


async def test_an_answer_by_lesson_comes_back_in_the_askers_conversation(
    deps: Deps, notifier: FakeNotifier, demo_store: Store
) -> None:
    _, answer = await handed_on(deps, notifier)

    thanks = await dispatch(
        FormSubmit(GRACE, DM, f"colleague.reply:{answer.value}", {"lesson": "#3"}), deps
    )

    assert "passed your answer to Nyibol Deng" in text_of(thanks)
    ((where, back),) = notifier.posted
    assert (where.platform, where.channel_id, where.thread_id) == ("local", DM.channel_id, None)
    assert "See lesson #3" in text_of(back)
    assert not [e for e in back.elements if isinstance(e, Button)]  # nothing in words to save


async def test_an_answer_is_saved_once(deps: Deps, notifier: FakeNotifier) -> None:
    _, answer = await handed_on(deps, notifier)
    await dispatch(
        FormSubmit(GRACE, DM, f"colleague.reply:{answer.value}", {"answer": "Chlorinate."}), deps
    )
    ((_, back),) = notifier.posted
    save = button(back, "colleague.save")

    first = await dispatch(ButtonPress(NYIBOL, DM, save.action, save.value), deps)
    second = await dispatch(ButtonPress(NYIBOL, DM, save.action, save.value), deps)
    stranger = await dispatch(ButtonPress(RAFAEL, DM, save.action, save.value), deps)

    assert "Saved Grace Achieng's answer as a lesson note (*identified*)" in text_of(first)
    assert "saved already" in text_of(second)
    assert "Only the person who asked, or who answered" in text_of(stranger)


@pytest.mark.parametrize("value", ["", "abc", "99999"])
async def test_stale_buttons_say_so(deps: Deps, value: str) -> None:
    for action in ("colleague.ask", "colleague.answer", "colleague.save"):
        reply = await dispatch(ButtonPress(NYIBOL, DM, action, value), deps)
        assert reply is not None and reply.private and text_of(reply).startswith("⚠️")
