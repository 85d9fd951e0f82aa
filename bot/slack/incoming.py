"""Slack payloads → the neutral `Incoming` types (pure: no I/O)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from handlers.chat import (
    ButtonPress,
    Command,
    ConversationRef,
    Deletion,
    Edit,
    FormSubmit,
    Incoming,
    Message,
    UserRef,
)

PLATFORM = "slack"
MAX_TEXT = 40_000
_MENTION = re.compile(r"^\s*<@[A-Z0-9]+(?:\|[^>]*)?>[\s,:]*")


def user(user_id: str, name: str | None = None, *, bot: bool = False) -> UserRef:
    """Return the neutral reference of a Slack user."""
    return UserRef(PLATFORM, user_id, name, bot=bot)


def where(channel: str, thread_ts: str | None = None, name: str | None = None) -> ConversationRef:
    """Return the neutral reference of a channel (and thread)."""
    return ConversationRef(PLATFORM, channel, thread_ts, channel_name=name)


def command(body: Mapping[str, Any]) -> Command:
    """A slash command: `/lessons what did we learn…`, `/aar start …` or `/practice …`."""
    name = str(body.get("command", "/lessons")).lstrip("/") or "lessons"
    return Command(
        user(str(body.get("user_id", "")), str(body.get("user_name") or "") or None),
        where(str(body.get("channel_id", "")), None, str(body.get("channel_name") or "") or None),
        name if name in ("aar", "practice") else "lessons",
        str(body.get("text", ""))[:MAX_TEXT],
    )


def mention(event: Mapping[str, Any]) -> Message:
    """An @mention in a channel: the mention is taken off; the answer goes in its thread."""
    text = _MENTION.sub("", str(event.get("text", "")), count=1)
    return Message(
        user(str(event.get("user", ""))),
        where(str(event.get("channel", "")), _thread(event)),
        text[:MAX_TEXT],
        direct=True,
        message_id=str(event.get("ts", "")) or None,
    )


def message(event: Mapping[str, Any], *, bot_user_id: str | None) -> Incoming | None:
    """A message event: a DM, a reply in a thread, an edit or a deletion (None: ignore it)."""
    subtype = event.get("subtype")
    channel = str(event.get("channel", ""))
    if subtype == "message_changed":
        new = event.get("message")
        if not isinstance(new, Mapping) or new.get("bot_id") or not new.get("user"):
            return None
        return Edit(
            user(str(new["user"])),
            where(channel, _thread(new, own=False)),
            str(new.get("ts", "")),
            str(new.get("text", ""))[:MAX_TEXT],
        )
    if subtype == "message_deleted":
        old = event.get("previous_message")
        if not isinstance(old, Mapping) or not old.get("user"):
            return None
        return Deletion(
            user(str(old["user"])),
            where(channel, _thread(old, own=False)),
            str(event.get("deleted_ts") or old.get("ts", "")),
        )
    if subtype not in (None, "thread_broadcast", "file_share"):
        return None  # joins, topic changes, bot messages…
    author = str(event.get("user", ""))
    is_bot = bool(event.get("bot_id")) or not author
    text = str(event.get("text", ""))
    in_dm = event.get("channel_type") == "im"
    if not in_dm and bot_user_id and f"<@{bot_user_id}" in text:
        return None  # app_mention delivers it
    thread = str(event["thread_ts"]) if event.get("thread_ts") else None
    if not in_dm and thread is None:
        return None  # channel chatter outside a thread is none of our business
    return Message(
        user(author or str(event.get("bot_id", "")), bot=is_bot),
        where(channel, thread),
        text[:MAX_TEXT],
        direct=in_dm,
        message_id=str(event.get("ts", "")) or None,
    )


def button(body: Mapping[str, Any], action: Mapping[str, Any]) -> ButtonPress:
    """A click on one of our buttons (in a message, or on the App Home)."""
    container = body.get("container") or {}
    info = body.get("channel") or {}
    channel = info.get("id") or container.get("channel_id") or ""
    message = body.get("message") or {}
    thread = message.get("thread_ts") or container.get("thread_ts") or message.get("ts")
    action_id = str(action.get("action_id", "")).partition("#")[0]
    value = str(action.get("value", ""))
    if action.get("type") == "feedback_buttons":  # native feedback: "<action>#<value>"
        action_id, _, value = value.partition("#")
    # The channel's name opens lessons shared with it, as for slash commands (and "share in
    # channel" must know who is in the channel it posts to).
    name = str(info.get("name") or "") or None
    return ButtonPress(
        _who(body),
        where(str(channel), str(thread) if thread and channel else None, name),
        action_id,
        value,
    )


def view_submission(body: Mapping[str, Any], values: dict[str, str]) -> FormSubmit:
    """A submitted modal: where it came from travels in its private metadata."""
    view = body.get("view") or {}
    context = metadata(str(view.get("private_metadata", "")))
    return FormSubmit(
        _who(body),
        where(context.get("channel", ""), context.get("thread") or None),
        str(view.get("callback_id", "")),
        values,
    )


def shortcut(body: Mapping[str, Any], permalink: str | None) -> ButtonPress:
    """The "Save as lesson" message shortcut, delivered as a button press with the message."""
    message = body.get("message") or {}
    channel = str((body.get("channel") or {}).get("id", ""))
    value = json.dumps({"text": str(message.get("text", ""))[:MAX_TEXT], "link": permalink or ""})
    thread = message.get("thread_ts") or message.get("ts")
    return ButtonPress(
        _who(body),
        where(channel, str(thread) if thread else None),
        str(body.get("callback_id", "lesson.save_message")),
        value,
    )


def metadata(text: str) -> dict[str, str]:
    """Read the context we put in a modal's private_metadata (tolerating anything)."""
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items() if isinstance(v, str)}


def _who(body: Mapping[str, Any]) -> UserRef:
    raw = body.get("user") or {}
    name = raw.get("name") or raw.get("username")
    return user(str(raw.get("id", "")), str(name) if name else None)


def _thread(event: Mapping[str, Any], *, own: bool = True) -> str | None:
    """The thread a message is in; an unthreaded channel message starts its own (own=True)."""
    thread = event.get("thread_ts") or (event.get("ts") if own else None)
    return str(thread) if thread else None


def values(view_state: dict[str, Any]) -> dict[str, str]:
    """Return `{input name: value}` from a view_submission's `view.state` or `view.state.values`.

    An empty input arrives as a null value and reads as ""; shapes that are not inputs are
    skipped, so an odd payload gives what can be read.
    """
    found: dict[str, str] = {}
    for actions in _state_values(view_state).values():
        if not isinstance(actions, dict):
            continue
        for action_id, state in actions.items():
            value = _input_value(state)
            if isinstance(action_id, str) and value is not None:
                found[action_id] = value
    return found


def _state_values(view_state: object) -> dict[Any, Any]:
    """Return `state.values` whether given the state or its values."""
    if not isinstance(view_state, dict):
        return {}
    inner = view_state.get("values")
    if isinstance(inner, dict) and not any(_is_input_state(state) for state in inner.values()):
        return inner
    return view_state


def _is_input_state(state: object) -> bool:
    return isinstance(state, dict) and ("value" in state or isinstance(state.get("type"), str))


def _input_value(state: object) -> str | None:
    if not isinstance(state, dict) or not _is_input_state(state):
        return None
    value = state.get("value")
    if isinstance(value, str):
        return value
    if value is None and ("value" in state or state.get("type") == "plain_text_input"):
        return ""
    return None
