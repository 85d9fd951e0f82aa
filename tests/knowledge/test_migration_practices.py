"""Migration 0010: promotions, curation and the practice-of-the-week ledger, checked and dropped
on the way down (lessons stay), on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from conftest import private_schema, schema_url
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from knowledge.database import alembic_config, make_engine, upgrade

STAMP = "'2026-01-01 00:00:00+00'"
NEW = {"promotions", "lesson_curation", "practice_channels", "practice_posts"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """Return an engine on an empty SQLite file or an empty, private PostgreSQL schema."""
    if request.param == "sqlite":
        found = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield found
        found.dispose()
        return
    with private_schema("lessons_0010") as schema:
        found = make_engine(schema_url(schema))
        try:
            yield found
        finally:
            found.dispose()


def run(engine: Engine, sql: str) -> None:
    with engine.begin() as conn:
        conn.execute(text(sql))


def test_practices_tables_come_and_go_and_lessons_stay(engine: Engine) -> None:
    command.upgrade(alembic_config(engine), "0009")
    run(
        engine,
        "INSERT INTO products (id, type, title, summary, body, status, created_at, "
        f"updated_at) VALUES (3, 'aar', 'Convoys', '', '', 'published', {STAMP}, {STAMP})",
    )
    run(engine, "INSERT INTO lessons (id, product_id, position, observation, lesson, "
                "recommendation, status, identified_at, updated_at) VALUES (5, 3, 0, '', "
                f"'Escort fuel convoys', '', 'validated', {STAMP}, {STAMP})")  # fmt: skip
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= NEW

    run(engine, "INSERT INTO promotions (lesson_id, level, why, scope, audience, channels, "
                f"review_on, promoted_at) VALUES (5, 'good_practice', 'works', 'MINUSCA', '', "
                f"'[]', '2027-01-01', {STAMP})")  # fmt: skip
    run(engine, "INSERT INTO lesson_curation (lesson_id, ranking, priority) VALUES (5, 'hidden', "
                "true)")  # fmt: skip
    with pytest.raises(IntegrityError):  # the level is checked
        run(engine, "INSERT INTO promotions (lesson_id, level, why, scope, audience, channels, "
                    f"review_on, promoted_at) VALUES (5, 'rumour', 'x', '', '', '[]', "
                    f"'2027-01-01', {STAMP})")  # fmt: skip
    run(engine, f"INSERT INTO practice_channels (id, platform, channel_id, active, updated_at) "
                f"VALUES (1, 'local', 'general', true, {STAMP})")  # fmt: skip
    run(engine, "INSERT INTO practice_posts (channel_ref, period, lesson_id, status, at) "
                f"VALUES (1, '2026-W49', 5, 'sent', {STAMP})")  # fmt: skip
    with pytest.raises(IntegrityError):  # one post per channel and week
        run(engine, "INSERT INTO practice_posts (channel_ref, period, lesson_id, status, at) "
                    f"VALUES (1, '2026-W49', 5, 'sent', {STAMP})")  # fmt: skip

    command.downgrade(alembic_config(engine), "0009")
    assert not NEW & set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        assert conn.execute(text("SELECT id, status FROM lessons")).all() == [(5, "validated")]
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM promotions")).scalar_one() == 0
