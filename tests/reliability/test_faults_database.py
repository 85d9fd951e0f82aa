"""Which database errors mean "not saved, send it again" and which are bugs (real SQLite)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from knowledge.errors import DomainError, database_trouble


def test_a_locked_sqlite_file_is_busy(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    holder = create_engine(url)
    waiter = create_engine(url, connect_args={"timeout": 0})
    with holder.connect() as held:
        held.exec_driver_sql("CREATE TABLE t (n INTEGER)")
        held.commit()
        held.exec_driver_sql("BEGIN IMMEDIATE")
        with pytest.raises(OperationalError) as locked, waiter.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
        held.rollback()
    assert database_trouble(locked.value) == "busy"
    holder.dispose()
    waiter.dispose()


def test_a_schema_mistake_is_a_bug_not_trouble(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'y.db'}")
    with pytest.raises(OperationalError) as missing, engine.connect() as conn:
        conn.execute(text("SELECT * FROM no_such_table"))
    assert database_trouble(missing.value) is None  # logged with its stack trace, apologised
    assert database_trouble(ValueError("x")) is None
    assert database_trouble(DomainError("a rule")) is None
    engine.dispose()
