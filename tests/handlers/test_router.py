"""Router: help words, questions, buttons and forms, and who may see restricted lessons."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from handlers.chat import (
    Button,
    ButtonPress,
    Command,
    ConversationRef,
    FormSubmit,
    Incoming,
    Message,
    Reply,
    Text,
    UserRef,
)
from handlers.deps import Deps
from handlers.help import HELP, help_reply
from handlers.router import BUTTONS, HELP_WORDS, SORRY, dispatch
from knowledge.storage import Store

DEMO = Path(__file__).resolve().parents[2] / "knowledge" / "demo" / "corpus.json"
GUEST = UserRef("local", "guest")
HERE = ConversationRef("local", "terminal")
ELECTIONS = "what did we learn about elections?"


def demo_product(external_id: str) -> dict[str, object]:
    """Return one product of the demo corpus as written in the file."""
    products = json.loads(DEMO.read_text(encoding="utf-8"))["products"]
    found: dict[str, object] = next(p for p in products if p["external_id"] == external_id)
    return found


def demo_people_with_role(role: str) -> list[str]:
    """Return the emails of demo people holding a role."""
    people = json.loads(DEMO.read_text(encoding="utf-8"))["people"]
    return [p["email"] for p in people if role in p.get("roles", [])]


# The EoAR restricted to PBPOs (audience group:pbpo) and the AAR shared in one channel.
PBPO_EOAR = demo_product("demo:eoar-petrova-untmis-2025")
CHANNEL_AAR = demo_product("demo:minusca-mediation-backchannel-2024")


def text_of(reply: Reply | None) -> str:
    """Return every Text of a reply, joined."""
    assert reply is not None
    return "\n".join(e.markdown for e in reply.elements if isinstance(e, Text))


async def ask_as(store: Store, who: UserRef, question: str, where: ConversationRef = HERE) -> str:
    reply = await dispatch(Message(who, where, question), Deps(store=store))
    return text_of(reply)


async def test_help_words_give_the_help_text(demo_store: Store) -> None:
    for word in sorted(HELP_WORDS):
        for said in (word, f"  {word.upper()}  "):
            for incoming in (
                Message(GUEST, HERE, said),
                Command(GUEST, HERE, "lessons", said),
            ):
                reply = await dispatch(incoming, Deps(store=demo_store))

                assert reply == help_reply(), incoming
                assert text_of(reply) == HELP


async def test_help_text_names_what_the_bot_does() -> None:
    assert "what did we learn about" in HELP
    assert "identified → validated → applied" in HELP


async def test_help_inside_a_sentence_is_a_question(demo_store: Store) -> None:
    reply = await dispatch(Message(GUEST, HERE, "help with elections"), Deps(store=demo_store))

    assert reply != help_reply()
    assert any(isinstance(e, Button) and e.label == "Helpful" for e in reply.elements)


@pytest.mark.parametrize(
    "incoming",
    [
        Message(GUEST, HERE, ELECTIONS),
        Command(GUEST, HERE, "lessons", ELECTIONS),
    ],
    ids=["message", "command"],
)
async def test_message_and_command_are_both_answered(demo_store: Store, incoming: Incoming) -> None:
    reply = await dispatch(incoming, Deps(store=demo_store))

    assert text_of(reply).startswith("Here are the 5 closest lessons:")
    assert "Electoral Affairs" in text_of(reply)


async def test_blank_message_asks_for_a_question(demo_store: Store) -> None:
    reply = await dispatch(Message(GUEST, HERE, "   "), Deps(store=demo_store))

    assert text_of(reply).startswith("Ask me what we learned about something")
    assert not any(isinstance(e, Button) for e in reply.elements)


@pytest.mark.parametrize(
    "incoming",
    [
        ButtonPress(GUEST, HERE, "teleport.now", "1"),
        ButtonPress(GUEST, HERE, "", ""),
        FormSubmit(GUEST, HERE, "nothing.here", {"expected": "x"}),
    ],
    ids=["button", "blank-button", "form"],
)
async def test_unknown_buttons_and_forms_get_a_private_friendly_answer(
    demo_store: Store, incoming: Incoming
) -> None:
    reply = await dispatch(incoming, Deps(store=demo_store))

    assert reply is not None and reply.private
    assert "I don't know the command" in text_of(reply)


async def test_a_failing_handler_is_answered_with_an_apology_not_a_trace(
    demo_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(press: ButtonPress, deps: Deps) -> Reply | None:
        raise RuntimeError("secret internals")

    BUTTONS["broken"] = broken
    try:
        reply = await dispatch(ButtonPress(GUEST, HERE, "broken.x", ""), Deps(store=demo_store))
    finally:
        del BUTTONS["broken"]

    assert reply is not None and reply.private
    assert text_of(reply) == SORRY
    assert "secret internals" not in text_of(reply)
    assert "handler failed" in caplog.text  # the log keeps what went wrong


def test_restricted_demo_products_are_what_these_tests_expect() -> None:
    assert PBPO_EOAR["audience"] == ["group:pbpo"]
    assert "farida.rahimi@un.example" in demo_people_with_role("pbpo")
    assert "nobody@example.org" not in demo_people_with_role("pbpo")
    assert CHANNEL_AAR["audience"] == ["channel:mediation-support"]


@pytest.mark.parametrize("email", ["farida.rahimi@un.example", "Farida.Rahimi@UN.example"])
async def test_member_of_the_audience_sees_the_restricted_lesson(
    demo_store: Store, email: str
) -> None:
    said = await ask_as(
        demo_store, UserRef("local", email), "good offices capacity in a transition"
    )

    assert str(PBPO_EOAR["title"]) in said


@pytest.mark.parametrize("user_id", ["nobody@example.org", "amina.diallo@un.example"])
async def test_others_do_not_see_the_restricted_lesson(demo_store: Store, user_id: str) -> None:
    said = await ask_as(
        demo_store, UserRef("local", user_id), "good offices capacity in a transition"
    )

    assert said.startswith("Here are")  # the question is answered, without the lesson
    assert str(PBPO_EOAR["title"]) not in said
    assert "Petrova" not in said


async def test_channel_audience_opens_the_lesson_in_that_channel_only(demo_store: Store) -> None:
    question = "back-channel with armed group leadership"
    title = str(CHANNEL_AAR["title"])
    in_channel = ConversationRef("local", "c1", channel_name="mediation-support", space="local:c1")
    elsewhere = ConversationRef("local", "c2", channel_name="general", space="local:c2")
    look_alike = ConversationRef("teams", "19:x", channel_name="mediation-support",
                                 space="teams:t:chat:19:x")  # fmt: skip
    pbpo = UserRef("local", "farida.rahimi@un.example")

    # The channel's name alone opens nothing.
    assert title not in await ask_as(demo_store, GUEST, question, in_channel)
    # Only a PBPO (or an admin) links it, from inside the channel.
    refused = await dispatch(
        Message(GUEST, in_channel, "audience link mediation-support"), Deps(store=demo_store)
    )
    assert refused is not None and "Only a PBPO" in refused.fallback
    assert title not in await ask_as(demo_store, GUEST, question, in_channel)
    linked = await dispatch(
        Message(pbpo, in_channel, "audience link mediation-support"), Deps(store=demo_store)
    )
    assert linked is not None and "Linked" in linked.fallback

    assert title in await ask_as(demo_store, GUEST, question, in_channel)
    assert title not in await ask_as(demo_store, GUEST, question, elsewhere)
    assert title not in await ask_as(demo_store, GUEST, question, look_alike)


async def test_an_answer_posted_in_a_channel_never_shows_the_askers_restricted_lessons(
    demo_store: Store,
) -> None:
    pbpo = UserRef("local", "farida.rahimi@un.example")
    question = "good offices capacity in a transition"
    channel = ConversationRef("local", "mission-hq", channel_name="mission-hq")

    in_channel = await ask_as(demo_store, pbpo, question, where=channel)
    in_dm = await ask_as(demo_store, pbpo, question)
    private = await dispatch(Command(pbpo, channel, "lessons", question), Deps(store=demo_store))

    assert str(PBPO_EOAR["title"]) not in in_channel  # everyone in #mission-hq reads it
    assert str(PBPO_EOAR["title"]) in in_dm
    assert private is not None and private.private  # a slash command's answer is hers alone
    assert str(PBPO_EOAR["title"]) in text_of(private)
