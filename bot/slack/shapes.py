"""What a request to `/slack/events` must look like before Bolt sees it: else a 4xx, never a 500.

Bolt reads a request as Slack sends it — an integer `X-Slack-Request-Timestamp`, an ASCII
signature, a UTF-8 body, an `actions` list of objects, a `user` object with an id — and fails
on anything else with a 500, after its error handler has apologised to the user. Slack never
sends such a request, but anyone can send the headers, and whoever holds the signing secret any
body. These checks follow Slack's reference (request signing, the Events API, interactivity
payloads, slash commands) and refuse the rest before Bolt runs: `unsigned` for the signature's
headers (401), `malformed` for the body (400), parsed as Bolt will parse it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from typing import Any

from slack_bolt.request.internals import parse_body

Check = Callable[[Any], bool]

TIMESTAMP = re.compile(r"[0-9]{1,12}")  # seconds since 1970, as Slack sends them
SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")  # "v0=" + a hex HMAC-SHA256
# Body types Slack sends as JSON (Events API), and as a form's `payload` (interactivity).
JSON_TYPES = frozenset({"event_callback", "url_verification", "app_rate_limited"})
# What every slash command carries, and its listener needs (it answers through the URL).
COMMAND = ("command", "user_id", "channel_id", "response_url")
# Fields of an event that are always strings when present, whatever its kind.
EVENT_TEXT = ("text", "ts", "thread_ts", "event_ts", "channel_type", "subtype")


def unsigned(headers: Mapping[str, str]) -> str | None:
    """Return why a request's signature headers cannot be Slack's, or None when they can be.

    The signature verifier reads the timestamp with int() and compares the signature with
    `hmac.compare_digest`, which raise on `1e9` or non-ASCII text instead of refusing it.
    """
    getall = getattr(headers, "getall", None)
    for name, form in (("X-Slack-Request-Timestamp", TIMESTAMP), ("X-Slack-Signature", SIGNATURE)):
        values = getall(name, []) if getall else [v for v in (headers.get(name),) if v is not None]
        if len(values) != 1 or not form.fullmatch(values[0]):
            return f"{name} is missing, repeated or not Slack's"
    return None


def malformed(text: str, content_type: str | None) -> str | None:
    """Return why a correctly signed body cannot be a Slack request, or None when it can be.

    `content_type` is the header's media type as Bolt reads it (case and all): the body is
    parsed exactly as Bolt will parse it, by Bolt's own function.
    """
    try:
        body = parse_body(text, content_type)
    except (ValueError, RecursionError):  # json.loads raises RecursionError on deep nesting
        return "the body is not JSON"
    if not isinstance(body, dict):
        return "the body is not an object"
    if content_type == "application/json" or text.startswith("{"):
        return _typed(body, JSON_TYPES, "as JSON")
    if "payload" in text:  # Bolt's own test: the form's payload (or {}) is the body
        return _typed(body, frozenset(REQUIRED) - JSON_TYPES, "as a form's payload")
    if "ssl_check" in body:
        return None
    if "command" not in body:
        return "neither an event, a command nor an interaction"
    # A slash command's form: its fields are text, but Bolt reads some names as objects.
    missing = [k for k in COMMAND if not body.get(k)]
    wrong = missing + _wrong_fields(body)
    return f"the command's {', '.join(wrong)} cannot be what was sent" if wrong else None


def _typed(body: dict[str, Any], kinds: frozenset[str], how: str) -> str | None:
    """Return why a body of one of these types has the wrong shape (or another type)."""
    kind = body.get("type")
    if not isinstance(kind, str) or kind not in kinds:
        return f"Slack sends no body of type {str(kind)[:40]!r} {how}"
    wrong = [k for k, check in REQUIRED[kind].items() if not check(body.get(k))]
    wrong += _wrong_fields(body)
    return f"the body's {', '.join(wrong)} cannot be what was sent" if wrong else None


# Checks -------------------------------------------------------------------------------------


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _absent_or(check: Check) -> Check:
    return lambda value: value is None or check(value)


def _object(value: Any) -> bool:
    return isinstance(value, dict)


def _with_id(value: Any) -> bool:
    """Who pressed or submitted: an object with a (non-empty) id."""
    return (
        isinstance(value, dict)
        and _text(value.get("id"))
        and bool(value["id"])
        and _fields_ok(value)
    )


def _id_or_object(value: Any) -> bool:
    """A user, channel or team: an id, or an object whose id (if any) is text."""
    return isinstance(value, str) or (
        isinstance(value, dict) and isinstance(value.get("id", ""), str)
    )


def _objects(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def _actions(value: Any) -> bool:
    """block_actions: one or more actions, each with an action_id and text fields."""
    return (
        _objects(value)
        and bool(value)
        and all(_text(a.get("action_id")) and _fields_ok(a, ACTION) for a in value)
    )


def _state(value: Any) -> bool:
    """A view's state: {"values": {block_id: {action_id: {...}}}}."""
    values = value.get("values", {}) if isinstance(value, dict) else None
    return isinstance(values, dict) and all(
        isinstance(block, dict) and all(isinstance(v, dict) for v in block.values())
        for block in values.values()
    )


