"""An End of Assignment interview in Slack: `/lessons eoar` in a channel moves it to the DM.

Signed requests go to the running bot on 127.0.0.1; what it sends lands on the fake Slack Web
API (tests/fake_slack.py), as in test_slack_app.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fake_slack import FakeSlack, event_callback, message_im, signed_headers, slash_command
from sqlalchemy import select

from bot.app import build_app
from bot.settings import Settings
from knowledge.models import Review, ReviewAnswer
from knowledge.storage import Store

Client = TestClient[web.Request, web.Application]
SECRET = "test-signing-secret"
TOKEN = "xoxb-test"
AMINA = "UAMINA01"  # MINUSCA; her manager is Ngozi Okafor
NGOZI = "UNGOZI01"
CHANNEL = "C0ELECT"
ANSWERS = (
    "Set up a joint election security cell with the police in six prefectures.",
    "Risk maps drawn with communities in Bambari beat our own patrol reports.",
    "Weekly security briefings for polling staff kept rumours down.",
    "The polling-station radio network is still not tested end to end.",
    "My successor should renew the radio maintenance contract before the rainy season.",
)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(token=TOKEN) as fake:
        fake.add_user(AMINA, email="amina.diallo@un.example", name="Amina Diallo")
        fake.add_user(NGOZI, email="ngozi.okafor@un.example", name="Ngozi Okafor")
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
    slack.assert_clean()  # every Web API call the bot made matches Slack's published API


async def post(bot: Client, body: bytes, content_type: str) -> int:
    headers = {**signed_headers(body, SECRET), "Content-Type": content_type}
    response = await bot.post("/slack/events", data=body, headers=headers)
    await response.read()
    return response.status


async def say(bot: Client, text: str, ts: str) -> None:
    payload = event_callback(message_im(text, AMINA, ts=ts))
    assert await post(bot, json.dumps(payload).encode(), "application/json") == 200


def text_of(call: Any) -> str:
    return json.dumps(call.args.get("blocks", []), ensure_ascii=False)


async def posted_to(slack: FakeSlack, channel: str, words: str) -> Any:
    """Wait for a message in a channel that says `words`."""
    deadline = time.monotonic() + 5
    while True:
        for call in slack.calls_to("chat.postMessage"):
            if call.ok and call.args["channel"] == channel and words in text_of(call):
                return call
        seen = [text_of(c)[:200] for c in slack.calls_to("chat.postMessage")][-3:]
        assert time.monotonic() < deadline, f"nothing saying {words!r} in {channel}: {seen}"
        await asyncio.sleep(0.05)


async def eventually(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not check():
        assert time.monotonic() < deadline, "the bot did not get there in time"
        await asyncio.sleep(0.05)


def answers(store: Store) -> int:
    with store.session() as s:
        return len(s.scalars(select(ReviewAnswer.id)).all())


def interview_channel(store: Store) -> str | None:
    with store.session() as s:
        return s.scalars(select(Review.channel_id).where(Review.kind == "eoar")).first()


async def test_lessons_eoar_in_a_channel_runs_the_interview_in_the_dm(
    bot: Client, slack: FakeSlack, demo_store: Store
) -> None:
    dm = slack.dm_channel(AMINA)
    body = urlencode(slash_command("eoar", user_id=AMINA, channel_id=CHANNEL))
    assert await post(bot, body.encode(), "application/x-www-form-urlencoded") == 200

    (note,) = await slack.wait_for("response_url")
    assert note.args["response_type"] == "ephemeral"  # only Amina sees it in the channel
    assert "in our direct messages" in text_of(note)
    opening = await posted_to(slack, dm, "Your End of Assignment Report")
    assert "Question 1 of 5" in text_of(opening)
    assert not [c for c in slack.calls_to("chat.postMessage") if c.args["channel"] == CHANNEL]
    await eventually(lambda: interview_channel(demo_store) == dm)  # learnt where it landed

    for i, answer in enumerate(ANSWERS):
        await say(bot, answer, f"1700000200.{2 * i:06d}")
        await eventually(lambda n=i + 1: answers(demo_store) == n)
        if i < len(ANSWERS) - 1:
            await say(bot, "next", f"1700000200.{2 * i + 1:06d}")
            await posted_to(slack, dm, f"Question {i + 2} of 5")
    await say(bot, "close", "1700000300.000001")

    summary = await posted_to(slack, dm, "Your End of Assignment Report is saved")
    assert "I asked Ngozi Okafor to validate it" in text_of(summary)
    assert "renew the radio maintenance contract" in text_of(summary)  # listed for her
    request = await posted_to(slack, slack.dm_channel(NGOZI), "Validation requested")
    assert "End of Assignment Report of Amina Diallo" in text_of(request)

    question = "what did we learn about risk maps drawn with communities in Bambari"
    for email, sees in (
        ("amina.diallo@un.example", True),
        ("ngozi.okafor@un.example", True),
        ("tomas.herrera@un.example", False),
    ):
        viewer = await demo_store.viewer_for(await demo_store.person_for("local", email))
        found = await demo_store.ask(question, viewer=viewer, limit=10)
        titles = [h.title for h in found.hits]
        assert any("End of Assignment Report: Amina Diallo" in t for t in titles) is sees, email
