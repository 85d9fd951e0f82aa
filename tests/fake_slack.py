"""A fake Slack on 127.0.0.1 that speaks Slack's wire protocol, for the project's tests.

Slack can't be reached from the tests, and our own code is never mocked: tests run the real
slack-bolt ``AsyncApp`` / slack_sdk ``AsyncWebClient`` / ``SocketModeClient`` against this
server over real HTTP and WebSocket on loopback::

    async with FakeSlack(token="xoxb-test", app_token="xapp-test") as slack:
        slack.add_user("U0ALICE", email="alice@example.com", name="alice")
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        await client.chat_postMessage(channel="C0LESSONS", text="hi")
        [call] = await slack.wait_for("chat.postMessage")
        slack.assert_clean()  # every call matched Slack's published Web API spec

What it offers:

* ``FakeSlack``: the Web API (``POST``/``GET /api/<method>``, form or JSON bodies, bearer
  token), a user and channel directory, message and view stores, Block Kit validation with
  Slack's error shapes, fault injection (429 with Retry-After, 5xx, slow answers, connection
  resets), an OpenAPI lint of every call, ``response_url`` endpoints and a Socket Mode
  WebSocket endpoint.
* ``signed_headers``: Slack's v0 request signature, for posting to the bot's HTTP endpoint.
* Payload builders that produce realistic inbound payloads shaped on the java-slack-sdk
  samples in ``../shared/schemas/slack/payload-samples`` (each builder emits only fields of
  its sample, plus a few documented extras; ``payload_shape_errors`` checks that). Event
  builders (``app_mention``, ``message_im``, ``message_channel``, ``app_home_opened``) return
  the event; ``event_callback(event)`` wraps it in the body Slack posts. ``slash_command``,
  ``block_actions``, ``view_submission`` and ``message_shortcut`` return whole payloads; the
  default ``response_url`` of commands, message actions and shortcuts points at the running
  FakeSlack (named after the command, action_id or callback_id), so replies land there.

The Slack behaviour each rule copies is cited next to the rule. Where Slack is not documented
and could not be checked offline, the comment says so.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import itertools
import json
import os
import random
import re
import socket
import string
import struct
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlencode, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import WSCloseCode, WSMsgType, web

JSON = dict[str, Any]

__all__ = [
    "APP_ID",
    "BOT_ID",
    "BOT_USER_ID",
    "TEAM_DOMAIN",
    "TEAM_ID",
    "Call",
    "FakeSlack",
    "FakeSlackTimeout",
    "app_home_opened",
    "app_mention",
    "block_actions",
    "command_body",
    "dm_channel_id",
    "event_callback",
    "form_body",
    "json_body",
    "message_channel",
    "message_im",
    "message_shortcut",
    "new_ts",
    "payload_shape_errors",
    "response_shape_errors",
    "shared_dir",
    "signed_headers",
    "slash_command",
    "socket_envelope",
    "validate_blocks",
    "validate_view",
    "view_submission",
]

ROOT = Path(__file__).resolve().parents[1]

# The workspace every builder and FakeSlack default to (Slack IDs: uppercase letters/digits).
TEAM_ID: Final = "T0001"
TEAM_DOMAIN: Final = "lessons-test"
TEAM_NAME: Final = "Lessons Test"
APP_ID: Final = "A0APP"
BOT_ID: Final = "B0BOT"
BOT_USER_ID: Final = "U0BOT"
BOT_NAME: Final = "lessons"
# The deprecated verification token Slack still puts in payloads (bolt ignores it).
VERIFICATION_TOKEN: Final = "fake-verification-token"


def shared_dir() -> Path:
    """Return ../shared (or LESSONS_SHARED_DIR), where Slack's schemas and samples live."""
    return Path(os.environ.get("LESSONS_SHARED_DIR", ROOT.parent / "shared"))


def _slack_schemas() -> Path:
    return shared_dir() / "schemas" / "slack"


class FakeSlackTimeout(AssertionError, TimeoutError):
    """What a FakeSlack wait gives up with: an assertion failure that is also a timeout."""


# ---------------------------------------------------------------------------------------------
# Recorded calls


@dataclass
class Call:
    """One request the fake received: a Web API call or a post to a response_url.

    ``method`` is the Web API method ("chat.postMessage") or "response_url", then ``name`` is
    the name given to ``FakeSlack.response_url(name)``. ``args``
    merges query string and body; JSON strings in ``blocks``/``view``/``attachments``/``metadata``
    are decoded, ``token`` is moved to ``token``. ``fault`` names the injected fault that
    answered it ("429", "500", "drop", or the error code of ``fail(status=200, error=...)``);
    ``at`` is ``time.monotonic()`` on arrival.
    """

    method: str
    args: JSON
    token: str | None
    at: float
    fault: str | None = None
    status: int = 200
    response: JSON | None = None
    http_method: str = "POST"
    content_type: str = ""
    name: str | None = None
    basic_auth: tuple[str, str] | None = None  # (client id, secret) of an HTTP Basic header

    @property
    def ok(self) -> bool:
        """Whether the fake answered ``ok: true``."""
        return self.fault is None and bool(self.response and self.response.get("ok"))

    @property
    def error(self) -> str | None:
        """The ``error`` the fake answered with, if any."""
        if self.response is None:
            return self.fault
        error = self.response.get("error")
        return str(error) if error is not None else None


@dataclass
class _Fault:
    kind: str  # "status", "drop", "lose" or "raw"
    status: int = 200
    body: str = ""
    content_type: str = "text/plain"
    error: str = ""
    retry_after: int | None = None
    times: int | None = 1  # None: every call

    def take(self) -> bool:
        if self.times is None:
            return True
        if self.times <= 0:
            return False
        self.times -= 1
        return True


@dataclass
class _Slow:
    seconds: float
    times: int | None = None


# Error bodies for injected HTTP failures. Slack documents `ratelimited` with HTTP 429 and a
# Retry-After header (docs.slack.dev/apis/web-api/rate-limits); `internal_error`, `fatal_error`
# and `service_unavailable` are in every method's error table.
_STATUS_ERRORS: Final = {429: "ratelimited", 500: "internal_error", 503: "service_unavailable"}


# ---------------------------------------------------------------------------------------------
# Block Kit validation
#
# One table of limits, then one checker per block and element type. Sources, all on
# docs.slack.dev/reference/ (checked Nov 2026 through the docs search):
#   blocks           block-kit/blocks: "up to 50 blocks in each message, and 100 blocks in
#                    modals or Home tabs"; every block_id <= 255 and unique in its message/view
#   section          block-kit/blocks/section-block: text 1..3000 ("not required if fields"),
#                    fields <= 10 items of <= 2000 each
#   header           block-kit/blocks/header-block: plain_text <= 150
#   context          block-kit/blocks/context-block: 1..10 elements (images and text objects)
#   actions          block-kit/blocks/actions-block: <= 25 elements
#   input            block-kit/blocks/input-block: label plain_text <= 2000, hint <= 2000
#   text object      block-kit/composition-objects/text-object: type plain_text|mrkdwn,
#                    1..3000 characters unless the field says otherwise
#   button           block-kit/block-elements/button-element: text plain_text <= 75,
#                    value <= 2000, url <= 3000, action_id <= 255 and unique in its block,
#                    accessibility_label <= 75, style primary|danger
#   option           block-kit/composition-objects/option-object: text <= 75, value <= 150
#   confirm          block-kit/composition-objects/confirmation-dialog-object: title <= 100,
#                    text <= 300, confirm/deny <= 30
#   plain_text_input block-kit/block-elements/plain-text-input-element: placeholder <= 150,
#                    min_length/max_length <= 3000 (so initial_value <= 3000)
#   modal / home     views/modal-views, views/home-tab-views: title plain_text <= 24 (required
#                    for modals), submit/close <= 24, submit required with input blocks,
#                    callback_id <= 255, private_metadata <= 3000, blocks <= 100
#   error shapes     chat.postMessage answers {"ok": false, "error": "invalid_blocks",
#                    "errors": ["<message> [json-pointer:/blocks/0/text/text]"],
#                    "response_metadata": {"messages": ["[ERROR] ..."]}} (java-slack-sdk#1017,
#                    and the `errors` key of payload-samples/.../chat.postMessage.json); a
#                    `blocks` value that is not a JSON array is `invalid_blocks_format`. views.*
#                    answer {"ok": false, "error": "invalid_arguments", "response_metadata":
#                    {"messages": ["[ERROR] ... [json-pointer:/view/...]"]}}.
# Not checked (undocumented or not needed here): the cumulative `msg_blocks_too_long` budget,
# rich_text internals, select option_groups, file/video block fields beyond their presence.

MESSAGE: Final = "message"
MODAL: Final = "modal"
HOME: Final = "home"
ALL_SURFACES: Final = frozenset({MESSAGE, MODAL, HOME})
VIEWS: Final = frozenset({MODAL, HOME})

LIMITS: Final[dict[str, int]] = {
    "message.blocks": 50,
    "view.blocks": 100,
    "message.text": 40_000,  # chat.postMessage: `msg_too_long` past 40,000 characters
    "block_id": 255,
    "text": 3000,  # any text object without a tighter limit
    "section.text": 3000,
    "section.fields": 10,
    "section.field": 2000,
    "header.text": 150,
    "context.elements": 10,
    "actions.elements": 25,
    "markdown.text": 12_000,  # block-kit/blocks/markdown-block
    "action_id": 255,
    "button.text": 75,
    "button.value": 2000,
    "button.url": 3000,
    "button.accessibility_label": 75,
    "placeholder": 150,
    "option.text": 75,
    "option.value": 150,
    "select.options": 100,
    "checkboxes.options": 10,
    "radio_buttons.options": 10,
    "overflow.options": 5,
    "confirm.title": 100,
    "confirm.text": 300,
    "confirm.button": 30,
    "image.alt_text": 2000,
    "image.url": 3000,
    "input.label": 2000,
    "input.hint": 2000,
    "plain_text_input.initial_value": 3000,
    "plain_text_input.length": 3000,
    "modal.title": 24,
    "modal.submit": 24,
    "modal.close": 24,
    "view.callback_id": 255,
    "view.private_metadata": 3000,
    "view.external_id": 255,
}

SELECTS: Final = frozenset(
    {
        "static_select",
        "external_select",
        "users_select",
        "conversations_select",
        "channels_select",
        "multi_static_select",
        "multi_external_select",
        "multi_users_select",
        "multi_conversations_select",
        "multi_channels_select",
    }
)
PICKERS: Final = frozenset({"datepicker", "timepicker", "datetimepicker"})
# Which elements go where (block-elements page, "Blocks" column).
ACTIONS_ELEMENTS: Final = frozenset(
    {"button", "checkboxes", "overflow", "radio_buttons", "workflow_button", "rich_text_input"}
    | SELECTS
    | PICKERS
)
ACCESSORY_ELEMENTS: Final = (ACTIONS_ELEMENTS - {"rich_text_input"}) | {"image"}
INPUT_ELEMENTS: Final = frozenset(
    {
        "plain_text_input",
        "email_text_input",
        "url_text_input",
        "number_input",
        "rich_text_input",
        "file_input",
        "checkboxes",
        "radio_buttons",
    }
    | SELECTS
    | PICKERS
)


class _Check:
    """Collects Slack-style errors: "<message> [json-pointer:<path>]"."""

    def __init__(self, surface: str) -> None:
        self.surface = surface
        self.errors: list[str] = []

    def err(self, path: str, message: str) -> None:
        self.errors.append(f"{message} [json-pointer:{path}]")

    def length(self, path: str, value: Any, limit: int, *, required: bool = False) -> None:
        """A string field: present if required, a string, 1..limit characters."""
        if value is None:
            if required:
                self.err(path, "missing required field")
            return
        if not isinstance(value, str):
            self.err(path, "must be a string")
        elif len(value) > limit:
            self.err(path, f"must be less than {limit + 1} characters")
        elif required and not value:
            self.err(path, "must be more than 0 characters")

    def text(
        self, path: str, obj: Any, limit: int, *, plain: bool = False, required: bool = True
    ) -> None:
        """A text object: {"type": "plain_text"|"mrkdwn", "text": "1..limit chars"}."""
        if obj is None:
            if required:
                self.err(path, "missing required field")
            return
        if not isinstance(obj, dict):
            self.err(path, "must provide an object")
            return
        kind = obj.get("type")
        if kind not in ("plain_text", "mrkdwn"):
            self.err(f"{path}/type", f"unsupported type: {kind}")
            return
        if plain and kind != "plain_text":
            self.err(f"{path}/type", "must be plain_text")
        self.length(f"{path}/text", obj.get("text"), limit, required=True)

    def items(self, path: str, value: Any, limit: int, *, required: bool = True) -> list[Any]:
        """An array field of at most `limit` items; returns it (or [])."""
        if value is None:
            if required:
                self.err(path, "missing required field")
            return []
        if not isinstance(value, list):
            self.err(path, "must provide an array")
            return []
        if required and not value:
            self.err(path, "must provide at least 1 item")
        if len(value) > limit:
            self.err(path, f"no more than {limit} items allowed")
        return value

    def url(self, path: str, value: Any, limit: int) -> None:
        self.length(path, value, limit)
        # Only http(s) links are accepted here (the fake's rule: Slack documents "a URL" and
        # rejects malformed ones, but its exact scheme list is undocumented).
        if isinstance(value, str) and not re.match(r"^https?://\S+$", value):
            self.err(path, "must be a valid http(s) URL")


