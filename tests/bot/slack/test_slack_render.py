"""Slack render: Block Kit for every element kind and real reply, within Slack's limits, no pings.

`check_message`, `check_view` and `check_blocks` are the spec of what Slack accepts: every
rendered block goes through them (a fake Slack server enforces the same limits).
"""

from __future__ import annotations

import copy
import json
import re
from datetime import date
from typing import Any, get_args

import pytest
from conftest import shared_dir

from bot.slack.render import escape, home, message, modal, mrkdwn, values
from handlers import actions, ask
from handlers.chat import Button, Divider, Element, Fields, Form, Input, Reply, Text
from handlers.help import HELP, help_reply
from handlers.reviews import cards
from knowledge.models import ActionStatus, LessonStatus, ProductType, ProposalStatus, ReviewStatus
from knowledge.reviews import (
    DEFAULT_QUESTIONS,
    AnswerView,
    Closing,
    Member,
    ProposalView,
    Repeat,
    ReviewView,
)
from knowledge.search.answer import Answer, Hit
from knowledge.search.query import Query
from knowledge.storage import ActionView

Block = dict[str, Any]

SAMPLE = (
    shared_dir()
    / "schemas/slack/payload-samples/java-slack-sdk/app-backend/ViewSubmissionPayload.json"
)
JOINER = "\u2060"
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
LINK = re.compile(r"<(?:https?://|mailto:)[^\s<>|]+\|[^<>]+>")
ENTITIES = re.compile(r"(?:[^&]|&(?:amp|lt|gt);)*", re.DOTALL)
MASS_MENTION = re.compile(r"@(?:here|channel|everyone|group)", re.IGNORECASE)
BLOCK_KEYS = {
    "section": {"type", "block_id", "text", "fields"},
    "actions": {"type", "block_id", "elements"},
    "divider": {"type", "block_id"},
    "context": {"type", "block_id", "elements"},
    "input": {"type", "block_id", "label", "element", "optional"},
    "context_actions": {"type", "block_id", "elements"},
}


# The checker: every limit Slack enforces, on every block


