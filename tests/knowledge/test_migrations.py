"""Migrations: upgrade an empty database to head, downgrade to base, and upgrade again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from conftest import private_schema, schema_url
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from bot.slack.installations import METADATA as SLACK_METADATA
from knowledge.database import alembic_config, is_current, make_engine, upgrade
from knowledge.models import Base
from knowledge.search import analysis

# Slack's OAuth installations (migration 0005) are slack_sdk's tables, plus one of ours; they
# are described in bot.slack.installations, not in the models, and checked against it here.
MODEL_TABLES = set(Base.metadata.tables) | set(SLACK_METADATA.tables)
HEAD = "0071"  # the chain: 0013 → 0014 → 0020 → 0030 → 0015 → 0040 → 0090 → 0080 → 0070 → 0071
# FTS5 keeps its data in shadow tables named after the virtual table.
FTS5 = {"lesson_fts", *(f"lesson_fts_{s}" for s in ("data", "idx", "content", "docsize", "config"))}
SEARCH_TABLES = {"sqlite": FTS5, "postgresql": {"search_docs", "search_postings"}}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """Return an engine on an empty SQLite file or an empty, private PostgreSQL schema."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
        return
    with private_schema("lessons_migrate") as schema:
        engine = make_engine(schema_url(schema))
        try:
            yield engine
        finally:
            engine.dispose()


