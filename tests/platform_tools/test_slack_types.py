"""Every kind of message and view the bot sends to Slack, type-checked by Slack's own types.

The real slack-bolt app answers a walk through its surfaces (a mention, a DM, help, the App
Home, a modal and its submission, an AAR, reports, buttons pressed) over signed HTTP on
127.0.0.1; the fake Slack Web API records every call. Each recorded call is then written as a
TypeScript constant of the argument type `@slack/web-api` declares for its method
(`ChatPostMessageArguments`, `ViewsOpenArguments`, …; posts to a `response_url` against the
`KnownBlock` type of `@slack/types`), and `tsc --strict --noEmit` must accept all of them:
excess properties, wrong literal types and missing required fields are errors there.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fake_slack import (
    FakeSlack,
    app_home_opened,
    app_mention,
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

from bot.app import build_app
from bot.settings import Settings
from knowledge.storage import Store

Client = TestClient[web.Request, web.Application]
SECRET = "platform-signing-secret"
TOKEN = "xoxb-platform"
AMINA = "UAMINA01"
CHANNEL = "C0ELECT"

# The argument type `@slack/web-api` declares for each method the bot calls with a payload.
TYPES = {
    "chat.postMessage": "ChatPostMessageArguments",
    "chat.postEphemeral": "ChatPostEphemeralArguments",
    "chat.update": "ChatUpdateArguments",
    "chat.unfurl": "ChatUnfurlArguments",
    "views.open": "ViewsOpenArguments",
    "views.update": "ViewsUpdateArguments",
    "views.push": "ViewsPushArguments",
    "views.publish": "ViewsPublishArguments",
    "assistant.threads.setStatus": "AssistantThreadsSetStatusArguments",
    "assistant.threads.setSuggestedPrompts": "AssistantThreadsSetSuggestedPromptsArguments",
}
# Posts to a response_url: Slack documents these fields (bolt-js calls them RespondArguments).
PREAMBLE = """\
import type { KnownBlock, Block, MessageAttachment } from "@slack/types";
import type * as Web from "@slack/web-api";

interface ResponseUrlPost {
  text?: string;
  blocks?: (KnownBlock | Block)[];
  attachments?: MessageAttachment[];
  response_type?: "ephemeral" | "in_channel";
  replace_original?: boolean;
  delete_original?: boolean;
  thread_ts?: string;
  mrkdwn?: boolean;
}
"""


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(token=TOKEN) as fake:
        fake.add_user(AMINA, email="amina.diallo@un.example", name="Amina Diallo")
        fake.add_channel(CHANNEL, name="elections-team")
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


async def _post(bot: Client, body: bytes, content_type: str) -> None:
    headers = {**signed_headers(body, SECRET), "Content-Type": content_type}
    response = await bot.post("/slack/events", data=body, headers=headers)
    await response.read()
    assert response.status == 200, response.status


async def _settle(slack: FakeSlack, quiet: float = 0.4, limit: float = 10.0) -> None:
    """Wait until the bot has made no Web API call for `quiet` seconds (work after the ack)."""
    seen, waited = -1, 0.0
    while waited < limit:
        if len(slack.calls) == seen:
            return
        seen = len(slack.calls)
        await asyncio.sleep(quiet)
        waited += quiet


async def _answered(slack: FakeSlack, limit: float = 30.0) -> Any:
    """Wait for the answer in the mention's thread (a loaded machine may take a while)."""
    for _ in range(int(limit / 0.2)):
        for call in slack.calls:
            if call.method == "chat.postMessage" and call.args.get("thread_ts"):
                return call
        await asyncio.sleep(0.2)
    raise AssertionError("the mention was never answered")


async def event(bot: Client, slack: FakeSlack, payload: dict[str, Any]) -> None:
    await _post(bot, json.dumps(event_callback(payload)).encode(), "application/json")
    await _settle(slack)


async def command(bot: Client, slack: FakeSlack, text: str, name: str = "/lessons") -> None:
    body = urlencode(slash_command(text, user_id=AMINA, channel_id=CHANNEL, command=name))
    await _post(bot, body.encode(), "application/x-www-form-urlencoded")
    await _settle(slack)


async def interact(bot: Client, slack: FakeSlack, payload: dict[str, Any]) -> None:
    await _post(bot, form_body(payload), "application/x-www-form-urlencoded")
    await _settle(slack)


def _buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        element
        for block in blocks
        if block.get("type") == "actions"
        for element in block.get("elements", [])
        if element.get("type") == "button"
    ]