def _view(value: Any) -> bool:
    """A submitted or closed modal: its callback_id says which."""
    return isinstance(value, dict) and _text(value.get("callback_id")) and _fields_ok(value, VIEW)


def _event(value: Any) -> bool:
    if not isinstance(value, dict) or not _text(value.get("type")):
        return False
    return all(isinstance(value[k], str) for k in EVENT_TEXT if k in value)


def _response_urls(value: Any) -> bool:
    return _objects(value) and all(_text(item.get("response_url")) for item in value)


# Fields Bolt and the listeners read wherever they are: in the body, its event, the event's
# message, an authorization… (absent is always fine).
ANYWHERE: dict[str, Check] = {
    **dict.fromkeys(
        ("type", "token", "api_app_id", "trigger_id", "response_url", "callback_id"), _text
    ),
    **dict.fromkeys(("user_id", "channel_id", "thread_ts", "event_id", "action_id"), _text),
    **dict.fromkeys(("team_id", "enterprise_id", "bot_access_token"), _absent_or(_text)),
    **dict.fromkeys(("user", "channel", "team", "enterprise"), _absent_or(_id_or_object)),
    **dict.fromkeys(("message", "previous_message", "item", "assistant_thread"), _object),
    **dict.fromkeys(("container", "function_data"), _object),
    "view": lambda value: isinstance(value, dict) and _fields_ok(value, VIEW),
    "event": _event,
    "authorizations": _objects,
    "response_urls": _response_urls,
}
NESTED = ("event", "message", "previous_message", "item", "assistant_thread")
ACTION: dict[str, Check] = {
    **dict.fromkeys(("block_id", "value", "type", "action_ts"), _text),
    "selected_option": _absent_or(_object),
}
VIEW: dict[str, Check] = {
    **dict.fromkeys(("id", "hash", "private_metadata", "type", "team_id", "callback_id"), _text),
    "app_installed_team_id": _absent_or(_text),
    "state": _state,
}
INTERACTIVE: dict[str, Check] = {
    "user": _with_id,
    **dict.fromkeys(("channel", "container", "message"), _absent_or(_object)),
    "team": _absent_or(_object),
}
REQUIRED: dict[str, dict[str, Check]] = {
    "event_callback": {"event": _event},
    "url_verification": {"challenge": _text},
    "app_rate_limited": {},
    "block_actions": {**INTERACTIVE, "actions": _actions},
    "view_submission": {**INTERACTIVE, "view": _view},
    "view_closed": {**INTERACTIVE, "view": _view},
    "shortcut": {**INTERACTIVE, "callback_id": _text},
    "message_action": {**INTERACTIVE, "callback_id": _text},
    "block_suggestion": {**INTERACTIVE, "action_id": _text},
}


def _fields_ok(part: dict[str, Any], checks: Mapping[str, Check] = ANYWHERE) -> bool:
    return all(check(part[k]) for k, check in checks.items() if k in part)


def _wrong_fields(body: dict[str, Any], depth: int = 0) -> list[str]:
    """Return the fields of a body (and of its event, message…) that have the wrong shape."""
    wrong = [k for k, check in ANYWHERE.items() if k in body and not check(body[k])]
    if depth < 3:
        for key in NESTED:
            if isinstance(body.get(key), dict):
                wrong += [f"{key}.{k}" for k in _wrong_fields(body[key], depth + 1)]
        found = body.get("authorizations")
        for item in found if isinstance(found, list) else ():
            if isinstance(item, dict):
                wrong += [f"authorizations.{k}" for k in _wrong_fields(item, depth + 1)]
    return wrong


def inbox_key(text: str, content_type: str | None) -> str | None:
    """Return the key a checked request is kept under in the inbox (None: nothing to keep).

    Slack's own id for it: an event's `event_id` (the same on every redelivery), a slash
    command's or interaction's `trigger_id` (the same when the same request is sent again);
    an interaction without one is known by its body's digest.
    """
    try:
        body = parse_body(text, content_type)
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict):
        return None
    kind = body.get("type")
    if kind == "event_callback":
        event_id = body.get("event_id")
        return f"ev:{event_id}" if isinstance(event_id, str) and event_id else _digest(text)
    if kind in JSON_TYPES or "ssl_check" in body:
        return None  # url_verification and the like: answered at once, nothing to do after
    trigger = body.get("trigger_id")
    if isinstance(trigger, str) and trigger:
        return f"tr:{trigger}"
    return _digest(text)


def _digest(text: str) -> str:
    return "sha:" + hashlib.sha256(text.encode()).hexdigest()