def units(text: str) -> int:
    """Return the length Slack may count: UTF-16 code units (never fewer than characters)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def check_mrkdwn(obj: Block, limit: int) -> str:
    assert set(obj) == {"type", "text"} and obj["type"] == "mrkdwn", obj
    text = obj["text"]
    assert isinstance(text, str) and text.strip(), obj
    assert units(text) <= limit, units(text)
    assert not CONTROL.search(text), repr(text)
    assert ENTITIES.fullmatch(text), "a bare & or a cut entity"
    outside_links = LINK.sub("", text)
    assert "<" not in outside_links and ">" not in outside_links, "a raw < or > outside a link"
    assert not MASS_MENTION.search(text), "a mass mention"
    return text


def check_plain(obj: Block, limit: int) -> str:
    assert set(obj) == {"type", "text", "emoji"} and obj["type"] == "plain_text", obj
    assert obj["emoji"] is True
    text = obj["text"]
    assert isinstance(text, str) and text.strip(), obj
    assert units(text) <= limit, (units(text), text)
    assert not CONTROL.search(text) and "\n" not in text, repr(text)
    return text


def check_id(value: object) -> str:
    assert isinstance(value, str) and 0 < units(value) <= 255, value
    return value


def check_button(element: Block) -> None:
    assert element["type"] == "button"
    assert set(element) <= {"type", "text", "action_id", "value", "url", "style"}, element
    check_plain(element["text"], 75)
    check_id(element["action_id"])
    if "value" in element:
        assert isinstance(element["value"], str) and 0 < units(element["value"]) <= 2000
    if "url" in element:
        assert element["url"].startswith(("https://", "http://")), element["url"]
        assert units(element["url"]) <= 3000
    assert element.get("style", "primary") in ("primary", "danger")


def check_input(block: Block) -> None:
    check_plain(block["label"], 2000)
    assert isinstance(block["optional"], bool)
    element = block["element"]
    assert element["type"] == "plain_text_input", element
    assert set(element) <= {"type", "action_id", "multiline", "initial_value"}, element
    check_id(element["action_id"])
    assert isinstance(element["multiline"], bool)
    if "initial_value" in element:
        assert 0 < units(element["initial_value"]) <= 3000
        assert not CONTROL.search(element["initial_value"])


def check_block(block: Block, *, inputs: bool) -> None:
    kind = block["type"]
    assert kind in BLOCK_KEYS, kind
    assert set(block) <= BLOCK_KEYS[kind] and "block_id" in block, block
    if kind == "section":
        assert "text" in block or "fields" in block, block
        if "text" in block:
            check_mrkdwn(block["text"], 3000)
        if "fields" in block:
            assert 0 < len(block["fields"]) <= 10, len(block["fields"])
            for field in block["fields"]:
                check_mrkdwn(field, 2000)
    elif kind == "actions":
        assert 0 < len(block["elements"]) <= 25, len(block["elements"])
        for element in block["elements"]:
            check_button(element)
        action_ids = [element["action_id"] for element in block["elements"]]
        assert len(set(action_ids)) == len(action_ids), action_ids
    elif kind == "context":
        assert 0 < len(block["elements"]) <= 10
        for element in block["elements"]:
            check_mrkdwn(element, 2000)
    elif kind == "input":
        assert inputs, "an input block outside a modal"
        check_input(block)
    elif kind == "context_actions":  # Slack's native feedback, messages only
        assert not inputs, "context_actions is for messages"
        assert 0 < len(block["elements"]) <= 5
        for element in block["elements"]:
            assert element["type"] == "feedback_buttons", element
            assert set(element) == {"type", "action_id", "positive_button", "negative_button"}
            check_id(element["action_id"])
            for side in ("positive_button", "negative_button"):
                button = element[side]
                assert set(button) <= {"text", "value", "accessibility_label"}, button
                check_plain(button["text"], 75)
                assert 0 < units(button["value"]) <= 2000
                assert units(button.get("accessibility_label", "x")) <= 75


def check_blocks(blocks: list[Block], *, limit: int, inputs: bool = False) -> list[Block]:
    assert isinstance(blocks, list) and len(blocks) <= limit, len(blocks)
    block_ids = [check_id(block.get("block_id")) for block in blocks]
    assert len(set(block_ids)) == len(block_ids), block_ids
    for block in blocks:
        check_block(block, inputs=inputs)
    json.dumps(blocks)  # plain JSON values only
    return blocks


def check_message(reply: Reply) -> tuple[list[Block], str]:
    blocks, text = message(reply)
    check_blocks(blocks, limit=50)
    check_mrkdwn({"type": "mrkdwn", "text": text}, 3000)
    return blocks, text


def check_view(view: Block) -> list[Block]:
    if view["type"] == "home":
        assert set(view) == {"type", "blocks"}, set(view)
        return check_blocks(view["blocks"], limit=100)
    assert view["type"] == "modal", view["type"]
    keys = {"type", "callback_id", "title", "submit", "close", "blocks", "private_metadata"}
    assert set(view) <= keys, set(view) - keys
    assert view.get("private_metadata", "x"), "empty private_metadata"
    check_id(view["callback_id"])
    for key in ("title", "submit", "close"):
        check_plain(view[key], 24)
    assert units(view.get("private_metadata", "")) <= 3000
    return check_blocks(view["blocks"], limit=100, inputs=True)


def section_texts(blocks: list[Block]) -> list[str]:
    return [block["text"]["text"] for block in blocks if "text" in block]


def buttons(blocks: list[Block]) -> list[Block]:
    """Every button, native feedback read as its two presses (`<action>#<value>`)."""
    found: list[Block] = []
    for block in blocks:
        if block["type"] == "actions":
            found += block["elements"]
        elif block["type"] == "context_actions":
            for element in block["elements"]:
                for side in ("positive_button", "negative_button"):
                    action, _, value = element[side]["value"].partition("#")
                    found.append(
                        {"action_id": action, "value": value, "text": element[side]["text"]}
                    )
    return found


def plain(text: str) -> Block:
    return {"type": "plain_text", "text": text, "emoji": True}


def section(text: str) -> Block:
    return {"type": "section", "block_id": "b0", "text": {"type": "mrkdwn", "text": text}}


def action_row(*elements: Block) -> Block:
    return {"type": "actions", "block_id": "b0", "elements": list(elements)}


@pytest.mark.parametrize(
    "blocks",
    [
        [section("x")] * 51,
        [section("x" * 3001)],
        [section("🎉" * 1501)],
        [section("  ")],
        [section("<!here>")],
        [section("@here")],
        [section("a & b")],
        [section("&am")],
        [section("<javascript:x|y>")],
        [{**section("x"), "fields": [{"type": "mrkdwn", "text": "f"}] * 11}],
        [{**section("x"), "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}],
        [
            action_row(
                *[{"type": "button", "text": plain(str(n)), "action_id": str(n)} for n in range(26)]
            )
        ],
        [action_row({"type": "button", "text": plain("x" * 76), "action_id": "a"})],
        [action_row({"type": "button", "text": plain("x"), "action_id": "a", "value": ""})],
        [action_row({"type": "button", "text": plain("x"), "action_id": "a", "url": "ftp://x"})],
        [action_row(*[{"type": "button", "text": plain("x"), "action_id": "a"}] * 2)],
        [section("a"), section("b")],
        [{"type": "divider"}],
        [{"type": "header", "block_id": "b0"}],
        [{"type": "input", "block_id": "b0"}],
    ],
)
def test_the_checker_rejects_what_slack_rejects(blocks: list[Block]) -> None:
    with pytest.raises((AssertionError, KeyError)):
        check_blocks(blocks, limit=50)


def test_the_checker_rejects_a_long_modal_title() -> None:
    view = modal(Reply.of(Form("f", "Title", ())))
    view["title"] = plain("x" * 25)

    with pytest.raises(AssertionError):
        check_view(view)


# Every element kind

EXAMPLES: dict[type, tuple[Element, str]] = {
    Text: (Text("Hello *world*"), "section"),
    Fields: (Fields((("Type", "AAR"),)), "section"),
    Button: (Button("Helpful", "ask.helpful", "7"), "actions"),
    Form: (Form("action.done:7", "Mark as done", (Input("evidence", "Evidence"),)), "section"),
    Divider: (Divider(), "divider"),
}


def test_every_element_kind_has_an_example() -> None:
    assert set(EXAMPLES) == set(get_args(Element))


@pytest.mark.parametrize("kind", get_args(Element), ids=lambda kind: kind.__name__)
def test_every_element_kind_renders_on_every_surface(kind: type) -> None:
    element, block_type = EXAMPLES[kind]
    reply = Reply.of(element)

    blocks, _ = check_message(reply)
    home_blocks = check_view(home(reply))
    form = Form("f", "A form", (Input("name", "Name"),))
    modal_blocks = check_view(modal(Reply.of(element, form) if kind is not Form else reply))

    assert [block["type"] for block in blocks] == [block_type]
    assert [block["type"] for block in home_blocks] == [block_type]
    assert modal_blocks[0]["type"] == ("input" if kind is Form else block_type)


def test_text_is_a_mrkdwn_section() -> None:
    blocks, text = check_message(Reply.of(Text("Hello **world**")))

    assert blocks == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Hello *world*"}, "block_id": "b0"}
    ]
    assert text == "Hello *world*"


def test_fields_are_bold_labels_over_values() -> None:
    blocks, text = check_message(Reply.of(Fields((("Type", "AAR"), ("Mission", "_MINUSCA_")))))

    assert blocks == [
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": "*Type*\nAAR"},
                {"type": "mrkdwn", "text": "*Mission*\n_MINUSCA_"},
            ],
            "block_id": "b0",
        }
    ]
    assert text == "Type: AAR · Mission: _MINUSCA_"


def test_empty_labels_and_values_still_make_valid_fields() -> None:
    blocks, _ = check_message(Reply.of(Fields((("", "value"), ("Label", ""), ("", " ")))))

    assert [field["text"] for field in blocks[0]["fields"]] == ["value", "*Label*", "—"]


def test_adjacent_buttons_are_one_actions_row() -> None:
    reply = Reply.of(
        Button("Helpful", "ask.helpful", "7:3"),
        Button("Source", "ask.source", url="https://lessons.example/7"),
    )

    blocks, _ = check_message(reply)

    assert blocks == [
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Helpful", "emoji": True},
                    "action_id": "ask.helpful",
                    "value": "7:3",
                },
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Source", "emoji": True},
                    "action_id": "ask.source",
                    "url": "https://lessons.example/7",
                },
            ],
            "block_id": "b0",
        }
    ]


def test_buttons_separated_by_other_elements_are_separate_rows() -> None:
    reply = Reply.of(Button("A", "x.a"), Text("between"), Button("B", "x.b"), Button("C", "x.c"))

    blocks, _ = check_message(reply)

    assert [block["type"] for block in blocks] == ["actions", "section", "actions"]
    assert [len(block.get("elements", ())) for block in blocks] == [1, 0, 2]


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "data:text/html,x", "//evil.example", "ftp://x.example", "https://",
     "https://x.example/a b", "https://x.example/\x00", "/relative", "", "https://" + "x" * 3000],
)  # fmt: skip
def test_a_button_url_that_is_not_http_is_dropped(url: str) -> None:
    blocks, _ = check_message(Reply.of(Button("Open", "x.open", "1", url=url)))

    assert "url" not in blocks[0]["elements"][0]
    assert blocks[0]["elements"][0]["action_id"] == "x.open"


def test_no_button_is_styled() -> None:
    blocks, _ = check_message(Reply.of(Button("Accept", "aar.accept", "1"), Button("No", "x", "1")))

    assert all("style" not in element for element in buttons(blocks))


def test_repeated_action_ids_in_a_row_get_a_suffix_the_listener_strips() -> None:
    reply = Reply.of(
        Button("Helpful", "ask.helpful", "1"),
        Button("Helpful", "ask.helpful", "2"),
        Button("Other", "ask.more", "3"),
        Button("Helpful", "ask.helpful", "4"),
    )

    blocks, _ = check_message(reply)

    action_ids = [element["action_id"] for element in buttons(blocks)]
    assert action_ids == ["ask.helpful", "ask.helpful#2", "ask.more", "ask.helpful#3"]
    assert {action_id.partition("#")[0] for action_id in action_ids} == {"ask.helpful", "ask.more"}


def test_an_empty_button_value_is_left_out() -> None:
    blocks, _ = check_message(Reply.of(Button("List", "action.list")))

    assert "value" not in blocks[0]["elements"][0]


@pytest.mark.parametrize(
    "button",
    [Button("x", ""), Button("x", "ask#1"), Button("x", "a" * 256), Button("x", "a", "v" * 2001)],
)
def test_a_button_slack_would_refuse_is_a_programming_error(button: Button) -> None:
    with pytest.raises(ValueError):
        message(Reply.of(button))


def test_an_action_id_at_the_limit_cannot_be_suffixed_past_it() -> None:
    action = "a" * 255
    message(Reply.of(Button("x", action)))

    with pytest.raises(ValueError):
        message(Reply.of(Button("x", action), Button("y", action)))


def test_divider_is_a_divider_block() -> None:
    blocks, _ = check_message(Reply.of(Text("a"), Divider(), Text("b")))

    assert blocks[1] == {"type": "divider", "block_id": "b1"}


def test_a_form_in_a_message_says_what_it_is_for() -> None:
    form = Form("action.due:7", "New due date", (Input("due", "New due date"), Input("why", "Why")))

    blocks, text = check_message(Reply.of(form))

    assert section_texts(blocks) == ["📝 *New due date* (a form: New due date · Why)"]
    assert text == "New due date"


def test_block_ids_are_unique_and_in_order() -> None:
    reply = Reply.of(Text("a"), Divider(), Fields((("k", "v"),)), Button("b", "x"), Text("c"))

    blocks, _ = check_message(reply)

    assert [block["block_id"] for block in blocks] == ["b0", "b1", "b2", "b3", "b4"]


def test_an_empty_reply_has_no_blocks_but_a_fallback() -> None:
    assert check_message(Reply.of()) == ([], "…")
    assert check_message(Reply.of(Text(""), Text(" \n "))) == ([], "…")


def test_a_reply_of_buttons_falls_back_to_their_labels() -> None:
    _, text = check_message(Reply.of(Button("Resume", "aar.resume", "1"), Button("<b>", "x")))

    assert text == "Resume · &lt;b&gt;"


def test_private_and_thread_flags_do_not_change_the_blocks() -> None:
    flagged = Reply((Text("hi"),), private=True, in_thread=False, replace=True, anchor="aar:1")

    assert message(flagged) == message(Reply.of(Text("hi")))


# Limits


def test_long_text_is_split_into_sections_between_lines() -> None:
    source = "\n".join(f"line {n:04} " + "x" * 40 for n in range(200))

    blocks, _ = check_message(Reply.of(Text(source)))

    texts = section_texts(blocks)
    assert len(texts) == 4
    assert "\n".join(texts) == source
    assert all(text.startswith("line ") for text in texts)


def test_ten_thousand_characters_on_one_line_are_split_losslessly() -> None:
    source = "x" * 10_000

    blocks, _ = check_message(Reply.of(Text(source)))

    assert "".join(section_texts(blocks)) == source
    assert len(blocks) == 4


def test_a_long_line_is_split_at_spaces() -> None:
    source = " ".join(["word"] * 2000)

    blocks, _ = check_message(Reply.of(Text(source)))

    texts = section_texts(blocks)
    assert " ".join(texts) == source
    assert all(not text.startswith(" ") and not text.endswith(" ") for text in texts)


def test_a_split_never_cuts_a_link_or_an_entity() -> None:
    source = " ".join(f"[lesson {n}](https://lessons.example/{n}?a=1&b=2) <&>" for n in range(300))

    blocks, _ = check_message(Reply.of(Text(source)))

    texts = section_texts(blocks)
    assert len(texts) > 1
    assert sum(len(LINK.findall(text)) for text in texts) == 300


def test_ten_thousand_escaped_characters_split_between_entities() -> None:
    blocks, _ = check_message(Reply.of(Text("<" * 10_000)))

    assert "".join(section_texts(blocks)) == "&lt;" * 10_000


def test_emoji_count_as_two_units() -> None:
    blocks, _ = check_message(Reply.of(Text("🎉" * 2000), Button("🎉" * 80, "x")))

    assert "".join(section_texts(blocks)) == "🎉" * 2000
    assert len(section_texts(blocks)) == 2
    label = buttons(blocks)[0]["text"]["text"]
    assert units(label) <= 75 and label.endswith("…")


def test_more_than_ten_fields_take_several_sections() -> None:
    pairs = tuple((f"Label {n}", f"value {n}") for n in range(23))

    blocks, _ = check_message(Reply.of(Fields(pairs)))

    assert [len(block["fields"]) for block in blocks] == [10, 10, 3]
    assert blocks[2]["fields"][-1]["text"] == "*Label 22*\nvalue 22"


def test_a_long_field_is_clipped() -> None:
    blocks, _ = check_message(Reply.of(Fields((("Takeaway", "word & " * 1000),))))

    text = blocks[0]["fields"][0]["text"]
    assert text.startswith("*Takeaway*\nword &amp; word")
    assert text.endswith("…")


def test_more_than_25_buttons_take_several_rows() -> None:
    row = [Button(f"B{n}", "x.same", str(n)) for n in range(60)]

    blocks, _ = check_message(Reply.of(*row))

    assert [len(block["elements"]) for block in blocks] == [25, 25, 10]
    assert [element.get("value") for element in buttons(blocks)] == [str(n) for n in range(60)]


def test_a_long_button_label_is_trimmed_at_a_word() -> None:
    label = "Complete: " + "update the polling-station checklist " * 5

    blocks, _ = check_message(Reply.of(Button(label, "aar.complete", "3")))

    text = buttons(blocks)[0]["text"]["text"]
    assert units(text) <= 75
    assert text.endswith("…") and not text.endswith(" …")
    assert label.startswith(text[:-1])


def test_a_label_with_no_word_break_is_cut_at_75() -> None:
    blocks, _ = check_message(Reply.of(Button("x" * 200, "x"), Button("y" * 75, "y")))

    assert [element["text"]["text"] for element in buttons(blocks)] == ["x" * 74 + "…", "y" * 75]


def test_a_button_label_is_one_clean_line() -> None:
    blocks, _ = check_message(Reply.of(Button("Done\n\tnow\x00 ", "x"), Button(" \n", "y")))

    assert [element["text"]["text"] for element in buttons(blocks)] == ["Done now", "…"]


def test_a_reply_over_50_blocks_is_cut_with_a_note() -> None:
    reply = Reply.of(*(Text(f"Lesson {n}") for n in range(120)))

    blocks, _ = check_message(reply)

    assert len(blocks) == 50
    assert section_texts(blocks)[-1] == "Lesson 48"
    assert blocks[-1]["type"] == "context"
    assert blocks[-1]["elements"] == [{"type": "mrkdwn", "text": "…and 71 more"}]


def test_a_reply_of_exactly_50_blocks_is_not_cut() -> None:
    blocks, _ = check_message(Reply.of(*(Divider() for _ in range(50))))

    assert len(blocks) == 50 and blocks[-1]["type"] == "divider"


def test_a_home_over_100_blocks_is_cut_with_a_note() -> None:
    blocks = check_view(home(Reply.of(*(Divider() for _ in range(150)))))

    assert len(blocks) == 100
    assert blocks[-1]["elements"][0]["text"] == "…and 51 more"


# Modals


def done_form() -> Reply:
    """The reply actions.button builds for "Done": the action, then its form."""
    return Reply.of(
        Text("*Update the checklist*"),
        Form(
            "action.done:12",
            "Mark as done",
            (
                Input("evidence", "What changed? (a link or a sentence of evidence)", True),
                Input("why", "A note (optional)", optional=True, initial="Because"),
            ),
        ),
        private=True,
    )


def test_a_form_opens_as_a_modal_with_one_input_block_per_input() -> None:
    view = modal(done_form(), private_metadata='{"channel":"C1"}')

    check_view(view)
    assert view == {
        "type": "modal",
        "callback_id": "action.done:12",
        "title": {"type": "plain_text", "text": "Mark as done", "emoji": True},
        "submit": {"type": "plain_text", "text": "Save", "emoji": True},
        "close": {"type": "plain_text", "text": "Cancel", "emoji": True},
        "private_metadata": '{"channel":"C1"}',
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "*Update the checklist*"},
                "block_id": "b0",
            },
            {
                "type": "input",
                "block_id": "evidence",
                "label": {
                    "type": "plain_text",
                    "text": "What changed? (a link or a sentence of evidence)",
                    "emoji": True,
                },
                "element": {"type": "plain_text_input", "action_id": "evidence", "multiline": True},
                "optional": False,
            },
            {
                "type": "input",
                "block_id": "why",
                "label": {"type": "plain_text", "text": "A note (optional)", "emoji": True},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "why",
                    "multiline": False,
                    "initial_value": "Because",
                },
                "optional": True,
            },
        ],
    }


def test_a_modal_without_metadata_has_no_metadata_key() -> None:
    assert "private_metadata" not in check_view_dict(modal(done_form()))


def check_view_dict(view: Block) -> Block:
    check_view(view)
    return view


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Mark as done", "Mark as done"),
        ("Exactly twenty-four char", "Exactly twenty-four char"),
        ("Reassign the action to another person", "Reassign the action to…"),
        ("Answer question 3 anonymously, please", "Answer question 3…"),
        ("Supercalifragilisticexpialidocious", "Supercalifragilisticexp…"),
        ("", "Form"),
        ("  *Bold*\ntitle\x07 ", "*Bold* title"),
    ],
)
def test_modal_titles_are_trimmed_sensibly(title: str, expected: str) -> None:
    view = check_view_dict(modal(Reply.of(Form("f", title, (Input("a", "A"),), submit=title))))

    assert view["title"]["text"] == expected
    assert view["submit"]["text"] == (expected if title else "Save")


@pytest.mark.parametrize(
    "reply",
    [
        Reply.of(Text("no form")),
        Reply.of(Form("a", "A", ()), Form("b", "B", ())),
        Reply.of(Form("", "A", ())),
        Reply.of(Form("f" * 256, "A", ())),
        Reply.of(Form("f", "A", (Input("x", "X"), Input("x", "Y")))),
        Reply.of(Form("f", "A", (Input("", "X"),))),
        Reply.of(Form("f", "A", (Input("n" * 256, "X"),))),
        Reply.of(Form("f", "A", tuple(Input(f"i{n}", "X") for n in range(101)))),
    ],
)
def test_a_modal_slack_would_refuse_is_a_value_error(reply: Reply) -> None:
    with pytest.raises(ValueError):
        modal(reply)


def test_private_metadata_over_3000_characters_is_refused() -> None:
    check_view(modal(done_form(), private_metadata="m" * 3000))

    with pytest.raises(ValueError):
        modal(done_form(), private_metadata="m" * 3001)


def test_generated_block_ids_never_collide_with_input_names() -> None:
    reply = Reply.of(Text("a"), Text("b"), Form("f", "F", (Input("b0", "X"), Input("b2", "Y"))))

    blocks = check_view(modal(reply))

    assert [block["block_id"] for block in blocks] == ["b1", "b3", "b0", "b2"]


def test_a_crowded_modal_keeps_every_input() -> None:
    inputs = tuple(Input(f"answer{n}", f"Question {n}") for n in range(3))
    reply = Reply.of(*(Text(f"Context {n}") for n in range(120)), Form("f", "F", inputs))

    blocks = check_view(modal(reply))

    assert len(blocks) == 100
    assert [block["block_id"] for block in blocks[-3:]] == ["answer0", "answer1", "answer2"]
    assert blocks[-4]["type"] == "context"


def test_a_modal_of_100_inputs_has_room_for_nothing_else() -> None:
    inputs = tuple(Input(f"i{n}", "X") for n in range(100))

    blocks = check_view(modal(Reply.of(Text("crowded out"), Form("f", "F", inputs))))

    assert [block["type"] for block in blocks] == ["input"] * 100


def test_modal_buttons_and_long_inputs_stay_within_limits() -> None:
    question = "What can be improved, and how? " * 100
    reply = Reply.of(
        Button("Help", "aar.help", "1"),
        Form(
            "aar.anonymous:4:2",
            "Answer anonymously",
            (Input("answer", question, multiline=True, initial="y" * 5000),),
            submit="Send anonymously, with no name at all",
        ),
    )

    blocks = check_view(modal(reply))

    assert blocks[0]["type"] == "actions"
    element = blocks[1]["element"]
    assert units(element["initial_value"]) <= 3000 and element["initial_value"].endswith("…")


def submission(view: Block, typed: dict[str, str | None]) -> dict[str, Any]:
    """Return a view_submission payload (the SDK's sample) for a modal the user filled in."""
    if not SAMPLE.exists():
        pytest.skip(f"the Slack payload samples are not here ({SAMPLE}); see ../shared")
    payload: dict[str, Any] = json.loads(SAMPLE.read_text(encoding="utf-8"))
    payload["view"].update(copy.deepcopy(view))
    payload["view"]["state"] = {
        "values": {
            block["block_id"]: {
                block["element"]["action_id"]: {
                    "type": block["element"]["type"],
                    "value": typed.get(block["block_id"]),
                }
            }
            for block in view["blocks"]
            if block["type"] == "input"
        }
    }
    return payload


def test_values_round_trip_from_a_view_submission() -> None:
    typed = {"evidence": "Checklist v2: <https://x.example|here> & @here 🎉", "why": None}
    payload = submission(modal(done_form(), private_metadata="ctx"), typed)
    view = payload["view"]

    expected = {"evidence": typed["evidence"], "why": ""}
    assert values(view["state"]) == expected
    assert values(view["state"]["values"]) == expected
    assert view["callback_id"] == "action.done:12"
    assert view["private_metadata"] == "ctx"


def test_values_reads_an_input_named_values() -> None:
    state_values = {"values": {"values": {"type": "plain_text_input", "value": "v"}}}

    assert values(state_values) == {"values": "v"}
    assert values({"values": state_values}) == {"values": "v"}


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ({}, {}),
        ({"values": {}}, {}),
        ({"values": None}, {}),
        ({"values": []}, {}),
        ({"a": None, "b": "x", "c": []}, {}),
        ({"a": {"a": None, "b": "x", "c": 3}}, {}),
        ({"a": {"a": {"type": "plain_text_input"}}}, {"a": ""}),
        ({"a": {"a": {"value": "only a value"}}}, {"a": "only a value"}),
        ({"a": {"a": {"type": "static_select", "selected_option": None}}}, {}),
        ({"a": {"a": {"type": "plain_text_input", "value": 3}}}, {}),
        ({"a": {"x": {"type": "plain_text_input", "value": "1"}, 5: {"value": "2"}}}, {"x": "1"}),
        ({"b1": {"a": {"value": "1"}}, "b2": {"b": {"value": "2"}}}, {"a": "1", "b": "2"}),
    ],
)
def test_values_tolerates_odd_shapes(state: dict[str, Any], expected: dict[str, str]) -> None:
    assert values(state) == expected


