"""The inbox recognises what Slack sends again (issue 21; issue 17, item 8).

The same signed slash command sent three times within Slack's five minutes gives one answer
and one AAR (deduped by its trigger_id); an event redelivered after it was handled is acked
and skipped; an event the inbox cannot record is not acknowledged (503: Slack sends it again).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fake_slack import FakeSlack, app_mention, event_callback, signed_headers, slash_command
from sqlalchemy import func, select, text

from bot.app import build_app
from bot.settings import Settings
from knowledge.models import InboxItem, Review
from knowledge.storage import Store

Client = TestClient[web.Request, web.Application]
SECRET = "replay-signing-secret"
TOKEN = "xoxb-replay"
AMINA = "UAMINA01"
CHANNEL = "C0REPLAY"
FORM = "application/x-www-form-urlencoded"


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


async def test_the_same_aar_start_sent_three_times_starts_one_review(
    bot: Client, slack: FakeSlack, demo_store: Store
) -> None:
    start = slash_command("start Polling day", user_id=AMINA, channel_id=CHANNEL, command="/aar")
    body = urlencode(start).encode()
    statuses = [await post(bot, body, FORM) for _ in range(3)]
    assert statuses == [200, 200, 200]
    await slack.wait_for("chat.postMessage", count=1, timeout=30)
    await asyncio.sleep(0.5)  # a second opening would have been posted by now
    assert len(slack.calls_to("chat.postMessage")) == 1
    with demo_store.session() as s:
        assert s.scalar(select(func.count()).select_from(Review)) == 1


async def test_the_same_question_sent_three_times_is_answered_once(
    bot: Client, slack: FakeSlack
) -> None:
    ask = slash_command("what did we learn about elections?", user_id=AMINA, channel_id=CHANNEL)
    body = urlencode(ask).encode()
    assert await asyncio.gather(*(post(bot, body, FORM) for _ in range(3))) == [200] * 3
    await slack.wait_for("response_url", count=1, timeout=30)
    await asyncio.sleep(0.5)
    assert len(slack.calls_to("response_url")) == 1


async def test_a_redelivered_event_already_handled_is_acked_and_skipped(
    bot: Client, slack: FakeSlack, demo_store: Store
) -> None:
    event = event_callback(app_mention("<@U0BOT> elections?", AMINA, CHANNEL, "1800000001.000100"))
    body = json.dumps(event).encode()
    assert await post(bot, body, "application/json") == 200
    await slack.wait_for("chat.postMessage", count=1, timeout=30)
    for _ in range(30):  # the row is done once the listener ends
        with demo_store.session() as s:
            done = s.scalars(select(InboxItem.done_at)).one()
        if done is not None:
            break
        await asyncio.sleep(0.05)
    assert done is not None
    assert await post(bot, body, "application/json") == 200  # Slack's retry
    await asyncio.sleep(0.5)
    assert len(slack.calls_to("chat.postMessage")) == 1


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_an_event_the_inbox_cannot_record_is_not_acknowledged(
    bot: Client, slack: FakeSlack, demo_store: Store
) -> None:
    with demo_store.connection() as conn:
        conn.execute(text("DROP TABLE inbox"))  # the database cannot take it
    event = event_callback(app_mention("<@U0BOT> elections?", AMINA, CHANNEL, "1800000002.000100"))
    assert await post(bot, json.dumps(event).encode(), "application/json") == 503
    await asyncio.sleep(0.3)
    assert slack.calls_to("chat.postMessage") == []  # nothing done for what was not recorded