def _check_confirm(c: _Check, path: str, obj: Any) -> None:
    if obj is None:
        return
    if not isinstance(obj, dict):
        c.err(path, "must provide an object")
        return
    c.text(f"{path}/title", obj.get("title"), LIMITS["confirm.title"], plain=True)
    c.text(f"{path}/text", obj.get("text"), LIMITS["confirm.text"])
    c.text(f"{path}/confirm", obj.get("confirm"), LIMITS["confirm.button"], plain=True)
    c.text(f"{path}/deny", obj.get("deny"), LIMITS["confirm.button"], plain=True)


def _check_options(c: _Check, path: str, options: Any, limit: int, *, plain: bool) -> None:
    for i, option in enumerate(c.items(path, options, limit)):
        p = f"{path}/{i}"
        if not isinstance(option, dict):
            c.err(p, "must provide an object")
            continue
        c.text(f"{p}/text", option.get("text"), LIMITS["option.text"], plain=plain)
        c.length(f"{p}/value", option.get("value"), LIMITS["option.value"])


def _check_element(c: _Check, path: str, element: Any, allowed: frozenset[str]) -> str | None:
    """Check one block element; return its action_id (for the uniqueness rule)."""
    if not isinstance(element, dict):
        c.err(path, "must provide an object")
        return None
    kind = element.get("type")
    if kind not in allowed:
        c.err(f"{path}/type", f"unsupported type: {kind}")
        return None
    action_id = element.get("action_id")
    c.length(f"{path}/action_id", action_id, LIMITS["action_id"])
    _check_confirm(c, f"{path}/confirm", element.get("confirm"))
    if "placeholder" in element:
        c.text(f"{path}/placeholder", element["placeholder"], LIMITS["placeholder"], plain=True)
    if kind == "button":
        c.text(f"{path}/text", element.get("text"), LIMITS["button.text"], plain=True)
        c.length(f"{path}/value", element.get("value"), LIMITS["button.value"])
        if "url" in element:
            c.url(f"{path}/url", element["url"], LIMITS["button.url"])
        label = element.get("accessibility_label")
        c.length(f"{path}/accessibility_label", label, LIMITS["button.accessibility_label"])
        if element.get("style") not in (None, "primary", "danger"):
            c.err(f"{path}/style", "must be one of primary, danger")
    elif kind == "image":
        if "image_url" not in element and "slack_file" not in element:
            c.err(f"{path}/image_url", "missing required field")
        if "image_url" in element:
            c.url(f"{path}/image_url", element["image_url"], LIMITS["image.url"])
        c.length(
            f"{path}/alt_text", element.get("alt_text"), LIMITS["image.alt_text"], required=True
        )
    elif kind in ("static_select", "multi_static_select"):
        if "option_groups" not in element:
            opts = element.get("options")
            _check_options(c, f"{path}/options", opts, LIMITS["select.options"], plain=True)
    elif kind in ("checkboxes", "radio_buttons", "overflow"):
        limit = LIMITS[f"{kind}.options"]
        _check_options(
            c, f"{path}/options", element.get("options"), limit, plain=kind == "overflow"
        )
    elif kind == "plain_text_input":
        initial = element.get("initial_value")
        c.length(f"{path}/initial_value", initial, LIMITS["plain_text_input.initial_value"])
        for key in ("min_length", "max_length"):
            value = element.get(key)
            if value is not None and (
                not isinstance(value, int) or not 0 <= value <= LIMITS["plain_text_input.length"]
            ):
                c.err(f"{path}/{key}", "must be an integer from 0 to 3000")
    return action_id if isinstance(action_id, str) else None


def _section(c: _Check, path: str, block: JSON) -> None:
    if "text" not in block and "fields" not in block:
        c.err(path, "must define either `text` or `fields`")
    if "text" in block:
        c.text(f"{path}/text", block["text"], LIMITS["section.text"])
    fields = c.items(
        f"{path}/fields", block.get("fields"), LIMITS["section.fields"], required=False
    )
    for i, item in enumerate(fields):
        c.text(f"{path}/fields/{i}", item, LIMITS["section.field"])
    if "accessory" in block:
        _check_element(c, f"{path}/accessory", block["accessory"], ACCESSORY_ELEMENTS)


def _header(c: _Check, path: str, block: JSON) -> None:
    c.text(f"{path}/text", block.get("text"), LIMITS["header.text"], plain=True)


def _context(c: _Check, path: str, block: JSON) -> None:
    elements = c.items(f"{path}/elements", block.get("elements"), LIMITS["context.elements"])
    for i, element in enumerate(elements):
        p = f"{path}/elements/{i}"
        if isinstance(element, dict) and element.get("type") == "image":
            _check_element(c, p, element, frozenset({"image"}))
        else:
            c.text(p, element, LIMITS["text"])


def _actions(c: _Check, path: str, block: JSON) -> None:
    elements = c.items(f"{path}/elements", block.get("elements"), LIMITS["actions.elements"])
    seen: set[str] = set()
    for i, element in enumerate(elements):
        action_id = _check_element(c, f"{path}/elements/{i}", element, ACTIONS_ELEMENTS)
        if action_id is not None:
            if action_id in seen:
                c.err(f"{path}/elements/{i}/action_id", f"duplicate action_id: {action_id}")
            seen.add(action_id)


def _context_actions(c: _Check, path: str, block: JSON) -> None:
    """docs.slack.dev/reference/block-kit/blocks/context-actions-block: 1 to 5 elements, each
    feedback_buttons (a positive and a negative button: plain text, value up to 2,000
    characters, accessibility label up to 75) or icon_button; messages only."""
    elements = c.items(f"{path}/elements", block.get("elements"), 5)
    seen: set[str] = set()
    for i, element in enumerate(elements):
        p = f"{path}/elements/{i}"
        if not isinstance(element, dict):
            c.err(p, "must provide an object")
            continue
        kind = element.get("type")
        action_id = element.get("action_id")
        c.length(f"{p}/action_id", action_id, LIMITS["action_id"])
        if isinstance(action_id, str):
            if action_id in seen:
                c.err(f"{p}/action_id", f"duplicate action_id: {action_id}")
            seen.add(action_id)
        if kind == "feedback_buttons":
            for side in ("positive_button", "negative_button"):
                button = element.get(side)
                if not isinstance(button, dict):
                    c.err(f"{p}/{side}", "missing required field")
                    continue
                c.text(f"{p}/{side}/text", button.get("text"), LIMITS["button.text"], plain=True)
                c.length(f"{p}/{side}/value", button.get("value"), 2000, required=True)
                c.length(f"{p}/{side}/accessibility_label", button.get("accessibility_label"), 75)
        elif kind == "icon_button":
            c.text(f"{p}/text", element.get("text"), LIMITS["button.text"], plain=True)
            if not isinstance(element.get("icon"), str):
                c.err(f"{p}/icon", "missing required field")
        else:
            c.err(f"{p}/type", f"unsupported type: {kind}")


def _input(c: _Check, path: str, block: JSON) -> None:
    c.text(f"{path}/label", block.get("label"), LIMITS["input.label"], plain=True)
    if "hint" in block:
        c.text(f"{path}/hint", block["hint"], LIMITS["input.hint"], plain=True)
    if "element" not in block:
        c.err(f"{path}/element", "missing required field")
    else:
        _check_element(c, f"{path}/element", block["element"], INPUT_ELEMENTS)
    for key in ("optional", "dispatch_action"):
        if key in block and not isinstance(block[key], bool):
            c.err(f"{path}/{key}", "must be a boolean")


def _image(c: _Check, path: str, block: JSON) -> None:
    if "image_url" not in block and "slack_file" not in block:
        c.err(f"{path}/image_url", "missing required field")
    if "image_url" in block:
        c.url(f"{path}/image_url", block["image_url"], LIMITS["image.url"])
    c.length(f"{path}/alt_text", block.get("alt_text"), LIMITS["image.alt_text"], required=True)
    if "title" in block:
        c.text(f"{path}/title", block["title"], LIMITS["image.alt_text"], plain=True)


def _markdown(c: _Check, path: str, block: JSON) -> None:
    c.length(f"{path}/text", block.get("text"), LIMITS["markdown.text"], required=True)


def _elements_present(c: _Check, path: str, block: JSON) -> None:
    if not isinstance(block.get("elements"), list):
        c.err(f"{path}/elements", "must provide an array")


def _no_fields(c: _Check, path: str, block: JSON) -> None:
    del c, path, block


def _required(*keys: str) -> Callable[[_Check, str, JSON], None]:
    def check(c: _Check, path: str, block: JSON) -> None:
        for key in keys:
            if key not in block:
                c.err(f"{path}/{key}", "missing required field")

    return check


@dataclass(frozen=True)
class BlockRule:
    """Where a block type may appear, and its checker."""

    surfaces: frozenset[str]
    check: Callable[[_Check, str, JSON], None]


# The one table of block types. Surfaces per docs.slack.dev/blocks.json and each block's page;
# `input` is accepted in modals and Home tabs only (the older docs' list, and what
# python-slack-sdk#1257 hit with chat.postMessage; newer docs also list messages, with
# dispatch_action: the fake stays strict on purpose, since a form can't be submitted there).
BLOCK_RULES: Final[dict[str, BlockRule]] = {
    "section": BlockRule(ALL_SURFACES, _section),
    "divider": BlockRule(ALL_SURFACES, _no_fields),
    "header": BlockRule(ALL_SURFACES, _header),
    "context": BlockRule(ALL_SURFACES, _context),
    "actions": BlockRule(ALL_SURFACES, _actions),
    "image": BlockRule(ALL_SURFACES, _image),
    "input": BlockRule(VIEWS, _input),
    "rich_text": BlockRule(ALL_SURFACES, _elements_present),
    "markdown": BlockRule(frozenset({MESSAGE}), _markdown),
    "video": BlockRule(ALL_SURFACES, _required("alt_text", "title", "thumbnail_url", "video_url")),
    "file": BlockRule(frozenset({MESSAGE}), _required("external_id", "source")),
    "table": BlockRule(frozenset({MESSAGE}), _required("rows")),
    "context_actions": BlockRule(frozenset({MESSAGE}), _context_actions),
}


def _check_blocks(c: _Check, path: str, blocks: Any, limit: int) -> bool:
    """Check a blocks array on c.surface; return whether it holds an input block."""
    has_input = False
    block_ids: set[str] = set()
    for i, block in enumerate(c.items(path, blocks, limit, required=False)):
        p = f"{path}/{i}"
        if not isinstance(block, dict):
            c.err(p, "must provide an object")
            continue
        kind = block.get("type")
        rule = BLOCK_RULES.get(kind) if isinstance(kind, str) else None
        if rule is None:
            c.err(f"{p}/type", f"unsupported type: {kind}")
            continue
        if c.surface not in rule.surfaces:
            c.err(f"{p}/type", f"unsupported type on this surface ({c.surface}): {kind}")
            continue
        has_input = has_input or kind == "input"
        block_id = block.get("block_id")
        c.length(f"{p}/block_id", block_id, LIMITS["block_id"])
        if isinstance(block_id, str):
            if block_id in block_ids:
                c.err(f"{p}/block_id", f"duplicate block_id: {block_id}")
            block_ids.add(block_id)
        rule.check(c, p, block)
    return has_input


def validate_blocks(blocks: Any, surface: str = MESSAGE) -> list[str]:
    """Return Slack-style errors for a blocks array on a surface (message, modal or home)."""
    c = _Check(surface)
    limit = LIMITS["message.blocks"] if surface == MESSAGE else LIMITS["view.blocks"]
    if not isinstance(blocks, list):
        c.err("/blocks", "must provide an array")
        return c.errors
    _check_blocks(c, "/blocks", blocks, limit)
    return c.errors