def test_values_of_something_that_is_not_a_dict_is_empty() -> None:
    odd: Any = ["not", "a", "state"]

    assert values(odd) == {}


# App Home


def test_home_is_a_home_view_of_the_reply() -> None:
    reply = Reply.of(Text("*Your open actions* (1)"), Divider(), Button("Done", "action.done", "3"))

    view = home(reply)

    check_view(view)
    assert view["type"] == "home"
    assert view["blocks"] == message(reply)[0]


# mrkdwn


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("*bold*", "*bold*"),
        ("**bold**", "*bold*"),
        ("a **b c** d", "a *b c* d"),
        ("_italic_", "_italic_"),
        ("`code`", "`code`"),
        ("`**not bold**`", "`**not bold**`"),
        ("`<!here>`", "`&lt;!here&gt;`"),
        ("[label](https://x.example/a?b=1&c=2)", "<https://x.example/a?b=1&amp;c=2|label>"),
        ("[label](http://x.example)", "<http://x.example|label>"),
        ("[HTTPS](HTTPS://x.example)", "<HTTPS://x.example|HTTPS>"),
        ("[mail](mailto:pbpo@un.example)", "<mailto:pbpo@un.example|mail>"),
        ("*[title](https://x.example)*", "*<https://x.example|title>*"),
        ("[**title**](https://x.example)", "<https://x.example|*title*>"),
        ("[a|b](https://x.example/a|b)", "<https://x.example/a%7Cb|a|b>"),
        ("[a](https://x.example) and [b](https://y.example)",
         "<https://x.example|a> and <https://y.example|b>"),
        ("[a](javascript:alert(1))", "[a](javascript:alert(1))"),
        ("[a](javascript:alert)", "a (javascript:alert)"),
        ("[a](ftp://x.example)", "a (ftp://x.example)"),
        ("[a](/relative)", "a (/relative)"),
        ("[a](https://)", "a (https://)"),
        ("[a](b c)", "[a](b c)"),
        ("[no link]", "[no link]"),
        ("snake_case_name", "snake_case_name"),
        ("2*3*4", "2*3*4"),
        ("- item", "• item"),
        ("* item", "• item"),
        ("• item", "• item"),
        ("  - nested", "  • nested"),
        ("-not a bullet", "-not a bullet"),
        ("**bold** start", "*bold* start"),
        ("a - b", "a - b"),
        ("one\ntwo", "one\ntwo"),
        ("tab\there", "tab\there"),
    ],
)  # fmt: skip
def test_markdown_becomes_mrkdwn(source: str, expected: str) -> None:
    assert mrkdwn(source) == expected


