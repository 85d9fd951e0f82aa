"""Slack's Web API failing under the bot's answers and AAR posts: connection resets, 500s.

The bot retries what is safe to retry; when something still could not be delivered, the user
is told privately, and nothing is recorded as posted that was not.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fake_slack import (
    FakeSlack,
    app_mention,
    event_callback,
    message_channel,
    signed_headers,
    slash_command,
)
from sqlalchemy import select

from bot.app import build_app
from bot.settings import Settings
from knowledge.models import Review
from knowledge.storage import Store

Client = TestClient[web.Request, web.Application]
SECRET = "faults-signing-secret"
TOKEN = "xoxb-faults"
AMINA = "UAMINA01"
CHANNEL = "C0FAULTS"
QUESTION = "what did we learn about elections?"
SQLITE_ONLY = pytest.mark.parametrize("store", ["sqlite"], indirect=True)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(token=TOKEN) as fake:
        fake.add_user(AMINA, email="amina.diallo@un.example", name="Amina Diallo")
        yield fake


@pytest.fixture
async def bot(demo_store: Store, slack: FakeSlack) -> AsyncIterator[Client]:
    settings = Settings(
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=slack.api_url,
        slack_pace_seconds=0,
    )
    client: Client = TestClient(TestServer(build_app(settings, store=demo_store), host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()


async def post(bot: Client, body: bytes, content_type: str) -> int:
    headers = {**signed_headers(body, SECRET), "Content-Type": content_type}
    response = await bot.post("/slack/events", data=body, headers=headers)
    await response.read()
    return response.status


async def mention(bot: Client, ts: str) -> int:
    event = event_callback(app_mention(f"<@U0BOT> {QUESTION}", AMINA, CHANNEL, ts))
    return await post(bot, json.dumps(event).encode(), "application/json")


def said(call: Any) -> str:
    return json.dumps(call.args.get("blocks") or call.args.get("text"), ensure_ascii=False)


@SQLITE_ONLY
async def test_an_answer_whose_connection_was_reset_is_sent_again(
    bot: Client, slack: FakeSlack
) -> None:
    slack.drop("chat.postMessage")  # TCP reset before Slack read the post
    assert await mention(bot, "1700000100.000100") == 200
    dropped, answered = await slack.wait_for("chat.postMessage", count=2, timeout=30)
    assert dropped.fault == "drop" and answered.fault is None
    assert answered.args["thread_ts"] == "1700000100.000100" and "lesson" in said(answered).lower()


@SQLITE_ONLY
async def test_an_answer_that_met_a_500_is_sent_again(bot: Client, slack: FakeSlack) -> None:
    slack.fail("chat.postMessage", status=500, times=1)
    assert await mention(bot, "1700000200.000100") == 200
    failed, answered = await slack.wait_for("chat.postMessage", count=2, timeout=30)
    assert failed.status == 500 and answered.fault is None
    assert answered.args["thread_ts"] == "1700000200.000100"


@SQLITE_ONLY
async def test_an_answer_slack_kept_failing_is_owned_up_to_privately(
    bot: Client, slack: FakeSlack
) -> None:
    slack.fail("chat.postMessage", status=500, times=3)  # the post and its two retries
    assert await mention(bot, "1700000300.000100") == 200
    calls = await slack.wait_for("chat.postMessage", count=4, timeout=20)
    assert [c.status for c in calls[:3]] == [500, 500, 500]
    told = calls[3]
    assert told.args["channel"] == slack.dm_channel(AMINA)  # the user hears of it, privately
    assert "went wrong" in said(told) and "reference" in said(told)


@SQLITE_ONLY
async def test_an_aar_whose_opening_could_not_be_posted_is_not_marked_posted(
    bot: Client, slack: FakeSlack, demo_store: Store
) -> None:
    slack.drop("chat.postMessage", times=2)  # the post and its retry are both reset
    start = slash_command("start Polling day", user_id=AMINA, channel_id=CHANNEL, command="/aar")
    assert await post(bot, urlencode(start).encode(), "application/x-www-form-urlencoded") == 200
    calls = await slack.wait_for("chat.postMessage", count=3, timeout=30)
    assert [c.fault for c in calls[:2]] == ["drop", "drop"]
    told = calls[2]
    assert told.args["channel"] == slack.dm_channel(AMINA) and "reference" in said(told)
    with demo_store.session() as s:
        reviews = list(s.scalars(select(Review)))
    assert all(r.thread_id is None for r in reviews)  # no thread recorded that Slack never had


@SQLITE_ONLY
async def test_a_question_slack_never_showed_does_not_move_the_review(
    bot: Client, slack: FakeSlack, demo_store: Store
) -> None:
    """Issue 21, finding 4: a step moves only once its question is posted."""
    start = slash_command("start Polling day", user_id=AMINA, channel_id=CHANNEL, command="/aar")
    assert await post(bot, urlencode(start).encode(), "application/x-www-form-urlencoded") == 200
    (opening,) = await slack.wait_for("chat.postMessage", count=1, timeout=30)
    thread = str(opening.response["ts"])  # type: ignore[index]

    async def say(text: str, ts: str) -> None:
        message = message_channel(text, AMINA, CHANNEL, ts, thread_ts=thread)
        assert (
            await post(bot, json.dumps(event_callback(message)).encode(), "application/json") == 200
        )

    def review() -> Review:
        with demo_store.session() as s:
            found = s.scalars(select(Review)).one()
            s.expunge(found)
            return found

    for _ in range(50):
        if review().thread_id == thread:
            break
        await asyncio.sleep(0.05)
    slack.fail("chat.postMessage", status=500, times=3)  # question 2 and its two retries
    await say("next", "1800000010.000100")
    calls = await slack.wait_for("chat.postMessage", count=5, timeout=20)
    assert [c.status for c in calls[1:4]] == [500, 500, 500]
    assert "went wrong" in said(calls[4])  # the facilitator hears it failed…
    assert review().step == 0  # …and the review stays on the question everyone saw
    await say("next", "1800000011.000100")
    shown = await slack.wait_for("chat.postMessage", count=6, timeout=30)
    assert "Question 2 of" in said(shown[5])
    assert review().step == 1


@SQLITE_ONLY
async def test_an_answer_that_landed_despite_a_lost_reply_gets_no_apology(
    bot: Client, slack: FakeSlack
) -> None:
    """Issue 21, finding 5: the post is looked up by its key before anyone is told it failed."""
    slack.lose("chat.postMessage", times=2)  # posted, then the answer never came back (twice)
    assert await mention(bot, "1700000400.000100") == 200
    posts = await slack.wait_for("chat.postMessage", count=2, timeout=30)
    assert [c.fault for c in posts] == ["lost", "lost"]  # it landed (the retry too)
    await slack.wait_for("conversations.replies", count=1, timeout=30)
    await asyncio.sleep(0.5)
    apologies = [c for c in slack.calls_to("chat.postMessage") if "went wrong" in said(c)]
    assert apologies == []
