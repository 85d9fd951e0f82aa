"""`lessons votes report|undo|restore`: what askers' votes do in search, from the shell."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from conftest import run_cli as run
from sqlalchemy import select

from knowledge.audit import Audit
from knowledge.models import Lesson, Product
from knowledge.search.answer import Viewer
from knowledge.storage import Store

FARIDA, AMINA = "farida.rahimi@un.example", "amina.diallo@un.example"


def test_the_votes_report_undo_and_restore_from_the_shell(
    shell: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "votes", "report")[1] == "No votes move any lesson in search.\n"
    with shell.session() as s:
        lesson = s.scalars(
            select(Lesson.id).join(Product).where(Product.title.startswith("Lessons Learned"))
        ).first()
    assert lesson is not None

    async def vote() -> None:
        asked = await shell.log_question("elections", person_id=None, platform="cli", hits=1)
        for n in range(2):
            await shell.record_feedback(
                lesson, viewer=Viewer(None), question_id=asked, helpful=False, guest=f"g:{n}"
            )

    shell.clock = lambda: datetime.now(UTC)  # the command line's store reads the real clock
    asyncio.run(vote())
    code, out, _ = run(capsys, "votes", "report", "--json")
    [move] = json.loads(out)
    assert (move["lesson_id"], move["not_helpful"], move["factor"]) == (
        lesson,
        2,
        pytest.approx(0.9, abs=1e-3),
    )
    assert f"#{lesson} -10 % for “elect”: 👍 0 👎 2" in run(capsys, "votes", "report")[1]

    code, _, err = run(capsys, "votes", "undo", str(lesson), "--by", AMINA)
    assert code == 2 and "Only a PBPO" in err
    code, out, _ = run(capsys, "votes", "undo", str(lesson), "--by", FARIDA, "--why", "test")
    assert code == 0 and "2 vote(s) no longer count for every kind of question" in out
    assert f"lessons votes restore {lesson}" in out
    assert "Undone: #" in run(capsys, "votes", "report")[1]
    code, out, _ = run(capsys, "votes", "restore", str(lesson), "--by", FARIDA)
    assert code == 0 and "2 vote(s) count again" in out
    events = asyncio.run(Audit(shell).events())
    assert [(e.operation, e.surface) for e in events if "vote" in e.operation] == [
        ("undo_vote_effect", "cli"), ("restore_vote_effect", "cli")
    ]  # fmt: skip
