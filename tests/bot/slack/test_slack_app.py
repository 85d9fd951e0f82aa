"""The Slack app end to end: signed requests to the running bot on 127.0.0.1, answers delivered
to a fake Slack Web API on 127.0.0.1 (real slack-bolt, real slack_sdk, real HTTP both ways)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fake_slack import (
    FakeSlack,
    app_home_opened,
    app_mention,
    assistant_thread_started,
    block_actions,
    event_callback,
    form_body,
    link_shared,
    message_channel,
    message_im,
    message_shortcut,
    signed_headers,
    slash_command,
    view_submission,
)
from sqlalchemy import select

from bot.app import build_app
from bot.settings import Settings
from bot.slack.errors import SlackStartupError
from bot.slack.notifier import Pacer
from bot.slack.routes import SlackSurface
from knowledge.models import Feedback, Lesson, LessonStatus, Product, Review, ReviewAnswer
from knowledge.storage import Store

Client = TestClient[web.Request, web.Application]
SECRET = "test-signing-secret"
TOKEN = "xoxb-test"
AMINA = "UAMINA01"  # a Slack user whose email is in the demo directory
STRANGER = "USTRANGER"  # a Slack user nobody has heard of
CHANNEL = "C0ELECT"
QUESTION = "what did we learn about elections?"


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(token=TOKEN) as fake:
        fake.add_user(AMINA, email="amina.diallo@un.example", name="Amina Diallo")
        fake.add_user(STRANGER, email="new.person@un.example", name="New Person")
        fake.add_user("UTOMAS01", email="tomas.herrera@un.example", name="Tomás Herrera")
        yield fake


def settings(slack: FakeSlack) -> Settings:
    return Settings(
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=slack.api_url,
        slack_pace_seconds=0,
    )


@pytest.fixture
async def bot(demo_store: Store, slack: FakeSlack) -> AsyncIterator[Client]:
    client: Client = TestClient(
        TestServer(build_app(settings(slack), store=demo_store), host="127.0.0.1")
    )
    await client.start_server()
    yield client
    await client.close()
    slack.assert_clean()  # every Web API call the bot made matches Slack's published API


async def post(bot: Client, body: bytes, content_type: str, **headers: str) -> int:
    signed = signed_headers(body, SECRET)
    response = await bot.post(
        "/slack/events",
        data=body,
        headers={**signed, "Content-Type": content_type, **headers},
    )
    await response.read()
    return response.status


async def event(bot: Client, payload: dict[str, Any], **headers: str) -> int:
    return await post(bot, json.dumps(payload).encode(), "application/json", **headers)


async def command(bot: Client, text: str, user: str = AMINA, name: str = "/lessons") -> int:
    body = urlencode(slash_command(text, user_id=user, channel_id=CHANNEL, command=name))
    return await post(bot, body.encode(), "application/x-www-form-urlencoded")


async def interact(bot: Client, payload: dict[str, Any]) -> int:
    return await post(bot, form_body(payload), "application/x-www-form-urlencoded")


def text_of(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


async def test_a_mention_is_answered_in_its_thread_with_lesson_cards(
    bot: Client, slack: FakeSlack, demo_store: Store
) -> None:
    status = await event(
        bot,
        event_callback(app_mention(f"<@U0BOT> {QUESTION}", AMINA, CHANNEL, "1700000000.000100")),
    )
    assert status == 200
    (call,) = await slack.wait_for("chat.postMessage")
    assert call.args["channel"] == CHANNEL and call.args["thread_ts"] == "1700000000.000100"
    assert "closest lessons" in text_of(call.args["blocks"])
    assert any(b["type"] == "actions" for b in call.args["blocks"])
    # The user was found in the directory by the email Slack gave.
    assert await demo_store.person_for("slack", AMINA) == await demo_store.person_for(
        "local", "amina.diallo@un.example"
    )
    slack.assert_clean()


BACK_CHANNEL = "A discreet back-channel"  # an AAR restricted to channel:mediation-support


@pytest.mark.parametrize(
    ("channel", "name", "team", "shown"),
    [
        ("C0MEDSUP", "mediation-support", None, True),  # the channel a PBPO linked
        ("C0LOOKALIKE", "mediation-support", None, False),  # another channel, the same name
        ("C0MEDSUP", "mediation-support", "T0EVIL", False),  # another workspace
        ("C0GENERAL", "general", None, False),  # any other channel
        ("C0UNKNOWN", None, None, False),  # a channel Slack will not describe
    ],
)
async def test_a_channel_answer_shows_only_what_that_channel_may_see(
    bot: Client, slack: FakeSlack, channel: str, name: str | None, team: str | None, shown: bool
) -> None:
    slack.add_user("UFARIDA1", email="farida.rahimi@un.example", name="Farida Rahimi")
    slack.add_channel("C0MEDSUP", "mediation-support")
    body = urlencode(
        slash_command("audience link mediation-support", user_id="UFARIDA1", channel_id="C0MEDSUP")
    )
    assert await post(bot, body.encode(), "application/x-www-form-urlencoded") == 200
    (linked,) = await slack.wait_for("response_url")
    assert "Linked" in text_of(linked.args["blocks"])
    if name is not None and channel != "C0MEDSUP":
        slack.add_channel(channel, name)
    question = "<@U0BOT> what did we learn about a back-channel with an armed group?"
    mention = app_mention(question, AMINA, channel, "1700000000.000300")
    envelope = event_callback(mention, team_id=team) if team else event_callback(mention)
    await event(bot, envelope)
    (call,) = await slack.wait_for("chat.postMessage")
    assert call.args["channel"] == channel
    assert (BACK_CHANNEL in text_of(call.args["blocks"])) is shown
    assert any(c.method == "conversations.info" for c in slack.calls)


PBPO_ONLY = "Senior Political Affairs Officer (Mediation)"  # an EoAR restricted to group:pbpo


async def test_a_pbpo_asking_in_a_channel_never_posts_a_pbpo_only_lesson_there(
    bot: Client, slack: FakeSlack
) -> None:
    slack.add_user("UFARIDA1", email="farida.rahimi@un.example", name="Farida Rahimi")
    slack.add_channel("C0GENERAL", "general")
    question = "<@U0BOT> what did we learn about good offices capacity in a transition?"
    await event(bot, event_callback(app_mention(question, "UFARIDA1", "C0GENERAL", "1.000400")))
    (call,) = await slack.wait_for("chat.postMessage")
    assert PBPO_ONLY not in text_of(call.args["blocks"])

    # Asked privately, the same PBPO sees it.
    question = "what did we learn about good offices capacity in a transition?"
    assert await command(bot, question, user="UFARIDA1") == 200
    (private,) = await slack.wait_for("response_url")
    assert PBPO_ONLY in text_of(private.args["blocks"])


async def test_a_redelivered_event_is_acked_but_not_answered_twice(
    bot: Client, slack: FakeSlack
) -> None:
    payload = event_callback(
        app_mention(f"<@U0BOT> {QUESTION}", AMINA, CHANNEL, "1700000000.000200")
    )
    assert await event(bot, payload) == 200
    await slack.wait_for("chat.postMessage")
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert await event(bot, payload, **retry) == 200
    assert await event(bot, payload, **retry) == 200
    await slack.settle()
    assert len(slack.calls_to("chat.postMessage")) == 1


async def test_an_unknown_slack_user_joins_the_directory_as_staff(
    bot: Client, slack: FakeSlack, demo_store: Store
) -> None:
    await event(
        bot, event_callback(message_im("help", STRANGER, "D0STRANGER", "1700000000.000300"))
    )
    (call,) = await slack.wait_for("chat.postMessage")
    assert call.args["channel"] == "D0STRANGER"
    person = await demo_store.person_for("slack", STRANGER)
    assert person is not None
    assert await demo_store.person_for("local", "new.person@un.example") == person


async def test_a_slash_command_answers_privately_through_the_response_url(
    bot: Client, slack: FakeSlack
) -> None:
    assert await command(bot, QUESTION) == 200
    (reply,) = await slack.wait_for("response_url")
    assert reply.args["response_type"] == "ephemeral"
    assert "closest lessons" in text_of(reply.args["blocks"])


async def test_my_actions_snooze_updates_the_card_in_place(bot: Client, slack: FakeSlack) -> None:
    await command(bot, "actions", user="UTOMAS01")
    (listing,) = await slack.wait_for("response_url")
    snooze = next(
        e
        for b in listing.args["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"].startswith("action.snooze")
    )
    payload = block_actions(
        snooze["action_id"],
        snooze["value"],
        user="UTOMAS01",
        channel=CHANNEL,
        message_ts="1700000000.000400",
        response_url=slack.response_url("snooze"),
    )
    assert await interact(bot, payload) == 200
    (updated,) = await slack.wait_for("response_url", name="snooze")
    assert updated.args["replace_original"] is True
    assert "Snoozed: now due" in text_of(updated.args["blocks"])


async def test_mass_mentions_in_a_question_are_never_echoed_as_pings(
    bot: Client, slack: FakeSlack
) -> None:
    await event(
        bot,
        event_callback(
            app_mention(
                "<@U0BOT> what about <!channel> and @here zxqwv?",
                AMINA,
                CHANNEL,
                "1700000000.000500",
            )
        ),
    )
    (call,) = await slack.wait_for("chat.postMessage")
    posted = text_of(call.args["blocks"]) + call.args["text"]
    assert "<!channel>" not in posted and "<!here>" not in posted and "@here" not in posted


async def test_app_home_is_published_when_opened(bot: Client, slack: FakeSlack) -> None:
    await event(bot, event_callback(app_home_opened("UTOMAS01")))
    (call,) = await slack.wait_for("views.publish")
    assert call.args["user_id"] == "UTOMAS01"
    assert call.args["view"]["type"] == "home"
    assert "actions" in text_of(call.args["view"]["blocks"]).lower()


async def test_save_as_lesson_opens_a_prefilled_modal_and_saves_a_note(
    bot: Client, slack: FakeSlack, demo_store: Store
) -> None:
    said = "Ballot kits must leave the depot the evening before polling day."
    await interact(
        bot,
        message_shortcut(
            "lesson.save_message", said, user=AMINA, channel=CHANNEL, ts="1700000000.000600"
        ),
    )
    (opened,) = await slack.wait_for("views.open")
    view = opened.args["view"]
    assert view["type"] == "modal" and said in json.dumps(view)
    values = {
        block["block_id"]: (
            block["element"].get("initial_value") or "Ballot kits the evening before"
        )
        for block in view["blocks"]
        if block["type"] == "input"
    }
    submitted = view_submission(
        view["callback_id"], values, user=AMINA, private_metadata=view.get("private_metadata", "")
    )
    assert await interact(bot, submitted) == 200
    await slack.wait_for("chat.postEphemeral")
    answer = await demo_store.ask(
        "ballot kits depot evening before polling day", viewer=await demo_store.viewer_for(None)
    )
    assert any(h.product_type.value == "note" for h in answer.hits)


def stored_answers(store: Store) -> list[str]:
    with store.session() as s:
        return [a.text for a in s.scalars(select(ReviewAnswer).order_by(ReviewAnswer.id))]


def thread_of_review(store: Store) -> str | None:
    with store.session() as s:
        return s.scalars(select(Review.thread_id)).one()


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Wait for work the bot does after acking (it makes no Slack call to wait for)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"the bot did not get there in time: {check}"
        await asyncio.sleep(0.05)


async def test_an_aar_runs_in_a_slack_thread(
    bot: Client, slack: FakeSlack, demo_store: Store
) -> None:
    await command(bot, "start Polling day in Bangui", user=AMINA, name="/aar")
    (opening,) = await slack.wait_for("chat.postMessage")
    assert "thread_ts" not in opening.args  # a new message: the AAR's thread
    assert opening.response is not None
    thread = opening.response["ts"]
    assert "Polling day in Bangui" in text_of(opening.args["blocks"])
    await eventually(lambda: thread_of_review(demo_store) == thread)  # learnt after posting

    answer = "Ballots at all 40 stations by 07:00."
    reply = message_channel(answer, AMINA, CHANNEL, "1700000001.000100", thread_ts=thread)
    assert await event(bot, event_callback(reply)) == 200
    await eventually(lambda: stored_answers(demo_store) == [answer])

    # Chatter outside the thread is not an answer, and an edit updates the stored one.
    await event(bot, event_callback(message_channel("lunch?", AMINA, CHANNEL, "1700000002.1")))
    edited = message_channel(
        "Ballots at all 40 stations by 06:30.",
        AMINA,
        CHANNEL,
        "1700000001.000100",
        thread_ts=thread,
        subtype="message_changed",
        previous_text=answer,
    )
    await event(bot, event_callback(edited))
    await eventually(lambda: stored_answers(demo_store) == ["Ballots at all 40 stations by 06:30."])


async def test_rate_limited_posts_are_retried_and_delivered(bot: Client, slack: FakeSlack) -> None:
    slack.fail("chat.postMessage", status=429, retry_after=1, times=1)
    await event(bot, event_callback(message_im(QUESTION, AMINA, "D0AMINA", "1700000000.000700")))
    delivered = await slack.wait_for("chat.postMessage", count=2, timeout=30)
    assert [c.fault for c in delivered][-1] is None


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Slack-Signature": "v0=deadbeef", "X-Slack-Request-Timestamp": str(int(time.time()))},
        "stale",
        "tampered",
    ],
    ids=["missing", "forged", "stale", "tampered"],
)
async def test_bad_signatures_get_401_and_no_api_call(
    bot: Client, slack: FakeSlack, headers: Any
) -> None:
    body = json.dumps(
        event_callback(app_mention(f"<@U0BOT> {QUESTION}", AMINA, CHANNEL, "1.1"))
    ).encode()
    if headers == "stale":
        headers = signed_headers(body, SECRET, timestamp=int(time.time()) - 3600)
    elif headers == "tampered":
        headers = signed_headers(body, SECRET)
        body = body.replace(b"elections", b"elections!")
    response = await bot.post(
        "/slack/events", data=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status == 401
    await slack.settle()
    assert [c.method for c in slack.calls if c.method != "auth.test"] == []


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{", "application/json"),
        (b"[]", "application/json"),
        (b'{"type": "event_callback"}', "application/json"),
        (b'{"type": "event_callback", "event": {}}', "application/json"),
        (b"\xff\xfe\x00", "application/json"),
        (b"payload=%7Bnope", "application/x-www-form-urlencoded"),
        (b"hello=world", "application/x-www-form-urlencoded"),
        (
            json.dumps({"type": "event_callback", "event": {"type": "teleport"}}).encode(),
            "application/json",
        ),
        (
            json.dumps(
                event_callback(app_mention("<@U0BOT> " + "x" * 30000, AMINA, CHANNEL, "2.2"))
            ).encode(),
            "application/json",
        ),
    ],
)
async def test_malformed_but_signed_bodies_never_get_a_5xx(
    bot: Client, slack: FakeSlack, body: bytes, content_type: str
) -> None:
    status = await post(bot, body, content_type)
    assert status < 500


async def test_a_bad_token_stops_the_bot_at_start(demo_store: Store, slack: FakeSlack) -> None:
    surface = SlackSurface(replace(settings(slack), slack_bot_token="xoxb-revoked"), demo_store)
    with pytest.raises(SlackStartupError, match="invalid_auth"):
        await surface.start()


def test_slack_needs_a_secret_or_an_app_token(demo_store: Store) -> None:
    with pytest.raises(SlackStartupError, match="SLACK_SIGNING_SECRET"):
        SlackSurface(Settings(slack_bot_token=TOKEN), demo_store)


async def test_a_failed_delivery_tells_the_user_with_a_reference(
    bot: Client, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    slack.fail("chat.postMessage", status=200, error="not_in_channel", times=1)
    mention = app_mention(f"<@U0BOT> {QUESTION}", AMINA, CHANNEL, "1700000000.000800")
    await event(bot, event_callback(mention))
    failed, told = await slack.wait_for("chat.postMessage", count=2)
    assert failed.error == "not_in_channel"
    assert told.args["channel"] == slack.dm_channel(AMINA)  # privately, in the bot's DM
    said = text_of(told.args["blocks"])
    reference = said.split("reference ")[1][:8]
    assert reference in caplog.text and "not_in_channel" in caplog.text  # the log has why
    assert "not_in_channel" not in said  # the user gets no internals


async def test_posts_to_one_channel_are_paced_others_are_not() -> None:
    now = [100.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    pacer = Pacer(1.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        await pacer.wait("C1")
    await pacer.wait("C2")
    assert slept == [1.0, 2.0]  # the burst in C1 waits its turn; C2 goes at once


def in_channel(slack: FakeSlack) -> list[Any]:
    calls = slack.calls_to("chat.postMessage")
    return [c for c in calls if c.args["channel"] == CHANNEL and c.response is not None]


def button_in(call: Any, prefix: str) -> dict[str, Any]:
    """Return the first button of a posted message whose action id starts with prefix."""
    blocks = call.args["blocks"]
    return next(
        e
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"].startswith(prefix)
    )


async def test_an_aar_runs_end_to_end_in_slack_and_its_action_is_accepted(
    bot: Client, slack: FakeSlack, demo_store: Store
) -> None:
    await command(bot, "start Convoy to Bria", user=AMINA, name="/aar")
    (opening,) = await slack.wait_for("chat.postMessage")
    thread = opening.response["ts"]
    await eventually(lambda: thread_of_review(demo_store) == thread)
    answers = [
        "Fuel reaches Bria in two days with an escort.",
        "The convoy waited three days at the river crossing.",
        "The escort commander and the drivers shared one radio net.",
        "Check the river crossing before leaving: the bridge was closed.",
        "@tomas.herrera@un.example should agree river-crossing checks with engineers "
        "within 2 weeks.",
    ]
    last = opening
    for i, answer in enumerate(answers):
        ts = f"1700000100.{i:06d}"
        reply = message_channel(answer, AMINA, CHANNEL, ts, thread_ts=thread)
        await event(bot, event_callback(reply))
        await eventually(lambda n=i + 1: len(stored_answers(demo_store)) == n)
        action = "aar.next" if i < len(answers) - 1 else "aar.close"
        button = button_in(last, action)
        posts = len(in_channel(slack))
        press = block_actions(
            button["action_id"],
            button["value"],
            user=AMINA,
            channel=CHANNEL,
            message_ts=last.response["ts"],
            thread_ts=thread if last is not opening else None,
        )
        assert await interact(bot, press) == 200
        await eventually(lambda n=posts: len(in_channel(slack)) > n)
        last = in_channel(slack)[-1]
        assert last.args.get("thread_ts") == thread
    summary = text_of(last.args["blocks"])
    assert "Convoy to Bria" in summary and "1 participant" in summary

    # Tomás gets the proposed action in his DM and accepts it; it becomes his open action.
    card = await eventually_call(
        slack,
        lambda c: (
            c.args["channel"] == slack.dm_channel("UTOMAS01")
            and "river-crossing" in text_of(c.args["blocks"])
        ),
    )
    accept = button_in(card, "aar.accept")
    press = block_actions(
        accept["action_id"],
        accept["value"],
        user="UTOMAS01",
        channel=slack.dm_channel("UTOMAS01"),
        message_ts=card.response["ts"],
    )
    assert await interact(bot, press) == 200
    tomas = await demo_store.person_for("local", "tomas.herrera@un.example")
    assert tomas is not None
    await eventually_async(demo_store, tomas, "river-crossing")
    found = await demo_store.ask(
        "convoy to Bria river crossing", viewer=await demo_store.viewer_for(None)
    )
    assert any("Convoy to Bria" in h.title for h in found.hits)


async def eventually_call(slack: FakeSlack, match: Callable[[Any], bool]) -> Any:
    deadline = time.monotonic() + 5
    while True:
        for call in slack.calls_to("chat.postMessage"):
            if call.ok and match(call):
                return call
        assert time.monotonic() < deadline, [
            (c.args["channel"], text_of(c.args["blocks"])[:300])
            for c in slack.calls_to("chat.postMessage")
        ][-4:]
        await asyncio.sleep(0.05)


async def eventually_async(store: Store, person: int, words: str) -> None:
    deadline = time.monotonic() + 5
    while not any(words in a.description for a in await store.actions_of(person)):
        assert time.monotonic() < deadline, "the accepted action did not appear"
        await asyncio.sleep(0.05)


async def test_a_pbpo_promotes_a_good_practice_with_the_practice_command(
    bot: Client, slack: FakeSlack, demo_store: Store
) -> None:
    slack.add_user("UFARIDA1", email="farida.rahimi@un.example", name="Farida Rahimi")
    slack.add_channel("C0GENERAL", "general")
    slack.add_channel("C0OPS", "ops")
    with demo_store.session() as s:
        lesson = s.scalars(
            select(Lesson.id)
            .join(Product)
            .where(Product.title.startswith("Lessons Learned Study: Community Violence"))
            .where(Lesson.status == LessonStatus.APPLIED)
        ).first()
    body = slash_command(
        f"promote {lesson} <#C0OPS|ops> cut reprisals by half", user_id="UFARIDA1",
        channel_id="C0GENERAL", command="/practice",
    )  # fmt: skip
    assert await post(bot, urlencode(body).encode(), "application/x-www-form-urlencoded") == 200
    (told,) = await slack.wait_for("response_url")
    assert told.args["response_type"] == "ephemeral"
    assert "Promoted" in text_of(told.args["blocks"]) and "#ops" in text_of(told.args["blocks"])
    (card,) = await slack.wait_for("chat.postMessage")
    assert card.args["channel"] == "C0OPS"
    assert "Good practice" in text_of(card.args["blocks"])
    assert "cut reprisals by half" in text_of(card.args["blocks"])


async def test_native_feedback_under_an_answer_records_the_vote(
    bot: Client, slack: FakeSlack, demo_store: Store
) -> None:
    """Slack's own thumbs (feedback_buttons in a context_actions block) feed the same votes."""
    await event(
        bot,
        event_callback(app_mention(f"<@U0BOT> {QUESTION}", AMINA, CHANNEL, "1700000000.000900")),
    )
    (answer,) = await slack.wait_for("chat.postMessage")
    native = [b for b in answer.args["blocks"] if b["type"] == "context_actions"]
    assert native, "no native feedback under the answer's lessons"
    feedback = native[0]["elements"][0]
    assert feedback["type"] == "feedback_buttons"
    assert not any(
        e.get("action_id", "").startswith("ask.helpful")
        for b in answer.args["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    ), "the plain Helpful button is still there beside the native one"
    pressed = block_actions(
        feedback["action_id"],
        feedback["positive_button"]["value"],
        AMINA,
        CHANNEL,
        str(answer.response["ts"]) if answer.response else None,
        action_type="feedback_buttons",
        thread_ts="1700000000.000900",
    )
    assert await interact(bot, pressed) == 200
    await eventually(lambda: _votes(demo_store) == [True])
    slack.assert_clean()


def _votes(store: Store) -> list[bool]:
    with store.session() as s:
        return list(s.scalars(select(Feedback.helpful).order_by(Feedback.id)))


async def test_ask_a_colleague_round_trips_on_slack(
    bot: Client, slack: FakeSlack, demo_store: Store
) -> None:
    """Issue 20 on Slack: nothing fits in a DM → Ask a colleague → the PBPO answers in a modal
    from the card in their DM → the answer lands in the asker's DM → saved as a lesson note."""
    slack.add_user("UNYIBOL1", email="nyibol.deng@un.example", name="Nyibol Deng")
    slack.add_user("UGRACE01", email="grace.achieng@un.example", name="Grace Achieng")
    asker_dm = slack.dm_channel("UNYIBOL1")
    said = message_im("lessons about cholera outbreaks in camps", "UNYIBOL1", ts="1700000300.0001")
    assert await event(bot, event_callback(said)) == 200
    answer = await eventually_call(
        slack,
        lambda c: c.args["channel"] == asker_dm and "colleague.ask" in text_of(c.args["blocks"]),
    )
    assert "I found nothing in the lessons that answers" in text_of(answer.args["blocks"])
    ask = button_in(answer, "colleague.ask")
    press = block_actions(
        ask["action_id"],
        ask["value"],
        user="UNYIBOL1",
        channel=asker_dm,
        message_ts=answer.response["ts"],
    )
    assert await interact(bot, press) == 200
    # Something only for the asker, in a DM, arrives in the DM.
    await eventually_call(
        slack, lambda c: c.args["channel"] == asker_dm and "I asked" in text_of(c.args["blocks"])
    )

    card = await eventually_call(
        slack,
        lambda c: (
            c.args["channel"] == slack.dm_channel("UGRACE01")
            and "colleague.answer" in text_of(c.args["blocks"])
        ),
    )
    assert "Nyibol Deng asks:" in text_of(card.args["blocks"])
    open_form = button_in(card, "colleague.answer")
    press = block_actions(
        open_form["action_id"],
        open_form["value"],
        user="UGRACE01",
        channel=slack.dm_channel("UGRACE01"),
        message_ts=card.response["ts"],
        trigger_id="13345224609.738474920.8088930838d88f008e0",
    )
    assert await interact(bot, press) == 200
    (opened,) = await slack.wait_for("views.open")
    view = opened.args["view"]
    line = "Chlorinate water points first; the WASH cluster keeps the stocks."
    submitted = view_submission(
        view["callback_id"],
        {"answer": line, "lesson": ""},
        user="UGRACE01",
        private_metadata=view.get("private_metadata", ""),
        blocks=view["blocks"],
    )
    assert await interact(bot, submitted) == 200

    back = await eventually_call(
        slack,
        lambda c: c.args["channel"] == asker_dm and "colleague.save" in text_of(c.args["blocks"]),
    )
    assert line in text_of(back.args["blocks"]) and "Grace Achieng" in text_of(back.args["blocks"])
    save = button_in(back, "colleague.save")
    press = block_actions(
        save["action_id"],
        save["value"],
        user="UNYIBOL1",
        channel=asker_dm,
        message_ts=back.response["ts"],
    )
    assert await interact(bot, press) == 200
    await eventually_call(
        slack,
        lambda c: (
            c.args["channel"] == asker_dm and "answer as a lesson note" in text_of(c.args["blocks"])
        ),
    )
    with demo_store.session() as s:
        note = s.scalars(select(Lesson).where(Lesson.lesson == line)).one()
        assert note.status == LessonStatus.IDENTIFIED


def _lesson_titled(store: Store, words: str) -> int:
    with store.session() as s:
        return int(
            s.scalars(
                select(Lesson.id)
                .join(Product, Product.id == Lesson.product_id)
                .where(Product.title.contains(words))
                .order_by(Lesson.id)
            ).first()
            or 0
        )


@pytest.mark.parametrize(
    ("channel", "name", "team", "shown"),
    [
        ("C0MEDSUP", "mediation-support", None, True),  # the channel a PBPO linked
        ("C0LOOKALIKE", "mediation-support", None, False),  # another channel, the same name
        ("C0MEDSUP", "mediation-support", "T0EVIL", False),  # another workspace
        ("C0GENERAL", "general", None, False),  # anyone else: "restricted", nothing of it
    ],
)
async def test_a_lesson_link_unfurls_into_its_card_as_the_channel_may_see_it(
    bot: Client,
    slack: FakeSlack,
    demo_store: Store,
    channel: str,
    name: str,
    team: str | None,
    shown: bool,
) -> None:
    slack.add_user("UFARIDA1", email="farida.rahimi@un.example", name="Farida Rahimi")
    slack.add_channel("C0MEDSUP", "mediation-support")
    body = urlencode(
        slash_command("audience link mediation-support", user_id="UFARIDA1", channel_id="C0MEDSUP")
    )
    assert await post(bot, body.encode(), "application/x-www-form-urlencoded") == 200
    await slack.wait_for("response_url")
    if channel != "C0MEDSUP":
        slack.add_channel(channel, name)
    restricted = _lesson_titled(demo_store, BACK_CHANNEL)
    public = _lesson_titled(demo_store, "Air retrieval of results")
    assert restricted and public
    links = [
        f"https://lessons.example.org/dashboard/lessons/{public}",
        f"https://lessons.example.org/dashboard/lessons/{restricted}",
        "https://lessons.example.org/dashboard/lessons/999999",  # no such lesson: no unfurl
        "https://lessons.example.org/dashboard/lessons/١٢",  # not our id: no unfurl
    ]
    shared = link_shared(links, AMINA, channel)
    envelope = event_callback(shared, team_id=team) if team else event_callback(shared)
    assert await event(bot, envelope) == 200
    (call,) = await slack.wait_for("chat.unfurl")
    unfurls = call.args["unfurls"]
    assert set(unfurls) == set(links[:2])
    assert "Air retrieval of results" in text_of(unfurls[links[0]]["blocks"])
    secret = text_of(unfurls[links[1]]["blocks"])
    assert (BACK_CHANNEL in secret) is shown
    if not shown:
        assert "restricted lesson" in secret and "armed group" not in secret
    slack.assert_clean()


async def test_the_agent_view_suggests_prompts_shows_a_status_and_answers_in_its_thread(
    bot: Client, slack: FakeSlack
) -> None:
    """Slack's agent view: open the thread, pick a suggested prompt, see the status, get the
    answer in that thread with native feedback."""
    dm = slack.dm_channel(AMINA)
    thread = "1700000500.000100"
    assert await event(bot, event_callback(assistant_thread_started(AMINA, dm, thread))) == 200
    (prompts,) = await slack.wait_for("assistant.threads.setSuggestedPrompts")
    assert prompts.args["channel_id"] == dm and prompts.args["thread_ts"] == thread
    offered = {p["title"]: p["message"] for p in prompts.args["prompts"]}
    assert offered["My actions"] == "my actions"
    welcome = await eventually_call(slack, lambda c: c.args.get("thread_ts") == thread)
    assert "pick one of the prompts" in text_of(welcome.args["blocks"])

    picked = offered["What did we learn about…?"]
    said = message_im(picked, AMINA, dm, "1700000500.000200", thread_ts=thread)
    assert await event(bot, event_callback(said)) == 200
    (status,) = await slack.wait_for("assistant.threads.setStatus")
    assert status.args["thread_ts"] == thread and "searching" in status.args["status"]
    answer = await eventually_call(
        slack,
        lambda c: c.args.get("thread_ts") == thread and "election" in text_of(c.args["blocks"]),
    )
    assert status.at <= answer.at  # the status shows while the bot searches
    assert any(b["type"] == "context_actions" for b in answer.args["blocks"])
    slack.assert_clean()
