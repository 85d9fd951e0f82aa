"""`lessons report` and `lessons who`: the learning report and experts from the shell, on both
databases."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

import pytest
from conftest import run_cli as run
from sqlalchemy import select

from knowledge.models import Product, Role
from knowledge.roles import Roles
from knowledge.storage import Store

AMINA = "amina.diallo@un.example"


def restricted_titles(store: Store) -> list[str]:
    """Return the titles of the demo's restricted products."""
    with store.session() as s:
        return list(s.scalars(select(Product.title).where(Product.audience.any())))


def test_the_report_prints_markdown_csv_and_json(
    shell: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    code, md, err = run(capsys, "report", "--mission", "MINUSCA")
    assert (code, err) == (0, "")
    assert md.startswith("# Learning report: MINUSCA\n")
    for heading in ("## Lessons", "### By owner", "## Usefulness", "## Questions without"):
        assert heading in md
    code, out, _ = run(capsys, "report", "--format", "csv", "--since", "2020")
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["section", "item", "mission", "figure", "value", "detail"]
    assert rows[1][:4] == ["lessons", "captured", "", "lessons"]
    code, out, _ = run(capsys, "report", "--format", "json", "--since", "2020-01-01")
    data = json.loads(out)
    assert (data["since"], data["scope"]) == ("2020-01-01", "every mission")
    assert data["lessons"]["captured"] > 0
    secrets = restricted_titles(shell)
    assert secrets and not any(t in md or t in out for t in secrets)  # open lessons only


def test_report_as_a_person_uses_their_scope_or_says_who_can(
    shell: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "report", "--as", AMINA)
    assert (code, out) == (2, "")
    assert err == (
        "lessons: Only a manager, PBPO or mission leader for every mission, or an admin can "
        "export reports.\n"
    )
    amina = asyncio.run(shell.person_by_email(AMINA))
    assert amina is not None
    asyncio.run(
        Roles(shell).grant(
            amina.id, Role.PBPO, scope="MINUSCA", actor_id=None, surface="cli", checked=False
        )
    )
    code, out, err = run(capsys, "report", "--as", AMINA, "--format", "json")
    assert (code, err) == (0, "")
    assert json.loads(out)["scope"] == "MINUSCA"
    code, _, err = run(capsys, "report", "--as", AMINA, "--mission", "UNMISS")
    assert code == 2 and "of UNMISS, or an admin can export reports" in err


def test_a_bad_date_or_email_is_a_clear_error_and_output_goes_to_a_file(
    shell: Store, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run(capsys, "report", "--since", "last tuesday") == (
        2,
        "",
        "lessons: 'last tuesday' is not a date: use a day like 2026-01-15, a month like 2026-01 "
        "or a year like 2026.\n",
    )
    code, _, err = run(capsys, "report", "--as", "nobody@un.example")
    assert (code, err) == (
        2,
        "lessons: Nobody with the email nobody@un.example is in the staff directory.\n",
    )
    target = tmp_path / "report.csv"
    assert run(capsys, "report", "--format", "csv", "-o", str(target)) == (
        0,
        "",
        f"Report written to {target}.\n",
    )
    assert target.read_text(encoding="utf-8").startswith("section,item,mission,figure,value")


def test_who_knows_names_people_from_the_shell(
    shell: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "who", "election", "security")
    assert code == 0
    lines = out.splitlines()
    assert lines and all("wrote" in line or "applied" in line for line in lines)
    assert not any(t in out for t in restricted_titles(shell))
    assert run(capsys, "who", "zzzzqqq")[1] == (
        "Nobody has written or applied a lesson on zzzzqqq yet.\n"
    )