def validate_view(view: Any, method: str = "views.open") -> list[str]:
    """Return Slack-style errors for a view object sent with a views.* method."""
    c = _Check(MODAL)
    path = "/view"
    if not isinstance(view, dict):
        c.err(path, "must provide an object")
        return c.errors
    kind = view.get("type")
    expected = {"views.publish": {HOME}, "views.open": {MODAL}, "views.push": {MODAL}}
    if kind not in expected.get(method, {MODAL, HOME}):
        c.err(f"{path}/type", f"unsupported type: {kind}")
        return c.errors
    c.surface = str(kind)
    if "blocks" not in view:
        c.err(f"{path}/blocks", "missing required field")
    has_input = _check_blocks(c, f"{path}/blocks", view.get("blocks"), LIMITS["view.blocks"])
    if kind == MODAL:
        c.text(f"{path}/title", view.get("title"), LIMITS["modal.title"], plain=True)
        c.text(
            f"{path}/submit", view.get("submit"), LIMITS["modal.submit"], plain=True, required=False
        )
        c.text(
            f"{path}/close", view.get("close"), LIMITS["modal.close"], plain=True, required=False
        )
        if has_input and "submit" not in view:
            c.err(f"{path}/submit", "must provide submit when using input blocks")
    c.length(f"{path}/callback_id", view.get("callback_id"), LIMITS["view.callback_id"])
    metadata = view.get("private_metadata")
    c.length(f"{path}/private_metadata", metadata, LIMITS["view.private_metadata"])
    c.length(f"{path}/external_id", view.get("external_id"), LIMITS["view.external_id"])
    return c.errors


def _invalid_blocks(errors: list[str]) -> JSON:
    return {
        "ok": False,
        "error": "invalid_blocks",
        "errors": errors,
        "response_metadata": {"messages": [f"[ERROR] {e}" for e in errors]},
    }


def _invalid_arguments(errors: list[str]) -> JSON:
    return {
        "ok": False,
        "error": "invalid_arguments",
        "response_metadata": {"messages": [f"[ERROR] {e}" for e in errors]},
    }


# ---------------------------------------------------------------------------------------------
# OpenAPI lint
#
# ../shared/schemas/slack/web-api/slack_web_openapi_v2.json is Slack's published Web API spec
# (slackapi/slack-api-specs, last updated October 2020). Every call is checked against it:
# required arguments present (but `token`, which travels in the Authorization header) and no
# unknown arguments, except what is newer than the spec. Each exception below was checked
# against slack_sdk 3.48's AsyncWebClient signatures and the method's page on docs.slack.dev.

NEWER_METHODS: Final[frozenset[str]] = frozenset(
    {
        "apps.connections.open",
        # Agents and AI apps (docs.slack.dev/reference/methods/assistant.threads.*): newer
        # than the published spec, so their arguments are checked by their handlers here.
        "assistant.threads.setStatus",
        "assistant.threads.setSuggestedPrompts",
        "assistant.threads.setTitle",
    }
)
NEWER_ARGS: Final[dict[str, frozenset[str]]] = {
    # Org-wide apps: bolt's AsyncApp._init_context gives every per-request client
    # team_id=context.team_id, which slack_sdk adds to every call's arguments.
    "*": frozenset({"team_id"}),
    "chat.postMessage": frozenset({"metadata", "markdown_text", "container_id"}),
    "conversations.history": frozenset({"include_all_metadata"}),
    "conversations.replies": frozenset({"include_all_metadata"}),
    "chat.postEphemeral": frozenset({"markdown_text"}),
    "chat.update": frozenset({"metadata", "markdown_text", "file_ids", "reply_broadcast"}),
    "views.open": frozenset({"interactivity_pointer"}),
    "views.push": frozenset({"interactivity_pointer"}),
    # docs.slack.dev/reference/methods/chat.unfurl: a link in the composer is named by
    # unfurl_id and source instead of channel and ts.
    "chat.unfurl": frozenset({"unfurl_id", "source"}),
}
# Required by the spec, but a newer argument may stand in for it.
ALTERNATIVES: Final[dict[tuple[str, str], str]] = {
    ("views.open", "trigger_id"): "interactivity_pointer",
    ("views.push", "trigger_id"): "interactivity_pointer",
    ("chat.unfurl", "channel"): "unfurl_id",
    ("chat.unfurl", "ts"): "unfurl_id",
}
# Methods whose spec `consumes` lacks application/json: Slack ignores a JSON body there.
FORM_ONLY: Final[frozenset[str]] = frozenset(
    {"users.info", "users.lookupByEmail", "conversations.info", "chat.getPermalink"}
)


@dataclass(frozen=True)
class _SpecMethod:
    params: frozenset[str]
    required: frozenset[str]
    json_ok: bool


def _spec_path() -> Path:
    return _slack_schemas() / "web-api" / "slack_web_openapi_v2.json"


@functools.cache
def _load_spec(path: str) -> dict[str, _SpecMethod]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    methods: dict[str, _SpecMethod] = {}
    for route, operations in data["paths"].items():
        params: set[str] = set()
        required: set[str] = set()
        json_ok = False
        for op in operations.values():
            json_ok = json_ok or "application/json" in op.get("consumes", [])
            for param in op.get("parameters", []):
                params.add(param["name"])
                if param.get("required"):
                    required.add(param["name"])
        methods[route.lstrip("/")] = _SpecMethod(
            frozenset(params - {"token"}), frozenset(required - {"token"}), json_ok
        )
    return methods


def _lint(spec: dict[str, _SpecMethod], call: Call) -> list[str]:
    method = call.method
    allowed_extra = NEWER_ARGS["*"] | NEWER_ARGS.get(method, frozenset())
    if method in NEWER_METHODS:
        return []
    op = spec.get(method)
    if op is None:
        return [f"{method}: not a method of Slack's Web API spec"]
    errors = []
    for name in sorted(op.required - call.args.keys()):
        alternative = ALTERNATIVES.get((method, name))
        if alternative is None or alternative not in call.args:
            errors.append(f"{method}: missing required argument {name!r}")
    for name in sorted(call.args.keys() - op.params - allowed_extra):
        errors.append(f"{method}: unknown argument {name!r}")
    if call.content_type == "application/json" and not op.json_ok:
        errors.append(f"{method}: sent as JSON, but the method only takes form or query arguments")
    return errors


# ---------------------------------------------------------------------------------------------
# Ids and timestamps


_TS_BASE_US: Final = 1_700_000_000_000_000
_event_counter = itertools.count(1)


def new_ts() -> str:
    """Return a fresh message ts for inbound payloads ("1710000001.000200", increasing)."""
    n = next(_event_counter)
    return f"{1_710_000_000 + n}.000200"


def dm_channel_id(user_id: str) -> str:
    """Return the DM channel the fake opens with a user (the same for builders and FakeSlack)."""
    return "D" + user_id[1:] if len(user_id) > 1 else "D" + user_id


def _alnum(k: int) -> str:
    return "".join(random.choices(string.ascii_uppercase + string.digits, k=k))


def _block_id() -> str:
    # Slack generates short mixed-case block_ids ("Sesm") for blocks sent without one.
    return "".join(random.choices(string.ascii_letters + string.digits, k=5))


def _trigger_id() -> str:
    return f"{random.randrange(10**12, 10**13)}.{random.randrange(10**9)}.{uuid.uuid4().hex}"


def _with_block_ids(blocks: list[Any]) -> list[Any]:
    return [
        {**b, "block_id": b.get("block_id") or _block_id()} if isinstance(b, dict) else b
        for b in blocks
    ]


def _tz_info(tz: str) -> tuple[str, int]:
    try:
        now = datetime.now(ZoneInfo(tz))
    except (ZoneInfoNotFoundError, ValueError):
        return tz, 0
    offset = now.utcoffset()
    return now.tzname() or tz, int(offset.total_seconds()) if offset else 0


# ---------------------------------------------------------------------------------------------
# The server


_DECODED_ARGS: Final = ("blocks", "view", "attachments", "metadata")
Handler = Callable[[Call], JSON]


