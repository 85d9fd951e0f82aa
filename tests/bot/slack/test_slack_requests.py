"""What `/slack/events` (and the OAuth pages) answer to requests Slack never sends: a 4xx.

Each case was a 500 once (issue 17's attack run): unsigned requests with signature headers of the
wrong form, and correctly signed bodies of shapes Bolt cannot read — some after an apology was
posted to the user. Now such a request is refused before Bolt sees it, and nothing is written:
no call to Slack, no row in the database. A request that is right but for its charset is read
as the UTF-8 Slack sends, and answered.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fake_slack import (
    FakeSlack,
    app_mention,
    block_actions,
    event_callback,
    form_body,
    message_shortcut,
    signed_headers,
    slash_command,
    view_submission,
)
from sqlalchemy import select

from bot.app import build_app
from bot.settings import Settings
from knowledge.models import Base
from knowledge.storage import Store

Client = TestClient[web.Request, web.Application]
SECRET = "requests-signing-secret"
TOKEN = "xoxb-requests"
CLIENT_ID = "2141029472.691202649728"
AMINA = "UAMINA01"
CHANNEL = "C0ELECT"
SQLITE_ONLY = pytest.mark.parametrize("store", ["sqlite"], indirect=True)
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(token=TOKEN) as fake:
        fake.add_user(AMINA, email="amina.diallo@un.example", name="Amina Diallo")
        yield fake


@pytest.fixture
async def bot(store: Store, slack: FakeSlack) -> AsyncIterator[Client]:
    settings = Settings(
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=slack.api_url,
        slack_pace_seconds=0,
    )
    client: Client = TestClient(TestServer(build_app(settings, store=store), host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()


def footprint(store: Store) -> str:
    """Return a digest of every row of every table."""
    digest = hashlib.sha256()
    with store.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            digest.update(repr((table.name, conn.execute(select(table)).all())).encode())
    return digest.hexdigest()


async def post(bot: Client, body: bytes, headers: dict[str, str]) -> int:
    async with bot.post("/slack/events", data=body, headers=headers) as response:
        await response.read()
        return response.status


def slack_calls(slack: FakeSlack) -> list[str]:
    return [c.method for c in slack.calls if c.method != "auth.test"]


# Signature headers anyone can send ---------------------------------------------------------

MENTION = json.dumps(event_callback(app_mention("<@U0BOT> hello", AMINA, CHANNEL))).encode()


def with_timestamp(value: str) -> dict[str, str]:
    signed = signed_headers(MENTION, SECRET)
    return {**signed, "X-Slack-Request-Timestamp": value, "Content-Type": "application/json"}


def with_signature(value: str) -> dict[str, str]:
    signed = signed_headers(MENTION, SECRET)
    return {**signed, "X-Slack-Signature": value, "Content-Type": "application/json"}


NOW = int(time.time())
ODD_HEADERS: dict[str, Callable[[], dict[str, str]]] = {
    "timestamp abc": lambda: with_timestamp("abc"),
    "timestamp empty": lambda: with_timestamp(""),
    "timestamp 1e9": lambda: with_timestamp("1e9"),
    "timestamp hex": lambda: with_timestamp(hex(NOW)),
    "timestamp float": lambda: with_timestamp(f"{NOW}.5"),
    "timestamp inner spaces": lambda: with_timestamp(f"{NOW // 1000} {NOW % 1000}"),
    "signature non-ASCII": lambda: with_signature("v0=" + "é" * 64),
    "signature full-width digits": lambda: with_signature("v0=" + "\uff10" * 64),
}


@SQLITE_ONLY
@pytest.mark.parametrize("case", list(ODD_HEADERS))
async def test_signature_headers_of_the_wrong_form_get_401_and_nothing_happens(
    bot: Client, slack: FakeSlack, store: Store, case: str
) -> None:
    before = footprint(store)

    status = await post(bot, MENTION, ODD_HEADERS[case]())

    assert status == 401
    await slack.settle(quiet=0.2)
    assert slack_calls(slack) == [] and footprint(store) == before


@SQLITE_ONLY
async def test_a_repeated_signature_header_gets_401(bot: Client, slack: FakeSlack) -> None:
    signed = signed_headers(MENTION, SECRET)
    headers = [
        ("X-Slack-Request-Timestamp", "abc"),
        *signed.items(),
        ("Content-Type", "application/json"),
    ]
    async with bot.post("/slack/events", data=MENTION, headers=headers) as response:
        assert response.status == 401
    await slack.settle(quiet=0.2)
    assert slack_calls(slack) == []


# Signed bodies of shapes Slack never sends -------------------------------------------------


def button(**changes: Any) -> dict[str, Any]:
    payload = block_actions("lesson.more", "1", AMINA, CHANNEL, "1700000000.000100")
    return {**payload, **changes}


def modal(**changes: Any) -> dict[str, Any]:
    payload = view_submission("aar.answer", {"answer": "It went well"}, AMINA)
    return {**payload, "view": {**payload["view"], **changes}}


def form(payload: dict[str, Any]) -> tuple[bytes, str]:
    return form_body(payload), FORM


def command(**changes: str | None) -> tuple[bytes, str]:
    fields = {**slash_command("help", user_id=AMINA, channel_id=CHANNEL), **changes}
    return urlencode({k: v for k, v in fields.items() if v is not None}).encode(), FORM


def without(payload: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k != key}


MALFORMED: dict[str, Callable[[], tuple[bytes, str]]] = {
    "actions a string": lambda: form(button(actions="lesson.more")),
    "actions empty": lambda: form(button(actions=[])),
    "an action not an object": lambda: form(button(actions=[5])),
    "action_id an int": lambda: form(
        button(actions=[{"action_id": 5, "value": "1", "type": "button"}])
    ),
    "user missing": lambda: form(without(button(), "user")),
    "user a string": lambda: form(button(user=AMINA)),
    "user without an id": lambda: form(button(user={"id": "", "name": "amina"})),
    "channel a string": lambda: form(button(channel=CHANNEL)),
    "view a string": lambda: form({**view_submission("aar.answer", {}, AMINA), "view": "x"}),
    "state a list": lambda: form(modal(state=[])),
    "state values a list": lambda: form(modal(state={"values": []})),
    "callback_id an int": lambda: form(modal(callback_id=5)),
    "view submitted by nobody": lambda: form(without(modal(), "user")),
    "shortcut callback_id an int": lambda: form(
        {**message_shortcut("lesson.save_message", "x", AMINA, CHANNEL), "callback_id": 5}
    ),
    "interactive payload as JSON": lambda: (json.dumps(button()).encode(), "application/json"),
    "event as a form's payload": lambda: form(
        event_callback(app_mention("<@U0BOT> hello", AMINA, CHANNEL))
    ),
    "authorizations a string": lambda: (
        json.dumps(
            {
                **event_callback(app_mention("<@U0BOT> hello", AMINA, CHANNEL)),
                "authorizations": "x",
            }
        ).encode(),
        "application/json",
    ),
    "authorizations of strings": lambda: (
        json.dumps(
            {
                **event_callback(app_mention("<@U0BOT> hello", AMINA, CHANNEL)),
                "authorizations": ["x"],
            }
        ).encode(),
        "application/json",
    ),
    "response_urls a number": lambda: form({**modal(), "response_urls": 5}),
    "command with authorizations": lambda: command(authorizations="x"),
    "command with response_urls": lambda: command(response_urls="x"),
    "command without a response_url": lambda: command(response_url=None),
}


@SQLITE_ONLY
@pytest.mark.parametrize("case", list(MALFORMED))
async def test_signed_bodies_of_the_wrong_shape_get_400_and_nothing_happens(
    bot: Client, slack: FakeSlack, store: Store, case: str
) -> None:
    body, content_type = MALFORMED[case]()
    before = footprint(store)

    status = await post(bot, body, {**signed_headers(body, SECRET), "Content-Type": content_type})

    assert status == 400
    await slack.settle(quiet=0.2)
    assert slack_calls(slack) == []  # no answer, and no apology either
    assert footprint(store) == before


# The charset a client names ----------------------------------------------------------------


@SQLITE_ONLY
@pytest.mark.parametrize("charset", ["x-bogus", "latin-1"])
async def test_a_signed_mention_is_read_as_utf8_whatever_charset_it_names(
    bot: Client, slack: FakeSlack, charset: str
) -> None:
    body = json.dumps(
        event_callback(app_mention("<@U0BOT> qu'avons-nous appris à Bangui ?", AMINA, CHANNEL)),
        ensure_ascii=False,
    ).encode()
    headers = {
        **signed_headers(body, SECRET),
        "Content-Type": f"application/json; charset={charset}",
    }

    assert await post(bot, body, headers) == 200

    (call,) = await slack.wait_for("chat.postMessage")
    assert call.args["channel"] == CHANNEL


# The OAuth pages ---------------------------------------------------------------------------


@pytest.fixture
async def oauth_bot(store: Store, slack: FakeSlack) -> AsyncIterator[Client]:
    slack.oauth_app(CLIENT_ID, "requests-client-secret")
    settings = Settings(
        slack_client_id=CLIENT_ID,
        slack_client_secret="requests-client-secret",
        slack_signing_secret=SECRET,
        slack_api_url=slack.api_url,
        slack_pace_seconds=0,
    )
    client: Client = TestClient(TestServer(build_app(settings, store=store), host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()


@SQLITE_ONLY
@pytest.mark.parametrize("path", ["/slack/install", "/slack/oauth_redirect"])
@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"\x80\xff", "text/plain"), (b"x", "text/plain; charset=x-bogus")],
    ids=["not UTF-8", "unknown charset"],
)
async def test_the_oauth_pages_ignore_a_body_they_do_not_need(
    oauth_bot: Client, path: str, body: bytes, content_type: str
) -> None:
    async with oauth_bot.get(
        path, data=body, headers={"Content-Type": content_type}, allow_redirects=False
    ) as response:
        assert response.status < 500