def test_help_text_keeps_its_bold_and_bullets() -> None:
    blocks, _ = check_message(help_reply())

    lines = section_texts(blocks)[0].split("\n")
    assert lines[0] == "*Lessons Bot* helps us learn from each other."
    assert all(line.startswith("• ") for line in lines[1:])
    assert "`/aar start &lt;event&gt;`" in section_texts(blocks)[0]
    assert len(lines) == len(HELP.split("\n"))


# Escaping: no text can ping, link or format its way out

HOSTILE = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!subteam^S123|@team>",
    "<!date^1392734382^{date}|x>",
    "<@U024BE7LH>",
    "<#C123|general>",
    "<https://evil.example|click>",
    "<mailto:a@b.example|mail>",
    "@here",
    "@channel",
    "@everyone",
    "@group",
    "@HERE and @Channel",
    "hey@here",
    "&lt;!here&gt;",
    "<<!here>>",
    "a > b < c & d",
]


@pytest.mark.parametrize("payload", HOSTILE)
def test_escape_leaves_no_control_sequence(payload: str) -> None:
    escaped = escape(payload)

    assert "<" not in escaped and ">" not in escaped
    assert not MASS_MENTION.search(escaped)
    unescaped = escaped.replace(JOINER, "").replace("&lt;", "<").replace("&gt;", ">")
    assert unescaped.replace("&amp;", "&") == payload


