"""Terminal render: a Reply as plain text, every element type included."""

from __future__ import annotations

from typing import get_args

from bot.terminal.render import render
from handlers.chat import Button, Divider, Element, Fields, Form, Input, Reply, Text


def test_link_becomes_title_and_url_in_angle_brackets() -> None:
    reply = Reply.of(Text("See [the AAR](https://lessons.un.example/aar/1) for more."))

    assert render(reply) == "See the AAR <https://lessons.un.example/aar/1> for more."


def test_several_links_on_one_line_are_each_rewritten() -> None:
    reply = Reply.of(Text("[One](https://a.example/1) and [Two](https://b.example/2)"))

    assert render(reply) == "One <https://a.example/1> and Two <https://b.example/2>"


def test_bold_markers_are_removed() -> None:
    reply = Reply.of(Text("*Lessons Bot* helps: *what did we learn?*"))

    assert render(reply) == "Lessons Bot helps: what did we learn?"


def test_bold_link_title_keeps_title_and_url() -> None:
    reply = Reply.of(Text("*[Convoy AAR](https://lessons.un.example/aar/7)*\nVet suppliers."))

    assert render(reply) == "Convoy AAR <https://lessons.un.example/aar/7>\nVet suppliers."


def test_adjacent_buttons_share_one_line() -> None:
    reply = Reply.of(Button("Helpful", "ask.helpful", "3"), Button("Not helpful", "ask.no", "3"))

    assert render(reply) == "  [Helpful]  [Not helpful]"


def test_buttons_separated_by_text_are_on_separate_lines() -> None:
    reply = Reply.of(Button("A", "x.a"), Text("between"), Button("B", "x.b"), Button("C", "x.c"))

    assert render(reply).splitlines() == ["  [A]", "between", "  [B]  [C]"]


def test_divider_is_a_blank_line() -> None:
    reply = Reply.of(Text("first"), Divider(), Text("second"))

    assert render(reply) == "first\n\nsecond"


def test_fields_are_joined_on_one_indented_line() -> None:
    reply = Reply.of(Fields((("Type", "AAR"), ("Mission", "MINUSCA"), ("Status", "applied"))))

    assert render(reply) == "  Type: AAR · Mission: MINUSCA · Status: applied"


def test_form_degrades_to_a_note_with_its_title() -> None:
    form = Form("aar.start", "Start an AAR", (Input("expected", "What was expected?"),))

    assert render(Reply.of(form)) == "(form: Start an AAR — not available in the terminal)"


def test_empty_reply_is_empty_text() -> None:
    assert render(Reply.of()) == ""


def test_reply_with_every_element_type() -> None:
    elements: tuple[Element, ...] = (
        Text("*Here is* [one](https://x.example/1):"),
        Divider(),
        Fields((("Type", "AAR"), ("Date", "2025-06-18"))),
        Button("Helpful", "ask.helpful", "1"),
        Button("Not helpful", "ask.not_helpful", "1"),
        Form("aar.start", "Start an AAR", (Input("expected", "What was expected?"),)),
        Divider(),
        Button("Show more", "ask.more", "q"),
    )
    # a new element type added to handlers.chat must be added here (and to render)
    assert {type(e) for e in elements} == set(get_args(Element))

    assert render(Reply.of(*elements)).splitlines() == [
        "Here is one <https://x.example/1>:",
        "",
        "  Type: AAR · Date: 2025-06-18",
        "  [Helpful]  [Not helpful]",
        "(form: Start an AAR — not available in the terminal)",
        "",
        "  [Show more]",
    ]
