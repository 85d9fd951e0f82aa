"""Teams activities (wire JSON) → the neutral `Incoming` types: pure, tolerant of odd payloads.

Who: a Teams user is known by their Entra object id (`from.aadObjectId`, the id people are
linked by), else by their Teams id. Where: a channel is its conversation id without
`;messageid=…`, and a thread is that root message id; personal and group chats have no threads.
Only a personal chat has no channel name: answers elsewhere are seen by everyone there.

The bot's own `<at>…</at>` mention is taken out of the text; other people's stay, so that
"aar start Election day with <at>Tomás Herrera</at>" still names Tomás.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from handlers.chat import (
    ButtonPress,
    ConversationRef,
    Deletion,
    Edit,
    FormSubmit,
    Incoming,
    Message,
    UserRef,
)

PLATFORM = "teams"
MAX_TEXT = 40_000
KIND = "lessons.kind"  # card action data: "button" or "form"
VALUE = "lessons.value"  # a button's value
ACTION = "lessons.action"  # the action or form id (Action.Submit carries no verb)
_THREAD = re.compile(r";messageid=(\d+)$")
_UNCLEAN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_SPACES = re.compile(r"[ \t\u00a0]+")
_TAG = re.compile(r"</?(?:p|div|span|br|b|i|em|strong)\b[^>]*>", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Query:
    """A search from the compose box (the message extension)."""

    who: UserRef
    where: ConversationRef
    text: str
    skip: int = 0
    count: int = 10


def user(activity: Mapping[str, Any]) -> UserRef:
    """Return who sent an activity (their Entra object id when Teams gives it)."""
    sender = _dict(activity.get("from"))
    aad = _str(sender.get("aadObjectId"))
    teams_id = _str(sender.get("id"))
    bot = sender.get("role") == "bot" or teams_id.startswith("28:")
    return UserRef(PLATFORM, aad or teams_id, clean(_str(sender.get("name"))) or None, bot=bot)


def kind(activity: Mapping[str, Any]) -> str:
    """Return the conversation type: personal, groupChat or channel."""
    conversation = _dict(activity.get("conversation"))
    found = _str(conversation.get("conversationType"))
    if found in ("personal", "groupChat", "channel"):
        return found
    return "groupChat" if conversation.get("isGroup") else "personal"


def base_id(conversation_id: str) -> str:
    """Return a conversation id without its thread (`;messageid=…`)."""
    return _THREAD.sub("", conversation_id)


def where(activity: Mapping[str, Any]) -> ConversationRef:
    """Return the conversation (and thread) an activity came from."""
    conversation = _dict(activity.get("conversation"))
    full = _str(conversation.get("id"))
    thread = _THREAD.search(full)
    conversation_kind = kind(activity)
    name: str | None = None
    if conversation_kind == "channel":
        channel = _dict(_dict(activity.get("channelData")).get("channel"))
        name = _str(channel.get("name")) or base_id(full)
    elif conversation_kind == "groupChat":
        name = _str(conversation.get("name")) or full
    return ConversationRef(
        PLATFORM, base_id(full), thread.group(1) if thread else None, channel_name=name
    )


def conversation_id(where: ConversationRef) -> str:
    """Return the Teams conversation id of a neutral conversation (a thread is its root's)."""
    if where.thread_id and not _THREAD.search(where.channel_id):
        return f"{where.channel_id};messageid={where.thread_id}"
    return where.channel_id


def mentions_bot(activity: Mapping[str, Any]) -> bool:
    """Return True when the activity @mentions the bot (its recipient)."""
    bot = _str(_dict(activity.get("recipient")).get("id"))
    return bool(bot) and any(_mentioned(e) == bot for e in _entities(activity))


def text_of(activity: Mapping[str, Any]) -> str:
    """Return the text without the bot's mention, unescaped, within the size limit."""
    text = _str(activity.get("text"))[: MAX_TEXT * 2]
    bot = _str(_dict(activity.get("recipient")).get("id"))
    for entity in _entities(activity):
        said = _str(entity.get("text"))
        if said and _mentioned(entity) == bot:
            text = text.replace(said, " ")
    text = _TAG.sub(" ", text) if "<" in text else text
    return clean(_SPACES.sub(" ", html.unescape(text))).strip()[:MAX_TEXT]


def clean(text: str) -> str:
    """Return text without control characters, a lone surrogate (bad UTF-16) as U+FFFD."""
    if _UNCLEAN.search(text) is None:
        return text
    return _UNCLEAN.sub(lambda m: "\ufffd" if m.group() >= "\ud800" else "", text)


def message(activity: Mapping[str, Any]) -> Incoming | None:
    """A message: typed (a Message) or a card's Action.Submit (a ButtonPress or FormSubmit)."""
    who, here = user(activity), where(activity)
    value = activity.get("value")
    if isinstance(value, Mapping) and not _str(activity.get("text")).strip():
        return card_action(who, here, None, value)
    text = text_of(activity)
    if not text:
        return None
    personal = kind(activity) == "personal"
    return Message(
        who,
        here,
        text,
        direct=personal or mentions_bot(activity),
        message_id=_str(activity.get("id")) or None,
    )


def card_action(
    who: UserRef, here: ConversationRef, verb: str | None, data: Mapping[str, Any]
) -> ButtonPress | FormSubmit | None:
    """Return the click on one of our cards (Action.Execute or Action.Submit), else None."""
    action = verb or _str(data.get(ACTION))
    if not action:
        return None
    match data.get(KIND):
        case "button":
            # The value as sent: the router refuses one with control characters outright.
            return ButtonPress(who, here, clean(action), _str(data.get(VALUE))[:MAX_TEXT])
        case "form":
            values = {
                str(k): clean(_str(v))[:MAX_TEXT]
                for k, v in data.items()
                if not str(k).startswith("lessons.") and isinstance(v, str | int | float)
            }
            return FormSubmit(who, here, clean(action), values)
    return None


def execute(activity: Mapping[str, Any]) -> ButtonPress | FormSubmit | None:
    """An Action.Execute (an `adaptiveCard/action` invoke) on one of our cards."""
    action = _dict(_dict(activity.get("value")).get("action"))
    if action.get("type") != "Action.Execute":
        return None
    return card_action(
        user(activity), where(activity), _str(action.get("verb")), _dict(action.get("data"))
    )


def edit(activity: Mapping[str, Any]) -> Edit | None:
    """A message its author changed (`messageUpdate`)."""
    if not _str(activity.get("id")):
        return None
    return Edit(user(activity), where(activity), _str(activity["id"]), text_of(activity))


def deletion(activity: Mapping[str, Any]) -> Deletion | None:
    """A message its author deleted (`messageDelete`)."""
    if not _str(activity.get("id")):
        return None
    return Deletion(user(activity), where(activity), _str(activity["id"]))


def query(activity: Mapping[str, Any]) -> Query:
    """A compose-box search (`composeExtension/query`); an empty text on first opening."""
    value = _dict(activity.get("value"))
    text = ""
    for parameter in value.get("parameters") or []:
        parameter = _dict(parameter)
        if parameter.get("name") != "initialRun":
            text = _str(parameter.get("value"))
            break
    options = _dict(value.get("queryOptions"))
    return Query(
        user(activity),
        where(activity),
        clean(" ".join(text.split()))[:2000],
        skip=_count(options.get("skip"), 0, 1000),
        count=_count(options.get("count"), 10, 25) or 10,
    )


def _entities(activity: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    entities = activity.get("entities")
    if not isinstance(entities, list):
        return []
    return [e for e in entities if isinstance(e, Mapping) and e.get("type") == "mention"]


def _mentioned(entity: Mapping[str, Any]) -> str:
    return _str(_dict(entity.get("mentioned")).get("id"))


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: object) -> str:
    if isinstance(value, str):
        return value
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else ""


def _count(value: object, default: int, limit: int) -> int:
    return (
        max(0, min(value, limit))
        if isinstance(value, int) and not isinstance(value, bool)
        else default
    )
