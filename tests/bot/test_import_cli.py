"""`lessons import` keeps the README's promise: a bad row stops it, naming row and field, and
nothing is written; a mission or theme the index does not know is a typo unless said so."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from conftest import run_cli as run
from sqlalchemy import select

from knowledge.models import Lesson, Product
from knowledge.storage import Store

HEADER = "external_id,type,title,mission,themes,lesson,status\n"


def products(store: Store) -> int:
    return asyncio.run(store.counts()).products


def test_an_unknown_mission_stops_the_import_unless_new_missions(
    shell: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "new.csv"
    path.write_text(
        HEADER
        + "t-1,AAR,Convoy fuel,MINUSCA,logistics,Fuel ran out at night.,validated\n"
        + "t-2,AAR,Radio checks,MINUSKA,logistics,Radios were not checked.,validated\n",
        encoding="utf-8",
    )
    before = products(shell)
    code, _, err = run(capsys, "import", str(path))
    assert code == 2
    assert "row 3, field 'mission': 'MINUSKA' is not a mission the lessons index knows" in err
    assert "did you mean MINUSCA" in err and "--new-missions" in err
    assert products(shell) == before  # nothing written, not even row 2

    path.write_text(
        HEADER + "t-3,AAR,Convoy fuel,MINUSCA,fuel-logistix,Fuel ran out.,validated\n",
        encoding="utf-8",
    )
    code, _, err = run(capsys, "import", str(path))
    assert code == 2 and "field 'themes': 'fuel-logistix' is not a theme" in err
    assert run(capsys, "import", str(path), "--new-themes")[0] == 0
    assert products(shell) == before + 1


def test_an_llis_lesson_keeps_its_date_as_when_it_was_validated(
    shell: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "llis.jsonl"
    path.write_text(
        '{"lesson_id": 901, "title": "Battery venting", "lessons_learned": "Vent battery '
        'rooms.", "lesson_date": "2004-05-06", "organization": "JPL"}\n',
        encoding="utf-8",
    )
    assert run(capsys, "import", str(path), "--new-missions")[0] == 0
    with shell.session() as s:
        lesson = s.scalars(
            select(Lesson).join(Product).where(Product.external_id == "llis:901")
        ).one()
        assert lesson.validated_at is not None
        assert lesson.validated_at.date().isoformat() == "2004-05-06"
