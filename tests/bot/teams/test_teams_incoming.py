"""Teams activities → neutral events (pure), and the per-conversation pace."""

from __future__ import annotations

from typing import Any

from bot.teams import incoming
from bot.teams.pace import ConversationPace
from handlers.chat import ButtonPress, ConversationRef, Deletion, Edit, FormSubmit, Message

BOT = "28:bot-app-id"
CHANNEL = "19:abc@thread.tacv2"


def activity(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "message",
        "id": "1700000000100",
        "serviceUrl": "https://smba.trafficmanager.net/emea/",
        "channelId": "msteams",
        "from": {"id": "29:1amina", "name": "Amina Diallo", "aadObjectId": "aad-amina"},
        "conversation": {"conversationType": "personal", "tenantId": "t", "id": "a:1amina"},
        "recipient": {"id": BOT, "name": "Lessons Bot"},
        "textFormat": "plain",
        "text": "hello",
    }
    base.update(fields)
    return base


def in_channel(text: str, *, thread: str = "1700000000100", mention: bool = True) -> dict[str, Any]:
    mentioned = {"id": BOT, "name": "Lessons Bot"}
    entities = [{"type": "mention", "mentioned": mentioned, "text": "<at>Lessons Bot</at>"}]
    return activity(
        text=f"<at>Lessons Bot</at> {text}" if mention else text,
        conversation={
            "isGroup": True,
            "conversationType": "channel",
            "tenantId": "t",
            "id": f"{CHANNEL};messageid={thread}",
        },
        channelData={"channel": {"id": CHANNEL, "name": "elections-team"}, "team": {"id": "T"}},
        entities=entities if mention else [],
    )


def test_a_personal_message_is_direct_and_has_no_channel_name() -> None:
    found = incoming.message(activity(text="what did we learn about DDR?"))
    assert found == Message(
        incoming.user(activity()),
        ConversationRef("teams", "a:1amina"),
        "what did we learn about DDR?",
        direct=True,
        message_id="1700000000100",
    )
    assert found.who.user_id == "aad-amina" and found.who.display_name == "Amina Diallo"


def test_a_channel_mention_loses_the_bot_mention_and_keeps_its_thread() -> None:
    found = incoming.message(in_channel("aar start Day one with <at>Tomás Herrera</at>"))
    assert isinstance(found, Message) and found.direct
    assert found.text == "aar start Day one with <at>Tomás Herrera</at>"  # people stay named
    assert found.where == ConversationRef(
        "teams", CHANNEL, "1700000000100", "elections-team", space=f"teams:t:T:{CHANNEL}"
    )
    assert incoming.conversation_id(found.where) == f"{CHANNEL};messageid=1700000000100"


def test_channel_chatter_is_not_direct() -> None:
    found = incoming.message(in_channel("lunch?", mention=False))
    assert isinstance(found, Message) and not found.direct


def test_text_is_unescaped_cleaned_and_cut() -> None:
    text = incoming.text_of(activity(text="a &amp; b\x00 <p>c</p>\ud83d" + "x" * 50_000))
    assert text.startswith("a & b c \ufffd") and len(text) == incoming.MAX_TEXT


def test_card_clicks_become_button_presses_and_form_submits() -> None:
    execute = activity(
        type="invoke",
        name="adaptiveCard/action",
        value={
            "action": {
                "type": "Action.Execute",
                "verb": "action.done:7",
                "data": {
                    "lessons.kind": "form",
                    "lessons.action": "action.done:7",
                    "evidence": "Done",
                },
            }
        },
    )
    found = incoming.execute(execute)
    assert isinstance(found, FormSubmit)
    assert (found.form, found.values) == ("action.done:7", {"evidence": "Done"})
    submitted = incoming.message(
        activity(
            text="",
            value={"lessons.kind": "button", "lessons.action": "ask.more", "lessons.value": "3:5"},
        )
    )
    assert isinstance(submitted, ButtonPress)
    assert (submitted.action, submitted.value) == ("ask.more", "3:5")
    assert incoming.message(activity(text="", value={"someone": "else's card"})) is None
    assert incoming.execute(activity(type="invoke", value={"action": "nope"})) is None


def test_edits_deletions_and_searches() -> None:
    edit = incoming.edit(in_channel("new text", mention=False))
    assert isinstance(edit, Edit) and edit.text == "new text"
    deleted = incoming.deletion(in_channel("", mention=False))
    assert isinstance(deleted, Deletion) and deleted.message_id == "1700000000100"
    query = incoming.query(
        activity(
            type="invoke",
            name="composeExtension/query",
            value={
                "commandId": "searchLessons",
                "parameters": [{"name": "query", "value": "  convoy   escorts "}],
                "queryOptions": {"skip": 5, "count": 500},
            },
        )
    )
    assert (query.text, query.skip, query.count) == ("convoy escorts", 5, 25)
    first_open = incoming.query(
        activity(value={"parameters": [{"name": "initialRun", "value": "true"}]})
    )
    assert first_open.text == ""


def test_odd_shapes_do_not_raise() -> None:
    for odd in (
        activity(**{"from": None, "conversation": None, "recipient": 5, "entities": "x"}),
        activity(text=None, value=[]),
        activity(channelData={"channel": "General"}, conversation={"conversationType": "channel"}),
    ):
        incoming.message(odd)
        incoming.where(odd)
        incoming.edit(odd)
        incoming.query(odd)


async def test_the_pace_keeps_teams_limits_per_conversation() -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    pace = ConversationPace(clock=lambda: now[0], sleep=sleep)
    for _ in range(7):
        await pace.wait("a")
    assert slept == []  # 7 a second are allowed
    await pace.wait("a")
    assert slept == [1.0]  # the eighth waits for the first second's window
    await pace.wait("b")
    assert slept == [1.0]  # another conversation is not held up
    waits = [pace.book("c") for _ in range(61)]
    assert max(waits[:60]) < 30 and waits[60] >= 30.0  # 60 in 30 seconds
    pace.hold("b", 5)
    assert pace.book("b") == 5.0  # a 429's Retry-After holds the conversation
