"""Finding 10 of issue 21: answers of any shape from Slack's Web API and Teams' connector.

A proxy or an outage in front of the platform answers with `403 Forbidden` in text/plain, an
HTML error page, an empty body or broken JSON. Each shape is met where the SDK raises it: a
new user's mention is still answered, the scheduler's email lookup fails cleanly (to be
retried), and a Teams reply the connector took is not apologised for.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fake_slack import FakeSlack, app_mention, event_callback, signed_headers
from slack_sdk.errors import SlackApiError

from bot.app import build_app
from bot.settings import Settings
from bot.slack.client import SlackClient
from bot.slack.notifier import SlackNotifier
from knowledge.storage import Store

Client = TestClient[web.Request, web.Application]
SECRET = "shapes-signing-secret"
TOKEN = "xoxb-shapes"
NEWCOMER = "UNEWCOMER1"
CHANNEL = "C0SHAPES"
SQLITE_ONLY = pytest.mark.parametrize("store", ["sqlite"], indirect=True)

SHAPES = {
    "403 text/plain": (403, "Forbidden", "text/plain"),
    "502 HTML page": (502, "<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"),
    "200 HTML page": (200, "<html><body>Please sign in to the proxy</body></html>", "text/html"),
    "200 empty JSON": (200, "", "application/json"),
    "503 empty": (503, "", "text/plain"),
    "200 broken JSON": (200, '{"ok": tru', "application/json; charset=utf-8"),
    "200 plain text": (200, "ok", "text/plain"),
}


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(token=TOKEN) as fake:
        fake.add_user(NEWCOMER, email="new.comer@un.example", name="New Comer")
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


@SQLITE_ONLY
@pytest.mark.parametrize("shape", list(SHAPES))
async def test_a_new_users_mention_is_answered_whatever_users_info_answers(
    bot: Client, slack: FakeSlack, shape: str
) -> None:
    status, body, content_type = SHAPES[shape]
    slack.answer_raw("users.info", status=status, body=body, content_type=content_type, times=5)
    ts = "1700000500.000100"
    event = json.dumps(
        event_callback(
            app_mention("<@U0BOT> what did we learn about elections?", NEWCOMER, CHANNEL, ts)
        )
    ).encode()
    headers = {**signed_headers(event, SECRET), "Content-Type": "application/json"}
    response = await bot.post("/slack/events", data=event, headers=headers)
    assert response.status == 200
    (answer,) = await slack.wait_for("chat.postMessage", count=1, timeout=30)
    assert answer.args["thread_ts"] == ts and answer.args["channel"] == CHANNEL
    assert "went wrong" not in json.dumps(answer.args)
    assert slack.calls_to("users.info")[0].fault == "raw"


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_an_email_lookup_meeting_an_odd_answer_fails_as_a_slack_error(
    slack: FakeSlack, shape: str
) -> None:
    status, body, content_type = SHAPES[shape]
    slack.answer_raw(
        "users.lookupByEmail", status=status, body=body, content_type=content_type, times=None
    )
    client = SlackClient(token=TOKEN, base_url=slack.api_url, timeout=5)
    notifier = SlackNotifier(client, pace=0)
    with pytest.raises(SlackApiError) as raised:
        await notifier.lookup("new.comer@un.example")
    assert raised.value.response.get("error") == "unexpected_response"
    assert raised.value.response.get("status") == status
