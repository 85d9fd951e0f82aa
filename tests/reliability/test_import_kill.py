"""SIGKILL of `lessons import` in the middle of a big file: the database holds none of it or all
of it, never a part, and running the import again completes it (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from big_import import big_file
from conftest import private_schema, schema_url
from sqlalchemy import func, select, text

from knowledge.database import make_engine, upgrade
from knowledge.models import Lesson, Product

PRODUCTS = 3_000  # big enough that the import runs for a few seconds, small enough for CI


Database = tuple[str, Callable[[], bool]]  # URL, "is the import writing now?"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[Database]:
    """A migrated, empty database, and a probe that sees the import's open transaction."""
    if request.param == "sqlite":
        db = tmp_path / "lessons.db"
        shutil.copy(sqlite_template, db)

        def locked() -> bool:  # someone holds the write lock, and nothing is committed yet
            probe = sqlite3.connect(db, timeout=0)
            try:
                probe.execute("BEGIN IMMEDIATE")
                probe.rollback()
                return False
            except sqlite3.OperationalError as exc:
                assert "locked" in str(exc)
                return counts(f"sqlite:///{db}") == (0, 0)
            finally:
                probe.close()

        yield f"sqlite:///{db}", locked
        return
    with private_schema("lessons_kill") as schema:
        engine = make_engine(schema_url(schema))
        upgrade(engine)
        name = f"lessons-import-{uuid.uuid4().hex[:8]}"

        def writing() -> bool:
            with engine.connect() as conn:
                found = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name "
                        "AND backend_xid IS NOT NULL"
                    ),
                    {"name": name},
                ).scalar_one()
            return bool(found) and counts(schema_url(schema)) == (0, 0)

        yield f"{schema_url(schema)}&application_name={name}", writing
        engine.dispose()


def counts(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            products = conn.execute(select(func.count()).select_from(Product)).scalar_one()
            lessons = conn.execute(select(func.count()).select_from(Lesson)).scalar_one()
            return products, lessons
    finally:
        engine.dispose()


def run_import(url: str, path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "import", str(path)],
        env={**os.environ, "LESSONS_DATABASE_URL": url, "LESSONS_LOG_LEVEL": "WARNING"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_a_killed_import_leaves_nothing_and_the_next_one_completes(
    database: Database, tmp_path: Path
) -> None:
    url, writing = database
    path = big_file(tmp_path / "big.jsonl", PRODUCTS)
    with run_import(url, path) as importer:
        deadline = time.monotonic() + 120
        while not writing():  # wait until it is half-way through its one transaction
            assert importer.poll() is None, "the import ended before it was killed; grow PRODUCTS"
            assert time.monotonic() < deadline, "the import never started writing"
            time.sleep(0.05)
        importer.send_signal(signal.SIGKILL)
        importer.wait(timeout=30)
    assert importer.returncode == -signal.SIGKILL

    assert counts(url) == (0, 0)  # all-or-nothing: nothing of the killed import is visible

    with run_import(url, path) as again:
        out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err.decode()[-2000:]
    assert f"{PRODUCTS} new" in out.decode()
    assert counts(url) == (PRODUCTS, 2 * PRODUCTS)