@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_text_everywhere_renders_safely(payload: str) -> None:
    reply = Reply.of(
        Text(f"*{payload}* said {payload}\n- {payload}"),
        Fields(((payload, payload), (f"*{payload}*", f"[{payload}](https://x.example)"))),
        Button(payload, "x.hostile", payload, url=payload),
        Form(payload[:200] or "f", payload, (Input(payload or "n", payload, initial=payload),)),
    )

    blocks, text = check_message(reply)
    check_view(home(reply))
    check_view(modal(reply, private_metadata=payload))

    assert buttons(blocks)[0]["text"]["text"] == payload  # plain_text is not parsed: shown as is
    assert buttons(blocks)[0]["value"] == payload
    assert "&lt;" in text or "<" not in payload


def test_entities_in_text_are_shown_not_decoded() -> None:
    assert mrkdwn("&lt;!here&gt; &amp;") == "&amp;lt;!here&amp;gt; &amp;amp;"


def test_mass_mentions_are_defused_with_an_invisible_joiner() -> None:
    assert mrkdwn("@here, @channel and @Everyone") == (
        f"@{JOINER}here, @{JOINER}channel and @{JOINER}Everyone"
    )


def test_ordinary_at_names_are_kept() -> None:
    assert mrkdwn("@Amina Diallo will update it") == "@Amina Diallo will update it"


