"""Finding 9 of issue 21: a new Slack user's first messages arriving together are all answered.

Each message resolves the unknown user (users.info, then a new person in the directory) at
the same moment; one of them used to fail on the unique Slack id the other had just written,
and its message was never answered.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fake_slack import FakeSlack, app_mention, event_callback, signed_headers
from sqlalchemy import func, select

from bot.app import build_app
from bot.settings import Settings
from knowledge.models import Person
from knowledge.storage import Store

Client = TestClient[web.Request, web.Application]
SECRET = "race-signing-secret"
TOKEN = "xoxb-race"
CHANNEL = "C0RACE"
NEWCOMERS = [f"UNEW{i:05d}" for i in range(6)]
AT_ONCE = 3


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(token=TOKEN) as fake:
        for user in NEWCOMERS:
            fake.add_user(user, email=f"{user.lower()}@un.example", name=f"New {user}")
        fake.slow("users.info", 0.2)  # every first message is resolving the user at once
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


async def mention(bot: Client, user: str, ts: str) -> int:
    body = json.dumps(
        event_callback(
            app_mention("<@U0BOT> what did we learn about elections?", user, CHANNEL, ts)
        )
    ).encode()
    headers = {**signed_headers(body, SECRET), "Content-Type": "application/json"}
    response = await bot.post("/slack/events", data=body, headers=headers)
    await response.read()
    return response.status


async def test_first_messages_of_new_users_arriving_together_are_all_answered(
    bot: Client, slack: FakeSlack, demo_store: Store
) -> None:
    sent = [
        (user, f"17000{u:02d}{k}00.000100")
        for u, user in enumerate(NEWCOMERS)
        for k in range(AT_ONCE)
    ]
    statuses = await asyncio.gather(*(mention(bot, user, ts) for user, ts in sent))
    assert statuses == [200] * len(sent)
    answers = await slack.wait_for("chat.postMessage", count=len(sent), timeout=30)
    assert sorted(a.args["thread_ts"] for a in answers) == sorted(ts for _, ts in sent)
    with demo_store.session() as s:
        for user in NEWCOMERS:
            count = s.scalar(select(func.count()).where(Person.slack_user_id == user))
            assert count == 1, user
