"""Reply → Adaptive Card 1.5: expected JSON, the official schema, text that tries to break it."""

from __future__ import annotations

import json

import pytest
from fake_teams import card_schema_errors, shared_dir

from bot.teams import render
from handlers.chat import Button, Divider, Fields, Form, Input, Reply, Text
from handlers.help import help_reply

SCHEMA = shared_dir() / "schemas" / "teams" / "adaptive-cards" / "adaptive-card.1.5.0.json"
needs_schema = pytest.mark.skipif(
    not SCHEMA.exists(), reason=f"the official Adaptive Card schema is not at {SCHEMA}"
)


def test_a_small_reply_renders_as_expected() -> None:
    reply = Reply.of(
        Text("*Your open actions* (1)"),
        Divider(),
        Fields((("Due", "2026-12-01"), ("Status", "open"))),
        Button("Done", "action.done", "12"),
        Button("Guide", "ask.open", url="https://example.org/guide"),
    )
    assert render.card(reply) == {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": [
            {"type": "TextBlock", "text": "**Your open actions** (1)", "wrap": True},
            {
                "type": "FactSet",
                "facts": [
                    {"title": "Due", "value": "2026-12-01"},
                    {"title": "Status", "value": "open"},
                ],
                "separator": True,
                "spacing": "Medium",
            },
            {
                "type": "ActionSet",
                "actions": [
                    {
                        "type": "Action.Execute",
                        "title": "Done",
                        "verb": "action.done",
                        "data": {
                            "lessons.kind": "button",
                            "lessons.action": "action.done",
                            "lessons.value": "12",
                        },
                    },
                    {
                        "type": "Action.OpenUrl",
                        "title": "Guide",
                        "url": "https://example.org/guide",
                    },
                ],
            },
        ],
        "fallbackText": "Your open actions (1)\nDue: 2026-12-01 · Status: open",
    }


def test_a_form_is_shown_in_the_card_with_its_submit() -> None:
    form = Form(
        "action.done:12",
        "Mark as done",
        (Input("evidence", "What changed?", multiline=True), Input("why", "Why", optional=True)),
        submit="Save",
    )
    (container,) = render.card(Reply.of(form))["body"]
    title, evidence, why, actions = container["items"]
    assert title["text"] == "**Mark as done**"
    assert evidence == {
        "type": "Input.Text",
        "id": "evidence",
        "label": "What changed?",
        "isMultiline": True,
        "isRequired": True,
        "maxLength": 3000,
        "errorMessage": "Please fill this in.",
    }
    assert why["isRequired"] is False and "errorMessage" not in why
    assert actions["actions"] == [
        {
            "type": "Action.Execute",
            "title": "Save",
            "verb": "action.done:12",
            "data": {"lessons.kind": "form", "lessons.action": "action.done:12"},
        }
    ]


def test_markdown_becomes_adaptive_card_markdown() -> None:
    text = render.markdown(
        "*Bold* and **bold** and _italic_\n"
        "• one\n- two\n"
        "[safe](https://example.org) [mail](mailto:a@b.org) [bad](javascript:alert(1))"
    )
    assert text == (
        "**Bold** and **bold** and _italic_\n\n"
        "- one\n- two\n\n"
        "[safe](https://example.org) [mail](mailto:a@b.org) bad (javascript:alert(1))"
    )


def test_buttons_come_five_a_row() -> None:
    buttons = [Button(f"B{n}", f"ask.b{n}", str(n)) for n in range(12)]
    rows = render.card(Reply.of(*buttons))["body"]
    assert [len(r["actions"]) for r in rows] == [5, 5, 2]


def test_odd_text_is_cleaned_and_long_text_cut() -> None:
    odd = "a\x00b\u202ec\ud83d d\r\ne 🎉 ﷽"
    card = render.card(Reply.of(Text(odd), Fields((("x\x07", odd),)), Button(odd, "ask.x")))
    dumped = json.dumps(card, ensure_ascii=False)
    assert "\x00" not in dumped and "\u202e" not in dumped and "\ud83d" not in dumped
    assert "🎉" in dumped and "\ufffd" in dumped
    huge = render.card(Reply.of(Text("word " * 5000)))
    assert len(huge["body"][0]["text"]) <= render.MAX_TEXT
    assert len(huge["fallbackText"]) <= render.MAX_FALLBACK


def test_a_card_stays_under_teams_size_limit() -> None:
    many = [Text(f"Lesson {n}: " + "x" * 900) for n in range(60)]
    card = render.card(Reply.of(*many))
    assert len(json.dumps(card, ensure_ascii=False).encode()) < 28_000
    assert "more (too long for one card)" in card["body"][-1]["text"]


def test_an_empty_reply_still_makes_a_card() -> None:
    card = render.card(Reply.of())
    assert card["body"] == [{"type": "TextBlock", "text": "…", "wrap": True}]
    assert card["fallbackText"] == "…"


def test_a_button_value_over_the_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="over"):
        render.card(Reply.of(Button("x", "ask.x", "v" * 3000)))