def test_a_star_in_a_label_cannot_break_its_bold() -> None:
    blocks, _ = check_message(Reply.of(Fields((("*Boss* of *all*", "*v*"),))))

    assert blocks[0]["fields"][0]["text"] == "*{0}Boss{0} of {0}all{0}*\n*v*".format("\u2217")


def test_a_star_in_a_form_title_is_literal() -> None:
    view = modal(Reply.of(Form("f", "*Urgent*", (Input("a", "A*"),))))

    assert view["title"]["text"] == "*Urgent*"
    assert view["blocks"][0]["label"]["text"] == "A*"


def test_emoji_and_right_to_left_text_survive() -> None:
    source = "مرحبا بالعالم 🎉 שלום 👩🏽‍🚀 :tada:"

    blocks, text = check_message(Reply.of(Text(source), Button(source, "x")))

    assert section_texts(blocks) == [source]
    assert buttons(blocks)[0]["text"]["text"] == source
    assert text == source


def test_control_characters_and_bidi_overrides_are_removed() -> None:
    source = "a\x00b\x1bc\u202ed\u2066e\x7ff\x85g\r\nh\ri\tj"

    assert mrkdwn(source) == "abcdefg\nh\ni\tj"
    blocks, _ = check_message(Reply.of(Button(source, "x")))
    assert buttons(blocks)[0]["text"]["text"] == "abcdefg h i j"


