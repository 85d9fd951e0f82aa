"""`lessons practice`: promote, list, unpromote, curate and flag priorities from the shell, on
both databases, with the same rules as in chat and an audit trail from the surface "cli"."""

from __future__ import annotations

import asyncio
import json

import pytest
from conftest import run_cli as run
from sqlalchemy import select

from knowledge.audit import Audit
from knowledge.models import Lesson, Product
from knowledge.storage import Store

FARIDA, AMINA = "farida.rahimi@un.example", "amina.diallo@un.example"


def lesson(store: Store, title: str) -> str:
    with store.session() as s:
        found = s.scalars(
            select(Lesson.id)
            .join(Product)
            .where(Product.title.startswith(title), Lesson.status.in_(["validated", "applied"]))
            .order_by(Lesson.position)
        ).first()
    return str(found)


def test_a_pbpo_promotes_lists_and_unpromotes_from_the_shell(
    shell: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    cvr = lesson(shell, "Lessons Learned Study: Community Violence Reduction")
    code, out, err = run(
        capsys, "practice", "promote", cvr, "--by", FARIDA, "--why", "Cut reprisals",
        "--review", "2027-06-30",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert out.startswith(f"Promoted lesson #{cvr}: ★ good practice")
    assert "review by 2027-06-30, by Farida Rahimi" in out

    code, out, _ = run(capsys, "practice", "list", "--format", "json")
    [listed] = json.loads(out)
    assert (listed["lesson"], listed["why"], listed["audience"]) == (
        int(cvr),
        "Cut reprisals",
        "everyone",
    )

    code, _, err = run(capsys, "practice", "promote", cvr, "--by", AMINA, "--why", "mine")
    assert code == 2 and "Only a PBPO of MINUSCA or an admin" in err
    code, out, _ = run(capsys, "practice", "unpromote", cvr, "--by", FARIDA, "--why", "old")
    assert code == 0 and "no longer a good practice" in out
    assert run(capsys, "practice", "list")[1] == "No good practices yet.\n"
    events = asyncio.run(Audit(shell).events())
    assert [(e.operation, e.surface) for e in events][-2:] == [
        ("promote_practice", "cli"), ("unpromote_practice", "cli")
    ]  # fmt: skip


def test_restricted_practices_are_listed_with_their_audience(
    shell: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    eoar = lesson(shell, "End of Assignment Report: Senior Political Affairs Officer")
    by = ("--by", "hiroshi.tanaka@un.example", "--why", "Mediate early")
    code, _, err = run(capsys, "practice", "promote", eoar, *by)
    assert code == 2 and "restricted" in err
    code, out, _ = run(capsys, "practice", "promote", eoar, *by, "--audience", "group:pbpo")
    assert code == 0 and "restricted to group:pbpo" in out


def test_curation_and_priorities_from_the_shell(
    shell: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    cvr = lesson(shell, "Lessons Learned Study: Community Violence Reduction")
    code, out, _ = run(capsys, "practice", "rank", cvr, "hide", "--by", FARIDA, "--why", "dated")
    assert code == 0 and out.startswith(f"Lesson #{cvr} is now hidden in search")
    code, _, err = run(capsys, "practice", "rank", cvr, "sideways", "--by", FARIDA)
    assert code == 2 and "boost" in err
    kwame = "kwame.asante@un.example"
    code, out, _ = run(capsys, "practice", "priority", cvr, "--by", kwame, "--why", "season")
    assert code == 0 and "is now a priority" in out
    code, out, _ = run(capsys, "practice", "priorities", "--mission", "MINUSCA")
    assert f"#{cvr}  MINUSCA" in out and "(season)" in out
    assert (
        run(capsys, "practice", "priorities", "--mission", "UNMISS")[1] == "No priority lessons.\n"
    )
    code, out, _ = run(capsys, "practice", "priority", cvr, "--by", kwame, "--off")
    assert "is now not a priority" in out
