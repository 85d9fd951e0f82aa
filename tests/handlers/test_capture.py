"""Capturing a lesson from chat: the form, "Save as lesson", saving and the validator's card."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from handlers.capture import PREFILL_TEXT, LessonAction, LessonForm
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
from handlers.router import dispatch
from knowledge.models import Lesson, LessonStatus, Product, ProductType
from knowledge.records import PersonRecord, ProductRecord
from knowledge.search.answer import Viewer
from knowledge.storage import Store

DEMO = Path(__file__).resolve().parents[2] / "knowledge" / "demo" / "corpus.json"
AMINA = UserRef("local", "amina.diallo@un.example", "Amina Diallo")
KWAME = UserRef("local", "kwame.asante@un.example", "Kwame Asante")
STRANGER = UserRef("local", "nobody@elsewhere.example")
HERE = ConversationRef("local", "dm:amina")
INPUTS = ["title", "observation", "lesson", "recommendation", "mission", "themes", "source"]
GOOD = {
    "title": "Reserve fuel for night convoys",
    "observation": "Two convoys ran dry near Kaga-Bandoro after dark.",
    "lesson": "Night convoys need a fuel reserve of one extra leg.",
    "recommendation": "Logistics to add a reserve line to the convoy checklist.",
    "mission": "",
    "themes": "logistics, #Convoys",
    "source": "https://chat.example/archives/C1/p42",
}


@dataclass
class Inbox:
    """The platform side of a Notifier: records what handlers send to people."""

    platform: str = "local"
    sent: list[tuple[UserRef, Reply]] = field(default_factory=list)
    broken: bool = False

    async def send(self, to: UserRef, reply: Reply) -> None:
        if self.broken:
            raise ConnectionError("the platform is down")
        self.sent.append((to, reply))

    async def post(self, where: ConversationRef, reply: Reply) -> ConversationRef | None:
        raise AssertionError("capturing never posts in channels")


async def run(store: Store, incoming: Incoming, inbox: Inbox | None = None) -> Reply:
    reply = await dispatch(incoming, Deps(store=store, notifier=inbox))
    assert reply is not None
    return reply


def text(reply: Reply) -> str:
    return "\n".join(e.markdown for e in reply.elements if isinstance(e, Text))


def form_of(reply: Reply) -> Form:
    forms = [e for e in reply.elements if isinstance(e, Form)]
    assert len(forms) == 1, reply
    return forms[0]


def initial(reply: Reply) -> dict[str, str]:
    return {i.name: i.initial for i in form_of(reply).inputs}


def notes(store: Store) -> list[tuple[Product, Lesson]]:
    with store.session() as s:
        rows = s.execute(
            select(Product, Lesson)
            .join(Lesson, Lesson.product_id == Product.id)
            .where(Product.type == ProductType.NOTE)
        ).all()
        return [(p, lesson) for p, lesson in rows]


def products(store: Store) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(Product)) or 0


@pytest.fixture
async def directory(store: Store, today: date) -> Store:
    """Return a store holding the demo directory (people only: quicker than the corpus)."""
    people = json.loads(DEMO.read_text(encoding="utf-8"))["people"]
    records: list[tuple[int, PersonRecord | ProductRecord]] = [
        (i, PersonRecord.from_mapping(p, today=today)) for i, p in enumerate(people, 1)
    ]
    await store.import_records(records, source="people")
    return store


def save(who: UserRef = AMINA, **values: str) -> FormSubmit:
    return FormSubmit(who, HERE, LessonForm.NEW, GOOD | values)


# The form -------------------------------------------------------------------------------------


async def test_asking_to_log_a_lesson_opens_the_form(directory: Store) -> None:
    for incoming in (
        Command(AMINA, HERE, "lessons", "new"),
        Command(AMINA, HERE, "lessons", " NEW "),
        Command(AMINA, HERE, "lessons", "capture"),
        Command(AMINA, HERE, "lessons", "log a lesson"),
        Message(AMINA, HERE, "new lesson"),
        Message(AMINA, HERE, "Log a lesson"),
        Message(AMINA, HERE, "capture"),
        ButtonPress(AMINA, HERE, LessonAction.NEW, ""),
    ):
        reply = await run(directory, incoming)

        assert reply.private, incoming
        form = form_of(reply)
        assert (form.form, form.title, form.submit) == ("lesson.new", "Log a lesson", "Save lesson")
        assert [i.name for i in form.inputs] == INPUTS
        assert [i.name for i in form.inputs if not i.optional] == ["title", "lesson"]
        multiline = [i.name for i in form.inputs if i.multiline]
        assert multiline == ["observation", "lesson", "recommendation"]
        assert initial(reply) == dict.fromkeys(INPUTS, "") | {"mission": "MINUSCA"}, incoming
    reply = await run(directory, Command(AMINA, HERE, "lessons", "new lesson: Reserve fuel"))
    assert initial(reply)["title"] == "Reserve fuel"  # words after `new` prefill the title


async def test_questions_that_start_like_a_request_are_not_one(demo_store: Store) -> None:
    for said in ("new approaches to elections?", "log frames in DDR", "capture of weapons"):
        reply = await run(demo_store, Message(AMINA, HERE, said))

        assert not any(isinstance(e, Form) for e in reply.elements), said
        assert any(isinstance(e, Button) and e.label == "Helpful" for e in reply.elements), said


async def test_save_as_lesson_prefills_the_form_with_the_message(directory: Store) -> None:
    message = "  \n  Convoy ran out of fuel near Kaga-Bandoro, again \nWe waited six hours."
    link = "https://un.slack.com/archives/C1/p1700000000"
    value = json.dumps({"text": message, "link": link})

    reply = await run(directory, ButtonPress(AMINA, HERE, LessonAction.SAVE_MESSAGE, value))

    assert initial(reply) == {
        "title": "Convoy ran out of fuel near Kaga-Bandoro, again",
        "observation": message.strip(),
        "lesson": "",
        "recommendation": "",
        "mission": "MINUSCA",
        "themes": "",
        "source": link,
    }


async def test_save_as_lesson_shortens_what_a_form_cannot_hold(directory: Store) -> None:
    long_line = "word " * 5000
    value = json.dumps({"text": long_line, "link": "javascript:alert(1)"})

    got = initial(await run(directory, ButtonPress(AMINA, HERE, LessonAction.SAVE_MESSAGE, value)))

    assert len(got["title"]) <= 80 and got["title"].endswith("…")
    assert len(got["observation"]) <= PREFILL_TEXT and got["observation"].endswith("…")
    assert got["source"] == ""  # a link the save would refuse is left out


async def test_save_as_lesson_with_an_unreadable_message_opens_an_empty_form(
    directory: Store,
) -> None:
    for value in ("{not json", "[1, 2]", '"just a string"', "null"):
        press = ButtonPress(AMINA, HERE, LessonAction.SAVE_MESSAGE, value)
        reply = await run(directory, press)

        assert "couldn't read that message" in text(reply), value
        assert initial(reply) == dict.fromkeys(INPUTS, "") | {"mission": "MINUSCA"}, value


async def test_save_as_lesson_tolerates_odd_fields(directory: Store) -> None:
    value = json.dumps({"text": 42, "link": ["x"], "extra": True})

    reply = await run(directory, ButtonPress(AMINA, HERE, LessonAction.SAVE_MESSAGE, value))

    assert initial(reply)["observation"] == ""
    assert initial(reply)["source"] == ""


# Saving ---------------------------------------------------------------------------------------


async def test_saving_creates_an_identified_note_and_asks_the_manager(
    demo_store: Store, today: date
) -> None:
    directory = demo_store  # the note is found at once among the whole demo corpus
    inbox = Inbox()

    reply = await run(directory, save(), inbox)

    assert reply.private
    said = text(reply)
    assert "Saved as a lesson note (*identified*)" in said
    assert "I asked Ngozi Okafor to validate it." in said
    assert any(isinstance(e, Button) and e.action == LessonAction.NEW for e in reply.elements)
    [(product, lesson)] = notes(directory)
    assert (product.title, product.mission, product.date) == (GOOD["title"], "MINUSCA", today)
    assert product.source_url == GOOD["source"]
    assert (lesson.status, lesson.lesson) == (LessonStatus.IDENTIFIED, GOOD["lesson"])
    answer = await directory.ask("reserve fuel night convoys", viewer=Viewer(None))
    assert answer.hits[0].lesson_id == lesson.id
    [(to, card)] = inbox.sent
    assert to == UserRef("local", "ngozi.okafor@un.example", "Ngozi Okafor")
    card_text = text(card)
    assert "Validation requested: a lesson note from Amina Diallo" in card_text
    assert f"[{GOOD['title']}]({GOOD['source']})" in card_text
    assert GOOD["lesson"] in card_text
    assert "Awaiting your validation" in card_text


async def test_without_a_manager_the_mission_pbpo_is_asked(directory: Store) -> None:
    inbox = Inbox()

    reply = await run(directory, save(KWAME), inbox)

    assert "I asked Farida Rahimi to validate it." in text(reply)
    assert [to.user_id for to, _ in inbox.sent] == ["farida.rahimi@un.example"]


async def test_with_nobody_to_validate_the_author_is_told(store: Store, today: date) -> None:
    alone = PersonRecord.from_mapping({"name": "Al One", "email": "al@x.org"}, today=today)
    await store.import_records([(1, alone)], source="people")
    inbox = Inbox()

    reply = await run(store, save(UserRef("local", "al@x.org")), inbox)

    assert "I found no manager or PBPO to validate it" in text(reply)
    assert inbox.sent == []
    assert len(notes(store)) == 1


async def test_an_unreachable_validator_is_named_and_the_note_kept(directory: Store) -> None:
    for i, inbox in enumerate((None, Inbox(broken=True))):
        reply = await run(directory, save(lesson=f"Lesson {i}"), inbox)

        assert "Ngozi Okafor should validate it (I could not message them here)." in text(reply)
        assert len(notes(directory)) == i + 1


async def test_saving_twice_saves_once_and_says_so(directory: Store) -> None:
    inbox = Inbox()
    await run(directory, save(), inbox)

    again = await run(directory, save(), inbox)

    assert again.private and "saved this lesson already" in text(again)
    assert len(notes(directory)) == 1
    assert len(inbox.sent) == 1


async def test_unusable_input_is_refused_kindly_and_nothing_saved(directory: Store) -> None:
    inbox, before = Inbox(), products(directory)

    for values, message in (
        ({"title": ""}, "write a title"),
        ({"title": "\u200b\u200b"}, "write a title"),
        ({"lesson": "   "}, "write what was learned"),
        ({"lesson": "x" * 20_000}, "it has 20,000"),
        ({"observation": "word " * 4000}, "the observation"),
        ({"source": "javascript:alert(document.cookie)"}, "https://"),
        ({"themes": ",".join(f"t{i}" for i in range(12))}, "at most 10 themes"),
    ):
        reply = await run(directory, save(**values), inbox)

        assert reply.private, values
        assert text(reply).startswith("⚠️ ") and message in text(reply), values
    missing = await run(directory, FormSubmit(AMINA, HERE, LessonForm.NEW, {}), inbox)
    assert "write a title" in text(missing)
    assert products(directory) == before
    assert inbox.sent == []


async def test_themes_and_mission_from_the_form_are_kept(directory: Store) -> None:
    await run(directory, save(mission="UNMISS", themes="Logistics; #convoys\nlogistics"))

    [(product, _)] = notes(directory)
    assert product.mission == "UNMISS"
    assert sorted(t.theme for t in product.themes) == ["convoys", "logistics"]


# Who may ---------------------------------------------------------------------------------------


async def test_people_not_in_the_directory_are_told_how_to_get_added(directory: Store) -> None:
    before = products(directory)

    for incoming in (
        Command(STRANGER, HERE, "lessons", "new"),
        ButtonPress(STRANGER, HERE, LessonAction.NEW, ""),
        ButtonPress(STRANGER, HERE, LessonAction.SAVE_MESSAGE, json.dumps({"text": "x"})),
        save(STRANGER),
    ):
        reply = await run(directory, incoming, Inbox())

        assert reply.private, incoming
        assert "not in the staff directory" in text(reply), incoming
        assert "Policy and Best Practices Officer" in text(reply), incoming
        assert not any(isinstance(e, Form) for e in reply.elements), incoming
    assert products(directory) == before


async def test_stale_buttons_and_forms_are_explained(directory: Store) -> None:
    for incoming in (
        ButtonPress(AMINA, HERE, "lesson.validate", "1"),
        FormSubmit(AMINA, HERE, "lesson.other", dict(GOOD)),
    ):
        reply = await run(directory, incoming)

        assert reply.private and "out of date" in text(reply), incoming
        assert "/lessons new" in text(reply), incoming