def test_a_lone_surrogate_becomes_a_replacement_character() -> None:
    blocks, text = check_message(Reply.of(Text("bad \ud800 text")))

    assert section_texts(blocks) == ["bad \ufffd text"]
    json.dumps(blocks).encode()
    assert text == "bad \ufffd text"


def test_a_long_fallback_is_clipped_between_entities() -> None:
    _, text = check_message(Reply.of(Text("<" * 5000)))

    assert text == "&lt;" * 749 + "…"


def test_a_long_fallback_never_cuts_a_link() -> None:
    _, text = check_message(Reply.of(Text("x" * 2990 + " [a](https://x.example/long)")))

    assert text == "x" * 2990 + "…"


# Real replies from the handlers


def hit(n: int, **changes: Any) -> Hit:
    fields: dict[str, Any] = {
        "lesson_id": n,
        "product_id": 100 + n,
        "external_id": None,
        "title": f"Convoy AAR {n}",
        "score": 1.0 / (n + 1),
        "takeaway": "Vet suppliers early & often.",
        "product_type": ProductType.AAR,
        "mission": "MINUSCA",
        "date": date(2024, 3, n % 28 + 1),
        "authors": ("Amina Diallo", "Jo Smith"),
        "status": LessonStatus.VALIDATED,
        "source_url": f"https://lessons.example/aar/{n}",
        "themes": ("logistics",),
    }
    return Hit(**(fields | changes))


def test_an_answer_renders_one_card_per_lesson() -> None:
    answer = Answer(Query("convoys", terms=("convoys",)), tuple(hit(n) for n in range(5)))

    blocks, text = check_message(ask.answer_reply(answer, question_id=9))

    assert section_texts(blocks)[0] == "Here are the 5 closest lessons:"
    # Compact: title, mission, date and badge on one line, the takeaway, the rest in small text.
    assert section_texts(blocks)[1] == (
        "*[1] <https://lessons.example/aar/0|Convoy AAR 0>* · MINUSCA · 2024-03-01 · ◑ validated"
        "\nVet suppliers early &amp; often."
    )
    values_ = [(element["action_id"], element.get("value")) for element in buttons(blocks)]
    assert values_[:2] == [("ask.helpful", "0:9"), ("ask.not_helpful", "0:9")]
    assert values_[-1] == ("ask.more", "9:5")
    details = [b["elements"][0]["text"] for b in blocks if b["type"] == "context"]
    assert details[0] == (
        "Type: After-Action Review · Mission: MINUSCA · Date: 2024-03-01 · "
        "Author: Amina Diallo, Jo Smith · Status: ◑ validated"
    )
    assert not [b for b in blocks if b.get("fields")]  # no two-column fields: too wide
    assert text.startswith("Here are the 5 closest lessons:\n*[1] <https://lessons.example/aar/0|")


def test_an_answer_with_hostile_lessons_renders_safely() -> None:
    hostile = hit(
        1,
        title="<!channel> *urgent* @here",
        takeaway="<@U024BE7LH> see <https://evil.example|this>" + " pad" * 2000,
        source_url="javascript:alert(1)",
        authors=("<!everyone>", "*Boss*"),
        mission="<#C123|general>",
    )
    answer = Answer(Query("x", terms=("x",)), (hostile,) * 12)

    blocks, _ = check_message(ask.answer_reply(answer, question_id=1))

    assert len(blocks) == 50 and blocks[-1]["type"] == "context"


def test_no_answer_renders_its_help() -> None:
    answer = Answer(
        Query("convys", terms=("convys",)),
        (),
        corrections={"convys": "convoys"},
        related_themes=("logistics",),
        contacts=("Jo Smith <jo@un.example>",),
    )

    blocks, _ = check_message(ask.answer_reply(answer))

    text = section_texts(blocks)[0]
    assert "Did you mean *convoys*?" in text
    assert "Jo Smith &lt;jo@un.example&gt;" in text


