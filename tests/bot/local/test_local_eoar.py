"""An End of Assignment interview in the local web chat: `/lessons eoar` goes to the bot's DM."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import build_app
from bot.settings import Settings
from knowledge.models import Review, ReviewAnswer, ReviewStatus
from knowledge.storage import Store

Client = TestClient[web.Request, web.Application]
STAFF = "amina.diallo@un.example"


@pytest.fixture
async def client(demo_store: Store) -> AsyncIterator[Client]:
    client: Client = TestClient(
        TestServer(build_app(Settings(), store=demo_store), host="127.0.0.1")
    )
    await client.start_server()
    yield client
    await client.close()


class Tab:
    """One browser tab speaking the chat protocol."""

    def __init__(self, ws: ClientWebSocketResponse) -> None:
        self.ws = ws
        self.dm = ""

    async def say(self, channel: str, text: str) -> None:
        await self.ws.send_str(json.dumps({"type": "say", "channel": channel, "text": text}))

    async def bot_says(self, words: str) -> dict[str, Any]:
        """Return the next bot message holding `words` (skipping others)."""
        while True:
            frame: dict[str, Any] = await self.ws.receive_json(timeout=10)
            message = frame.get("message") or {}
            if frame["type"] == "message" and message.get("bot") and words in message["html"]:
                return message


async def tab(client: Client, email: str, channel: str) -> Tab:
    origin = {"Origin": str(client.make_url("/")).rstrip("/")}
    ws = await client.ws_connect("/ws", headers=origin)
    t = Tab(ws)
    await ws.send_str(json.dumps({"type": "hello", "as": email, "channel": channel}))
    while (frame := await ws.receive_json(timeout=10))["type"] != "state":
        pass
    t.dm = frame["dm"]
    return t


async def test_lessons_eoar_moves_the_interview_to_the_dm(
    client: Client, demo_store: Store
) -> None:
    me = await tab(client, STAFF, "elections-team")

    await me.say("elections-team", "/lessons eoar")

    opening = await me.bot_says("Your End of Assignment Report")
    assert opening["channel"] == me.dm and "Question 1 of 5" in opening["html"]
    note = await me.bot_says("in our direct messages")
    assert note["channel"] == "elections-team" and note["private"]

    await me.say(me.dm, "Set up a joint election security cell with the police.")
    await me.bot_says("Saved to question 1")
    await me.say(me.dm, "next")
    await me.bot_says("Question 2 of 5")
    await me.say(me.dm, "close")
    await me.bot_says("Your End of Assignment Report is saved")

    with demo_store.session() as s:
        review = s.scalars(select(Review).where(Review.kind == "eoar")).one()
        assert (review.channel_id, review.status) == (me.dm, ReviewStatus.CLOSED)
        [answer] = s.scalars(select(ReviewAnswer.text)).all()
        assert answer.startswith("Set up a joint election security cell")
