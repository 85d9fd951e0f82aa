"""Teams speaks Teams: the help names commands as they are typed there, and each one works."""

from __future__ import annotations

import json
import re

import pytest

from handlers.chat import ConversationRef, Message, Text, UserRef
from handlers.help import as_typed, help_reply, help_text
from handlers.router import Deps, dispatch
from knowledge.storage import Store

TEAMS = UserRef("teams", "aad-unknown", "Someone")
HERE = ConversationRef("teams", "a:personal-aad-unknown")
SEARCHED = "closest lessons:"  # the heading of a search answer


def teams_commands() -> list[str]:
    """Every command the Teams help names, with example words for its placeholders."""
    found = re.findall(r"`([^`]+)`", help_text("teams"))
    filled = []
    for command in found:
        command = command.replace("<event>", "Election day").replace("<when it ends>", "17:00")
        command = command.replace("<lesson>", "1").replace("<why>", "duplicate")
        command = command.replace("<from> <to>", "20 Dec to 5 Jan").replace("[mission]", "")
        command = command.replace("[since 2026-01]", "").replace("@name", "@Amina Diallo")
        command = command.replace("boost|down|hide", "boost").replace("<topic>", "fuel")
        filled.append(" ".join(command.split()))
    return filled


def test_the_teams_help_names_no_slash_command_and_no_slack_only_feature() -> None:
    text = help_text("teams")
    assert "/lessons" not in text and "/aar" not in text and "/practice" not in text
    assert "Home tab" not in text and "Save as lesson" not in text
    assert "`new lesson`" in text
    assert "/lessons new" in help_text("slack")


@pytest.mark.parametrize("command", teams_commands())
async def test_every_command_the_teams_help_names_works_on_teams(
    demo_store: Store, command: str
) -> None:
    reply = await dispatch(Message(TEAMS, HERE, command), Deps(demo_store))
    said = (
        ""
        if reply is None
        else "\n".join(e.markdown for e in reply.elements if isinstance(e, Text))
    )
    assert SEARCHED not in said, f"`{command}` fell through to a search on Teams"


async def test_slash_lessons_typed_on_teams_is_the_command_not_a_search(demo_store: Store) -> None:
    reply = await dispatch(Message(TEAMS, HERE, "/lessons new"), Deps(demo_store))
    assert reply is not None and SEARCHED not in reply.fallback
    assert help_reply("teams").fallback == help_text("teams")


@pytest.mark.parametrize("command", ["home", "aar help", "practice help", "eoar help"])
async def test_no_card_teams_shows_names_a_slash_command(demo_store: Store, command: str) -> None:
    """Every text a Teams card shows names commands as typed on Teams (the home's AAR hint, the
    AAR help, errors…), wherever the handler wrote it Slack's way."""
    from bot.teams.render import card, fallback

    amina = UserRef("teams", "aad-amina", "Amina Diallo")
    await demo_store.link_user(
        "teams", "aad-amina", email="amina.diallo@un.example", name="Amina Diallo"
    )
    reply = await dispatch(Message(amina, HERE, command), Deps(demo_store))
    assert reply is not None
    shown = json.dumps(card(reply), ensure_ascii=False) + fallback(reply)
    assert not re.search(r"(?<![\w/.:-])/(lessons|aar|practice)\b", shown), shown
    assert "aar start" in shown or command != "home"


def test_slash_commands_read_as_typed_on_teams() -> None:
    assert as_typed("Type `/lessons new` or `/lessons report`.", "teams") == (
        "Type `new lesson` or `report`."
    )
    assert as_typed("/aar start Election day", "teams") == "aar start Election day"
    assert as_typed("`/lessons <question>`", "teams") == "`<question>`"
    assert as_typed("http://localhost:3000/lessons/5", "teams") == "http://localhost:3000/lessons/5"
    assert as_typed("/aar start", "slack") == "/aar start"