def action_view(n: int, *, due: date | None = date(2026, 1, 1)) -> ActionView:
    return ActionView(
        id=n,
        description=f"Update the checklist {n}",
        status=ActionStatus.OPEN,
        due_date=due,
        lesson_id=1,
        lesson_title="Convoys_need_escorts",
        mission=None,
        owner_id=1,
        owner_name="Jo",
        notes="",
    )


def test_my_actions_render_with_their_buttons() -> None:
    reply = actions.actions_reply(
        [action_view(1), action_view(2, due=None)], today=date(2026, 2, 1)
    )

    blocks, _ = check_message(reply)

    assert section_texts(blocks)[0] == "*Your open actions* (2, 1 overdue)"
    rows = [block for block in blocks if block["type"] == "actions"]
    assert len(rows) == 2 and len(rows[0]["elements"]) == 5
    assert rows[0]["elements"][0] == {
        "type": "button",
        "text": {"type": "plain_text", "text": "Done", "emoji": True},
        "action_id": "action.done",
        "value": "1",
    }


def test_a_long_list_of_actions_is_cut_to_50_blocks() -> None:
    reply = actions.actions_reply([action_view(n) for n in range(30)], today=date(2026, 2, 1))

    blocks, _ = check_message(reply)

    assert len(blocks) == 50
    assert blocks[-1]["elements"][0]["text"] == "…and 33 more"
    check_view(home(reply))


def review(step: int = 0) -> ReviewView:
    return ReviewView(
        id=4,
        event="Election *day* <!here> logistics",
        platform="slack",
        channel_id="C1",
        thread_id="1.2",
        channel_name="ops",
        facilitator_id=1,
        facilitator_name="Amina Diallo",
        status=ReviewStatus.RUNNING,
        questions=DEFAULT_QUESTIONS,
        step=step,
        starts_at=None,
        closed_at=None,
        product_id=None,
    )


@pytest.mark.parametrize("step", range(len(DEFAULT_QUESTIONS)))
def test_the_aar_opening_and_questions_render(step: int) -> None:
    blocks, text = check_message(cards.opening_reply(review(step)))

    assert [block["type"] for block in blocks] == ["section", "divider", "section", "actions"]
    assert buttons(blocks)[0]["action_id"] == "aar.anonymous"
    assert buttons(blocks)[0]["value"] == f"4:{step}"
    assert "&lt;!here&gt;" in text


def proposal(n: int, status: ProposalStatus = ProposalStatus.PROPOSED) -> ProposalView:
    return ProposalView(
        id=n,
        review_id=4,
        event="Election day",
        description=f"Update the polling-station checklist, part {n}",
        owner_id=1,
        owner_name="Jo",
        owner_hint="@jo",
        due_date=date(2026, 1, 15),
        status=status,
        note="no owner named",
        action_id=None,
        facilitator_id=2,
        facilitator_name="Amina",
    )


def test_an_owner_card_renders() -> None:
    blocks, _ = check_message(cards.owner_card(proposal(1)))

    assert [element["action_id"] for element in buttons(blocks)] == [
        "aar.accept",
        "aar.reassign",
        "aar.redate",
        "aar.decline",
    ]


def test_a_long_aar_summary_renders_within_limits() -> None:
    answers = tuple(
        AnswerView(
            n,
            n % 5,
            f"Answer {n} <@U1> " + "detail " * 60,
            None if n % 3 else "Jo",
            n % 2 == 0,
            None,
        )
        for n in range(60)
    )
    validator = Member(3, "Pat", "pat@un.example", "U3", None, None, "UTC", None)
    closing = Closing(
        review=review(),
        answers=answers,
        participants=12,
        guests=1,
        product_id=7,
        product_title="AAR Election day",
        lessons=9,
        proposals=(proposal(1), *(proposal(n, ProposalStatus.DRAFT) for n in range(2, 14))),
        validator=validator,
        repeats=(Repeat("Vet suppliers", "Convoy AAR", "AAR", 2023, "applied", 2),),
    )

    reply = cards.summary_reply(closing, sent={1: True}, validation_sent=True)
    blocks, _ = check_message(reply)

    assert (
        sum(len(block.get("elements", ())) for block in blocks if block["type"] == "actions") == 10
    )
    check_view(home(reply))
    check_message(cards.validation_card(closing))


@pytest.mark.parametrize(
    "form",
    [
        Form("aar.anonymous:4:2", "Answer anonymously",
             (Input("answer", f"Question 3: {DEFAULT_QUESTIONS[2].text}", multiline=True),),
             submit="Send anonymously"),
        Form("aar.assign:5", "Complete the action",
             (Input("owner", "Owner (email or @name)", initial="@jo"),
              Input("due", "Due date (15 Jan, in 3 weeks, 2027-01-15)", initial="2027-01-15"),
              Input("description", "What should be done?", multiline=True,
                    initial="Update the checklist <!here>"))),
        Form("action.handover:3", "Hand over to someone",
             (Input("email", "Their email address"),
              Input("why", "A note for them (optional)", True, optional=True))),
    ],
)  # fmt: skip
def test_handler_forms_open_as_modals(form: Form) -> None:
    view = modal(Reply.of(form, private=True), private_metadata='{"channel":"C1","thread":"1.2"}')

    blocks = check_view(view)

    assert view["callback_id"] == form.form
    assert [block["block_id"] for block in blocks] == [item.name for item in form.inputs]
    filled = {item.name: f"typed {item.name}" for item in form.inputs}
    assert values(submission(view, dict(filled))["view"]["state"]) == filled
