"""The home: my actions, lessons awaiting my validation, recently applied lessons, ways in."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from handlers.actions import ActionButton
from handlers.capture import LessonAction, LessonForm
from handlers.chat import (
    Button,
    ButtonPress,
    Command,
    ConversationRef,
    Form,
    FormSubmit,
    Message,
    Reply,
    Text,
    UserRef,
)
from handlers.deps import Deps
from handlers.help import HELP
from handlers.home import AAR_HINT, SHOWN, HomeAction, HomeForm, home, home_reply
from handlers.router import dispatch
from knowledge.capture import Awaiting
from knowledge.records import ProductRecord
from knowledge.storage import Store

DEMO = Path(__file__).resolve().parents[2] / "knowledge" / "demo" / "corpus.json"
HERE = ConversationRef("local", "dm:me")
STRANGER = UserRef("local", "nobody@elsewhere.example")


def me(email: str) -> UserRef:
    return UserRef("local", email)


@dataclass
class Inbox:
    """The platform side of a Notifier: records what handlers send to people."""

    platform: str = "local"
    sent: list[tuple[UserRef, Reply]] = field(default_factory=list)

    async def send(self, to: UserRef, reply: Reply) -> None:
        self.sent.append((to, reply))

    async def post(self, where: ConversationRef, reply: Reply) -> ConversationRef | None:
        raise AssertionError("the home never posts in channels")


def texts(reply: Reply) -> list[str]:
    return [e.markdown for e in reply.elements if isinstance(e, Text)]


def section(reply: Reply, heading: str) -> list[str]:
    """Return the lines of the Text that starts with a bold heading (empty when absent)."""
    found = [t for t in texts(reply) if t.startswith(f"*{heading}*")]
    assert len(found) <= 1
    return found[0].splitlines() if found else []


def buttons(reply: Reply) -> dict[str, str]:
    return {e.label: e.action for e in reply.elements if isinstance(e, Button)}


def corpus() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DEMO.read_text(encoding="utf-8"))
    return data


def awaiting_in_corpus(email: str) -> list[str]:
    """Return the product titles of the identified demo lessons `email` may validate.

    Written from the rules, independently of the query: the lead author's manager, or any
    PBPO (the demo's PBPOs cover every mission); never one's own lesson; restricted lessons
    only for their audience (the authors, and `group:<role>` of the viewer's roles).
    """
    data = corpus()
    people = {p["email"]: p for p in data["people"]}
    viewer = people[email]
    principals = {f"person:{email}"} | {f"group:{r}" for r in viewer.get("roles", [])}
    pbpo = "pbpo" in viewer.get("roles", [])
    titles = []
    for product in data["products"]:
        authors = product["authors"]
        audience = set(product.get("audience") or [])
        if email in authors or (audience and not audience & principals):
            continue
        lead = people.get(authors[0], {})
        for lesson in product["lessons"]:
            if lesson.get("status", "identified") != "identified":
                continue
            if pbpo or lead.get("manager") == email:
                titles.append(product["title"])
    return titles


def listed(reply: Reply) -> list[str]:
    """Return the lesson titles listed under "Awaiting your validation"."""
    lines = section(reply, "Awaiting your validation")[1:]
    return [line[2:].rsplit(" — ", 1)[0] for line in lines if line.startswith("• ")]


# Sections -------------------------------------------------------------------------------------


async def test_staff_see_their_actions_applied_lessons_and_the_ways_in(demo_store: Store) -> None:
    amina = me("amina.diallo@un.example")
    person = await demo_store.person_for("local", amina.user_id)
    assert person is not None
    actions = await demo_store.actions_of(person)

    reply = await home(amina, Deps(store=demo_store))

    assert reply.private
    assert texts(reply)[0].startswith("*Hello Amina*")
    lines = section(reply, "Your actions")
    assert len(lines) == 1 + min(len(actions), SHOWN)
    for action, line in zip(actions, lines[1:], strict=False):
        assert action.description in line
    assert section(reply, "Awaiting your validation") == []  # staff validate nothing
    assert section(reply, "Recently applied lessons")
    assert buttons(reply) == {
        "See all my actions": ActionButton.LIST,
        "Ask a question": HomeAction.ASK,
        "Log a lesson": LessonAction.NEW,
        "Refresh": HomeAction.REFRESH,
    }
    assert AAR_HINT in texts(reply)
    assert "/aar start <event>" in AAR_HINT


async def test_actions_come_overdue_first_at_most_five_or_none(
    demo_store: Store, today: date
) -> None:
    tomas = me("tomas.herrera@un.example")
    person = await demo_store.person_for("local", tomas.user_id)
    assert person is not None
    actions = await demo_store.actions_of(person)
    overdue = [a for a in actions if a.is_overdue(today)]
    assert len(actions) > SHOWN and overdue  # what this test relies on

    lines = section(await home(tomas, Deps(store=demo_store)), "Your actions")

    assert lines[0] == f"*Your actions* ({len(actions)} open, {len(overdue)} overdue)"
    shown = lines[1 : 1 + SHOWN]
    flags = ["overdue" in line for line in shown]
    assert flags == sorted(flags, reverse=True)  # every overdue line before the others
    assert sum(flags) == min(len(overdue), SHOWN)
    assert lines[-1] == f"…and {len(actions) - SHOWN} more."
    idle = await home(me("rafael.souza@un.example"), Deps(store=demo_store))  # no open action
    assert section(idle, "Your actions")[1] == "Nothing is waiting on you. 🎉"
    assert "See all my actions" not in buttons(idle)


async def test_managers_see_exactly_the_lessons_of_their_people_new_ones_too(
    demo_store: Store,
) -> None:
    for email in (
        "sofia.lindqvist@un.example",  # a manager
        "kwame.asante@un.example",  # manages people without the manager role
        "ngozi.okafor@un.example",  # co-wrote her reports' lessons: none are hers to validate
    ):
        expected = awaiting_in_corpus(email)
        reply = await home(me(email), Deps(store=demo_store))

        lines = section(reply, "Awaiting your validation")
        assert lines, f"{email}: a manager always sees the section"
        if expected:
            assert lines[0] == f"*Awaiting your validation* ({len(expected)})", email
            assert sorted(listed(reply)) == sorted(expected), email
        else:
            assert lines[1] == "Nothing awaits your validation right now.", email

    # Once Amina logs a lesson, it waits on her manager's home (and she got a card).
    inbox = Inbox()
    values = {"title": "Reserve fuel for night convoys", "lesson": "Carry one extra leg."}
    amina = me("amina.diallo@un.example")
    await dispatch(FormSubmit(amina, HERE, LessonForm.NEW, values), Deps(demo_store, inbox))
    assert listed(await home(me("ngozi.okafor@un.example"), Deps(store=demo_store))) == [
        values["title"]
    ]
    assert [to.user_id for to, _ in inbox.sent] == ["ngozi.okafor@un.example"]


async def test_a_pbpo_sees_every_lesson_they_may_see_their_mission_first(
    demo_store: Store,
) -> None:
    farida = "farida.rahimi@un.example"
    expected = awaiting_in_corpus(farida)

    reply = await home(me(farida), Deps(store=demo_store))

    lines = section(reply, "Awaiting your validation")
    assert lines[0] == f"*Awaiting your validation* ({len(expected)})"
    people = {p["email"]: p for p in corpus()["people"]}
    minusca = {  # by the product's mission, or its lead author's
        p["title"]
        for p in corpus()["products"]
        if "MINUSCA" in (p["mission"], people[p["authors"][0]]["mission"])
    }
    assert len(minusca & set(expected)) >= SHOWN
    shown = listed(reply)
    assert len(shown) == SHOWN
    assert set(shown) <= minusca
    assert lines[-1].startswith(f"…and {len(expected) - SHOWN} more")
    restricted = {p["title"] for p in corpus()["products"] if p.get("audience")}
    pbpo_only = {p["title"] for p in corpus()["products"] if p.get("audience") == ["group:pbpo"]}
    assert pbpo_only <= set(expected)  # the EoAR for PBPOs counts for her
    assert not (restricted - pbpo_only) & set(expected)


async def test_restricted_applied_lessons_stay_with_their_audience(
    demo_store: Store, today: date
) -> None:
    secret = {
        "external_id": "test:secret-applied",
        "type": "aar",
        "title": "AAR: A sensitive change only the conduct team may read",
        "date": "2026-01-10",
        "mission": "MINUSCA",
        "authors": ["amina.diallo@un.example"],
        "audience": ["group:conduct"],
        "lessons": [
            {
                "lesson": "Keep the case file closed.",
                "status": "applied",
                "applied_on": today.isoformat(),  # the newest applied lesson of all
                "actions": [{"description": "Close it", "status": "done", "evidence": "Done."}],
            }
        ],
    }
    record = ProductRecord.from_mapping(secret, today=today)
    await demo_store.import_records([(1, record)], source="test")

    insider = await home(me("amina.diallo@un.example"), Deps(store=demo_store))
    outsider = await home(me("sofia.lindqvist@un.example"), Deps(store=demo_store))
    stranger = await home(STRANGER, Deps(store=demo_store))

    assert secret["title"] in section(insider, "Recently applied lessons")[2]
    for reply in (outsider, stranger):
        lines = section(reply, "Recently applied lessons")
        assert len(lines) == 2 + SHOWN
        assert not any(str(secret["title"]) in line for line in lines)


async def test_people_not_in_the_directory_get_a_welcome_and_the_newest_applied_lessons(
    demo_store: Store,
) -> None:
    applied = sorted(
        (
            (lesson["applied_on"], i, product["title"])
            for i, product in enumerate(corpus()["products"])
            for lesson in product["lessons"]
            if lesson.get("status") == "applied" and not product.get("audience")
        ),
        reverse=True,
    )

    reply = await home(STRANGER, Deps(store=demo_store))

    lines = section(reply, "Recently applied lessons")
    assert lines[1] == "_Lessons that led to a change we made and checked._"
    for (day, _, title), line in zip(applied[:SHOWN], lines[2:], strict=True):
        assert line.startswith(f"• [{title}](https://") and line.endswith(f"applied {day}")
    assert len(lines) == 2 + SHOWN
    assert reply.private
    assert texts(reply)[0].startswith("*Welcome to Lessons Bot.*")
    assert "Policy and Best Practices Officer" in texts(reply)[0]
    assert HELP in texts(reply)
    assert section(reply, "Your actions") == []
    assert buttons(reply) == {"Ask a question": HomeAction.ASK, "Refresh": HomeAction.REFRESH}


# Routing --------------------------------------------------------------------------------------


async def test_home_is_reached_by_word_command_and_refresh(demo_store: Store) -> None:
    ngozi = me("ngozi.okafor@un.example")
    deps = Deps(store=demo_store)
    expected = await home(ngozi, deps)

    for incoming in (
        Message(ngozi, HERE, "home"),
        Message(ngozi, HERE, " Home "),
        Command(ngozi, HERE, "lessons", "home"),
        Command(ngozi, HERE, "lessons", "home please"),
    ):
        assert await dispatch(incoming, deps) == expected, incoming
    refreshed = await dispatch(ButtonPress(ngozi, HERE, HomeAction.REFRESH, ""), deps)
    assert refreshed == Reply(expected.elements, private=True, replace=True)
    question = await dispatch(Message(ngozi, HERE, "home visits in Bor"), deps)
    assert question is not None and question != expected  # a question, not the home


async def test_the_home_buttons_lead_somewhere_and_stale_ones_are_explained(
    demo_store: Store,
) -> None:
    tomas = me("tomas.herrera@un.example")
    deps = Deps(store=demo_store)
    reply = await home(tomas, deps)

    for label, action in buttons(reply).items():
        answer = await dispatch(ButtonPress(tomas, HERE, action, ""), deps)
        assert answer is not None and answer.private, label
        assert not any(t.startswith("⚠️") for t in texts(answer)), label
    log_form = await dispatch(ButtonPress(tomas, HERE, LessonAction.NEW, ""), deps)
    assert log_form is not None
    assert [e.form for e in log_form.elements if isinstance(e, Form)] == ["lesson.new"]
    mine = await dispatch(ButtonPress(tomas, HERE, ActionButton.LIST, ""), deps)
    assert mine is not None and texts(mine)[0].startswith("*Your open actions*")
    for incoming, message in (
        (FormSubmit(STRANGER, HERE, HomeForm.ASK, {"question": "  "}), "Type a question"),
        (FormSubmit(STRANGER, HERE, "home.elsewhere", {}), "out of date"),
        (ButtonPress(STRANGER, HERE, "home.nowhere", ""), "out of date"),
    ):
        odd = await dispatch(incoming, deps)
        assert odd is not None and odd.private, incoming
        assert message in "\n".join(texts(odd)), incoming


async def test_asking_from_the_home_answers_privately(demo_store: Store) -> None:
    farida = me("farida.rahimi@un.example")
    deps = Deps(store=demo_store)
    opened = await dispatch(ButtonPress(farida, HERE, HomeAction.ASK, ""), deps)
    assert opened is not None
    [form] = [e for e in opened.elements if isinstance(e, Form)]
    assert (form.form, [i.name for i in form.inputs]) == (HomeForm.ASK, ["question"])

    answer = await dispatch(
        FormSubmit(farida, HERE, HomeForm.ASK, {"question": "good offices in a transition"}),
        deps,
    )

    assert answer is not None and answer.private
    assert texts(answer)[0].startswith("Here are the")
    eoar = next(p for p in corpus()["products"] if p.get("audience") == ["group:pbpo"])
    assert any(eoar["title"] in t for t in texts(answer))  # asked as herself: a PBPO


def test_a_person_without_a_usable_name_is_greeted_plainly(today: date) -> None:
    nobody_waits = Awaiting((), 0, validator=False)

    reply = home_reply(name=" ", actions=[], awaiting=nobody_waits, applied=[], today=today)

    assert texts(reply)[0] == "*Hello*: here is what waits for you."
    assert section(reply, "Recently applied lessons")[2] == "No lesson has been applied yet."
