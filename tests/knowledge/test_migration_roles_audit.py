"""Migration 0009: the audit trail, and lessons that may be withdrawn (and back down again)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from conftest import private_schema, schema_url
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from knowledge.database import alembic_config, make_engine, upgrade

STAMP = "'2026-01-01 00:00:00+00'"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """Return an engine on an empty SQLite file or an empty, private PostgreSQL schema."""
    if request.param == "sqlite":
        found = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield found
        found.dispose()
        return
    with private_schema("lessons_0009") as schema:
        found = make_engine(schema_url(schema))
        try:
            yield found
        finally:
            found.dispose()


def add_lesson(engine: Engine, lesson_id: int, status: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO lessons (id, product_id, position, observation, lesson, "
                "recommendation, status, identified_at, updated_at) VALUES (:id, 3, :id, '', "
                f"'Escort fuel convoys', '', :status, {STAMP}, {STAMP})"
            ),
            {"id": lesson_id, "status": status},
        )


def test_lessons_may_be_withdrawn_and_downgrading_keeps_them_as_rejected(engine: Engine) -> None:
    command.upgrade(alembic_config(engine), "0008")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO products (id, type, title, summary, body, status, created_at, "
                f"updated_at) VALUES (3, 'aar', 'Convoys', '', '', 'published', {STAMP}, {STAMP})"
            )
        )
    add_lesson(engine, 5, "validated")
    upgrade(engine)

    add_lesson(engine, 6, "withdrawn")
    with pytest.raises(IntegrityError):
        add_lesson(engine, 7, "deleted")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_events (at, surface, operation, subject_kind, subject_id, "
                f"before, after) VALUES ({STAMP}, 'cli', 'withdraw_lesson', 'lesson', 6, "
                "'{}', '{}')"
            )
        )
        assert conn.execute(text("SELECT count(*) FROM audit_events")).scalar_one() == 1

    command.downgrade(alembic_config(engine), "0008")
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, status, rejection_reason FROM lessons ORDER BY id")
        ).all()
    assert [tuple(r) for r in rows] == [(5, "validated", None), (6, "rejected", "withdrawn")]
    upgrade(engine)
