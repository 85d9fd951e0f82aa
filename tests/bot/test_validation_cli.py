"""`lessons lesson`: what awaits validation, validate, request changes, reject and withdraw
from the shell, on both databases, with the same rules as in chat and an audit trail from the
surface "cli"."""

from __future__ import annotations

import asyncio
import json

import pytest
from conftest import run_cli as run
from sqlalchemy import select

from bot.cli import main
from knowledge.audit import Audit
from knowledge.models import Lesson, LessonStatus, Product
from knowledge.storage import Store

FARIDA, AMINA = "farida.rahimi@un.example", "amina.diallo@un.example"
AIR = "AAR: Air retrieval of results"


def identified(store: Store, title: str) -> list[int]:
    with store.session() as s:
        return list(
            s.scalars(
                select(Lesson.id)
                .join(Product)
                .where(Product.title.startswith(title), Lesson.status == LessonStatus.IDENTIFIED)
                .order_by(Lesson.position)
            )
        )


def status(store: Store, lesson: int) -> LessonStatus:
    with store.session() as s:
        found = s.get(Lesson, lesson)
        assert found is not None
        return found.status


def test_a_pbpo_sees_what_awaits_her_and_decides_from_the_shell(
    shell: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    first, *_ = identified(shell, AIR)
    code, out, err = run(capsys, "lesson", "awaiting", "--as", FARIDA, "--format", "json")
    assert (code, err) == (0, "")
    waiting = json.loads(out)
    assert first in [w["lesson"] for w in waiting["lessons"]]
    assert waiting["total"] >= len(waiting["lessons"]) > 1

    code, out, err = run(capsys, "lesson", "validate", str(first), "--by", FARIDA)
    assert (code, err) == (0, "")
    assert out.startswith(f"Lesson #{first} validated by Farida Rahimi: ")
    assert status(shell, first) == LessonStatus.VALIDATED
    code, out, _ = run(capsys, "lesson", "awaiting", "--as", FARIDA)
    assert code == 0 and f"#{first} " not in out

    code, _, err = run(capsys, "lesson", "validate", str(first), "--by", FARIDA)
    assert code == 2 and "validated already, so nothing changed" in err

    code, out, _ = run(capsys, "lesson", "withdraw", str(first), "--by", FARIDA, "--why", "dup")
    assert code == 0 and "withdrawn by Farida Rahimi" in out
    assert status(shell, first) == LessonStatus.WITHDRAWN
    events = asyncio.run(Audit(shell).events())
    assert [(e.operation, e.surface) for e in events][-2:] == [
        ("validate_lesson", "cli"), ("withdraw_lesson", "cli")
    ]  # fmt: skip


def test_changes_need_a_note_and_rejections_a_reason(
    shell: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    lessons = identified(shell, AIR)
    with pytest.raises(SystemExit):
        main(["lesson", "changes", str(lessons[0]), "--by", FARIDA])
    with pytest.raises(SystemExit):
        main(["lesson", "reject", str(lessons[0]), "--by", FARIDA])
    capsys.readouterr()

    code, out, _ = run(
        capsys, "lesson", "changes", str(lessons[0]), "--by", FARIDA, "--note", "Add the dates"
    )
    assert code == 0 and "sent back to its author for changes" in out
    assert status(shell, lessons[0]) == LessonStatus.IDENTIFIED
    last = lessons[-1]
    code, out, _ = run(capsys, "lesson", "reject", str(last), "--by", FARIDA, "--why", "Hearsay")
    assert code == 0 and "rejected by Farida Rahimi" in out
    assert status(shell, last) == LessonStatus.REJECTED


def test_a_refusal_says_who_can_and_changes_nothing(
    shell: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    first, *_ = identified(shell, AIR)
    code, out, err = run(capsys, "lesson", "validate", str(first), "--by", AMINA)
    assert code == 2 and out == ""
    assert "can't validate this lesson: it is your own" in err
    assert status(shell, first) == LessonStatus.IDENTIFIED

    code, out, _ = run(capsys, "lesson", "awaiting", "--as", AMINA)
    assert code == 0 and "validates no lessons" in out

    code, _, err = run(capsys, "lesson", "validate", "99999999", "--by", FARIDA)
    assert code == 2 and "Traceback" not in err and err.strip()
    code, _, err = run(capsys, "lesson", "validate", str(first), "--by", "nobody@un.example")
    assert code == 2 and "Nobody with the email nobody@un.example" in err
