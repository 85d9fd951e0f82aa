"""Engines and schema upgrades for SQLite (the default) and PostgreSQL."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import IO, Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

DEFAULT_URL = "sqlite:///lessons.db"
BUSY_TIMEOUT_MS = 30_000
_MIGRATIONS = Path(__file__).with_name("migrations")


def normalise_url(url: str) -> str:
    """Return a SQLAlchemy URL, choosing the psycopg 3 driver for plain PostgreSQL URLs."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


SQLITE_TAKEN = (
    "Another Lessons Bot process ({holder}) already serves the SQLite file {path}. SQLite "
    "lets one process write at a time, so a second `lessons run` or `lessons scheduler` on the "
    "same file is refused: stop the other one, or run several replicas on PostgreSQL "
    "(LESSONS_DATABASE_URL=postgresql://…)."
)


class WriterTaken(RuntimeError):
    """Another process already holds this SQLite file's writer lock."""


class WriterLock:
    """The one-writer lock of a SQLite file: `<file>.lock` beside it, held with flock.

    The kernel drops the lock when the process ends, however it ends (a SIGKILL included), so a
    stale lock file never blocks a restart. PostgreSQL and in-memory databases need none.
    """

    def __init__(self, url: str, what: str) -> None:
        self.path = sqlite_file(url)
        self.what = what
        self._file: IO[str] | None = None

    def acquire(self) -> WriterLock:
        """Take the lock, or raise WriterTaken naming who holds it."""
        if self.path is None:
            return self
        try:
            import fcntl
        except ImportError:  # not on POSIX: nothing to lock with
            return self
        lock_path = self.path.with_name(self.path.name + ".lock")
        handle = open(lock_path, "a+", encoding="utf-8")  # noqa: SIM115 (held for life)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "pid unknown"
            handle.close()
            raise WriterTaken(SQLITE_TAKEN.format(holder=holder, path=self.path)) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{self.what}, pid {os.getpid()}")
        handle.flush()
        self._file = handle
        return self

    def release(self) -> None:
        """Let another process take the file (closing the handle drops the lock)."""
        if self._file is not None:
            self._file.close()
            self._file = None


def sqlite_file(url: str) -> Path | None:
    """Return the file of a SQLite URL (None: PostgreSQL or an in-memory database)."""
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).resolve()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout."""
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        kwargs.setdefault("connect_args", {}).setdefault("check_same_thread", False)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    # A database host that drops packets must not hang the health check for minutes.
    kwargs.setdefault("connect_args", {}).setdefault("connect_timeout", 5)
    return create_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Turn on what SQLite leaves off by default."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # SQLite has one writer at a time, and an import holds the lock for its whole transaction:
    # a writer waits this long (ms) for it before "database is locked" (docs/reliability.md).
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA cache_size=-65536")
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] not in ("wal", "memory"):
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def alembic_config(engine: Engine) -> Config:
    """Return an Alembic configuration that migrates through this engine."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision."""
    command.upgrade(alembic_config(engine), "head")


def is_current(engine: Engine) -> bool:
    """Return True when the database schema is at the newest revision."""
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return current == head
