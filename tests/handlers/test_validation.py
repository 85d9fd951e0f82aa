"""Validation from chat: the validator's card, its decisions, the author told, the audit kept;
withdrawing a lesson; and restricted lessons kept from outsiders on every surface."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from handlers.capture import LessonForm
from handlers.chat import (
    Button,
    ButtonPress,
    Command,
    ConversationRef,
    Form,
    FormSubmit,
    Incoming,
    Message,
    Reply,
    Text,
    UserRef,
)
from handlers.deps import Deps
from handlers.home import home
from handlers.router import dispatch
from handlers.validation import ValidationButton, ValidationForm, request
from knowledge.audit import Audit
from knowledge.errors import NotFound
from knowledge.models import Lesson, LessonStatus, Product, ProductAudience
from knowledge.records import PersonRecord, ProductRecord
from knowledge.reports import Reports
from knowledge.reviews import Reviews
from knowledge.storage import Store

DEMO = Path(__file__).resolve().parents[2] / "knowledge" / "demo" / "corpus.json"
HERE = ConversationRef("local", "dm")


def me(email: str) -> UserRef:
    return UserRef("local", f"{email}@un.example", email.replace(".", " ").title())


AMINA, NGOZI, TOMAS = me("amina.diallo"), me("ngozi.okafor"), me("tomas.herrera")
KWAME, FARIDA, PRIYA = me("kwame.asante"), me("farida.rahimi"), me("priya.raman")
CHEN, HIROSHI = me("chen.wei"), me("hiroshi.tanaka")


@dataclass
class Inbox:
    """The platform side of a Notifier: what handlers sent to people."""

    platform: str = "local"
    sent: list[tuple[UserRef, Reply]] = field(default_factory=list)

    async def send(self, to: UserRef, reply: Reply) -> None:
        self.sent.append((to, reply))

    async def post(self, where: ConversationRef, reply: Reply) -> ConversationRef | None:
        raise AssertionError("validation never posts in channels")

    def to(self, who: UserRef) -> list[Reply]:
        return [reply for to, reply in self.sent if to.user_id == who.user_id]


@pytest.fixture
async def directory(store: Store, today: date) -> Store:
    """Return a store holding the demo directory (people only)."""
    people = json.loads(DEMO.read_text(encoding="utf-8"))["people"]
    records: list[tuple[int, PersonRecord | ProductRecord]] = [
        (i, PersonRecord.from_mapping(p, today=today)) for i, p in enumerate(people, 1)
    ]
    await store.import_records(records, source="people")
    return store


async def say(store: Store, incoming: Incoming, inbox: Inbox | None = None) -> Reply:
    reply = await dispatch(incoming, Deps(store=store, notifier=inbox or Inbox()))
    assert reply is not None
    return reply


def text(reply: Reply) -> str:
    return "\n".join(e.markdown for e in reply.elements if isinstance(e, Text))


def buttons(reply: Reply) -> dict[str, Button]:
    return {e.action: e for e in reply.elements if isinstance(e, Button)}


def form_of(reply: Reply) -> Form:
    [form] = [e for e in reply.elements if isinstance(e, Form)]
    return form


async def capture(store: Store, who: UserRef, inbox: Inbox, title: str) -> int:
    """Save a lesson note as `who`; return its lesson id."""
    values = {"title": title, "lesson": f"What we learned about {title.lower()}."}
    await say(store, FormSubmit(who, HERE, LessonForm.NEW, values), inbox)
    with store.session() as s:
        return s.scalars(select(Lesson.id).join(Product).where(Product.title == title)).one()


def status(store: Store, lesson_id: int) -> LessonStatus:
    with store.session() as s:
        return s.scalars(select(Lesson.status).where(Lesson.id == lesson_id)).one()


def press(who: UserRef, action: str, lesson_id: int) -> ButtonPress:
    return ButtonPress(who, HERE, action, str(lesson_id))


# Deciding from the card -----------------------------------------------------------------------


async def test_the_manager_validates_a_captured_lesson_from_its_card(directory: Store) -> None:
    inbox = Inbox()
    lesson_id = await capture(directory, AMINA, inbox, "Fuel reserve for night convoys")
    [card] = inbox.to(NGOZI)
    decisions = buttons(card)
    assert {a: (b.label, b.value) for a, b in decisions.items()} == {
        ValidationButton.VALIDATE: ("Validate", str(lesson_id)),
        ValidationButton.CHANGES: ("Request changes", str(lesson_id)),
        ValidationButton.REJECT: ("Reject", str(lesson_id)),
    }

    reply = await say(directory, press(NGOZI, ValidationButton.VALIDATE, lesson_id), inbox)

    assert reply.private and reply.replace  # the card shows the outcome, no stale button
    assert ValidationButton.VALIDATE not in buttons(reply)
    assert text(reply).startswith(
        "✅ Validated by Ngozi Okafor: *Fuel reserve for night convoys*. I told Amina Diallo."
    )
    [news] = inbox.to(AMINA)
    assert "Ngozi Okafor validated your lesson *Fuel reserve for night convoys*" in text(news)
    assert status(directory, lesson_id) == LessonStatus.VALIDATED
    [row] = await Audit(directory).events(subject=("lesson", lesson_id))
    assert (row.person, row.surface, row.operation, row.after) == (
        "Ngozi Okafor",
        "local",
        "validate_lesson",
        {"status": "validated"},
    )
    answer = await say(directory, Message(TOMAS, HERE, "fuel reserve night convoys"))
    assert "◑ validated" in answer.fallback  # the badge


async def test_a_pbpo_of_minusca_validates_a_minusca_lesson_and_one_of_monusco_cannot(
    directory: Store,
) -> None:
    inbox = Inbox()
    for command in (
        "role revoke @Farida Rahimi pbpo",  # the demo's PBPOs hold every mission
        "role grant @Farida Rahimi pbpo MINUSCA",
        "role grant @Priya Raman pbpo MONUSCO",
    ):
        assert "✅" in text(await say(directory, Command(CHEN, HERE, "lessons", command), inbox))
    lesson_id = await capture(directory, KWAME, inbox, "Radio checks before patrols")
    [card] = inbox.to(FARIDA)[-1:]  # Kwame has no manager: his mission's PBPO is asked
    assert ValidationButton.VALIDATE in buttons(card)

    refused = await say(directory, press(PRIYA, ValidationButton.VALIDATE, lesson_id), inbox)
    assert refused.private
    assert text(refused) == ("⚠️ Only a PBPO of MINUSCA or an admin can validate this lesson.")
    assert status(directory, lesson_id) == LessonStatus.IDENTIFIED

    done = await say(directory, press(FARIDA, ValidationButton.VALIDATE, lesson_id), inbox)
    assert "Validated by Farida Rahimi" in text(done) and "I told Kwame Asante." in text(done)
    assert "Farida Rahimi validated your lesson" in text(inbox.to(KWAME)[-1])
    trail = [(r.person, r.operation) for r in await Audit(directory).events()]
    assert trail == [
        ("Chen Wei", "revoke_role"),
        ("Chen Wei", "grant_role"),
        ("Chen Wei", "grant_role"),
        ("Farida Rahimi", "validate_lesson"),
    ]


async def test_asking_for_changes_and_rejecting_need_a_note_for_the_author(
    directory: Store,
) -> None:
    inbox = Inbox()
    first = await capture(directory, AMINA, inbox, "Generators before the rains")
    second = await capture(directory, AMINA, inbox, "Night flights")

    opened = await say(directory, press(NGOZI, ValidationButton.CHANGES, first), inbox)
    form = form_of(opened)
    assert (form.form, [i.name for i in form.inputs]) == (
        f"{ValidationForm.CHANGES}:{first}",
        ["note"],
    )
    sent = await say(
        directory, FormSubmit(NGOZI, HERE, form.form, {"note": "Which generators?"}), inbox
    )
    assert "Sent back to its author for changes" in text(sent)
    assert "asked for changes to your lesson" in text(inbox.to(AMINA)[-1])
    assert "“Which generators?”" in text(inbox.to(AMINA)[-1])
    assert status(directory, first) == LessonStatus.IDENTIFIED

    rejecting = f"{ValidationForm.REJECT}:{second}"
    empty = await say(directory, FormSubmit(NGOZI, HERE, rejecting, {"reason": " "}), inbox)
    assert text(empty) == "⚠️ Rejecting a lesson needs a short reason for its author."
    await say(directory, FormSubmit(NGOZI, HERE, rejecting, {"reason": "Out of scope"}), inbox)
    assert status(directory, second) == LessonStatus.REJECTED
    assert "did not validate your lesson *Night flights*: “Out of scope”" in text(
        inbox.to(AMINA)[-1]
    )
    operations = [r.operation for r in await Audit(directory).events()]
    assert operations == ["request_changes", "reject_lesson"]


async def test_nobody_decides_on_their_own_lesson_nor_twice(directory: Store) -> None:
    inbox = Inbox()
    lesson_id = await capture(directory, CHEN, inbox, "Access badges")  # Chen is an admin

    own = await say(directory, press(CHEN, ValidationButton.REJECT, lesson_id), inbox)
    assert text(own) == (
        "⚠️ You can't reject this lesson: it is your own. The author's manager (Hiroshi "
        "Tanaka), a PBPO of DPO HQ New York or an admin can."
    )
    staff = await say(directory, press(TOMAS, ValidationButton.VALIDATE, lesson_id), inbox)
    assert text(staff).startswith("⚠️ Only the author's manager (Hiroshi Tanaka), a PBPO")

    await say(directory, press(HIROSHI, ValidationButton.VALIDATE, lesson_id), inbox)
    again = await say(directory, press(FARIDA, ValidationButton.VALIDATE, lesson_id), inbox)
    assert text(again).startswith("⚠️ This lesson is validated already, so nothing changed.")
    stale = await say(directory, ButtonPress(NGOZI, HERE, ValidationButton.VALIDATE, "x"))
    assert "out of date" in text(stale)


async def test_the_home_opens_the_card_of_each_lesson_awaiting_validation(
    demo_store: Store,
) -> None:
    reply = await home(FARIDA, Deps(store=demo_store))

    reviews = [b for b in reply.elements if isinstance(b, Button)]
    reviews = [b for b in reviews if b.action == ValidationButton.OPEN]
    assert reviews and all(b.label.startswith("Review #") for b in reviews)
    card = await say(demo_store, press(FARIDA, ValidationButton.OPEN, int(reviews[0].value)))
    assert card.private
    assert set(buttons(card)) == {
        ValidationButton.VALIDATE,
        ValidationButton.CHANGES,
        ValidationButton.REJECT,
    }


async def test_an_aar_validator_gets_each_waiting_lesson_with_its_decisions(
    demo_store: Store,
) -> None:
    inbox = Inbox()
    deps = Deps(store=demo_store, notifier=inbox)
    with demo_store.session() as s:
        product_id, waiting = s.execute(
            select(Product.id, Lesson.id)
            .join(Lesson)
            .where(Lesson.status == LessonStatus.IDENTIFIED, Product.id.not_in(
                select(ProductAudience.product_id)))
            .order_by(Product.id)
        ).first() or (0, 0)  # fmt: skip
    ngozi = await demo_store.person_for("local", NGOZI.user_id)
    member = await Reviews(demo_store).member(ngozi or 0)

    assert await request(product_id, member, [Text("*Validation requested*")], deps)
    assert not await request(product_id, None, [], deps)  # nobody to ask

    [(to, card)] = inbox.sent
    assert to.user_id == NGOZI.user_id and text(card).startswith("*Validation requested*")
    values = [b.value for b in card.elements if isinstance(b, Button)]
    assert str(waiting) in values and len(values) % 3 == 0


# Withdrawing ----------------------------------------------------------------------------------


async def test_a_lesson_is_withdrawn_from_chat_with_a_reason(directory: Store) -> None:
    inbox = Inbox()
    lesson_id = await capture(directory, AMINA, inbox, "Curfew passes for drivers")

    refused = await say(directory, Command(TOMAS, HERE, "lessons", f"withdraw {lesson_id} no"))
    assert text(refused) == (
        "⚠️ Only the author (Amina Diallo), the author's manager (Ngozi Okafor), a PBPO of "
        "MINUSCA or an admin can withdraw this lesson."
    )
    asked = await say(directory, Command(AMINA, HERE, "lessons", f"withdraw {lesson_id}"))
    assert form_of(asked).form == f"{ValidationForm.WITHDRAW}:{lesson_id}"
    done = await say(
        directory,
        Command(NGOZI, HERE, "lessons", f"withdraw #{lesson_id}: duplicate of the SOP"),
        inbox,
    )

    assert text(done).startswith("⊘ Withdrawn: *Curfew passes for drivers*")
    assert "withdrew your lesson" in text(inbox.to(AMINA)[-1])
    assert status(directory, lesson_id) == LessonStatus.WITHDRAWN
    answer = await say(directory, Message(TOMAS, HERE, "curfew passes drivers"))
    assert "Curfew passes" not in answer.fallback
    [row] = await Audit(directory).events(subject=("lesson", lesson_id))
    assert (row.person, row.operation, row.note) == (
        "Ngozi Okafor",
        "withdraw_lesson",
        "duplicate of the SOP",
    )
    question = await say(directory, Message(TOMAS, HERE, "withdraw troops from Kidal?"))
    assert "Withdrawn" not in text(question)  # a question, answered as one


# Restricted lessons never reach outsiders ----------------------------------------------------


async def test_an_outsider_meets_a_restricted_lesson_on_no_surface(demo_store: Store) -> None:
    """Answers, home, validation card, decisions, withdrawal, dashboard: all as an outsider."""
    with demo_store.session() as s:
        lesson_id, title = s.execute(
            select(Lesson.id, Product.title)
            .join(Product)
            .where(
                Product.external_id == "demo:minusca-mediation-backchannel-2024",
                Lesson.status == LessonStatus.IDENTIFIED,
            )
        ).one()
    hiroshi = await demo_store.person_for("local", HIROSHI.user_id)  # a PBPO, outside it
    viewer = await demo_store.viewer_for(hiroshi)
    hidden = f"⚠️ There is no lesson #{lesson_id} that you can see."

    answer = await say(demo_store, Message(HIROSHI, HERE, "back-channel armed group leadership"))
    assert title not in answer.fallback
    assert title not in (await home(HIROSHI, Deps(store=demo_store))).fallback
    for action in (ValidationButton.OPEN, ValidationButton.VALIDATE, ValidationButton.REJECT):
        assert text(await say(demo_store, press(HIROSHI, action, lesson_id))) == hidden
    withdraw = Command(HIROSHI, HERE, "lessons", f"withdraw {lesson_id} tidy up")
    assert text(await say(demo_store, withdraw)) == hidden
    with pytest.raises(NotFound):
        await Reports(demo_store).lesson_page(viewer, lesson_id)
    browsed = await Reports(demo_store).browse(viewer, "back-channel")
    assert lesson_id not in [row.lesson_id for row in browsed.rows]
    assert status(demo_store, lesson_id) == LessonStatus.IDENTIFIED
    assert await Audit(demo_store).events() == []