class FakeSlack:
    """A fake Slack Web API and Socket Mode endpoint on 127.0.0.1 (random free port).

    Use as ``async with FakeSlack(...) as slack:``; give ``slack.api_url`` to
    ``AsyncWebClient(base_url=...)``. Every call is recorded in ``slack.calls``.
    """

    def __init__(
        self,
        *,
        token: str = "xoxb-test",
        team_id: str = TEAM_ID,
        bot_user_id: str = BOT_USER_ID,
        app_token: str | None = None,
        bot_id: str = BOT_ID,
        app_id: str = APP_ID,
        team_name: str = TEAM_NAME,
        team_domain: str = TEAM_DOMAIN,
        bot_name: str = BOT_NAME,
    ) -> None:
        self.token = token
        self.app_token = app_token
        self.team_id = team_id
        self.team_name = team_name
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.bot_name = bot_name
        self.revoked = False  # set to make the bot token answer `token_revoked`
        # OAuth (installs in many workspaces): the app's credentials (see oauth_app), the
        # one-time codes given to installers, and every installed workspace by its bot token.
        self.client_id: str | None = None
        self.client_secret: str | None = None
        self.workspaces: dict[str, JSON] = {}
        self._codes: dict[str, JSON] = {}

        self.calls: list[Call] = []
        self.users: dict[str, JSON] = {}
        self.channels: dict[str, JSON] = {}
        self.messages: dict[tuple[str, str], JSON] = {}  # (channel, ts) -> message
        self.views: dict[str, JSON] = {}  # view id -> view
        self.home_views: dict[str, JSON] = {}  # user id -> published home view
        self.socket_received: list[JSON] = []  # every frame a Socket Mode client sent

        self._faults: dict[str, list[_Fault]] = {}
        self._slow: dict[str, _Slow] = {}
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._inflight = 0
        self._last_activity = time.monotonic()
        self._lint_errors: list[str] = []
        self._lint_skipped: str | None = None
        self._linted = 0
        self._changed = asyncio.Condition()
        self._tickets: set[str] = set()
        self._sockets: list[web.WebSocketResponse] = []
        self._acks: dict[str, asyncio.Future[JSON]] = {}
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._methods: dict[str, Handler] = {
            "auth.test": self._auth_test,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "chat.postMessage": self._chat_post_message,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.getPermalink": self._chat_get_permalink,
            "chat.unfurl": self._chat_unfurl,
            "assistant.threads.setStatus": self._assistant_status,
            "assistant.threads.setSuggestedPrompts": self._assistant_prompts,
            "assistant.threads.setTitle": self._assistant_title,
            "views.open": self._views_open,
            "views.push": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "apps.connections.open": self._apps_connections_open,
            "oauth.v2.access": self._oauth_v2_access,
        }
        self.add_user(bot_user_id, name=bot_name, is_bot=True)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start serving on 127.0.0.1 at a free port."""
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response_url/{name}", self._response_url)
        app.router.add_get("/link/", self._socket)
        runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=1.0, handler_cancellation=True
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        _RUNNING.append(self)

    async def close(self) -> None:
        """Close Socket Mode connections and stop serving."""
        if self in _RUNNING:
            _RUNNING.remove(self)
        for ws in list(self._sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
        for future in self._acks.values():
            future.cancel()
        self._acks.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """The server's root URL, ending with "/"."""
        return f"http://127.0.0.1:{self._port}/"

    @property
    def api_url(self) -> str:
        """The Web API base URL for AsyncWebClient(base_url=...), like https://slack.com/api/."""
        return f"{self.base_url}api/"

    def response_url(self, name: str = "default") -> str:
        """A response_url on the fake; posts to it are recorded as method "response_url"."""
        return f"{self.base_url}response_url/{quote(name, safe='')}"

    # -- directory -----------------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        *,
        email: str | None = None,
        name: str | None = None,
        real_name: str | None = None,
        tz: str = "Africa/Bangui",
        is_bot: bool = False,
        deleted: bool = False,
        is_admin: bool = False,
        locale: str = "en-US",
    ) -> JSON:
        """Add a user to the directory (users.info, users.lookupByEmail, conversations.open).

        A human gets ``<name>@example.com`` when no email is given; bots have none.
        """
        name = name or user_id.lower()
        real_name = real_name or name.replace(".", " ").title()
        if email is None and not is_bot:
            email = re.sub(r"[^a-z0-9._-]+", ".", name.lower()).strip(".") + "@example.com"
        tz_label, tz_offset = _tz_info(tz)
        first, _, last = real_name.partition(" ")
        avatar = f"https://avatars.example.com/{user_id}"
        profile: JSON = {
            "title": "",
            "phone": "",
            "skype": "",
            "real_name": real_name,
            "real_name_normalized": real_name,
            "display_name": name,
            "display_name_normalized": name,
            "status_text": "",
            "status_emoji": "",
            "status_expiration": 0,
            "avatar_hash": hashlib.sha1(user_id.encode()).hexdigest()[:12],
            "first_name": first,
            "last_name": last,
            **{f"image_{n}": f"{avatar}_{n}.png" for n in (24, 32, 48, 72, 192, 512)},
            "team": self.team_id,
        }
        if email:
            profile["email"] = email
        if is_bot:
            profile.update(
                {"bot_id": self.bot_id, "api_app_id": self.app_id, "always_active": True}
            )
        user: JSON = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "deleted": deleted,
            "color": "9f69e7",
            "real_name": real_name,
            "tz": tz,
            "tz_label": tz_label,
            "tz_offset": tz_offset,
            "profile": profile,
            "is_admin": is_admin,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": 1_700_000_000,
            "is_email_confirmed": not is_bot,
            "who_can_share_contact_card": "EVERYONE",
            "locale": locale,
        }
        self.users[user_id] = user
        return user

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        is_private: bool = False,
        is_member: bool = True,
        is_archived: bool = False,
        topic: str = "",
        purpose: str = "",
    ) -> JSON:
        """Register a channel: conversations.info knows it, posts check membership/archival.

        Unregistered channel ids are accepted by chat.* (the fake doesn't need to know every
        channel), but conversations.info answers ``channel_not_found`` for them.
        """
        channel: JSON = {
            "id": channel_id,
            "name": name,
            "is_channel": not is_private,
            "is_group": is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": is_private,
            "created": 1_690_000_000,
            "is_archived": is_archived,
            "is_general": name == "general",
            "unlinked": 0,
            "name_normalized": name,
            "is_shared": False,
            "is_org_shared": False,
            "is_pending_ext_shared": False,
            "pending_shared": [],
            "context_team_id": self.team_id,
            "updated": 1_690_000_000_000,
            "creator": self.bot_user_id,
            "is_ext_shared": False,
            "shared_team_ids": [self.team_id],
            "pending_connected_team_ids": [],
            "is_member": is_member,
            "topic": {"value": topic, "creator": "", "last_set": 0},
            "purpose": {"value": purpose, "creator": "", "last_set": 0},
            "previous_names": [],
        }
        self.channels[channel_id] = channel
        return channel

    def dm_channel(self, user_id: str) -> str:
        """Open (or return) the bot's DM with a user, as conversations.open would."""
        channel_id = dm_channel_id(user_id)
        if channel_id not in self.channels:
            self.channels[channel_id] = {
                "id": channel_id,
                "created": 1_690_000_000,
                "is_archived": False,
                "is_im": True,
                "is_org_shared": False,
                "context_team_id": self.team_id,
                "updated": 1_690_000_000_000,
                "user": user_id,
                "is_user_deleted": False,
                "priority": 0,
            }
        return channel_id

    # -- OAuth: the app installed in many workspaces -------------------------------------------

    def oauth_app(self, client_id: str, client_secret: str) -> None:
        """Accept oauth.v2.access with these app credentials (HTTP Basic or in the body)."""
        self.client_id, self.client_secret = client_id, client_secret

    def oauth_code(
        self,
        team_id: str | None,
        *,
        team_name: str = "",
        enterprise_id: str | None = None,
        enterprise_name: str = "",
        org_wide: bool = False,
        installer: str = "U0INSTALLER",
        scope: str = "app_mentions:read,chat:write,commands",
        redirect_uri: str | None = None,
    ) -> str:
        """Issue the one-time code Slack's consent page hands the installer's browser.

        oauth.v2.access trades it (once) for a new bot token of that workspace, or of the whole
        organisation when `org_wide` (then `team_id` is None). A `redirect_uri` given here
        must come back with the exchange (docs.slack.dev/reference/methods/oauth.v2.access).
        """
        code = f"{random.randrange(10**9)}.{random.randrange(10**12)}.{uuid.uuid4().hex}"
        self._codes[code] = {
            "team_id": team_id,
            "team_name": team_name,
            "enterprise_id": enterprise_id,
            "enterprise_name": enterprise_name,
            "org_wide": org_wide,
            "installer": installer,
            "scope": scope,
            "redirect_uri": redirect_uri,
        }
        return code

    def add_workspace(
        self,
        team_id: str | None,
        *,
        team_name: str = "",
        enterprise_id: str | None = None,
        enterprise_name: str = "",
        org_wide: bool = False,
    ) -> str:
        """Install the app in a workspace (or organisation): return its new bot token.

        The Web API accepts the token from then on, and auth.test answers with that
        workspace; ``Call.token`` tells which workspace made each call.
        """
        n = next(self._ids)
        token = f"xoxb-{n}-{random.randrange(10**12)}-{_alnum(24).lower()}"
        place = enterprise_id if org_wide else team_id
        domain = (enterprise_name or team_name or str(place)).lower().replace(" ", "-")
        auth_test: JSON = {
            "url": f"https://{domain}.{'enterprise.' if org_wide else ''}slack.com/",
            "team": enterprise_name if org_wide else team_name,
            "user": self.bot_name,
            "team_id": place,
            "user_id": f"U0BOT{n}",
            "bot_id": f"B0BOT{n}",
            "is_enterprise_install": org_wide,
        }
        if enterprise_id:
            auth_test["enterprise_id"] = enterprise_id
        self.workspaces[token] = {
            "team_id": None if org_wide else team_id,
            "team_name": team_name,
            "enterprise_id": enterprise_id,
            "enterprise_name": enterprise_name,
            "org_wide": org_wide,
            "auth_test": auth_test,
        }
        return token

    def _sees(self, call: Call, user: JSON) -> bool:
        """Whether the calling token may see a user (a workspace token: its own people)."""
        workspace = self.workspaces.get(call.token or "")
        if workspace is None or workspace["org_wide"]:
            return True
        return bool(user.get("team_id") == workspace["team_id"])

    def _oauth_v2_access(self, call: Call) -> JSON:
        # docs.slack.dev/reference/methods/oauth.v2.access: credentials by HTTP Basic (preferred)
        # or client_id/client_secret arguments; errors invalid_client_id, bad_client_secret,
        # invalid_code, bad_redirect_uri. A code works once.
        client_id, secret = call.basic_auth or (
            str(call.args.get("client_id", "")),
            str(call.args.get("client_secret", "")),
        )
        if self.client_id is None or client_id != self.client_id:
            return {"ok": False, "error": "invalid_client_id"}
        if secret != self.client_secret:
            return {"ok": False, "error": "bad_client_secret"}
        code = str(call.args.get("code", ""))
        grant = self._codes.get(code)
        if grant is None:
            return {"ok": False, "error": "invalid_code"}
        expected_uri = grant["redirect_uri"]
        if expected_uri is not None and call.args.get("redirect_uri") != expected_uri:
            return {"ok": False, "error": "bad_redirect_uri"}
        del self._codes[code]
        token = self.add_workspace(
            grant["team_id"],
            team_name=grant["team_name"],
            enterprise_id=grant["enterprise_id"],
            enterprise_name=grant["enterprise_name"],
            org_wide=grant["org_wide"],
        )
        enterprise = grant["enterprise_id"]
        return {
            "ok": True,
            "access_token": token,
            "token_type": "bot",
            "scope": grant["scope"],
            "bot_user_id": self.workspaces[token]["auth_test"]["user_id"],
            "app_id": self.app_id,
            "team": None
            if grant["org_wide"]
            else {"id": grant["team_id"], "name": grant["team_name"]},
            "enterprise": {"id": enterprise, "name": grant["enterprise_name"]}
            if enterprise
            else None,
            "is_enterprise_install": grant["org_wide"],
            "authed_user": {"id": grant["installer"]},
        }

    # -- faults ------------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        *,
        status: int = 429,
        error: str | None = None,
        retry_after: int | None = 1,
        times: int | None = 1,
    ) -> None:
        """Answer the next `times` calls to `method` ("*": any) with an error.

        429 comes with ``Retry-After`` and ``{"ok": false, "error": "ratelimited"}``; 5xx with
        ``internal_error``/``service_unavailable``; status 200 with ``error`` gives an API error
        (e.g. ``expired_trigger_id``). ``times=None`` fails every call.
        """
        body_error = error or _STATUS_ERRORS.get(status, "fatal_error")
        after = retry_after if status == 429 else None
        fault = _Fault("status", status=status, error=body_error, retry_after=after, times=times)
        self._faults.setdefault(method, []).append(fault)

    def slow(self, method: str, seconds: float, *, times: int | None = None) -> None:
        """Delay answers to `method` ("*": any) by `seconds` (every call unless `times`)."""
        self._slow[method] = _Slow(seconds, times)

    def drop(self, method: str, times: int | None = 1) -> None:
        """Reset the connection (TCP RST, no response) on the next `times` calls to `method`."""
        self._faults.setdefault(method, []).append(_Fault("drop", times=times))

    def lose(self, method: str, times: int | None = 1) -> None:
        """Carry out the next `times` calls to `method`, then reset the connection unanswered.

        The message is posted but the client never hears so: an unknown outcome, as when a
        reply is lost on the way back. Recorded with fault "lost".
        """
        self._faults.setdefault(method, []).append(_Fault("lose", times=times))

    def answer_raw(
        self,
        method: str,
        *,
        status: int,
        body: str,
        content_type: str = "text/plain",
        times: int | None = 1,
    ) -> None:
        """Answer the next `times` calls to `method` with a body that is not Slack's JSON.

        As a proxy or load balancer in front of Slack does: `403 Forbidden` in text/plain, an
        HTML error page, an empty body, or a JSON content type over something else.
        """
        fault = _Fault("raw", status=status, body=body, content_type=content_type, times=times)
        self._faults.setdefault(method, []).append(fault)

    def clear_faults(self) -> None:
        """Forget every injected fault and delay."""
        self._faults.clear()
        self._slow.clear()

    def _take_fault(self, method: str) -> _Fault | None:
        for key in (method, "*"):
            for fault in self._faults.get(key, []):
                if fault.take():
                    return fault
        return None

    def _take_slow(self, method: str) -> float:
        for key in (method, "*"):
            slow = self._slow.get(key)
            if slow is not None and (slow.times is None or slow.times > 0):
                if slow.times is not None:
                    slow.times -= 1
                return slow.seconds
        return 0.0

    # -- recorded calls ------------------------------------------------------------------------

    def calls_to(self, method: str, *, name: str | None = None) -> list[Call]:
        """The calls to one method (faulted ones included), oldest first.

        For "response_url", `name` picks the posts to ``response_url(name)``.
        """
        return [c for c in self.calls if c.method == method and name in (None, c.name)]

    # The waits take a `timeout` like asyncio.wait_for (ASYNC109): they are test assertions.
    async def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 30.0,  # noqa: ASYNC109
        *,
        name: str | None = None,
    ) -> list[Call]:
        """Wait until `count` calls to `method` arrived (the bot answers after acking).

        Returns every call to it so far (for "response_url", those to `name` if given).
        """

        def arrived() -> bool:
            return len(self.calls_to(method, name=name)) >= count

        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(arrived), timeout)
            except TimeoutError:
                seen = [c.method for c in self.calls]
                raise FakeSlackTimeout(
                    f"expected {count} call(s) to {method} within {timeout}s; calls: {seen}"
                ) from None
        return self.calls_to(method, name=name)

    async def settle(self, quiet: float = 0.3, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Wait until no request is in flight and none arrived for `quiet` seconds.

        The quiet time counts from the later of the last request and this call, so the bot
        always gets `quiet` seconds to start more work. Use it before asserting that something
        was *not* called; `quiet` should exceed the bot's own delay before calling Slack.
        """
        started = time.monotonic()
        deadline = started + timeout
        while True:
            now = time.monotonic()
            idle = now - max(self._last_activity, started)
            if self._inflight == 0 and idle >= quiet:
                return
            if now >= deadline:
                raise FakeSlackTimeout(f"Slack calls did not settle within {timeout}s")
            await asyncio.sleep(max(0.01, min(quiet - idle, deadline - now)))

    async def _record(self, call: Call) -> None:
        self.calls.append(call)
        self._last_activity = time.monotonic()
        async with self._changed:
            self._changed.notify_all()

    # -- lint ----------------------------------------------------------------------------------

    @property
    def lint_errors(self) -> list[str]:
        """Deviations of recorded Web API calls from Slack's published spec."""
        self._run_lint()
        return list(self._lint_errors)

    @property
    def lint_skipped(self) -> str | None:
        """Why the lint did not run (the spec file is absent), or None."""
        self._run_lint()
        return self._lint_skipped

    def assert_clean(self) -> None:
        """Raise AssertionError listing every lint error (skipped if the spec is absent)."""
        errors = self.lint_errors
        if errors:
            raise AssertionError("Slack Web API lint:\n  " + "\n  ".join(errors))

    def _run_lint(self) -> None:
        path = _spec_path()
        if not path.is_file():
            self._lint_skipped = f"Slack's Web API spec is absent ({path}): lint skipped"
            return
        spec = _load_spec(str(path))
        for call in self.calls[self._linted :]:
            if call.method == "response_url":
                continue
            for error in _lint(spec, call):
                if error not in self._lint_errors:
                    self._lint_errors.append(error)
        self._linted = len(self.calls)

    # -- HTTP: Web API -------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.StreamResponse:
        self._inflight += 1
        self._last_activity = time.monotonic()
        try:
            return await self._api_call(request)
        finally:
            self._inflight -= 1
            self._last_activity = time.monotonic()

    async def _api_call(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        args, ctype, charset, bad_json = await _read_args(request, json_ignored=method in FORM_ONLY)
        auth = request.headers.get("Authorization", "")
        token = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else None
        form_token = args.pop("token", None)
        token = token or (str(form_token) if form_token is not None else None)
        call = Call(
            method, args, token, time.monotonic(), http_method=request.method, content_type=ctype
        )
        call.basic_auth = _basic_credentials(auth)
        delay = self._take_slow(method)
        if delay:
            await asyncio.sleep(delay)
        fault = self._take_fault(method)
        if fault is not None and fault.kind != "lose":
            return await self._answer_fault(request, call, fault)
        if bad_json:
            body: JSON = {"ok": False, "error": "invalid_json"}
        else:
            body = self._dispatch(call)
        if fault is not None:  # "lose": done, but the answer never reaches the client
            call.fault, call.response = "lost", body
            await self._record(call)
            _reset(request)
            return web.Response()
        # docs.slack.dev/apis/web-api: JSON bodies must declare a charset (else the warning
        # missing_charset); form bodies must not (superfluous_charset, python-slack-sdk#692).
        warning = None
        if ctype == "application/json" and not charset:
            warning = "missing_charset"
        elif ctype == "application/x-www-form-urlencoded" and charset:
            warning = "superfluous_charset"
        if warning:
            body["warning"] = warning
            metadata = body.setdefault("response_metadata", {})
            metadata.setdefault("warnings", []).append(warning)
        call.response = body
        return await self._answer(request, call, web.json_response(body))

    async def _answer(
        self, request: web.Request, call: Call, response: web.Response
    ) -> web.Response:
        """Send the response, then record the call: wait_for wakes once the answer is out."""
        await response.prepare(request)
        await response.write_eof()
        await self._record(call)
        return response

    async def _answer_fault(self, request: web.Request, call: Call, fault: _Fault) -> web.Response:
        if fault.kind == "drop":
            call.fault = "drop"
            await self._record(call)
            _reset(request)
            return web.Response()  # never written: the connection is gone
        if fault.kind == "raw":
            call.fault, call.status, call.response = "raw", fault.status, None
            raw = web.Response(
                body=fault.body.encode(),
                status=fault.status,
                headers={"Content-Type": fault.content_type},
            )
            return await self._answer(request, call, raw)
        call.fault = str(fault.status) if fault.status != 200 else fault.error
        call.status = fault.status
        call.response = {"ok": False, "error": fault.error}
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        response = web.json_response(call.response, status=fault.status, headers=headers)
        return await self._answer(request, call, response)

    def _dispatch(self, call: Call) -> JSON:
        handler = self._methods.get(call.method)
        if handler is None:
            return {"ok": False, "error": "unknown_method", "req_method": call.method}
        if call.method == "oauth.v2.access":  # the app's client id and secret, not a token
            return handler(call)
        if not call.token:
            return {"ok": False, "error": "not_authed"}
        if call.method == "apps.connections.open":
            if call.token == self.token:
                return {"ok": False, "error": "not_allowed_token_type"}
            if self.app_token is None or call.token != self.app_token:
                return {"ok": False, "error": "invalid_auth"}
        elif call.token == self.app_token:
            return {"ok": False, "error": "not_allowed_token_type"}
        elif call.token != self.token and call.token not in self.workspaces:
            return {"ok": False, "error": "invalid_auth"}
        elif self.revoked:
            return {"ok": False, "error": "token_revoked"}
        return handler(call)

    # -- Web API methods (response shapes from payload-samples/java-slack-sdk/api/*.json) -----

    def _auth_test(self, call: Call) -> JSON:
        workspace = self.workspaces.get(call.token or "")
        if workspace is not None:
            return {"ok": True, **workspace["auth_test"]}
        return {
            "ok": True,
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _users_info(self, call: Call) -> JSON:
        user = self.users.get(str(call.args.get("user", "")))
        if user is None or not self._sees(call, user):
            return {"ok": False, "error": "user_not_found"}
        if not _truthy(call.args.get("include_locale")):
            user = {k: v for k, v in user.items() if k != "locale"}
        return {"ok": True, "user": user}

    def _users_lookup_by_email(self, call: Call) -> JSON:
        email = str(call.args.get("email", "")).lower()
        for user in self.users.values():
            if not self._sees(call, user):
                continue
            if email and str(user["profile"].get("email", "")).lower() == email:
                return {"ok": True, "user": {k: v for k, v in user.items() if k != "locale"}}
        return {"ok": False, "error": "users_not_found"}

    def _conversations_open(self, call: Call) -> JSON:
        # docs.slack.dev/reference/methods/conversations.open: `users` (1 for a DM, 2-8 for an
        # MPIM) or `channel`; errors users_list_not_supplied, user_not_found, too_many_users.
        if "channel" in call.args:
            channel = self.channels.get(str(call.args["channel"]))
            if channel is None:
                return {"ok": False, "error": "channel_not_found"}
            return {
                "ok": True,
                "no_op": True,
                "already_open": True,
                "channel": {"id": channel["id"]},
            }
        users = [u for u in str(call.args.get("users", "")).split(",") if u]
        if not users:
            return {"ok": False, "error": "users_list_not_supplied"}
        if len(users) > 8:
            return {"ok": False, "error": "too_many_users"}
        for user_id in users:
            if user_id not in self.users:
                return {"ok": False, "error": "user_not_found"}
        if len(users) == 1:
            already = dm_channel_id(users[0]) in self.channels
            channel_id = self.dm_channel(users[0])
        else:
            already = False
            digest = hashlib.sha1(",".join(sorted(users)).encode()).hexdigest()[:9].upper()
            channel_id = f"G{digest}"
            self.channels.setdefault(channel_id, {"id": channel_id, "is_mpim": True})
        body: JSON = {"ok": True}
        if already:
            body.update({"no_op": True, "already_open": True})
        if _truthy(call.args.get("return_im")):
            body["channel"] = self.channels[channel_id]
        else:
            body["channel"] = {"id": channel_id}
        return body

    def _conversations_info(self, call: Call) -> JSON:
        channel = self.channels.get(str(call.args.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "channel": channel}

    def _conversations_history(self, call: Call) -> JSON:
        # docs.slack.dev/reference/methods/conversations.history: newest first, top-level
        # messages only; `metadata` only with include_all_metadata; limit (default 100, max 999).
        channel, error = self._resolve_channel(call.args.get("channel"))
        if channel is None or (channel not in self.channels and channel[0] == "D"):
            return {"ok": False, "error": error or "channel_not_found"}
        limit = max(1, min(999, int(call.args.get("limit") or 100)))
        with_metadata = _truthy(call.args.get("include_all_metadata"))
        found = sorted(
            (
                m
                for (c, _), m in self.messages.items()
                if c == channel and not m.get("deleted") and m.get("thread_ts") in (None, m["ts"])
            ),
            key=lambda m: m["ts"],
            reverse=True,
        )
        messages = [
            {k: v for k, v in m.items() if k != "channel" and (with_metadata or k != "metadata")}
            for m in found[:limit]
        ]
        return {
            "ok": True,
            "messages": messages,
            "has_more": len(found) > limit,
            "pin_count": 0,
            "response_metadata": {"next_cursor": ""},
        }

    def _conversations_replies(self, call: Call) -> JSON:
        # docs.slack.dev/reference/methods/conversations.replies: the parent then its replies,
        # oldest first; `metadata` only with include_all_metadata.
        channel, error = self._resolve_channel(call.args.get("channel"))
        ts = str(call.args.get("ts") or "")
        if channel is None or (channel not in self.channels and channel[0] == "D"):
            return {"ok": False, "error": error or "channel_not_found"}
        if not ts:
            return {"ok": False, "error": "invalid_arguments"}
        # The parent may be a person's message, which the fake never saw: its replies count.
        limit = max(1, min(1000, int(call.args.get("limit") or 1000)))
        with_metadata = _truthy(call.args.get("include_all_metadata"))
        found = sorted(
            (
                m
                for (c, t), m in self.messages.items()
                if c == channel and not m.get("deleted") and (t == ts or m.get("thread_ts") == ts)
            ),
            key=lambda m: m["ts"],
        )
        messages = [
            {k: v for k, v in m.items() if k != "channel" and (with_metadata or k != "metadata")}
            for m in found[:limit]
        ]
        return {
            "ok": True,
            "messages": messages,
            "has_more": len(found) > limit,
            "response_metadata": {"next_cursor": ""},
        }

    def _resolve_channel(self, value: Any) -> tuple[str | None, str | None]:
        """Return (channel id, error) for a chat.* `channel` argument."""
        channel = str(value or "").strip()
        if not channel:
            return None, "channel_not_found"
        if channel.startswith("#"):
            named = [c for c in self.channels.values() if c.get("name") == channel[1:]]
            return (str(named[0]["id"]), None) if named else (None, "channel_not_found")
        if channel[0] in "UW":  # a user id posts to the DM with them (the app's Messages tab)
            if channel not in self.users:
                return None, "channel_not_found"
            return self.dm_channel(channel), None
        known = self.channels.get(channel)
        if known is not None:
            if known.get("is_archived"):
                return None, "is_archived"
            if known.get("is_member") is False:
                return None, "not_in_channel"
        return channel, None

    def _message_errors(self, call: Call) -> JSON | None:
        """Checks shared by chat.postMessage/postEphemeral/update (docs: each method's errors)."""
        args = call.args
        blocks = args.get("blocks")
        if "blocks" in args and not isinstance(blocks, list):
            return {"ok": False, "error": "invalid_blocks_format"}
        text = args.get("text")
        has_content = bool(text) or bool(blocks) or bool(args.get("attachments"))
        if not has_content:
            return {"ok": False, "error": "no_text"}
        if isinstance(text, str) and len(text) > LIMITS["message.text"]:
            return {"ok": False, "error": "msg_too_long"}
        if blocks:
            errors = validate_blocks(blocks, MESSAGE)
            if errors:
                return _invalid_blocks(errors)
        return None

    def _bot_profile(self) -> JSON:
        icons = "https://avatars.example.com/bot"
        return {
            "id": self.bot_id,
            "deleted": False,
            "name": self.bot_name,
            "updated": 1_700_000_000,
            "app_id": self.app_id,
            "icons": {f"image_{n}": f"{icons}_{n}.png" for n in (36, 48, 72)},
            "team_id": self.team_id,
        }

    def _new_ts(self) -> str:
        us = _TS_BASE_US + next(self._ts) * 100
        return f"{us // 1_000_000}.{us % 1_000_000:06d}"

    def _bot_message(self, args: JSON, ts: str) -> JSON:
        message: JSON = {
            "user": self.bot_user_id,
            "type": "message",
            "ts": ts,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": str(args.get("text") or ""),
            "team": self.team_id,
            "bot_profile": self._bot_profile(),
        }
        if args.get("blocks"):
            message["blocks"] = _with_block_ids(args["blocks"])
        if args.get("attachments"):
            message["attachments"] = args["attachments"]
        if args.get("metadata"):
            message["metadata"] = args["metadata"]
        return message

    def _chat_post_message(self, call: Call) -> JSON:
        channel, error = self._resolve_channel(call.args.get("channel"))
        if channel is None:
            return {"ok": False, "error": error}
        problem = self._message_errors(call)
        if problem is not None:
            return problem
        ts = self._new_ts()
        message = self._bot_message(call.args, ts)
        thread_ts = call.args.get("thread_ts")
        if thread_ts:
            message["thread_ts"] = str(thread_ts)
            parent = self.messages.get((channel, str(thread_ts)))
            if parent is not None:
                message["parent_user_id"] = parent["user"]
        self.messages[(channel, ts)] = {**message, "channel": channel}
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _chat_post_ephemeral(self, call: Call) -> JSON:
        channel, error = self._resolve_channel(call.args.get("channel"))
        if channel is None:
            return {"ok": False, "error": error}
        user = str(call.args.get("user") or "")
        if not user:
            return {"ok": False, "error": "user_not_found"}
        if user not in self.users:
            return {"ok": False, "error": "user_not_in_channel"}
        problem = self._message_errors(call)
        if problem is not None:
            return problem
        return {"ok": True, "message_ts": self._new_ts()}

    def _assistant_thread(self, call: Call) -> JSON | None:
        """The agent thread a call names (`channel_id`, `thread_ts`), or Slack's error."""
        channel, error = self._resolve_channel(call.args.get("channel_id"))
        if channel is None:
            return {"ok": False, "error": error}
        if not str(call.args.get("thread_ts") or ""):
            return {"ok": False, "error": "invalid_arguments"}
        return None

    def _assistant_status(self, call: Call) -> JSON:
        problem = self._assistant_thread(call)
        if problem is not None:
            return problem
        status = call.args.get("status")
        if not isinstance(status, str) or len(status) > 150:
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True}

    def _assistant_prompts(self, call: Call) -> JSON:
        """At most 4 prompts, each a title and a message (docs.slack.dev)."""
        problem = self._assistant_thread(call)
        if problem is not None:
            return problem
        prompts = call.args.get("prompts")
        if isinstance(prompts, str):
            try:
                prompts = json.loads(prompts)
            except ValueError:
                return {"ok": False, "error": "invalid_arguments"}
        if not isinstance(prompts, list) or not 1 <= len(prompts) <= 4:
            return {"ok": False, "error": "invalid_arguments"}
        for prompt in prompts:
            if not (
                isinstance(prompt, dict)
                and set(prompt) == {"title", "message"}
                and all(isinstance(v, str) and v.strip() for v in prompt.values())
            ):
                return {"ok": False, "error": "invalid_arguments"}
        call.args["prompts"] = prompts
        return {"ok": True}

    def _assistant_title(self, call: Call) -> JSON:
        problem = self._assistant_thread(call)
        if problem is not None:
            return problem
        return (
            {"ok": True}
            if isinstance(call.args.get("title"), str)
            else {"ok": False, "error": "invalid_arguments"}
        )

    def _chat_unfurl(self, call: Call) -> JSON:
        """docs.slack.dev/reference/methods/chat.unfurl: `channel` + `ts` of the message, or
        `unfurl_id` + `source` (a link in the composer); `unfurls` a JSON object from each URL
        to `{"blocks": [...]}` (message blocks) or a legacy attachment."""
        by_message = call.args.get("channel") and call.args.get("ts")
        by_composer = call.args.get("unfurl_id") and call.args.get("source")
        if not (by_message or by_composer):
            return {"ok": False, "error": "invalid_arguments"}
        if by_message:
            channel, error = self._resolve_channel(call.args.get("channel"))
            if channel is None:
                return {"ok": False, "error": error}
        unfurls = call.args.get("unfurls")
        if isinstance(unfurls, str):
            try:
                unfurls = json.loads(unfurls)
            except ValueError:
                return {"ok": False, "error": "invalid_unfurls"}
        if not isinstance(unfurls, dict) or not unfurls:
            return {"ok": False, "error": "invalid_unfurls"}
        errors: list[str] = []
        for url, unfurl in unfurls.items():
            if not isinstance(unfurl, dict):
                return {"ok": False, "error": "invalid_unfurls"}
            if "blocks" in unfurl:
                errors += [f"{url}: {e}" for e in validate_blocks(unfurl["blocks"])]
        if errors:
            return _invalid_blocks(errors)
        call.args["unfurls"] = unfurls
        return {"ok": True}

    def _stored_message(self, call: Call, ts_arg: str) -> tuple[JSON | None, JSON | None]:
        channel, error = self._resolve_channel(call.args.get("channel"))
        if channel is None:
            return None, {"ok": False, "error": error}
        message = self.messages.get((channel, str(call.args.get(ts_arg, ""))))
        if message is None or message.get("deleted"):
            return None, {"ok": False, "error": "message_not_found"}
        if message.get("user") != self.bot_user_id:
            return None, {"ok": False, "error": "cant_update_message"}
        return message, None

    def _chat_update(self, call: Call) -> JSON:
        message, problem = self._stored_message(call, "ts")
        if message is None:
            return problem or {"ok": False, "error": "message_not_found"}
        problem = self._message_errors(call)
        if problem is not None:
            return problem
        updated = self._bot_message(call.args, message["ts"])
        updated["edited"] = {"user": self.bot_user_id, "ts": self._new_ts()}
        for key in ("thread_ts", "parent_user_id"):
            if key in message:
                updated[key] = message[key]
        self.messages[(message["channel"], message["ts"])] = {
            **updated,
            "channel": message["channel"],
        }
        return {
            "ok": True,
            "channel": message["channel"],
            "ts": message["ts"],
            "text": updated["text"],
            "message": updated,
        }

    def _chat_delete(self, call: Call) -> JSON:
        message, problem = self._stored_message(call, "ts")
        if message is None:
            return problem or {"ok": False, "error": "message_not_found"}
        message["deleted"] = True
        return {"ok": True, "channel": message["channel"], "ts": message["ts"]}

    def _chat_get_permalink(self, call: Call) -> JSON:
        channel = str(call.args.get("channel") or "")
        ts = str(call.args.get("message_ts") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not ts:
            return {"ok": False, "error": "message_not_found"}
        link = f"https://{self.team_domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _view_object(self, view: JSON, view_id: str, previous: JSON | None = None) -> JSON:
        now = time.time()
        stored: JSON = {
            "id": view_id,
            "team_id": self.team_id,
            "type": view["type"],
            "blocks": _with_block_ids(list(view.get("blocks") or [])),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(now)}.{uuid.uuid4().hex[:8]}",
            "title": view.get("title"),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "previous_view_id": previous.get("previous_view_id") if previous else None,
            "root_view_id": previous.get("root_view_id") if previous else view_id,
            "app_id": self.app_id,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        self.views[view_id] = stored
        return stored

    def _views_open(self, call: Call) -> JSON:
        # views.open / views.push: trigger_id (or interactivity_pointer) and a modal view.
        if not call.args.get("trigger_id") and not call.args.get("interactivity_pointer"):
            return _invalid_arguments(["missing required field: trigger_id"])
        errors = validate_view(call.args.get("view"), call.method)
        if errors:
            return _invalid_arguments(errors)
        view = self._view_object(call.args["view"], f"V{next(self._ids):010d}")
        return {"ok": True, "view": view}

    def _views_update(self, call: Call) -> JSON:
        view_id = call.args.get("view_id")
        external_id = call.args.get("external_id")
        if not view_id and not external_id:
            return _invalid_arguments(["must provide view_id or external_id"])
        current = self.views.get(str(view_id)) if view_id else None
        if current is None and external_id:
            found = [v for v in self.views.values() if v.get("external_id") == external_id]
            current = found[0] if found else None
        if current is None:
            return {"ok": False, "error": "not_found"}
        if call.args.get("hash") and call.args["hash"] != current["hash"]:
            return {"ok": False, "error": "hash_conflict"}
        errors = validate_view(call.args.get("view"), call.method)
        if errors:
            return _invalid_arguments(errors)
        return {"ok": True, "view": self._view_object(call.args["view"], current["id"], current)}

    def _views_publish(self, call: Call) -> JSON:
        user_id = str(call.args.get("user_id") or "")
        if not user_id:
            return _invalid_arguments(["missing required field: user_id"])
        errors = validate_view(call.args.get("view"), call.method)
        if errors:
            return _invalid_arguments(errors)
        current = self.home_views.get(user_id)
        if current and call.args.get("hash") and call.args["hash"] != current["hash"]:
            return {"ok": False, "error": "hash_conflict"}
        view_id = current["id"] if current else f"V{next(self._ids):010d}"
        view = self._view_object(call.args["view"], view_id)
        self.home_views[user_id] = view
        return {"ok": True, "view": view}

    def _apps_connections_open(self, call: Call) -> JSON:
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        url = f"ws://127.0.0.1:{self._port}/link/?ticket={ticket}&app_id={self.app_id}"
        return {"ok": True, "url": url}

    # -- HTTP: response_url ----------------------------------------------------------------

    async def _response_url(self, request: web.Request) -> web.StreamResponse:
        self._inflight += 1
        self._last_activity = time.monotonic()
        try:
            return await self._response_url_post(request)
        finally:
            self._inflight -= 1
            self._last_activity = time.monotonic()

    async def _response_url_post(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        method = "response_url"
        raw = await request.read()
        try:
            if request.content_type == "application/x-www-form-urlencoded":
                form = dict(parse_qsl(raw.decode()))
                payload = json.loads(form.get("payload", "{}"))
            else:
                payload = json.loads(raw or b"{}")
        except ValueError:
            payload = None
        body = payload if isinstance(payload, dict) else {}
        for key in _DECODED_ARGS:
            body[key] = _decode(body[key]) if key in body else body.get(key)
        body = {k: v for k, v in body.items() if v is not None}
        call = Call(
            method, body, None, time.monotonic(), content_type=request.content_type, name=name
        )
        fault = self._take_fault(method)
        if fault is not None:
            return await self._answer_fault(request, call, fault)
        # Incoming webhooks and response_urls answer HTTP 400 with a plain error code
        # (java-slack-sdk#1017 "400 invalid_blocks"), and HTTP 200 "ok" on success.
        error = None
        if payload is None or not isinstance(payload, dict):
            error = "invalid_payload"
        elif "blocks" in body and not isinstance(body["blocks"], list):
            error = "invalid_blocks_format"
        elif body.get("blocks") and validate_blocks(body["blocks"], MESSAGE):
            error = "invalid_blocks"
        elif not (body.get("text") or body.get("blocks") or body.get("attachments")) and not (
            _truthy(body.get("delete_original"))
        ):
            error = "no_text"
        call.status = 400 if error else 200
        call.response = {"ok": False, "error": error} if error else {"ok": True}
        return await self._answer(
            request, call, web.Response(status=call.status, text=error or "ok")
        )

    # -- Socket Mode -------------------------------------------------------------------------

    def _hello(self) -> JSON:
        # Shape of the hello frame in payload-samples/python-slack-sdk/socket_mode_envelopes.json.
        return {
            "type": "hello",
            "num_connections": len(self._sockets),
            "debug_info": {
                "host": "applink-fake-1",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self.app_id},
        }

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:  # tickets from apps.connections.open are single-use
            return web.Response(status=401, text="invalid_ticket")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True, timeout=2.0)
        await ws.prepare(request)
        self._sockets.append(ws)
        try:
            await ws.send_json(self._hello())
            async with self._changed:
                self._changed.notify_all()
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    frame = json.loads(msg.data)
                except ValueError:
                    frame = {"_raw": msg.data}
                if not isinstance(frame, dict):
                    frame = {"_raw": msg.data}
                self.socket_received.append(frame)
                envelope_id = frame.get("envelope_id")
                future = self._acks.pop(envelope_id, None) if isinstance(envelope_id, str) else None
                if future is not None and not future.done():
                    future.set_result(frame)
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)
        return ws

    @property
    def socket_connections(self) -> int:
        """How many Socket Mode clients are connected."""
        return sum(1 for ws in self._sockets if not ws.closed)

    async def wait_socket(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Wait until a Socket Mode client is connected (and was sent hello)."""
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self.socket_connections > 0), timeout
                )
            except TimeoutError:
                raise FakeSlackTimeout(f"no Socket Mode client within {timeout}s") from None

    async def socket_send(
        self,
        envelope: Mapping[str, Any],
        *,
        timeout: float = 30.0,  # noqa: ASYNC109
    ) -> JSON:
        """Send an envelope to the connected Socket Mode client; return its ack frame.

        ``envelope`` may be a whole envelope (with ``payload``) or a bare payload, which is
        wrapped by ``socket_envelope``. Missing envelope fields are filled the way Slack does.
        """
        if "payload" in envelope:
            payload = envelope["payload"]
            kind = envelope.get("type")
            full = {**socket_envelope(payload, type=str(kind) if kind else None), **envelope}
        else:
            full = socket_envelope(dict(envelope))
        envelope_id = str(full["envelope_id"])
        await self.wait_socket(timeout)
        ws = next(ws for ws in reversed(self._sockets) if not ws.closed)
        future: asyncio.Future[JSON] = asyncio.get_running_loop().create_future()
        self._acks[envelope_id] = future
        await ws.send_str(json.dumps(full))
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            self._acks.pop(envelope_id, None)
            raise FakeSlackTimeout(f"no ack for envelope {envelope_id} within {timeout}s") from None

    async def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Send Slack's ``disconnect`` frame (the client then reconnects with a new URL)."""
        frame = {
            "type": "disconnect",
            "reason": reason,
            "debug_info": {"host": "applink-fake-1"},
        }
        for ws in list(self._sockets):
            if not ws.closed:
                await ws.send_json(frame)


# The fakes serving now, latest last: builders point their default response_url at it.
_RUNNING: list[FakeSlack] = []


def _default_response_url(kind: str, name: str, team_id: str) -> str:
    """The running fake's response_url(name), else a realistic (unreachable) Slack hook."""
    if _RUNNING:
        return _RUNNING[-1].response_url(name)
    return f"https://hooks.slack.com/{kind}/{team_id}/{random.randrange(10**12)}/{_alnum(24)}"


async def _read_args(request: web.Request, *, json_ignored: bool) -> tuple[JSON, str, str, bool]:
    """Merge query and body arguments; return (args, content type, charset, bad JSON)."""
    args: JSON = dict(request.query)
    ctype = request.content_type
    charset = request.charset or ""
    bad_json = False
    if request.body_exists:
        if ctype == "application/json":
            try:
                data = await request.json()
            except ValueError:
                data, bad_json = None, True
            if isinstance(data, dict):
                if not json_ignored:
                    args.update(data)
            elif not bad_json:
                bad_json = True
        elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            args.update({k: v for k, v in form.items() if isinstance(v, str)})
    for key in _DECODED_ARGS:
        if key in args:
            args[key] = _decode(args[key])
    return args, ctype, charset, bad_json


def _basic_credentials(header: str) -> tuple[str, str] | None:
    """The (id, secret) of an ``Authorization: Basic …`` header, else None."""
    if not header.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(header[len("Basic ") :].strip(), validate=True).decode()
    except ValueError:
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def _decode(value: Any) -> Any:
    """Decode a JSON string argument (blocks/view/attachments in form data); keep the rest."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")


def _reset(request: web.Request) -> None:
    """Abort the connection with a TCP RST (SO_LINGER 0), like a dropped connection."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


# ---------------------------------------------------------------------------------------------
# Inbound requests to the bot: signatures and bodies


def signed_headers(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Slack's v0 signature headers for a request body (docs: authentication/verifying-requests).

    ``X-Slack-Signature`` is "v0=" + hex HMAC-SHA256(secret, "v0:{timestamp}:{body}"). The
    caller sets Content-Type (form for commands/interactivity, JSON for events).
    """
    ts = int(time.time()) if timestamp is None else timestamp
    base = b"v0:" + str(ts).encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": f"v0={digest}"}


def form_body(payload: Mapping[str, Any]) -> bytes:
    """An interactivity request body: ``payload=<json>``, form-urlencoded."""
    return urlencode({"payload": json.dumps(payload)}).encode()


def command_body(fields: Mapping[str, str]) -> bytes:
    """A slash command request body: its fields, form-urlencoded."""
    return urlencode(dict(fields)).encode()


def json_body(payload: Mapping[str, Any]) -> bytes:
    """An Events API request body."""
    return json.dumps(payload).encode()


def socket_envelope(
    payload: Mapping[str, Any],
    *,
    type: str | None = None,
    envelope_id: str | None = None,
    accepts_response_payload: bool | None = None,
    retry_attempt: int = 0,
    retry_reason: str = "",
) -> JSON:
    """Wrap a payload in a Socket Mode envelope, as Slack does.

    The type is guessed when not given: ``events_api`` for an event_callback, ``slash_commands``
    for a command, else ``interactive``. Slack sets accepts_response_payload for commands and
    for view submissions / block suggestions (socket_mode_envelopes.json and the Socket Mode
    docs); events carry retry_attempt and retry_reason.
    """
    kind = type
    if kind is None:
        if payload.get("type") == "event_callback":
            kind = "events_api"
        elif "command" in payload:
            kind = "slash_commands"
        else:
            kind = "interactive"
    if accepts_response_payload is None:
        accepts_response_payload = kind == "slash_commands" or payload.get("type") in (
            "view_submission",
            "block_suggestion",
        )
    envelope: JSON = {
        "envelope_id": envelope_id or str(uuid.uuid4()),
        "payload": dict(payload),
        "type": kind,
        "accepts_response_payload": accepts_response_payload,
    }
    if kind == "events_api":
        envelope.update({"retry_attempt": retry_attempt, "retry_reason": retry_reason})
    return envelope


# ---------------------------------------------------------------------------------------------
# Payload builders
#
# Shaped on ../shared/schemas/slack/payload-samples/java-slack-sdk/{events,app-backend}/*.json.
# Those samples merge the fields of many real payloads with blanked values; a builder emits
# only the fields a real payload of its kind carries, with realistic values (a blank
# `bot_id`, `subtype` or `thread_ts` would change what the payload means to bolt), and every
# field it emits exists in its sample, except the documented extras below. The builders work
# without ../shared; `payload_shape_errors` checks them against the samples when present.


def _event_context(event_type: str, team_id: str, app_id: str, channel: str) -> str:
    data = json.dumps({"et": event_type, "tid": team_id, "aid": app_id, "cid": channel})
    return "4-" + base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")


def event_callback(
    event: Mapping[str, Any],
    *,
    event_id: str | None = None,
    team_id: str = TEAM_ID,
    api_app_id: str = APP_ID,
    bot_user_id: str = BOT_USER_ID,
    event_time: int | None = None,
) -> JSON:
    """Wrap an event in the Events API envelope (the body Slack posts, or a socket payload).

    An already wrapped payload is returned as it is (a copy).
    """
    if event.get("type") == "event_callback" and "event" in event:
        return dict(event)
    ev = dict(event)
    ts = ev.get("event_ts") or ev.get("ts")
    if event_time is None:
        event_time = int(float(ts)) if isinstance(ts, str) and ts else int(time.time())
    channel = ev.get("channel") if isinstance(ev.get("channel"), str) else ""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": None,
        "api_app_id": api_app_id,
        "event": ev,
        "type": "event_callback",
        "event_id": event_id or f"Ev{_alnum(9)}",
        "event_time": event_time,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": _event_context(str(ev.get("type", "")), team_id, api_app_id, str(channel)),
    }


_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


def _rich_text(text: str) -> list[JSON]:
    """The rich_text block Slack attaches to a typed message, with user mentions."""
    elements: list[JSON] = []
    pos = 0
    for match in _MENTION.finditer(text):
        if match.start() > pos:
            elements.append({"type": "text", "text": text[pos : match.start()]})
        elements.append({"type": "user", "user_id": match.group(1)})
        pos = match.end()
    if pos < len(text):
        elements.append({"type": "text", "text": text[pos:]})
    section = {"type": "rich_text_section", "elements": elements}
    return [{"type": "rich_text", "block_id": _block_id(), "elements": [section]}]


def _user_message(
    text: str, user: str, channel: str, ts: str, team_id: str, thread_ts: str | None
) -> JSON:
    message: JSON = {
        "client_msg_id": str(uuid.uuid4()),
        "type": "message",
        "text": text,
        "user": user,
        "ts": ts,
        "team": team_id,
        "blocks": _rich_text(text),
        "channel": channel,
        "event_ts": ts,
    }
    if thread_ts:
        message["thread_ts"] = thread_ts
    return message


def app_mention(
    text: str,
    user: str,
    channel: str,
    ts: str | None = None,
    thread_ts: str | None = None,
    *,
    team_id: str = TEAM_ID,
) -> JSON:
    """An ``app_mention`` event (wrap it with ``event_callback``); `text` starts "<@U0BOT>"."""
    ts = ts or new_ts()
    event = _user_message(text, user, channel, ts, team_id, thread_ts)
    event["type"] = "app_mention"
    return event


def message_channel(
    text: str,
    user: str,
    channel: str,
    ts: str | None = None,
    thread_ts: str | None = None,
    *,
    subtype: str | None = None,
    previous_text: str = "",
    channel_type: str = "channel",
    team_id: str = TEAM_ID,
) -> JSON:
    """A ``message`` event in a channel (``message.channels``; wrap it with ``event_callback``).

    ``subtype="message_changed"``: `ts` is the edited message's ts, `text` its new text and
    `previous_text` the old one. ``subtype="message_deleted"``: `ts` is the deleted message's
    ts and `previous_text` its text. Shapes from docs.slack.dev/reference/events/message/
    message_changed and message_deleted.
    """
    ts = ts or new_ts()
    if subtype in ("message_changed", "message_deleted"):
        event_ts = new_ts()
        previous = _user_message(previous_text, user, channel, ts, team_id, thread_ts)
        for key in ("channel", "event_ts"):
            previous.pop(key)
        event: JSON = {
            "type": "message",
            "subtype": subtype,
            "hidden": True,
            "channel": channel,
            "ts": event_ts,
            "event_ts": event_ts,
            "channel_type": channel_type,
            "previous_message": previous,
        }
        if subtype == "message_changed":
            message = _user_message(text, user, channel, ts, team_id, thread_ts)
            for key in ("channel", "event_ts"):
                message.pop(key)
            message["edited"] = {"user": user, "ts": event_ts}
            event["message"] = message
        else:
            event["deleted_ts"] = ts
        return event
    event = _user_message(text, user, channel, ts, team_id, thread_ts)
    event["channel_type"] = channel_type
    if subtype:
        event["subtype"] = subtype
    return event


def message_im(
    text: str,
    user: str,
    channel: str | None = None,
    ts: str | None = None,
    thread_ts: str | None = None,
    *,
    subtype: str | None = None,
    previous_text: str = "",
    team_id: str = TEAM_ID,
) -> JSON:
    """A ``message`` event in the bot's DM with `user` (``message.im``)."""
    return message_channel(
        text,
        user,
        channel or dm_channel_id(user),
        ts,
        thread_ts,
        subtype=subtype,
        previous_text=previous_text,
        channel_type="im",
        team_id=team_id,
    )


def assistant_thread_started(
    user: str, channel: str | None = None, thread_ts: str | None = None
) -> JSON:
    """An ``assistant_thread_started`` event: someone opened the app's agent thread
    (docs.slack.dev/reference/events/assistant_thread_started)."""
    ts = thread_ts or new_ts()
    return {
        "type": "assistant_thread_started",
        "assistant_thread": {
            "user_id": user,
            "context": {},
            "channel_id": channel or dm_channel_id(user),
            "thread_ts": ts,
        },
        "event_ts": ts,
    }


def link_shared(
    urls: list[str],
    user: str,
    channel: str,
    message_ts: str | None = None,
    *,
    thread_ts: str | None = None,
) -> JSON:
    """A ``link_shared`` event: links to the app's unfurl domains posted in a channel
    (docs.slack.dev/reference/events/link_shared; `source` "conversations_history")."""
    ts = message_ts or new_ts()
    event: JSON = {
        "type": "link_shared",
        "channel": channel,
        "is_bot_user_member": True,
        "user": user,
        "message_ts": ts,
        "unfurl_id": f"C{_alnum(8)}.{ts}.{_alnum(40)}",
        "source": "conversations_history",
        "links": [{"domain": urlsplit(u).hostname or "", "url": u} for u in urls],
        "event_ts": ts,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def app_home_opened(
    user: str,
    channel: str | None = None,
    *,
    tab: str = "home",
    view: JSON | None = None,
) -> JSON:
    """An ``app_home_opened`` event (`view` only once a home view was published)."""
    event: JSON = {
        "type": "app_home_opened",
        "user": user,
        "channel": channel or dm_channel_id(user),
        "tab": tab,
        "event_ts": new_ts(),
    }
    if view is not None:
        event["view"] = view
    return event


def slash_command(
    text: str,
    user_id: str,
    channel_id: str,
    *,
    command: str = "/lessons",
    user_name: str | None = None,
    channel_name: str | None = None,
    response_url: str | None = None,
    trigger_id: str | None = None,
    team_id: str = TEAM_ID,
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = APP_ID,
) -> dict[str, str]:
    """A slash command's form fields (post them with ``command_body``).

    The default response_url is the running fake's ``response_url(<command without "/">)``.
    """
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": team_domain,
        "channel_id": channel_id,
        "channel_name": channel_name or _channel_name(channel_id),
        "user_id": user_id,
        "user_name": user_name or user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url
        or _default_response_url("commands", command.lstrip("/"), team_id),
        "trigger_id": trigger_id or _trigger_id(),
    }


def _channel_name(channel_id: str) -> str:
    return "directmessage" if channel_id.startswith("D") else "lessons"


def _interaction_user(user: str, team_id: str, user_name: str | None) -> JSON:
    name = user_name or user.lower()
    return {"id": user, "username": name, "name": name, "team_id": team_id}


def block_actions(
    action_id: str,
    value: str | None,
    user: str,
    channel: str | None = None,
    message_ts: str | None = None,
    *,
    container: str | None = None,
    block_id: str = "actions",
    action_type: str = "button",
    text: str = "Button",
    selected_option: JSON | None = None,
    view: JSON | None = None,
    message: JSON | None = None,
    thread_ts: str | None = None,
    is_ephemeral: bool = False,
    response_url: str | None = None,
    trigger_id: str | None = None,
    user_name: str | None = None,
    channel_name: str | None = None,
    team_id: str = TEAM_ID,
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = APP_ID,
) -> JSON:
    """A ``block_actions`` payload: a button (or `action_type`) used in a message or a view.

    ``container`` is "message" (default) or "view" (default when `view` is given). For a
    message, `message` defaults to a bot message holding the action; an ephemeral message
    (``is_ephemeral``) carries no `message`, as in Slack's payloads. The default response_url
    (message container only) is the running fake's ``response_url(action_id)``.
    """
    action: JSON = {
        "action_id": action_id,
        "block_id": block_id,
        "type": action_type,
        "action_ts": f"{time.time():.6f}",
    }
    if action_type == "button":
        action["text"] = {"type": "plain_text", "text": text, "emoji": True}
    if value is not None:
        action["value"] = value
    if selected_option is not None:
        action["selected_option"] = selected_option
    payload: JSON = {
        "type": "block_actions",
        "user": _interaction_user(user, team_id, user_name),
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id or _trigger_id(),
        "team": {"id": team_id, "domain": team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
    }
    if (container or ("view" if view is not None else "message")) == "view":
        view = view or {"id": "V0000000001", "type": "modal", "blocks": []}
        payload["container"] = {"type": "view", "view_id": view.get("id", "")}
        payload["view"] = view
    else:
        channel = channel or dm_channel_id(user)
        message_ts = message_ts or new_ts()
        box: JSON = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": is_ephemeral,
        }
        if thread_ts:
            box["thread_ts"] = thread_ts
        payload["container"] = box
        payload["channel"] = {"id": channel, "name": channel_name or _channel_name(channel)}
        if not is_ephemeral:
            payload["message"] = message or _bot_message_with(
                action, message_ts, team_id, thread_ts
            )
        payload["state"] = {"values": {}}
        payload["response_url"] = response_url or _default_response_url(
            "actions", action_id, team_id
        )
    payload["actions"] = [action]
    return payload


def _bot_message_with(action: JSON, ts: str, team_id: str, thread_ts: str | None) -> JSON:
    element = {k: v for k, v in action.items() if k not in ("block_id", "action_ts")}
    message: JSON = {
        "type": "message",
        "user": BOT_USER_ID,
        "bot_id": BOT_ID,
        "app_id": APP_ID,
        "team": team_id,
        "text": "",
        "ts": ts,
        "blocks": [{"type": "actions", "block_id": action["block_id"], "elements": [element]}],
    }
    if thread_ts:
        message["thread_ts"] = thread_ts
    return message


def view_submission(
    callback_id: str,
    values: Mapping[str, str | JSON],
    user: str,
    private_metadata: str = "",
    *,
    view_id: str = "V0000000001",
    title: str = "Lessons",
    blocks: list[JSON] | None = None,
    view_hash: str | None = None,
    external_id: str = "",
    trigger_id: str | None = None,
    user_name: str | None = None,
    team_id: str = TEAM_ID,
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = APP_ID,
) -> JSON:
    """A ``view_submission`` payload for a modal.

    `values` maps "block_id.action_id" (or just "block_id") to the typed text, or to a raw
    state entry such as ``{"type": "static_select", "selected_option": {...}}``; they become
    ``view.state.values``. Pass the `blocks` the bot opened the modal with (e.g.
    ``call.args["view"]["blocks"]`` of its views.open) so a bare "block_id" resolves to that
    block's element action_id and type, as Slack would send them; without `blocks`, each
    value gets an input block whose action_id is its block_id.
    """
    elements: dict[str, JSON] = {}
    for block in blocks or []:
        element = block.get("element") if isinstance(block, dict) else None
        if isinstance(element, dict) and block.get("block_id"):
            elements[str(block["block_id"])] = element
    state: dict[str, dict[str, JSON]] = {}
    for key, value in values.items():
        block_id, _, action = key.partition(".")
        element = elements.get(block_id, {})
        action = action or str(element.get("action_id") or block_id)
        kind = str(element.get("type") or "plain_text_input")
        entry = {"type": kind, "value": value} if isinstance(value, str) else dict(value)
        state.setdefault(block_id, {})[action] = entry
    if blocks is None:
        blocks = [
            {
                "type": "input",
                "block_id": block_id,
                "label": {"type": "plain_text", "text": block_id, "emoji": True},
                "optional": False,
                "dispatch_action": False,
                "element": {"type": entry["type"], "action_id": action},
            }
            for block_id, actions in state.items()
            for action, entry in actions.items()
        ]
    view: JSON = {
        "id": view_id,
        "team_id": team_id,
        "type": "modal",
        "blocks": blocks,
        "private_metadata": private_metadata,
        "callback_id": callback_id,
        "state": {"values": state},
        "hash": view_hash or f"{int(time.time())}.{uuid.uuid4().hex[:8]}",
        "title": {"type": "plain_text", "text": title, "emoji": True},
        "clear_on_close": False,
        "notify_on_close": False,
        "close": {"type": "plain_text", "text": "Cancel", "emoji": True},
        "submit": {"type": "plain_text", "text": "Submit", "emoji": True},
        "previous_view_id": None,
        "root_view_id": view_id,
        "app_id": api_app_id,
        "external_id": external_id,
        "app_installed_team_id": team_id,
        "bot_id": BOT_ID,
    }
    return {
        "type": "view_submission",
        "team": {"id": team_id, "domain": team_domain},
        "user": _interaction_user(user, team_id, user_name),
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id or _trigger_id(),
        "view": view,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def message_shortcut(
    callback_id: str,
    text: str,
    user: str,
    channel: str,
    ts: str | None = None,
    *,
    message_user: str | None = None,
    response_url: str | None = None,
    trigger_id: str | None = None,
    user_name: str | None = None,
    channel_name: str | None = None,
    team_id: str = TEAM_ID,
    team_domain: str = TEAM_DOMAIN,
) -> JSON:
    """A ``message_action`` payload: `user` ran the shortcut on a message (by `message_user`).

    The default response_url is the running fake's ``response_url(callback_id)``.
    """
    ts = ts or new_ts()
    message = _user_message(text, message_user or user, channel, ts, team_id, None)
    for key in ("channel", "event_ts"):
        message.pop(key)
    return {
        "type": "message_action",
        "token": VERIFICATION_TOKEN,
        "action_ts": f"{time.time():.6f}",
        "team": {"id": team_id, "domain": team_domain},
        "user": {"id": user, "name": user_name or user.lower(), "team_id": team_id},
        "channel": {"id": channel, "name": channel_name or _channel_name(channel)},
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": trigger_id or _trigger_id(),
        "response_url": response_url or _default_response_url("app", callback_id, team_id),
        "message_ts": ts,
        "message": message,
    }


# ---------------------------------------------------------------------------------------------
# Shape checks against the samples

# Fields a builder may emit that its (merged) sample lacks, each from Slack's docs.
_EXTRAS: Final[dict[str, frozenset[str]]] = {
    # docs.slack.dev/reference/events/message/message_changed and .../message_deleted; the
    # rich_text blocks Slack attaches to typed messages (block-kit/blocks/rich-text-block) are
    # missing from the samples' merged `blocks`, so message blocks are not shape-checked.
    "MessagePayload": frozenset(
        {
            "event.subtype",
            "event.hidden",
            "event.message",
            "event.previous_message",
            "event.deleted_ts",
            "event.blocks",
        }
    ),
    "AppMentionPayload": frozenset({"event.blocks"}),
    "MessageShortcutPayload": frozenset({"message.blocks"}),
    # docs.slack.dev/reference/interaction-payloads/block_actions-payload: the view has blocks
    "BlockActionPayload": frozenset({"view.blocks"}),
    # .../view-interactions-payload#view_submission: the view has blocks; response_urls
    "ViewSubmissionPayload": frozenset({"view.blocks", "response_urls"}),
}
_SAMPLES: Final = {
    "event_callback": "java-slack-sdk/events/MessagePayload.json",
    "app_mention": "java-slack-sdk/events/AppMentionPayload.json",
    "message": "java-slack-sdk/events/MessagePayload.json",
    "app_home_opened": "java-slack-sdk/events/AppHomeOpenedPayload.json",
    "slash_command": "java-slack-sdk/app-backend/SlashCommandPayload.json",
    "block_actions": "java-slack-sdk/app-backend/BlockActionPayload.json",
    "view_submission": "java-slack-sdk/app-backend/ViewSubmissionPayload.json",
    "message_shortcut": "java-slack-sdk/app-backend/MessageShortcutPayload.json",
}


def _sample(relative: str) -> Any:
    path = _slack_schemas() / "payload-samples" / relative
    return _read_json(str(path)) if path.is_file() else None


_EVENT_SAMPLES: Final = (
    "AppHomeOpenedPayload",
    "AppMentionPayload",
    "MemberJoinedChannelPayload",
    "MessagePayload",
)


@functools.cache
def _read_json(path: str) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _merged(items: list[Any]) -> Any:
    """Merge a sample array's objects into one (samples list each shape once)."""
    merged: Any = None
    for item in items:
        merged = _deep_merge(merged, item)
    return merged


def _deep_merge(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for key, value in b.items():
            out[key] = _deep_merge(a[key], value) if key in a else value
        return out
    if isinstance(a, list) and isinstance(b, list):
        return a + b
    if a is None or isinstance(b, (dict, list)) or not isinstance(a, (dict, list)):
        return b
    return a  # keep the container when a later sample has a blank scalar there


def _shape(value: Any, sample: Any, path: str, extras: frozenset[str], errors: list[str]) -> None:
    if path in extras:  # an extra (or an opaque subtree, such as echoed blocks)
        return
    if isinstance(value, dict) and isinstance(sample, dict) and sample:
        for key, item in value.items():
            here = f"{path}.{key}" if path else key
            if key not in sample:
                if here not in extras:
                    errors.append(f"{here}: not in the sample")
                continue
            _shape(item, sample[key], here, extras, errors)
    elif isinstance(value, list) and isinstance(sample, list) and sample:
        merged = _merged(sample)
        for item in value:
            _shape(item, merged, f"{path}[]", extras, errors)


def payload_shape_errors(kind: str, payload: Mapping[str, Any]) -> list[str] | None:
    """Fields of a built payload that its java-slack-sdk sample lacks (None: no sample).

    `kind` is a builder name: event_callback, app_mention, message, app_home_opened,
    slash_command, block_actions, view_submission, message_shortcut. An event (not wrapped
    in an event_callback) is checked against the sample's `event`.
    """
    relative = _SAMPLES[kind]
    sample = _sample(relative)
    if sample is None:
        return None
    extras = _EXTRAS.get(Path(relative).stem, frozenset())
    if relative.startswith("java-slack-sdk/events/"):
        # The envelope may carry any of the event samples' top-level fields; the event must
        # fit its own sample (any event sample's, for kind "event_callback").
        events = [_sample(f"java-slack-sdk/events/{name}.json") for name in _EVENT_SAMPLES]
        envelope = {k: v for one in events if isinstance(one, dict) for k, v in one.items()}
        if kind == "event_callback":
            merged_events = [one["event"] for one in events if isinstance(one, dict)]
            envelope["event"] = {k: v for one in merged_events for k, v in one.items()}
            extras = frozenset().union(*_EXTRAS.values())
        else:
            envelope["event"] = sample["event"]
        sample = envelope
        if payload.get("type") != "event_callback":
            sample = sample["event"]
            extras = frozenset(e.removeprefix("event.") for e in extras)
    errors: list[str] = []
    _shape(dict(payload), sample, "", extras, errors)
    return errors


def response_shape_errors(method: str, response: Mapping[str, Any]) -> list[str] | None:
    """Fields of a fake Web API response that java-slack-sdk's sample lacks (None: no sample).

    Blocks and attachments echoed back from the request are not checked (they are the
    caller's), nor `warning`/`response_metadata`, which the fake adds like Slack.
    """
    sample = _sample(f"java-slack-sdk/api/{method}.json")
    if sample is None:
        return None
    errors: list[str] = []
    opaque = {"warning", "response_metadata", "view.blocks", "message.blocks"}
    _shape(dict(response), sample, "", frozenset(opaque | {"message.attachments"}), errors)
    return errors
