"""Ask: answer cards, feedback buttons, help when nothing matches, relaxed filters."""

from __future__ import annotations

import re

import pytest

from handlers.ask import MAX_QUESTION, AskAction
from handlers.chat import Button, ConversationRef, Divider, Fields, Message, Reply, Text, UserRef
from handlers.router import Deps, dispatch
from knowledge.storage import Store

GUEST = UserRef("local", "guest")
HERE = ConversationRef("local", "terminal")
LABELS = ("Type", "Mission", "Date", "Author", "Status")


async def ask(store: Store, question: str) -> Reply:
    return await dispatch(Message(GUEST, HERE, question), Deps(store=store))


def cards(reply: Reply) -> list[tuple[Text, Fields, Button, Button]]:
    """Split an answer into its lesson cards: Text, Fields, Helpful and Not helpful."""
    found = []
    elements = reply.elements
    for i, element in enumerate(elements):
        if isinstance(element, Fields):
            text, helpful, not_helpful = elements[i - 1], elements[i + 1], elements[i + 2]
            assert isinstance(text, Text)
            assert isinstance(helpful, Button)
            assert isinstance(not_helpful, Button)
            found.append((text, element, helpful, not_helpful))
    return found


def only_text(reply: Reply) -> str:
    assert len(reply.elements) == 1
    element = reply.elements[0]
    assert isinstance(element, Text)
    return element.markdown


async def test_question_gives_five_cards_with_feedback_buttons(demo_store: Store) -> None:
    reply = await ask(demo_store, "what did we learn about elections?")
    found = cards(reply)

    assert len(found) == 5
    for _text, _fields, helpful, not_helpful in found:
        assert (helpful.label, helpful.action) == ("Helpful", AskAction.HELPFUL)
        assert (not_helpful.label, not_helpful.action) == ("Not helpful", AskAction.NOT_HELPFUL)
        assert helpful.value == not_helpful.value
        assert helpful.value.isdigit()
    assert len({helpful.value for _, _, helpful, _ in found}) == 5


async def test_button_value_is_the_id_of_the_lesson_on_the_card(demo_store: Store) -> None:
    reply = await ask(demo_store, "what did we learn about elections?")

    for text, _fields, helpful, _ in cards(reply):
        lesson = await demo_store.lesson(int(helpful.value))
        title, takeaway = text.markdown.split("\n", 1)
        assert title.startswith(f"*[{lesson.product.title}")
        assert title.endswith(f"]({lesson.product.source_url})*")
        own_text = " ".join(
            (lesson.lesson, lesson.recommendation, lesson.observation, lesson.product.summary)
        )
        assert takeaway.removesuffix("…") in " ".join(own_text.split())


async def test_card_fields_are_type_mission_date_author_status(demo_store: Store) -> None:
    reply = await ask(demo_store, "what did we learn about elections?")

    for _text, fields, _, _ in cards(reply):
        assert tuple(label for label, _ in fields.pairs) == LABELS
        values = dict(fields.pairs)
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", values["Date"])
        assert values["Status"] in {"◔ identified", "◑ validated", "● applied"}
    first = dict(cards(reply)[0][1].pairs)
    assert first["Type"] == "End of Assignment Report"
    assert first["Mission"] == "MINUSMA"
    assert first["Author"] == "Ngozi Okafor"


async def test_answer_has_a_heading_dividers_and_show_more(demo_store: Store) -> None:
    reply = await ask(demo_store, "what did we learn about elections?")
    heading, last = reply.elements[0], reply.elements[-1]

    assert heading == Text("Here are the 5 closest lessons:")
    assert sum(isinstance(e, Divider) for e in reply.elements) == 6  # before each card and more
    assert isinstance(last, Button)
    assert (last.label, last.action) == ("Show more", AskAction.MORE)
    assert last.value == "what did we learn about elections?"


async def test_no_result_mentions_themes_and_pbpo_contacts(demo_store: Store) -> None:
    said = only_text(await ask(demo_store, "what did we learn about zxqwvy?"))

    assert said.startswith("I found no lessons on that yet.")
    assert "Themes with many lessons: #" in said
    assert "#elections" in said
    assert "Policy and Best Practices Officers who may know: " in said
    assert "Farida Rahimi <farida.rahimi@un.example>" in said
    assert "Kwame Asante" not in said  # a mission leader, not a PBPO


async def test_typo_is_corrected_and_said(demo_store: Store) -> None:
    reply = await ask(demo_store, "what did we learn about electoins?")

    assert reply.elements[0] == Text("Here are the 5 closest lessons (searched for *elections*):")
    assert len(cards(reply)) == 5


@pytest.mark.parametrize(
    ("question", "first_title"),
    [
        (
            "only AARs about referendum",
            "MINUSMA support to the June 2023 constitutional referendum",
        ),
        ("elections in UNIFIL", "Chief of Electoral Affairs, MINUSMA"),
    ],
    ids=["type", "mission"],
)
async def test_relaxed_answer_says_the_filters_were_dropped(
    demo_store: Store, question: str, first_title: str
) -> None:
    reply = await ask(demo_store, question)
    heading = reply.elements[0]

    assert isinstance(heading, Text)
    assert heading.markdown.startswith(
        "Nothing matched your type, mission, status or date, so without them: Here are"
    )
    assert first_title in cards(reply)[0][0].markdown


async def test_relaxed_date_filter(demo_store: Store) -> None:
    reply = await ask(demo_store, "elections in 2010")
    heading = reply.elements[0]

    assert isinstance(heading, Text)
    assert heading.markdown.startswith("Nothing matched your type, mission, status or date")
    assert cards(reply)


async def test_filter_with_no_match_and_no_relaxing_says_filters_may_be_narrow(
    demo_store: Store,
) -> None:
    said = only_text(await ask(demo_store, "status:rejected elections"))

    assert said.startswith("I found no lessons on that yet.")
    assert "Your filters may be too narrow" in said


async def test_filter_that_matches_is_not_relaxed(demo_store: Store) -> None:
    reply = await ask(demo_store, "only AARs about voter registration")

    assert reply.elements[0] == Text("Here is the 1 closest lesson:")
    ((_text, fields, _, _),) = cards(reply)
    assert dict(fields.pairs)["Type"] == "After-Action Review"


async def test_overlong_question_is_clipped_not_refused(demo_store: Store) -> None:
    reply = await ask(demo_store, "elections " * MAX_QUESTION)

    assert cards(reply)
    more = reply.elements[-1]
    assert isinstance(more, Button)
    assert len(more.value) <= 500
