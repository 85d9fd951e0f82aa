"""Socket Mode: the bot connects out to Slack (here a fake WebSocket on 127.0.0.1), acks
envelopes and answers through the Web API, with no public URL and no signing secret."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fake_slack import FakeSlack, app_mention, event_callback, slash_command, socket_envelope

from bot.app import build_app
from bot.settings import Settings
from knowledge.storage import Store

Client = TestClient[web.Request, web.Application]
APP_TOKEN = "xapp-1-A0APP-1-test"
AMINA = "UAMINA01"


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(token="xoxb-test", app_token=APP_TOKEN) as fake:
        fake.add_user(AMINA, email="amina.diallo@un.example", name="Amina Diallo")
        yield fake


@pytest.fixture
async def bot(demo_store: Store, slack: FakeSlack) -> AsyncIterator[Client]:
    settings = Settings(
        slack_bot_token="xoxb-test",
        slack_app_token=APP_TOKEN,
        slack_api_url=slack.api_url,
        slack_pace_seconds=0,
    )
    client: Client = TestClient(TestServer(build_app(settings, store=demo_store), host="127.0.0.1"))
    await client.start_server()
    await slack.wait_socket()
    yield client
    await client.close()
    slack.assert_clean()


async def test_a_mention_over_the_socket_is_acked_and_answered(
    bot: Client, slack: FakeSlack
) -> None:
    mention = app_mention("<@U0BOT> what did we learn about elections?", AMINA, "C0ELECT")
    envelope = socket_envelope(event_callback(mention))
    ack = await slack.socket_send(envelope)

    assert ack["envelope_id"] == envelope["envelope_id"]
    (call,) = await slack.wait_for("chat.postMessage")
    assert call.args["thread_ts"] == mention["ts"]
    assert "closest lessons" in str(call.args["blocks"])
    assert slack.calls_to("apps.connections.open")[0].token == APP_TOKEN


async def test_a_redelivered_envelope_is_acked_but_not_answered_again(
    bot: Client, slack: FakeSlack
) -> None:
    payload = event_callback(app_mention("<@U0BOT> elections?", AMINA, "C0ELECT"))
    await slack.socket_send(socket_envelope(payload))
    await slack.wait_for("chat.postMessage")
    again = socket_envelope(payload, retry_attempt=1, retry_reason="timeout")
    assert (await slack.socket_send(again))["envelope_id"] == again["envelope_id"]
    await slack.settle()
    assert len(slack.calls_to("chat.postMessage")) == 1


async def test_a_slash_command_over_the_socket_answers_privately(
    bot: Client, slack: FakeSlack
) -> None:
    command = slash_command("what did we learn about elections?", AMINA, "C0ELECT")
    await slack.socket_send(socket_envelope(command))
    (reply,) = await slack.wait_for("response_url")
    assert reply.args["response_type"] == "ephemeral"


async def test_http_route_is_off_in_socket_mode(bot: Client) -> None:
    response = await bot.post("/slack/events", data=b"{}")
    assert response.status == 404
