"""`lessons roles` and `lessons audit`: roles from the shell, and the audit trail shown and
exported, on both databases."""

from __future__ import annotations

import asyncio
import csv
import io
import json

import pytest
from conftest import run_cli as run

from knowledge.models import LessonStatus
from knowledge.storage import Store


def test_roles_are_granted_revoked_and_listed(
    shell: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    email = "tomas.herrera@un.example"
    assert run(capsys, "roles", "grant", email, "PBPO", "--scope", "minusca") == (
        0,
        "pbpo (MINUSCA) granted to Tomás Herrera: now pbpo (MINUSCA), staff.\n",
        "",
    )
    assert run(capsys, "roles", "grant", email, "pbpo", "--scope", "MINUSCA")[1] == (
        "pbpo (MINUSCA) already held by Tomás Herrera: now pbpo (MINUSCA), staff.\n"
    )
    assert run(capsys, "roles", "list", email)[1] == (
        "Tomás Herrera <tomas.herrera@un.example>: pbpo (MINUSCA), staff\n"
    )
    listed = run(capsys, "roles", "list")[1].splitlines()
    assert "Farida Rahimi <farida.rahimi@un.example>: pbpo" in listed
    assert run(capsys, "roles", "revoke", email, "pbpo", "--scope", "MINUSCA")[1] == (
        "pbpo (MINUSCA) revoked from Tomás Herrera: now staff.\n"
    )

    code, out, err = run(capsys, "roles", "grant", "nobody@un.example", "pbpo")
    assert (code, out, err) == (
        2,
        "",
        "lessons: Nobody with the email nobody@un.example is in the staff directory.\n",
    )
    assert run(capsys, "roles", "grant", email, "chief")[2].startswith(
        "lessons: 'chief' is not a role. The roles are staff, manager, pbpo"
    )
    assert run(capsys, "roles", "revoke", "chen.wei@un.example", "admin")[2] == (
        "lessons: Chen Wei is the last admin: grant admin to someone else first.\n"
    )


def test_the_audit_is_shown_and_exported(shell: Store, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "roles", "grant", "tomas.herrera@un.example", "manager")
    farida = asyncio.run(shell.person_for("local", "farida.rahimi@un.example"))
    lesson_id = 1
    asyncio.run(
        shell.move_lesson(lesson_id, LessonStatus.WITHDRAWN, actor_id=farida, note="duplicate")
    )

    code, table, _ = run(capsys, "audit")
    assert code == 0
    first, second = table.splitlines()
    assert "(command line)" in first and "grant_role" in first
    assert "roles: staff → manager, staff" in first
    assert "Farida Rahimi" in second and f"lesson:{lesson_id}" in second
    assert "“duplicate”" in second

    rows = json.loads(
        run(capsys, "audit", "--subject", f"lesson:{lesson_id}", "--format", "json")[1]
    )
    assert [(r["operation"], r["person"], r["note"]) for r in rows] == [
        ("withdraw_lesson", "Farida Rahimi", "duplicate")
    ]
    assert rows[0]["after"]["status"] == "withdrawn"
    exported = list(csv.DictReader(io.StringIO(run(capsys, "audit", "--format", "csv")[1])))
    assert [r["operation"] for r in exported] == ["grant_role", "withdraw_lesson"]
    assert json.loads(exported[0]["after"]) == {"roles": ["manager", "staff"]}
    assert exported[0]["surface"] == "cli" and exported[0]["person"] == ""
    assert run(capsys, "audit", "--since", "2999-01-01")[1] == "No changes recorded.\n"
    assert run(capsys, "audit", "--limit", "1", "--format", "json")[1].count('"id"') == 1
    assert run(capsys, "audit", "--since", "yesterday")[0] == 2
    assert run(capsys, "audit", "--subject", "lesson")[2].startswith("lessons: A subject is")
