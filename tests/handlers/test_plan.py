"""Add actions to any validated lesson: recommendations → proposals → accepted → done → applied."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from test_validation import (
    AMINA,
    HERE,
    KWAME,
    NGOZI,
    TOMAS,
    Inbox,
    buttons,
    directory,
    form_of,
    press,
    say,
    status,
    text,
)

from handlers.actions import ActionButton
from handlers.capture import LessonForm
from handlers.chat import Command, FormSubmit, Message
from handlers.home import home
from handlers.plan import PlanButton, PlanForm
from handlers.reviews.cards import AarButton
from handlers.router import Deps
from handlers.validation import ValidationButton
from knowledge.models import Lesson, LessonStatus, Product
from knowledge.storage import Store

__all__ = ["directory"]  # the fixture, shared with test_validation

RECOMMENDATION = (
    "Keep a fuel reserve for three nights at every team site. "
    "Brief drivers on the night convoy plan before each rotation."
)


async def logged(store: Store, inbox: Inbox) -> int:
    values = {
        "title": "Fuel reserve for night convoys",
        "lesson": "Night convoys stalled when team sites ran out of fuel.",
        "recommendation": RECOMMENDATION,
    }
    await say(store, FormSubmit(AMINA, HERE, LessonForm.NEW, values), inbox)
    with store.session() as s:
        return s.scalars(
            select(Lesson.id).join(Product).where(Product.title == values["title"])
        ).one()


async def test_a_validated_note_reaches_applied_through_actions(directory: Store) -> None:
    inbox = Inbox()
    lesson_id = await logged(directory, inbox)
    validated = await say(directory, press(NGOZI, ValidationButton.VALIDATE, lesson_id), inbox)
    assert buttons(validated)[PlanButton.OPEN].value == str(lesson_id)
    [news] = inbox.to(AMINA)
    assert buttons(news)[PlanButton.OPEN].value == str(lesson_id)  # the author may add too
    assert f"Add actions #{lesson_id}" in " ".join(
        b.label for b in buttons(await home(AMINA, Deps(directory, inbox))).values()
    )

    opened = await say(directory, press(NGOZI, PlanButton.OPEN, lesson_id), inbox)
    form = form_of(opened)
    assert form.form == f"{PlanForm.ADD}:{lesson_id}"
    first = {i.name: i for i in form.inputs}
    assert first["description"].initial.startswith("Keep a fuel reserve")
    assert first["due"].date

    today = directory.today()
    for owner, due in (("Tomás Herrera", "in 3 weeks"), ("kwame", "end of month")):
        description = form_of(opened).inputs[0].initial
        values = {"description": description, "owner": owner, "due": due}
        opened = await say(directory, FormSubmit(NGOZI, HERE, form.form, values), inbox)
        assert "✅ Proposed to" in text(opened)
        opened = await say(directory, press(NGOZI, PlanButton.OPEN, lesson_id), inbox)
    assert "0 of 0 actions done, 2 waiting for their owner" in text(opened)
    assert form_of(opened).inputs[0].initial == ""  # both recommendations carry an action

    cards = {
        who.user_id: [r for r in inbox.to(who) if AarButton.ACCEPT in buttons(r)]
        for who in (TOMAS, KWAME)
    }
    assert all(len(c) == 1 for c in cards.values())
    for who in (TOMAS, KWAME):
        [card] = cards[who.user_id]
        accepted = await say(
            directory, press(who, AarButton.ACCEPT, int(buttons(card)[AarButton.ACCEPT].value))
        )
        assert "✅ Accepted" in text(accepted)
    tomas_due = today + timedelta(weeks=3)
    actions = {
        a.owner_name: a
        for who in (TOMAS, KWAME)
        for a in await directory.actions_of((await directory.person_for("local", who.user_id)) or 0)
        if a.lesson_id == lesson_id
    }
    assert actions["Tomás Herrera"].due_date == tomas_due
    assert status(directory, lesson_id) == LessonStatus.VALIDATED

    for who, name in ((TOMAS, "Tomás Herrera"), (KWAME, "Kwame Asante")):
        done = FormSubmit(
            who,
            HERE,
            f"{ActionButton.DONE}:{actions[name].id}",
            {"evidence": "https://example.org/sop-fuel"},
        )
        await say(directory, done, inbox)
    assert status(directory, lesson_id) == LessonStatus.APPLIED
    with directory.session() as s:
        lesson = s.get(Lesson, lesson_id)
        assert lesson is not None and lesson.applied_at is not None
        assert lesson.applied_at.date() == today  # the follow-up is planned from this date

    answer = await say(directory, Message(TOMAS, HERE, "fuel reserve night convoys"))
    assert "● applied" in answer.fallback


async def test_only_its_validator_authors_managers_and_pbpos_add_actions(directory: Store) -> None:
    inbox = Inbox()
    lesson_id = await logged(directory, inbox)
    early = await say(directory, press(AMINA, PlanButton.OPEN, lesson_id), inbox)
    assert "cannot take actions until it is validated" in text(early)
    await say(directory, press(NGOZI, ValidationButton.VALIDATE, lesson_id), inbox)
    refused = await say(directory, press(TOMAS, PlanButton.OPEN, lesson_id), inbox)
    assert text(refused).startswith("⚠️ Only its validator")


async def test_a_mistake_in_the_form_keeps_what_was_typed(directory: Store) -> None:
    inbox = Inbox()
    lesson_id = await logged(directory, inbox)
    await say(directory, press(NGOZI, ValidationButton.VALIDATE, lesson_id), inbox)
    values = {"description": "Stock fuel", "owner": "Tomaz Herera", "due": "someday"}
    reply = await say(directory, FormSubmit(NGOZI, HERE, f"{PlanForm.ADD}:{lesson_id}", values))
    inputs = {i.name: i for i in form_of(reply).inputs}
    assert {k: inputs[k].initial for k in values} == values
    assert "Did you mean Tomás Herrera" in (inputs["owner"].error or "")
    assert "couldn't read 'someday'" in (inputs["due"].error or "")
    assert inputs["description"].error is None


async def test_the_cli_word_adds_actions_too(directory: Store) -> None:
    inbox = Inbox()
    lesson_id = await logged(directory, inbox)
    await say(directory, press(NGOZI, ValidationButton.VALIDATE, lesson_id), inbox)
    reply = await say(directory, Command(NGOZI, HERE, "lessons", f"actions add {lesson_id}"))
    assert form_of(reply).form == f"{PlanForm.ADD}:{lesson_id}"
