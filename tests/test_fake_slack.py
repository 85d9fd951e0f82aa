"""The fake Slack, driven by the real slack_sdk / slack-bolt clients over loopback."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import pytest
from fake_slack import (
    BOT_USER_ID,
    FakeSlack,
    FakeSlackTimeout,
    app_home_opened,
    app_mention,
    block_actions,
    command_body,
    dm_channel_id,
    event_callback,
    form_body,
    json_body,
    message_channel,
    message_im,
    message_shortcut,
    payload_shape_errors,
    response_shape_errors,
    shared_dir,
    signed_headers,
    slash_command,
    socket_envelope,
    validate_blocks,
    view_submission,
)
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

TOKEN = "xoxb-test"
APP_TOKEN = "xapp-test"
SECRET = "signing-secret"
FAST = FixedValueRetryIntervalCalculator(fixed_internal=0.01)
SPEC = shared_dir() / "schemas" / "slack" / "web-api" / "slack_web_openapi_v2.json"
SAMPLES = shared_dir() / "schemas" / "slack" / "payload-samples"
needs_spec = pytest.mark.skipif(not SPEC.is_file(), reason=f"Slack's Web API spec absent: {SPEC}")
needs_samples = pytest.mark.skipif(
    not SAMPLES.is_dir(), reason=f"payload samples absent: {SAMPLES}"
)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(
        token=TOKEN, team_id="T0001", bot_user_id="U0BOT", app_token=APP_TOKEN
    ) as s:
        s.add_user("U0ALICE", email="alice@example.com", name="alice", tz="Europe/Paris")
        s.add_channel("C0LESSONS", "lessons")
        yield s


@pytest.fixture
def client(slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=slack.api_url, retry_handlers=[])


def section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def button(action_id: str = "go", text: str = "Go", **extra: Any) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": text},
        **extra,
    }


def text_input(block_id: str = "answer", **element: Any) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": "Answer"},
        "element": {"type": "plain_text_input", "action_id": "value", **element},
    }


def modal(**fields: Any) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Lessons"},
        "submit": {"type": "plain_text", "text": "Save"},
        "blocks": [text_input()],
    }
    view.update(fields)
    return {k: v for k, v in view.items() if v is not None}


# ---------------------------------------------------------------------------------------------
# Web API basics


async def test_auth_test_answers_like_slack(slack: FakeSlack, client: AsyncWebClient) -> None:
    assert slack.api_url.startswith("http://127.0.0.1:") and slack.api_url.endswith("/api/")
    response = await client.auth_test()
    assert response["ok"] is True
    assert (response["team_id"], response["user_id"], response["bot_id"]) == (
        "T0001",
        "U0BOT",
        "B0BOT",
    )
    [call] = slack.calls_to("auth.test")
    assert call.token == TOKEN and call.ok and call.args == {}
    if SAMPLES.is_dir():
        assert response_shape_errors("auth.test", response.data) == []  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("token", "error"),
    [(None, "not_authed"), ("xoxb-wrong", "invalid_auth"), (APP_TOKEN, "not_allowed_token_type")],
)
async def test_bad_tokens_get_http_200_and_an_error(
    slack: FakeSlack, token: str | None, error: str
) -> None:
    bad = AsyncWebClient(token=token, base_url=slack.api_url, retry_handlers=[])
    with pytest.raises(SlackApiError) as failure:
        await bad.auth_test()
    assert failure.value.response.status_code == 200
    assert failure.value.response["error"] == error


async def test_revoked_token_and_unknown_method(slack: FakeSlack, client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError, match="unknown_method"):
        await client.api_call("lessons.learn")
    slack.revoked = True
    with pytest.raises(SlackApiError, match="token_revoked"):
        await client.auth_test()


async def test_post_message_is_recorded_with_decoded_blocks(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    blocks = [section("*Lesson*"), {"type": "actions", "elements": [button(value="1")]}]
    first = await client.chat_postMessage(channel="C0LESSONS", text="Lesson", blocks=blocks)
    # The same call as a form post, with blocks as a JSON string (Slack accepts both).
    form = {"channel": "C0LESSONS", "text": "again", "blocks": json.dumps(blocks)}
    second = await client.api_call("chat.postMessage", data=form)
    one, two = slack.calls_to("chat.postMessage")
    assert one.content_type == "application/json" and two.content_type.endswith("urlencoded")
    assert one.args["blocks"] == blocks == two.args["blocks"]
    assert float(first["ts"]) < float(second["ts"])
    assert first["ts"] == "1700000000.000100" and first["channel"] == "C0LESSONS"
    message = first["message"]
    assert (
        message["user"] == "U0BOT" and message["bot_id"] == "B0BOT" and message["text"] == "Lesson"
    )
    assert all(block["block_id"] for block in message["blocks"])  # Slack fills block_ids in
    if SAMPLES.is_dir():
        assert response_shape_errors("chat.postMessage", first.data) == []  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"text": "no channel"}, "channel_not_found"),
        ({"channel": "C0LESSONS"}, "no_text"),
        ({"channel": "C0LESSONS", "text": "x" * 40_001}, "msg_too_long"),
        (
            {"channel": "C0LESSONS", "text": "x", "blocks": {"type": "divider"}},
            "invalid_blocks_format",
        ),
        ({"channel": "#nowhere", "text": "x"}, "channel_not_found"),
    ],
)
async def test_post_message_argument_errors(
    client: AsyncWebClient, args: dict[str, Any], error: str
) -> None:
    with pytest.raises(SlackApiError) as failure:
        await client.api_call("chat.postMessage", json=args)
    assert failure.value.response["error"] == error


async def test_channels_users_and_dms(slack: FakeSlack, client: AsyncWebClient) -> None:
    slack.add_channel("C0OLD", "old", is_archived=True)
    slack.add_channel("C0OUT", "out", is_member=False)
    for channel, error in (("C0OLD", "is_archived"), ("C0OUT", "not_in_channel")):
        with pytest.raises(SlackApiError, match=error):
            await client.chat_postMessage(channel=channel, text="x")
    by_name = await client.chat_postMessage(channel="#lessons", text="x")
    assert by_name["channel"] == "C0LESSONS"
    to_user = await client.chat_postMessage(channel="U0ALICE", text="x")  # lands in the DM
    assert to_user["channel"] == dm_channel_id("U0ALICE") == slack.dm_channel("U0ALICE")

    opened = await client.conversations_open(users="U0ALICE")
    assert opened["channel"]["id"] == "D0ALICE" and opened["already_open"] is True
    info = await client.conversations_info(channel="D0ALICE")
    assert info["channel"]["is_im"] is True and info["channel"]["user"] == "U0ALICE"
    slack.add_user("U0BOB")
    group = await client.conversations_open(users="U0ALICE,U0BOB")
    assert group["channel"]["id"].startswith("G")
    for users, error in (("U0NOBODY", "user_not_found"), ("", "users_list_not_supplied")):
        with pytest.raises(SlackApiError, match=error):
            await client.conversations_open(users=users)
    with pytest.raises(SlackApiError, match="channel_not_found"):
        await client.conversations_info(channel="C0UNKNOWN")
    lessons = await client.conversations_info(channel="C0LESSONS")
    assert lessons["channel"]["name"] == "lessons" and lessons["channel"]["is_member"] is True
    if SAMPLES.is_dir():
        for method, response in (("conversations.open", opened), ("conversations.info", lessons)):
            assert response_shape_errors(method, response.data) == []  # type: ignore[arg-type]


async def test_users_directory(slack: FakeSlack, client: AsyncWebClient) -> None:
    alice = await client.users_info(user="U0ALICE", include_locale=True)
    user = alice["user"]
    assert (user["name"], user["profile"]["email"], user["tz"]) == (
        "alice",
        "alice@example.com",
        "Europe/Paris",
    )
    assert user["tz_offset"] in (3600, 7200) and user["locale"] == "en-US"
    assert "locale" not in (await client.users_info(user="U0ALICE"))["user"]
    bot = await client.users_info(user=BOT_USER_ID)
    assert bot["user"]["is_bot"] is True and "email" not in bot["user"]["profile"]
    found = await client.users_lookupByEmail(email="Alice@Example.com")
    assert found["user"]["id"] == "U0ALICE"
    with pytest.raises(SlackApiError, match="user_not_found"):
        await client.users_info(user="U0NOBODY")
    with pytest.raises(SlackApiError, match="users_not_found"):
        await client.users_lookupByEmail(email="nobody@example.com")
    if SAMPLES.is_dir():
        assert response_shape_errors("users.info", alice.data) == []  # type: ignore[arg-type]
        assert response_shape_errors("users.lookupByEmail", found.data) == []  # type: ignore[arg-type]


async def test_ephemeral_update_delete_and_permalink(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    ephemeral = await client.chat_postEphemeral(channel="C0LESSONS", user="U0ALICE", text="psst")
    assert ephemeral["message_ts"]
    with pytest.raises(SlackApiError, match="user_not_in_channel"):
        await client.chat_postEphemeral(channel="C0LESSONS", user="U0NOBODY", text="psst")
    posted = await client.chat_postMessage(channel="C0LESSONS", text="v1")
    reply = await client.chat_postMessage(channel="C0LESSONS", text="r", thread_ts=posted["ts"])
    assert (
        reply["message"]["thread_ts"] == posted["ts"]
        and reply["message"]["parent_user_id"] == "U0BOT"
    )
    updated = await client.chat_update(channel="C0LESSONS", ts=posted["ts"], text="v2")
    assert (
        updated["message"]["text"] == "v2"
        and slack.messages[("C0LESSONS", posted["ts"])]["text"] == "v2"
    )
    link = await client.chat_getPermalink(channel="C0LESSONS", message_ts=posted["ts"])
    assert link["permalink"].endswith(f"/archives/C0LESSONS/p{posted['ts'].replace('.', '')}")
    await client.chat_delete(channel="C0LESSONS", ts=posted["ts"])
    for call in (
        client.chat_update(channel="C0LESSONS", ts=posted["ts"], text="v3"),
        client.chat_delete(channel="C0LESSONS", ts="1.000000"),
    ):
        with pytest.raises(SlackApiError, match="message_not_found"):
            await call
    if SAMPLES.is_dir():
        assert response_shape_errors("chat.postEphemeral", ephemeral.data) == []  # type: ignore[arg-type]


async def test_charset_warnings_like_slack(slack: FakeSlack) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{slack.api_url}auth.test", json={}, headers=headers) as response:
            body = await response.json()
        form = {**headers, "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        async with session.post(f"{slack.api_url}auth.test", data=b"a=1", headers=form) as response:
            form_body_ = await response.json()
        async with session.get(f"{slack.api_url}auth.test", params={"token": TOKEN}) as response:
            query = await response.json()
    assert body["ok"] and body["warning"] == "missing_charset"
    assert form_body_["warning"] == "superfluous_charset"
    assert query["ok"] and "warning" not in query  # a token in the query string works too


# ---------------------------------------------------------------------------------------------
# Block Kit validation


INVALID_BLOCKS: list[tuple[str, list[Any], str]] = [
    ("too many blocks", [{"type": "divider"}] * 51, "/blocks]"),
    ("unknown type", [{"type": "carousel2"}], "unsupported type: carousel2"),
    (
        "duplicate block_id",
        [section("a", block_id="x"), section("b", block_id="x")],
        "duplicate block_id",
    ),
    ("long block_id", [section("a", block_id="b" * 256)], "/blocks/0/block_id"),
    ("section text too long", [section("x" * 3001)], "must be less than 3001 characters"),
    ("section without text", [{"type": "section"}], "must define either `text` or `fields`"),
    ("empty section text", [section("")], "must be more than 0 characters"),
    (
        "bad text type",
        [{"type": "section", "text": {"type": "markdown", "text": "x"}}],
        "/blocks/0/text/type",
    ),
    (
        "11 fields",
        [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}],
        "no more than 10 items",
    ),
    (
        "long field",
        [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}],
        "/blocks/0/fields/0/text",
    ),
    (
        "26 actions",
        [{"type": "actions", "elements": [button(f"b{i}") for i in range(26)]}],
        "no more than 25 items",
    ),
    (
        "duplicate action_id",
        [{"type": "actions", "elements": [button("b"), button("b")]}],
        "duplicate action_id: b",
    ),
    (
        "long button text",
        [{"type": "actions", "elements": [button(text="t" * 76)]}],
        "must be less than 76 characters",
    ),
    (
        "mrkdwn button",
        [
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "action_id": "b", "text": {"type": "mrkdwn", "text": "b"}}
                ],
            }
        ],
        "must be plain_text",
    ),
    (
        "long value",
        [{"type": "actions", "elements": [button(value="v" * 2001)]}],
        "/elements/0/value",
    ),
    (
        "long action_id",
        [{"type": "actions", "elements": [button("a" * 256)]}],
        "/elements/0/action_id",
    ),
    (
        "non-http url",
        [{"type": "actions", "elements": [button(url="javascript:alert(1)")]}],
        "/elements/0/url",
    ),
    (
        "input in actions",
        [{"type": "actions", "elements": [{"type": "plain_text_input", "action_id": "i"}]}],
        "unsupported type: plain_text_input",
    ),
    (
        "long header",
        [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
        "must be less than 151 characters",
    ),
    (
        "11 context elements",
        [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}],
        "no more than 10 items",
    ),
    ("input in a message", [text_input()], "unsupported type on this surface (message): input"),
    (
        "image without alt_text",
        [{"type": "image", "image_url": "https://example.com/a.png"}],
        "/blocks/0/alt_text",
    ),
]


@pytest.mark.parametrize(
    ("blocks", "expected"), [c[1:] for c in INVALID_BLOCKS], ids=[c[0] for c in INVALID_BLOCKS]
)
async def test_invalid_blocks_are_rejected(
    slack: FakeSlack, client: AsyncWebClient, blocks: list[Any], expected: str
) -> None:
    with pytest.raises(SlackApiError) as failure:
        await client.chat_postMessage(channel="C0LESSONS", text="fallback", blocks=blocks)
    response = failure.value.response
    assert response.status_code == 200 and response["error"] == "invalid_blocks"
    assert any(expected in e and "[json-pointer:" in e for e in response["errors"]), response[
        "errors"
    ]
    assert response["response_metadata"]["messages"][0].startswith("[ERROR] ")
    assert slack.calls_to("chat.postMessage")[0].error == "invalid_blocks"


async def test_blocks_at_the_limits_pass(client: AsyncWebClient) -> None:
    at_limits = [
        section("x" * 3000, block_id="b" * 255),
        {"type": "section", "fields": [{"type": "plain_text", "text": "f" * 2000}] * 10},
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 10},
        {
            "type": "actions",
            "elements": [
                button(f"b{i}", "t" * 75, value="v" * 2000, url="https://example.com")
                for i in range(25)
            ],
        },
        {"type": "divider"},
    ]
    blocks = at_limits + [{"type": "divider"}] * (50 - len(at_limits))
    assert validate_blocks(blocks) == []
    await client.chat_postMessage(channel="C0LESSONS", text="ok", blocks=blocks)
    await client.chat_postEphemeral(channel="C0LESSONS", user="U0ALICE", text="ok", blocks=blocks)


async def test_update_and_ephemeral_validate_blocks_too(client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C0LESSONS", text="x")
    bad = [section("x" * 3001)]
    with pytest.raises(SlackApiError, match="invalid_blocks"):
        await client.chat_update(channel="C0LESSONS", ts=posted["ts"], text="x", blocks=bad)
    with pytest.raises(SlackApiError, match="invalid_blocks"):
        await client.chat_postEphemeral(channel="C0LESSONS", user="U0ALICE", text="x", blocks=bad)


INVALID_VIEWS: list[tuple[str, str, dict[str, Any], str]] = [
    (
        "title too long",
        "views.open",
        modal(title={"type": "plain_text", "text": "t" * 25}),
        "/view/title/text",
    ),
    ("no title", "views.open", modal(title=None), "/view/title"),
    (
        "mrkdwn title",
        "views.open",
        modal(title={"type": "mrkdwn", "text": "t"}),
        "must be plain_text",
    ),
    (
        "submit too long",
        "views.open",
        modal(submit={"type": "plain_text", "text": "s" * 25}),
        "/view/submit/text",
    ),
    ("inputs without submit", "views.open", modal(submit=None), "must provide submit"),
    ("long callback_id", "views.open", modal(callback_id="c" * 256), "/view/callback_id"),
    (
        "long private_metadata",
        "views.open",
        modal(private_metadata="m" * 3001),
        "/view/private_metadata",
    ),
    (
        "101 blocks",
        "views.open",
        modal(blocks=[{"type": "divider"}] * 101),
        "no more than 100 items",
    ),
    (
        "long label",
        "views.open",
        modal(blocks=[{**text_input(), "label": {"type": "plain_text", "text": "l" * 2001}}]),
        "/view/blocks/0/label/text",
    ),
    (
        "button as input",
        "views.open",
        modal(blocks=[{**text_input(), "element": button()}]),
        "unsupported type: button",
    ),
    (
        "long initial_value",
        "views.open",
        modal(blocks=[text_input(initial_value="v" * 3001)]),
        "/element/initial_value",
    ),
    ("home in views.open", "views.open", modal(type="home"), "unsupported type: home"),
    ("modal as home", "views.publish", modal(), "unsupported type: modal"),
    (
        "home with 101 blocks",
        "views.publish",
        {"type": "home", "blocks": [{"type": "divider"}] * 101},
        "no more than 100 items",
    ),
]


@pytest.mark.parametrize(
    ("method", "view", "expected"),
    [c[1:] for c in INVALID_VIEWS],
    ids=[c[0] for c in INVALID_VIEWS],
)
async def test_invalid_views_are_rejected(
    client: AsyncWebClient, method: str, view: dict[str, Any], expected: str
) -> None:
    with pytest.raises(SlackApiError) as failure:
        if method == "views.publish":
            await client.views_publish(user_id="U0ALICE", view=view)
        else:
            await client.views_open(trigger_id="1.2.3", view=view)
    response = failure.value.response
    assert response["error"] == "invalid_arguments"
    messages = response["response_metadata"]["messages"]
    assert any(m.startswith("[ERROR] ") and expected in m for m in messages), messages


async def test_views_open_update_push_and_publish(slack: FakeSlack, client: AsyncWebClient) -> None:
    view = modal(
        callback_id="aar",
        private_metadata="p" * 3000,
        blocks=[text_input(initial_value="v" * 3000)],
    )
    opened = await client.views_open(trigger_id="1.2.3", view=view)
    stored = opened["view"]
    assert stored["id"].startswith("V") and stored["callback_id"] == "aar" and stored["hash"]
    assert stored["blocks"][0]["block_id"] == "answer" and stored["state"] == {"values": {}}
    updated = await client.views_update(
        view_id=stored["id"], hash=stored["hash"], view=modal(callback_id="aar2")
    )
    assert updated["view"]["id"] == stored["id"] and updated["view"]["callback_id"] == "aar2"
    with pytest.raises(SlackApiError, match="hash_conflict"):
        await client.views_update(view_id=stored["id"], hash=stored["hash"], view=modal())
    with pytest.raises(SlackApiError, match="not_found"):
        await client.views_update(view_id="V0NOPE", view=modal())
    pushed = await client.views_push(trigger_id="4.5.6", view=modal())
    assert pushed["view"]["id"] != stored["id"]
    with pytest.raises(SlackApiError, match="invalid_arguments"):
        await client.api_call("views.open", json={"view": modal()})  # no trigger_id
    home = {"type": "home", "blocks": [section("hi")] + [{"type": "divider"}] * 99}
    published = await client.views_publish(user_id="U0ALICE", view=home)
    again = await client.views_publish(user_id="U0ALICE", view=home)
    assert again["view"]["id"] == published["view"]["id"] == slack.home_views["U0ALICE"]["id"]
    if SAMPLES.is_dir():
        assert response_shape_errors("views.open", opened.data) == []  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Fault injection


async def test_429_with_retry_after_is_retried_by_the_rate_limit_handler(slack: FakeSlack) -> None:
    slack.fail("chat.postMessage", status=429)  # retry_after=1 by default
    plain = AsyncWebClient(token=TOKEN, base_url=slack.api_url, retry_handlers=[])
    with pytest.raises(SlackApiError) as failure:
        await plain.chat_postMessage(channel="C0LESSONS", text="x")
    assert failure.value.response.status_code == 429
    assert failure.value.response.headers["Retry-After"] == "1"
    assert failure.value.response["error"] == "ratelimited"

    slack.fail("chat.postMessage", status=429, retry_after=0, times=2)
    retrying = AsyncWebClient(
        token=TOKEN,
        base_url=slack.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
    )
    response = await retrying.chat_postMessage(channel="C0LESSONS", text="x")
    assert response["ok"]
    calls = slack.calls_to("chat.postMessage")
    assert [c.fault for c in calls] == ["429", "429", "429", None]
    assert calls[-1].ok and calls[-1].args == calls[1].args


async def test_500_injection_and_server_error_retries(slack: FakeSlack) -> None:
    slack.fail("auth.test", status=500, times=1)
    retrying = AsyncWebClient(
        token=TOKEN,
        base_url=slack.api_url,
        retry_handlers=[AsyncServerErrorRetryHandler(max_retry_count=1, interval_calculator=FAST)],
    )
    assert (await retrying.auth_test())["ok"]
    slack.fail("*", status=503, times=None)
    plain = AsyncWebClient(token=TOKEN, base_url=slack.api_url, retry_handlers=[])
    with pytest.raises(SlackApiError) as failure:
        await plain.users_info(user="U0ALICE")
    assert failure.value.response.status_code == 503
    assert failure.value.response["error"] == "service_unavailable"
    slack.clear_faults()
    assert (await plain.auth_test())["ok"]
    assert [c.fault for c in slack.calls] == ["500", None, "503", None]


async def test_api_error_injection(slack: FakeSlack, client: AsyncWebClient) -> None:
    slack.fail("views.open", status=200, error="expired_trigger_id")
    with pytest.raises(SlackApiError) as failure:
        await client.views_open(trigger_id="1.2.3", view=modal())
    assert failure.value.response.status_code == 200
    assert failure.value.response["error"] == "expired_trigger_id"
    assert slack.calls_to("views.open")[0].fault == "expired_trigger_id"
    assert (await client.views_open(trigger_id="1.2.3", view=modal()))["ok"]


async def test_dropped_connection_is_a_reset_retried_by_the_connection_handler(
    slack: FakeSlack,
) -> None:
    slack.drop("chat.postMessage")
    plain = AsyncWebClient(token=TOKEN, base_url=slack.api_url, retry_handlers=[])
    with pytest.raises(aiohttp.ClientOSError):
        await plain.chat_postMessage(channel="C0LESSONS", text="x")
    slack.drop("chat.postMessage")
    retrying = AsyncWebClient(
        token=TOKEN,
        base_url=slack.api_url,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=1, interval_calculator=FAST)
        ],
    )
    assert (await retrying.chat_postMessage(channel="C0LESSONS", text="x"))["ok"]
    assert [c.fault for c in slack.calls_to("chat.postMessage")] == ["drop", "drop", None]


async def test_slow_answers(slack: FakeSlack, client: AsyncWebClient) -> None:
    slack.slow("auth.test", 0.3, times=1)
    started = time.monotonic()
    await client.auth_test()
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    await client.auth_test()
    assert time.monotonic() - started < 0.3


async def test_wait_for_calls_made_after_the_ack(slack: FakeSlack, client: AsyncWebClient) -> None:
    async def later() -> None:
        await asyncio.sleep(0.05)
        await client.chat_postMessage(channel="C0LESSONS", text="later")

    task = asyncio.create_task(later())
    [call] = await slack.wait_for("chat.postMessage", timeout=2)
    assert call.args["text"] == "later"
    await task
    with pytest.raises(FakeSlackTimeout, match="expected 2 call"):
        await slack.wait_for("chat.postMessage", count=2, timeout=0.05)


# ---------------------------------------------------------------------------------------------
# OpenAPI lint


@needs_spec
async def test_lint_accepts_what_slack_sdk_sends(slack: FakeSlack, client: AsyncWebClient) -> None:
    org = AsyncWebClient(token=TOKEN, base_url=slack.api_url, team_id="T0001", retry_handlers=[])
    await org.chat_postMessage(
        channel="C0LESSONS", text="x", metadata={"event_type": "e", "event_payload": {}}
    )
    await client.views_open(trigger_id="1.2.3", view=modal())
    await client.users_info(user="U0ALICE")
    await client.apps_connections_open(app_token=APP_TOKEN)
    assert slack.lint_skipped is None
    slack.assert_clean()


@needs_spec
async def test_lint_catches_unknown_and_missing_arguments(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    await client.chat_postMessage(channel="C0LESSONS", text="x", thread="1.2")
    with pytest.raises(SlackApiError):
        await client.api_call("chat.postEphemeral", json={"channel": "C0LESSONS", "text": "x"})
    with pytest.raises(SlackApiError, match="user_not_found"):  # Slack ignores JSON here
        await client.api_call("users.info", json={"user": "U0ALICE"})
    assert slack.lint_errors == [
        "chat.postMessage: unknown argument 'thread'",
        "chat.postEphemeral: missing required argument 'user'",
        "users.info: sent as JSON, but the method only takes form or query arguments",
    ]
    with pytest.raises(AssertionError, match="unknown argument 'thread'"):
        slack.assert_clean()


async def test_without_shared_the_lint_is_skipped_and_builders_still_work(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LESSONS_SHARED_DIR", str(tmp_path))
    async with FakeSlack(token=TOKEN) as slack:
        await AsyncWebClient(token=TOKEN, base_url=slack.api_url).auth_test()
        assert slack.lint_errors == []
        assert slack.lint_skipped is not None and "absent" in slack.lint_skipped
        slack.assert_clean()
    mention = event_callback(app_mention("<@U0BOT> hi", "U0ALICE", "C0LESSONS"))
    assert payload_shape_errors("app_mention", mention) is None
    assert view_submission("aar", {"what": "x"}, "U0ALICE")["view"]["state"]["values"]


# ---------------------------------------------------------------------------------------------
# response_url


async def test_response_url_records_posts_and_rejects_bad_blocks(slack: FakeSlack) -> None:
    hook = AsyncWebhookClient(slack.response_url("cmd"))
    ok = await hook.send(text="done", response_type="ephemeral", blocks=[section("done")])
    assert (ok.status_code, ok.body) == (200, "ok")
    bad = await hook.send(text="x", blocks=[section("x" * 3001)])
    assert (bad.status_code, bad.body) == (400, "invalid_blocks")
    empty = await hook.send(response_type="ephemeral")
    assert (empty.status_code, empty.body) == (400, "no_text")
    first = (await slack.wait_for("response_url", count=3, name="cmd"))[0]
    assert first.args == {"text": "done", "response_type": "ephemeral", "blocks": [section("done")]}
    await AsyncWebhookClient(slack.response_url("other")).send(text="x")
    assert len(slack.calls_to("response_url")) == 4 and first.name == "cmd"
    assert [c.name for c in slack.calls_to("response_url", name="other")] == ["other"]


async def test_builders_default_response_urls_point_at_the_running_fake(slack: FakeSlack) -> None:
    command = slash_command("ask", "U0ALICE", "C0LESSONS", command="/aar")
    assert command["response_url"] == slack.response_url("aar")
    actions = block_actions("lesson.snooze", "7", "U0ALICE", "C0LESSONS")
    assert actions["response_url"] == slack.response_url("lesson.snooze")
    shortcut = message_shortcut("save/lesson", "x", "U0ALICE", "C0LESSONS")
    reply = await AsyncWebhookClient(shortcut["response_url"]).send(text="saved")
    assert reply.status_code == 200
    [call] = await slack.wait_for("response_url", name="save/lesson")
    assert call.args == {"text": "saved"}


async def test_settle_waits_for_quiet(slack: FakeSlack, client: AsyncWebClient) -> None:
    slack.slow("auth.test", 0.2)
    task = asyncio.create_task(client.auth_test())
    await asyncio.sleep(0.05)  # the call is in flight, slowed down
    await slack.settle(quiet=0.05)
    assert task.done() and len(slack.calls) == 1
    await task
    with pytest.raises(FakeSlackTimeout, match="did not settle"):
        slack.slow("auth.test", 0.5)
        busy = asyncio.create_task(client.auth_test())
        await asyncio.sleep(0.05)
        try:
            await slack.settle(quiet=0.05, timeout=0.1)
        finally:
            await busy


# ---------------------------------------------------------------------------------------------
# Socket Mode


async def test_socket_mode_hello_envelope_and_ack_round_trip(slack: FakeSlack) -> None:
    frames: list[dict[str, Any]] = []
    requests: list[SocketModeRequest] = []

    async def on_message(
        _client: AsyncBaseSocketModeClient, message: dict[str, Any], _raw: str | None
    ) -> None:
        frames.append(message)

    async def on_request(sm: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
        requests.append(request)
        payload = {"text": "on it"} if request.accepts_response_payload else None
        await sm.send_socket_mode_response(SocketModeResponse(request.envelope_id, payload))

    web = AsyncWebClient(base_url=slack.api_url)
    sm = SocketModeClient(app_token=APP_TOKEN, web_client=web, auto_reconnect_enabled=False)
    sm.message_listeners.append(on_message)
    sm.socket_mode_request_listeners.append(on_request)
    try:
        await sm.connect()
        await slack.wait_socket()
        command = slash_command("ask", "U0ALICE", "C0LESSONS")
        ack = await slack.socket_send(socket_envelope(command, envelope_id="env-1"))
        assert ack == {"envelope_id": "env-1", "payload": {"text": "on it"}}
        asked = app_mention("<@U0BOT> what did we learn?", "U0ALICE", "C0LESSONS")
        ack = await slack.socket_send(event_callback(asked))  # a bare payload is wrapped
        assert set(ack) == {"envelope_id"}
        assert frames[0]["type"] == "hello" and frames[0]["connection_info"] == {"app_id": "A0APP"}
        assert [r.type for r in requests] == ["slash_commands", "events_api"]
        assert (
            requests[1].retry_attempt == 0 and requests[1].payload["event"]["type"] == "app_mention"
        )
        assert sm.last_ping_pong_time is not None  # the fake answered the client's ping

        await slack.socket_disconnect("refresh_requested")  # the client fetches a new URL
        await slack.wait_for("apps.connections.open", count=2)
        ack = await slack.socket_send(
            {"payload": block_actions("go", "1", "U0ALICE"), "type": "interactive"}
        )
        assert "envelope_id" in ack
    finally:
        await sm.close()
    assert slack.socket_received[0]["envelope_id"] == "env-1"


async def test_socket_mode_refuses_bad_tickets_and_bot_tokens(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    with pytest.raises(SlackApiError, match="not_allowed_token_type"):
        await client.apps_connections_open(app_token=TOKEN)
    url = (await client.apps_connections_open(app_token=APP_TOKEN))["url"]
    assert url.startswith(slack.base_url.replace("http://", "ws://") + "link/?ticket=")
    if SAMPLES.is_dir():
        response = {"ok": True, "url": url}
        assert response_shape_errors("apps.connections.open", response) == []
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await session.ws_connect(url.replace("ticket=", "ticket=x"))
    with pytest.raises(FakeSlackTimeout, match="no Socket Mode client"):
        await slack.socket_send({"type": "event_callback"}, timeout=0.05)


async def test_bolt_app_over_socket_mode_answers_a_mention(slack: FakeSlack) -> None:
    app = AsyncApp(client=AsyncWebClient(token=TOKEN, base_url=slack.api_url))

    @app.event("app_mention")
    async def answer(event: dict[str, Any], say: Callable[..., Any]) -> None:
        await say(text="Here is what we learned", thread_ts=event["ts"])

    handler = AsyncSocketModeHandler(app, APP_TOKEN)
    try:
        await handler.connect_async()
        mention = app_mention("<@U0BOT> hi", "U0ALICE", "C0LESSONS", ts="1710000000.000100")
        ack = await slack.socket_send(event_callback(mention))
        assert set(ack) == {"envelope_id"}
        [call] = await slack.wait_for("chat.postMessage")
        assert call.args["thread_ts"] == "1710000000.000100" and call.args["channel"] == "C0LESSONS"
    finally:
        await handler.close_async()
    if SPEC.is_file():
        slack.assert_clean()


# ---------------------------------------------------------------------------------------------
# Inbound requests: signatures and payload builders


def test_signed_headers_verify_with_slack_sdk() -> None:
    body = command_body(slash_command("ask", "U0ALICE", "C0LESSONS"))
    headers = signed_headers(body, SECRET)
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid(
        body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )
    assert not SignatureVerifier("other").is_valid_request(body, headers)
    old = signed_headers(body, SECRET, timestamp=int(time.time()) - 600)
    assert not verifier.is_valid_request(body, old)  # Slack's 5-minute replay window
    known = signed_headers(b"x", "s", timestamp=1)
    assert known["X-Slack-Signature"].startswith("v0=") and len(known["X-Slack-Signature"]) == 67


async def test_bolt_accepts_signed_requests_built_here(slack: FakeSlack) -> None:
    app = AsyncApp(
        signing_secret=SECRET, client=AsyncWebClient(token=TOKEN, base_url=slack.api_url)
    )

    @app.command("/lessons")
    async def command(ack: Callable[..., Any]) -> None:
        await ack("noted")

    body = command_body(slash_command("ask", "U0ALICE", "C0LESSONS"))
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    good = AsyncBoltRequest(body=body.decode(), headers={**form, **signed_headers(body, SECRET)})
    assert (await app.async_dispatch(good)).status == 200
    forged = AsyncBoltRequest(body=body.decode(), headers={**form, **signed_headers(body, "nope")})
    assert (await app.async_dispatch(forged)).status == 401


def test_builders_make_realistic_payloads() -> None:
    event = app_mention("<@U0BOT> what did we learn?", "U0ALICE", "C0LESSONS", "1710000000.000100")
    mention = event_callback(event)
    assert event_callback(mention) == mention  # wrapping twice changes nothing
    assert mention["type"] == "event_callback" and mention["event_id"].startswith("Ev")
    assert (
        mention["event_time"] == 1710000000 and mention["authorizations"][0]["user_id"] == "U0BOT"
    )
    assert event["blocks"][0]["elements"][0]["elements"][0] == {"type": "user", "user_id": "U0BOT"}
    assert "thread_ts" not in event and "bot_id" not in event

    im = message_im("hello", "U0ALICE", thread_ts="1710000000.000100")
    assert (im["channel"], im["channel_type"], im["thread_ts"]) == (
        "D0ALICE",
        "im",
        "1710000000.000100",
    )
    changed = message_channel(
        "v2", "U0ALICE", "C0LESSONS", "1.000100", subtype="message_changed", previous_text="v1"
    )
    assert changed["message"]["text"] == "v2" and changed["previous_message"]["text"] == "v1"
    assert changed["hidden"] is True and changed["message"]["edited"]["user"] == "U0ALICE"
    deleted = message_channel(
        "", "U0ALICE", "C0LESSONS", "1.000100", subtype="message_deleted", previous_text="v1"
    )
    assert deleted["deleted_ts"] == "1.000100" and "message" not in deleted
    home = app_home_opened("U0ALICE")
    assert (home["channel"], home["tab"]) == ("D0ALICE", "home")

    command = slash_command("ask why", "U0ALICE", "C0LESSONS", response_url="http://x/r")
    assert all(isinstance(v, str) for v in command.values()) and command["command"] == "/lessons"
    assert dict(parse_qsl(command_body(command).decode())) == command

    actions = block_actions("aar_done", "42", "U0ALICE", "C0LESSONS", "1700000000.000100")
    assert actions["container"] == {
        "type": "message",
        "message_ts": "1700000000.000100",
        "channel_id": "C0LESSONS",
        "is_ephemeral": False,
    }
    assert (
        actions["actions"][0]["value"] == "42" and actions["message"]["ts"] == "1700000000.000100"
    )
    assert json.loads(dict(parse_qsl(form_body(actions).decode()))["payload"]) == actions
    in_view = block_actions(
        "pick", None, "U0ALICE", view={"id": "V1", "type": "modal", "blocks": []}
    )
    assert (
        in_view["container"] == {"type": "view", "view_id": "V1"} and "response_url" not in in_view
    )
    ephemeral = block_actions("go", "1", "U0ALICE", "C0LESSONS", is_ephemeral=True)
    assert "message" not in ephemeral and ephemeral["container"]["is_ephemeral"] is True

    submission = view_submission(
        "aar", {"what": "It broke", "why.reason": "no tests"}, "U0ALICE", "ctx"
    )
    values = submission["view"]["state"]["values"]
    assert values == {
        "what": {"what": {"type": "plain_text_input", "value": "It broke"}},
        "why": {"reason": {"type": "plain_text_input", "value": "no tests"}},
    }
    assert (
        submission["view"]["private_metadata"] == "ctx" and len(submission["view"]["blocks"]) == 2
    )
    opened = [{**text_input("what"), "element": {"type": "plain_text_input", "action_id": "text"}}]
    resolved = view_submission("aar", {"what": "It broke"}, "U0ALICE", blocks=opened)
    assert resolved["view"]["state"]["values"] == {
        "what": {"text": {"type": "plain_text_input", "value": "It broke"}}
    }
    assert resolved["view"]["blocks"] == opened
    shortcut = message_shortcut(
        "save_lesson", "we learned X", "U0ALICE", "C0LESSONS", "1.000200", message_user="U0BOB"
    )
    assert shortcut["message"]["user"] == "U0BOB" and shortcut["message_ts"] == "1.000200"
    assert json.loads(json_body(mention)) == mention
    wrapped = event_callback(
        {"type": "member_joined_channel", "user": "U0ALICE", "channel": "C0LESSONS"}
    )
    assert wrapped["event_context"].startswith("4-")
    assert socket_envelope(submission)["accepts_response_payload"] is True
    assert socket_envelope(actions)["accepts_response_payload"] is False


@needs_samples
def test_builders_emit_only_fields_of_the_java_slack_sdk_samples() -> None:
    built = {
        "app_mention": app_mention("<@U0BOT> hi", "U0ALICE", "C0LESSONS", thread_ts="1.000100"),
        "message": message_im("hi", "U0ALICE", thread_ts="1.000100"),
        "app_home_opened": app_home_opened("U0ALICE", view={"id": "V1", "type": "home"}),
        "slash_command": slash_command("ask", "U0ALICE", "C0LESSONS"),
        "block_actions": block_actions("go", "1", "U0ALICE", "C0LESSONS", thread_ts="1.000100"),
        "view_submission": view_submission("aar", {"what": "x"}, "U0ALICE"),
        "message_shortcut": message_shortcut("save", "x", "U0ALICE", "C0LESSONS"),
    }
    built["event_callback"] = event_callback(built["app_mention"])
    assert payload_shape_errors("message", event_callback(built["message"])) == []
    for subtype in ("message_changed", "message_deleted"):
        changed = message_channel("b", "U0ALICE", "C0LESSONS", subtype=subtype, previous_text="a")
        assert payload_shape_errors("message", changed) == [], subtype
    in_view = block_actions(
        "go", None, "U0ALICE", view=view_submission("a", {"x": "y"}, "U0ALICE")["view"]
    )
    assert payload_shape_errors("block_actions", in_view) == []
    for kind, payload in built.items():
        assert payload_shape_errors(kind, payload) == [], kind
    assert payload_shape_errors("slash_command", {**built["slash_command"], "colour": "x"}) == [
        "colour: not in the sample"
    ]


def test_native_feedback_blocks_are_checked_as_slack_documents_them() -> None:
    side = {"text": {"type": "plain_text", "text": "Helpful"}, "value": "up"}
    good = {
        "type": "context_actions",
        "elements": [
            {
                "type": "feedback_buttons",
                "action_id": "fb",
                "positive_button": side,
                "negative_button": {**side, "value": "down"},
            }
        ],
    }
    assert validate_blocks([good]) == []
    missing = {**good, "elements": [{**good["elements"][0], "negative_button": None}]}
    assert validate_blocks([missing])
    too_long = {
        **good,
        "elements": [{**good["elements"][0], "positive_button": {**side, "value": "v" * 2001}}],
    }
    assert validate_blocks([too_long])
    assert validate_blocks([{**good, "elements": [{"type": "button", "action_id": "x"}]}])
    assert validate_blocks([good], surface="home")  # messages only