@needs_schema
@pytest.mark.parametrize(
    "reply",
    [
        help_reply(),
        Reply.of(Text("*Hi* [x](https://example.org)"), Divider(), Fields((("A", "b"),))),
        Reply.of(*(Button(f"B{n}", f"ask.b{n}", str(n)) for n in range(12))),
        Reply.of(Form("lesson.capture", "Log a lesson", (Input("title", "Title"),))),
        Reply.of(Text("\ud83d\u202e" * 100), Button("\x00", "ask.x"), Divider()),
        Reply.of(*(Text("x" * 3000) for _ in range(20))),
        Reply.of(Divider(), Divider()),
    ],
    ids=["help", "text", "buttons", "form", "odd", "huge", "dividers"],
)
def test_every_card_is_valid_adaptive_card_1_5(reply: Reply) -> None:
    assert card_schema_errors(render.card(reply)) == []


def test_no_text_makes_a_link_of_its_own() -> None:
    text = render.markdown("[x](javascript:a((1))) and [y](data:text/html,<b>)")
    assert "](" not in text


def test_action_ids_go_into_the_card_as_plain_strings() -> None:
    # An action id is often a StrEnum member; pydantic (the SDK's serializer) converts those in
    # Python one by one, which made every reply card cost about twice as much to send.
    from handlers.ask import AskAction
    from handlers.home import HomeForm

    form = Form(next(iter(HomeForm)), "Form", ())
    card = render.card(Reply.of(Button("Helpful", AskAction.HELPFUL, "7"), form))
    execute = card["body"][0]["actions"][0]
    assert type(execute["verb"]) is str and type(execute["data"]["lessons.action"]) is str
    submit = card["body"][1]["items"][-1]["actions"][0]
    assert type(submit["verb"]) is str


def test_repeated_texts_and_facts_are_rendered_once_and_never_changed_by_a_separator() -> None:
    takeaway, facts = Text("*Takeaway:* escort convoys at dawn"), Fields((("Mission", "UNMISS"),))
    first = render.card(Reply.of(takeaway, facts))["body"]
    again = render.card(Reply.of(Text("Other question"), Divider(), takeaway, Divider(), facts))
    assert again["body"][1]["separator"] is True and "separator" not in first[0]
    third = render.card(Reply.of(takeaway, facts))["body"]
    assert third[0] is first[0] and third[1] is first[1]  # the cached blocks, unchanged


def test_a_sent_card_is_shared_by_the_sdks_copy_of_the_activity() -> None:
    # The SDK deep-copies every activity it sends; copying the card was most of that.
    import copy

    from bot.teams.notifier import message

    sent = message(Reply.of(Text("A takeaway"), Button("Helpful", "ask.helpful", "1")))
    copied = copy.deepcopy(sent)
    assert copied is not sent and copied.attachments is not sent.attachments
    assert copied.attachments[0].content is sent.attachments[0].content
    dumped = copied.model_dump(by_alias=True, exclude_none=True, mode="json")
    assert dumped["attachments"][0]["content"] == render.card(Reply.of(Text("A takeaway"),
        Button("Helpful", "ask.helpful", "1")))  # fmt: skip


def test_outside_teams_buttons_and_forms_are_action_submit_with_the_same_data() -> None:
    """Only Teams runs Action.Execute; Web Chat and the Emulator get Action.Submit."""
    reply = Reply.of(
        Text("Was this helpful?"),
        Button("Helpful", "ask.helpful", "12"),
        Button("Guide", "ask.open", url="https://example.org/guide"),
        Form("lesson.new", "New lesson", (Input("title", "Title"),), submit="Save"),
    )
    teams = render.card(reply)
    other = render.submit_only(teams)
    text = json.dumps(other)
    assert "Action.Execute" not in text and "verb" not in text
    submits = [a for a in _actions_in(other) if a["type"] == "Action.Submit"]
    executes = [a for a in _actions_in(teams) if a["type"] == "Action.Execute"]
    assert [(a["title"], a["data"]) for a in submits] == [(a["title"], a["data"]) for a in executes]
    assert any(a["type"] == "Action.OpenUrl" for a in _actions_in(other))
    assert "Action.Execute" in json.dumps(teams)  # the Teams card itself is unchanged


def _actions_in(node: object) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    if isinstance(node, dict):
        if str(node.get("type", "")).startswith("Action."):
            found.append(node)
        for value in node.values():
            found += _actions_in(value)
    elif isinstance(node, list):
        for item in node:
            found += _actions_in(item)
    return found


@needs_schema
def test_folded_fields_hide_behind_a_details_toggle_one_per_card() -> None:
    """A lesson card's details (issue 20): hidden until *Details* is pressed, ids unique."""
    folded = Fields((("Type", "AAR"), ("Author", "Amina")), folded=True)
    card = render.card(Reply.of(Text("one"), folded, Divider(), Text("two"), folded))

    toggles = [b for b in card["body"] if b["type"] == "ActionSet"]
    hidden = [b for b in card["body"] if b["type"] == "Container"]
    assert [t["actions"][0]["title"] for t in toggles] == ["Details", "Details"]
    assert [t["actions"][0]["type"] for t in toggles] == ["Action.ToggleVisibility"] * 2
    assert [c["isVisible"] for c in hidden] == [False, False]
    ids = [c["id"] for c in hidden]
    assert len(set(ids)) == 2
    assert [t["actions"][0]["targetElements"] for t in toggles] == [[i] for i in ids]
    assert hidden[0]["items"][0]["facts"][0] == {"title": "Type", "value": "AAR"}
    assert card_schema_errors(card) == []
