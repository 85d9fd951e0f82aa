"""`lessons action add` / `list`: actions on a validated lesson from the shell, with names and
dates in words, the same rules as in chat, and the owner's proposal waiting on their home."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from conftest import run_cli as run
from test_validation_cli import AIR, FARIDA, identified

from handlers.chat import Button, UserRef
from handlers.home import home
from handlers.reviews.cards import AarButton
from handlers.router import Deps
from knowledge.audit import Audit
from knowledge.storage import Store

TOMAS = "tomas.herrera@un.example"


def test_a_pbpo_adds_an_action_by_name_and_date_in_words(
    shell: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    lesson, *_ = identified(shell, AIR)
    code, _, err = run(
        capsys,
        "action",
        "add",
        str(lesson),
        "--owner",
        "Tomás Herrera",
        "--due",
        "in 3 weeks",
        "--by",
        FARIDA,
    )
    assert code == 2 and "cannot take actions until it is validated" in err

    assert run(capsys, "lesson", "validate", str(lesson), "--by", FARIDA)[0] == 0
    code, out, err = run(
        capsys,
        "action",
        "add",
        str(lesson),
        "--owner",
        "Tomaz Herera",
        "--due",
        "in 3 weeks",
        "--by",
        FARIDA,
    )
    assert code == 2 and "--owner: " in err and "Did you mean Tomás Herrera" in err
    code, out, err = run(
        capsys, "action", "add", str(lesson), "--owner", "tomas", "--due", "someday", "--by", FARIDA
    )
    assert code == 2 and "--due: I couldn't read 'someday'" in err

    code, out, err = run(
        capsys,
        "action",
        "add",
        str(lesson),
        "--owner",
        "Tomás Herrera",
        "--due",
        "in 3 weeks",
        "--by",
        FARIDA,
        "--description",
        "Publish the air retrieval checklist",
    )
    due = datetime.now(UTC).date() + timedelta(weeks=3)  # the shell's own clock
    assert (code, err) == (0, "")
    assert out.startswith(f"Proposed to Tomás Herrera, due {due.isoformat()}")

    code, out, _ = run(capsys, "action", "list", str(lesson), "--by", FARIDA)
    assert code == 0 and "[proposed] Publish the air retrieval checklist — Tomás Herrera" in out
    events = asyncio.run(Audit(shell).events())
    assert ("propose_action", "cli") in [(e.operation, e.surface) for e in events]

    reply = asyncio.run(home(UserRef("local", TOMAS), Deps(shell)))
    accept = [e for e in reply.elements if isinstance(e, Button) and e.action == AarButton.ACCEPT]
    assert accept and accept[0].label.startswith("Accept #")