async def walk(bot: Client, slack: FakeSlack) -> None:
    """A new user's first tour: most of what the bot can send, once."""
    await event(bot, slack, app_home_opened(AMINA))
    await event(bot, slack, message_im("help", AMINA))
    await event(
        bot,
        slack,
        app_mention("<@U0BOT> what did we learn about elections?", AMINA, CHANNEL, "1700000000.1"),
    )
    answer = await _answered(slack)
    for block in answer.args["blocks"]:  # Slack's native feedback (thumbs up)
        for native in block.get("elements", []) if block["type"] == "context_actions" else []:
            await interact(
                bot,
                slack,
                block_actions(
                    native["action_id"],
                    native["positive_button"]["value"],
                    AMINA,
                    CHANNEL,
                    action_type="feedback_buttons",
                    thread_ts="1700000000.1",
                ),
            )
            break
    for button in _buttons(answer.args["blocks"]):  # Show more, Share, …
        await interact(
            bot,
            slack,
            block_actions(
                button["action_id"],
                button.get("value"),
                AMINA,
                CHANNEL,
                answer.response and answer.response.get("ts"),
                message={"ts": "1700000000.2", "blocks": answer.args["blocks"], "text": "x"},
                thread_ts="1700000000.1",
            ),
        )
    await event(bot, slack, message_im("lessons on ballot logistics only AARs", AMINA))
    for text in ("help", "report", "roles", "who elections", "usefulness", "mine", "nonsense-cmd"):
        await command(bot, slack, text)
    await command(bot, slack, "list", name="/practice")
    await command(bot, slack, "help", name="/aar")
    await command(bot, slack, "new")
    opened = [c for c in slack.calls if c.method == "views.open"]
    if opened:
        view = opened[-1].args["view"]
        values = {
            block["block_id"]: "not a link"
            if "link" in block["block_id"]
            else "Ballot kits left late"
            for block in view["blocks"]
            if block["type"] == "input"
        }
        submitted = view_submission(
            view["callback_id"],
            values,
            user=AMINA,
            private_metadata=view.get("private_metadata", ""),
        )
        await interact(bot, slack, submitted)
    await interact(
        bot,
        slack,
        message_shortcut(
            "lesson.save_message", "Kits left late.", user=AMINA, channel=CHANNEL, ts="1700000000.6"
        ),
    )
    before = len(slack.calls)
    await command(bot, slack, "start Polling day review", name="/aar")
    opening = next(
        (c for c in slack.calls[before:] if c.method == "chat.postMessage" and c.response),
        None,
    )
    if opening is not None and opening.response is not None:
        thread = str(opening.response.get("ts"))
        for n, text in enumerate(("We planned to open at 7.", "Kits came at 9.", "next", "close")):
            ts = f"1700000100.{n}"
            await event(bot, slack, message_channel(text, AMINA, CHANNEL, ts, thread_ts=thread))
    await event(bot, slack, message_im("my actions", AMINA))
    await event(
        bot,
        slack,
        link_shared(["https://lessons.example.org/dashboard/lessons/1"], AMINA, CHANNEL),
    )


def typescript(calls: list[Any]) -> tuple[str, int]:
    """Return the calls as TypeScript constants of their declared types, and how many."""
    lines, count = [PREAMBLE], 0
    for i, call in enumerate(calls):
        if call.method == "response_url":
            kind = "ResponseUrlPost"
        elif call.method in TYPES:
            kind = f"Web.{TYPES[call.method]}"
        else:
            continue
        count += 1
        # The token is the transport's; bolt adds team_id to every call of a per-request
        # client (org-wide apps), which Slack accepts on any method.
        args = {k: v for k, v in call.args.items() if k not in ("token", "team_id")}
        lines.append(f"// {i}: {call.method}")
        lines.append(f"export const call{i}: {kind} = {json.dumps(args, indent=1)};")
    return "\n".join(lines) + "\n", count


async def test_every_payload_the_bot_sends_passes_slacks_own_types(
    bot: Client, slack: FakeSlack, node_tools: Path, tmp_path: Path
) -> None:
    await walk(bot, slack)
    source, count = typescript(slack.calls)
    kinds = {c.method for c in slack.calls if c.method in TYPES or c.method == "response_url"}
    assert {"chat.postMessage", "views.publish", "views.open", "chat.unfurl"} <= kinds, kinds
    assert count >= 20, f"only {count} payloads were sent on the walk"
    (tmp_path / "payloads.ts").write_text(source, encoding="utf-8")
    config = {
        "compilerOptions": {
            "strict": True,
            "noEmit": True,
            "target": "es2022",
            "module": "commonjs",
            "moduleResolution": "node10",
            "baseUrl": ".",
            "paths": {"@slack/*": [str(node_tools / "@slack" / "*")]},
            "typeRoots": [str(node_tools / "@types")],
            "types": ["node"],
            "skipLibCheck": True,
        },
        "files": ["payloads.ts"],
    }
    (tmp_path / "tsconfig.json").write_text(json.dumps(config), encoding="utf-8")
    tsc = await asyncio.to_thread(
        subprocess.run,
        ["node", str(node_tools / "typescript" / "bin" / "tsc"), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    errors = tsc.stdout + tsc.stderr
    assert tsc.returncode == 0, (
        f"tsc --strict refused payloads ({tmp_path}/payloads.ts):\n{errors[:6000]}"
    )
