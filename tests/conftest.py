"""Shared fixtures: a fixed clock, and a Store on SQLite and on PostgreSQL, isolated per test."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.cli import main
from knowledge.database import make_engine, upgrade
from knowledge.records import PersonRecord, ProductRecord
from knowledge.storage import Store

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "knowledge" / "demo" / "corpus.json"
POSTGRES_URL = os.environ.get(
    "LESSONS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def shared_dir() -> Path:
    """Return ../shared (or LESSONS_SHARED_DIR), where public data and schemas live."""
    return Path(os.environ.get("LESSONS_SHARED_DIR", ROOT.parent / "shared"))


@pytest.fixture
def now() -> datetime:
    """Return the fixed time every test runs at."""
    return NOW


@pytest.fixture
def today() -> date:
    """Return the fixed date every test runs on."""
    return NOW.date()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a migrated SQLite file that tests copy, so each starts from a clean schema."""
    path = tmp_path_factory.mktemp("template") / "lessons.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@contextmanager
def private_schema(prefix: str) -> Iterator[str]:
    """Create an empty PostgreSQL schema and drop it afterwards; skip (or fail in CI) if down."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        admin = make_engine(POSTGRES_URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # no server: skip here, fail in CI
        reason = f"PostgreSQL is not reachable at {POSTGRES_URL} ({type(exc).__name__})"
        if os.environ.get("LESSONS_REQUIRE_POSTGRES"):
            pytest.fail(reason + "; CI requires it", pytrace=False)
        pytest.skip(reason + "; set LESSONS_TEST_POSTGRES_URL to run these tests")
    try:
        yield schema
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def schema_url(schema: str) -> str:
    """Return the test PostgreSQL URL with its search path set to schema."""
    return _with_schema(POSTGRES_URL, schema)


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[str]:
    """Create a private, migrated schema for this test run; drop it at the end."""
    with private_schema("lessons_test") as schema:
        engine = make_engine(schema_url(schema))
        upgrade(engine)
        engine.dispose()
        yield schema


def _with_schema(url: str, schema: str) -> str:
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[Store]:
    """Return an empty Store on each backend, isolated from every other test."""
    if request.param == "sqlite":
        path = tmp_path / "lessons.db"
        shutil.copy(sqlite_template, path)
        s = Store.open(f"sqlite:///{path}", clock=lambda: NOW)
        yield s
        s.close()
        return
    schema = request.getfixturevalue("postgres_schema")
    s = Store.open(_with_schema(POSTGRES_URL, schema), clock=lambda: NOW)
    try:
        yield s
    finally:
        with s.engine.begin() as conn:
            tables = (
                conn.execute(
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                        "AND tablename <> 'alembic_version'"
                    )
                )
                .scalars()
                .all()
            )
            conn.execute(
                text(
                    "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
                )
            )
        s.close()


def demo_records(today: date) -> list[tuple[int, PersonRecord | ProductRecord]]:
    """Return the demo corpus as import records."""
    data = json.loads(DEMO.read_text(encoding="utf-8"))
    people: list[tuple[int, PersonRecord | ProductRecord]] = [
        (i, PersonRecord.from_mapping(p, today=today)) for i, p in enumerate(data["people"], 1)
    ]
    products: list[tuple[int, PersonRecord | ProductRecord]] = [
        (i, ProductRecord.from_mapping(p, today=today)) for i, p in enumerate(data["products"], 1)
    ]
    return people + products


@pytest.fixture
async def demo_store(store: Store, today: date) -> Store:
    """Return a Store holding the demo corpus."""
    await store.import_records(demo_records(today), source="demo")
    return store


@pytest.fixture
def shell(store: Store, today: date, monkeypatch: pytest.MonkeyPatch) -> Store:
    """Return a store holding the demo corpus, which `lessons` commands in this test open.

    The tests are synchronous: `lessons` runs its own event loop, as from a shell.
    """
    asyncio.run(store.import_records(demo_records(today), source="demo"))
    url = store.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("LESSONS_DATABASE_URL", url)
    monkeypatch.setenv("LESSONS_LOG_LEVEL", "WARNING")
    return store


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run a `lessons` command in this process; return its exit code, stdout and stderr."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err
