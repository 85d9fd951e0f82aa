"""manifest.yaml: valid against Slack's official schema, and in step with the listeners."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import shared_dir
from jsonschema import Draft7Validator
from referencing import Registry, Resource

from bot.slack.listeners import COMMANDS, EVENTS, SHORTCUTS
from handlers.router import BUTTONS

MANIFEST = Path(__file__).resolve().parents[3] / "manifest.yaml"
SCHEMAS = shared_dir() / "schemas" / "slack" / "manifest-schema"
REMOTE = "https://raw.githubusercontent.com/slackapi/manifest-schema/v0.5.0/schemas/"

# What each subscription or call needs, and nothing more (least privilege).
SCOPES_FOR = {
    "app_mention": "app_mentions:read",
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "message.im": "im:history",
    "commands": "commands",
    "chat.postMessage": "chat:write",
    "conversations.open": "im:write",
    "users.info": "users:read",
    "users.info email": "users:read.email",
    # conversations.info: a channel's name decides which restricted lessons answers there show
    "conversations.info public": "channels:read",
    "conversations.info private": "groups:read",
    "link_shared": "links:read",  # a link to a lesson page was posted
    "chat.unfurl": "links:write",  # …and unfurls into the lesson's card
}


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    return data


def validator() -> Draft7Validator:
    if not SCHEMAS.is_dir():
        pytest.skip(f"Slack's manifest schema is not at {SCHEMAS} (set LESSONS_SHARED_DIR)")
    registry: Registry[Any] = Registry()
    for path in (SCHEMAS / "schemas").glob("*.json"):
        resource = Resource.from_contents(json.loads(path.read_text(encoding="utf-8")))
        registry = registry.with_resource(REMOTE + path.name, resource)
    schema = json.loads((SCHEMAS / "manifest.schema.json").read_text(encoding="utf-8"))
    return Draft7Validator(schema, registry=registry)


def test_the_manifest_is_valid_for_slack() -> None:
    errors = sorted(validator().iter_errors(manifest()), key=str)
    assert not errors, "\n".join(e.message for e in errors)


def test_the_schema_check_can_fail() -> None:
    broken = manifest()
    broken["features"]["slash_commands"][0]["command"] = "lessons"  # no slash
    del broken["display_information"]["name"]
    assert list(validator().iter_errors(broken))


def test_commands_shortcuts_and_events_match_the_listeners() -> None:
    data = manifest()
    commands = {c["command"] for c in data["features"]["slash_commands"]}
    shortcuts = {s["callback_id"] for s in data["features"]["shortcuts"]}
    events = {e.split(".")[0] for e in data["settings"]["event_subscriptions"]["bot_events"]}

    assert commands == set(COMMANDS)
    assert shortcuts == set(SHORTCUTS)
    assert events == set(EVENTS)
    # A shortcut arrives at the router as a button press: its prefix must be routed.
    assert all(s.partition(".")[0] in BUTTONS for s in shortcuts)


def test_scopes_are_exactly_what_the_bot_uses() -> None:
    data = manifest()
    events = data["settings"]["event_subscriptions"]["bot_events"]
    no_scope = {"app_home_opened", "app_uninstalled", "tokens_revoked"}
    needed = {SCOPES_FOR[e] for e in events if e not in no_scope}
    needed |= {
        SCOPES_FOR[m] for m in ("commands", "chat.postMessage", "conversations.open", "chat.unfurl")
    }
    needed |= {SCOPES_FOR["users.info"], SCOPES_FOR["users.info email"]}
    needed |= {SCOPES_FOR["conversations.info public"], SCOPES_FOR["conversations.info private"]}
    assert set(data["oauth_config"]["scopes"]["bot"]) == needed


def test_every_url_is_the_one_slack_route() -> None:
    data = manifest()
    urls = {c["url"] for c in data["features"]["slash_commands"]}
    urls |= {data["settings"]["event_subscriptions"]["request_url"]}
    urls |= {data["settings"]["interactivity"]["request_url"]}
    assert {u.split("/", 3)[3] for u in urls} == {"slack/events"}
    assert data["features"]["app_home"]["home_tab_enabled"] is True
    # Lesson pages unfurl only on the bot's own host (the one its URLs name).
    assert data["features"]["unfurl_domains"] == ["lessons.example.org"]