def tables(engine: Engine) -> set[str]:
    """Return every table in the engine's database (SQLite) or current schema (PostgreSQL)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))
        else:
            rows = conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            )
        return {name for (name,) in rows}


def downgrade(engine: Engine) -> None:
    command.downgrade(alembic_config(engine), "base")


def test_upgrade_downgrade_upgrade(empty: Engine) -> None:
    search = SEARCH_TABLES[empty.dialect.name]
    assert tables(empty) == set()
    assert is_current(empty) is False

    upgrade(empty)
    created = tables(empty)
    assert created == MODEL_TABLES | search | {"alembic_version"}
    assert is_current(empty) is True
    with empty.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == HEAD

    downgrade(empty)
    assert tables(empty) == {"alembic_version"}
    assert is_current(empty) is False
    with empty.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 0

    upgrade(empty)
    assert tables(empty) == created
    assert is_current(empty) is True


def test_upgrading_a_released_schema_keeps_its_data(empty: Engine) -> None:
    command.upgrade(alembic_config(empty), "0001")
    with empty.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO people (id, name, email, timezone, created_at) "
                "VALUES (7, 'Awa Diallo', 'awa@example.org', 'UTC', '2026-01-01 00:00:00+00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO products (id, type, title, summary, body, status, created_at, "
                "updated_at) VALUES (3, 'aar', 'Convoys', '', '', 'published', "
                "'2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO lessons (id, product_id, position, observation, lesson, "
                "recommendation, status, identified_at, updated_at) VALUES (5, 3, 0, '', "
                "'Escort fuel convoys', '', 'identified', '2026-01-01 00:00:00+00', "
                "'2026-01-01 00:00:00+00')"
            )
        )
    upgrade(empty)
    with empty.connect() as conn:  # recreating a table on SQLite must not cascade deletes
        assert conn.execute(text("SELECT product_id FROM lessons WHERE id = 5")).scalar_one() == 3
    assert is_current(empty) is True
    command.downgrade(alembic_config(empty), "0001")
    upgrade(empty)
    with empty.connect() as conn:
        assert conn.execute(text("SELECT name FROM people WHERE id = 7")).scalar_one() == (
            "Awa Diallo"
        )
        assert conn.execute(text("SELECT count(*) FROM reviews")).scalar_one() == 0


def test_upgrade_twice_is_a_no_op(empty: Engine) -> None:
    upgrade(empty)
    before = tables(empty)
    upgrade(empty)
    assert tables(empty) == before
    assert is_current(empty) is True


def test_schema_matches_the_models(empty: Engine) -> None:
    upgrade(empty)
    inspector = inspect(empty)
    for name, table in (Base.metadata.tables | SLACK_METADATA.tables).items():
        columns = {c["name"] for c in inspector.get_columns(name)}
        assert columns == {c.name for c in table.columns}, name
    for name, table in SLACK_METADATA.tables.items():  # slack_sdk queries by these
        assert {i["name"] for i in inspector.get_indexes(name)} == {i.name for i in table.indexes}
        nullable = {c["name"]: c["nullable"] for c in inspector.get_columns(name)}
        assert nullable == {c.name: c.nullable for c in table.columns}, name
    indexes = {i["name"] for i in inspector.get_indexes("lessons")}
    assert "ix_lessons_status" in indexes


def test_search_index_works_after_a_fresh_upgrade(empty: Engine) -> None:
    upgrade(empty)
    downgrade(empty)
    upgrade(empty)
    with empty.begin() as conn:
        if empty.dialect.name == "sqlite":
            conn.execute(
                text(
                    "INSERT INTO lesson_fts(rowid, title, summary, lesson, recommendation, tags) "
                    "VALUES (1, 'convoy', '', :lesson, '', '')"
                ),
                # The index holds analysed terms (0071): the analysis stems, not FTS5.
                {"lesson": analysis.index_text("Escort fuel convoys", "en")},
            )
            found = conn.execute(
                text("SELECT rowid FROM lesson_fts WHERE lesson_fts MATCH 'convoy'")
            ).all()
        else:
            conn.execute(text("INSERT INTO search_postings VALUES ('convoy', 1, 1.0)"))
            found = conn.execute(
                text("SELECT lesson_id FROM search_postings WHERE term = 'convoy'")
            ).all()
    assert [tuple(r) for r in found] == [(1,)]


def test_product_types_are_checked_and_notes_allowed(empty: Engine) -> None:
    upgrade(empty)
    insert = (
        "INSERT INTO products (type, title, summary, body, status, created_at, updated_at) "
        "VALUES (:type, 'x', '', '', 'published', '2026-01-01 00:00:00+00', "
        "'2026-01-01 00:00:00+00')"
    )
    with empty.begin() as conn:
        conn.execute(text(insert), {"type": "note"})
    with pytest.raises(IntegrityError), empty.begin() as conn:
        conn.execute(text(insert), {"type": "bogus"})


def test_question_threads_keep_the_question_log_and_its_votes(empty: Engine) -> None:
    command.upgrade(alembic_config(empty), "0003")
    stamp = "'2026-01-01 00:00:00+00'"
    with empty.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO products (id, type, title, summary, body, status, created_at, "
                f"updated_at) VALUES (3, 'aar', 'Convoys', '', '', 'published', {stamp}, {stamp})"
            )
        )
        conn.execute(
            text(
                "INSERT INTO lessons (id, product_id, position, observation, lesson, "
                "recommendation, status, identified_at, updated_at) VALUES (5, 3, 0, '', "
                f"'Escort fuel convoys', '', 'identified', {stamp}, {stamp})"
            )
        )
        conn.execute(
            text(
                "INSERT INTO questions (id, platform, text, normalized, hits, asked_at) "
                f"VALUES (9, 'slack', 'convoys?', 'convoys?', 1, {stamp})"
            )
        )
        conn.execute(
            text(
                "INSERT INTO feedback (id, lesson_id, question_id, helpful, at) "
                f"VALUES (1, 5, 9, true, {stamp})"
            )
        )

    upgrade(empty)
    with empty.begin() as conn:
        row = conn.execute(
            text("SELECT text, channel_id, thread_id FROM questions WHERE id = 9")
        ).one()
        assert tuple(row) == ("convoys?", None, None)
        assert conn.execute(text("SELECT question_id FROM feedback")).scalar_one() == 9
        conn.execute(text("UPDATE questions SET channel_id = 'C1', thread_id = '17.2'"))
    assert "ix_questions_thread" in {i["name"] for i in inspect(empty).get_indexes("questions")}

    command.downgrade(alembic_config(empty), "0003")
    with empty.connect() as conn:  # recreating the table on SQLite must not null the votes
        assert conn.execute(text("SELECT text FROM questions WHERE id = 9")).scalar_one() == (
            "convoys?"
        )
        assert conn.execute(text("SELECT question_id FROM feedback")).scalar_one() == 9
    columns = {c["name"] for c in inspect(empty).get_columns("questions")}
    assert not columns & {"channel_id", "thread_id"}


def test_the_analysed_index_is_built_from_lessons_already_there(empty: Engine) -> None:
    """0070 detects the language of lessons already imported; 0071 indexes them analysed, and
    downgrading indexes their raw text again, the old way."""
    command.upgrade(alembic_config(empty), "0040")
    with empty.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO products (id, type, title, summary, body, status, created_at, "
                "updated_at) VALUES (3, 'aar', 'Convois', '', '', 'published', "
                "'2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO lessons (id, product_id, position, observation, lesson, "
                "recommendation, status, identified_at, updated_at) VALUES (5, 3, 0, '', "
                "'Les convois de carburant doivent être escortés par les casques bleus.', '', "
                "'identified', '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00')"
            )
        )
    upgrade(empty)
    with empty.connect() as conn:
        assert conn.execute(text("SELECT language FROM lessons WHERE id = 5")).scalar_one() == "fr"
        terms = set(conn.execute(text("SELECT term FROM search_terms")).scalars())
    assert {"convois", "carbur", "escort", "casqu"} <= terms  # French Snowball stems
    command.downgrade(alembic_config(empty), "0040")
    with empty.connect() as conn:
        terms = set(conn.execute(text("SELECT term FROM search_terms")).scalars())
    assert "convoi" in terms and "convois" not in terms  # English stems of before
