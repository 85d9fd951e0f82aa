"""Teams speaks Teams: the help names commands as they are typed there, and each one works."""

from __future__ import annotations

import re

import pytest

from handlers.chat import ConversationRef, Message, Text, UserRef
from handlers.deps import Deps
from handlers.help import help_reply, help_text
from handlers.router import dispatch
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
