"""Small in-process caches for the hot path, and what tells them the index changed.

A chat question costs a handful of lookups that rarely change (who is this user, which groups
open restricted lessons, the answer to a question asked a moment ago). The caches below keep
them for a short time; `WriteWatch` tells them when this process wrote to a table that matters.
On PostgreSQL every such commit is also announced (NOTIFY, sent in the committing transaction,
so only what commits is announced), and a process that listens (`WriteListener`: `lessons run`,
each of its workers, each replica) moves its caches on when another process wrote. Without a
listener (SQLite, one process), the time limits bound how stale a lookup can be.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from sqlalchemy import Engine, event

log = logging.getLogger(__name__)
CHANNEL = "lessons_writes"  # PostgreSQL's notification channel of content writes

# Writes to these tables never change an answer, a person, a viewer or an interview: the hot
# path's own records (the question log, the redelivery record), the chat transcript, and the
# bookkeeping of Teams (references, users seen), of the scheduler (timers, ledger) and of the
# audit. On PostgreSQL every other write is announced to every process, so the scheduler's
# ticks and a Teams worker's first sight of a conversation must not empty the others' caches.
QUIET_TABLES = frozenset(
    {
        "questions",
        "question_lessons",
        "processed_events",
        "inbox",
        "chat_messages",
        "feedback",
        "teams_references",
        "teams_users",
        "teams_sent",
        "scheduler_timers",
        "scheduler_notifications",
        "scheduler_action_nudges",
        "scheduler_unreachable",
        "scheduler_jobs",
        "audit_events",
        "import_runs",
        "practice_posts",
    }
)
_READS = ("SELECT", "PRAGMA", "SAVEPOINT", "RELEASE", "BEGIN", "COMMIT", "ROLLBACK")
_DML = re.compile(r"\b(?:INSERT|UPDATE|DELETE)\b", re.IGNORECASE)
_TARGET = re.compile(
    r"^\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+(?:\"?(\w+)\"?\.)?\"?(\w+)",
    re.IGNORECASE,
)


class Expiring[K: Hashable, V]:
    """A bounded map whose entries expire after `ttl` seconds or when the generation moves.

    Entries are stamped with the generation current when they were computed; a write seen by
    the `WriteWatch` moves the generation on, and older entries read as missing.
    """

    def __init__(
        self, *, ttl: float, size: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl, self.size, self.clock = ttl, size, clock
        self._items: OrderedDict[K, tuple[float, int, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, generation: int) -> V | None:
        """Return the value for key, or None when it is missing, expired or outdated."""
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            expires, stamped, value = found
            if stamped != generation or expires < self.clock():
                del self._items[key]
                return None
            return value

    def put(self, key: K, value: V, generation: int) -> None:
        """Keep a value computed at this generation (the oldest entry goes when full)."""
        with self._lock:
            self._items[key] = (self.clock() + self.ttl, generation, value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class WriteWatch:
    """Count the writes this process makes to tables that matter to the caches.

    It listens to the engine's statements: an INSERT, UPDATE or DELETE on any table but the
    `QUIET_TABLES` moves `generation` on. Statements that name no table (DDL, raw SQL the
    pattern cannot read) move it on too: when in doubt, forget.
    """

    def __init__(self, engine: Engine) -> None:
        self.generation = 0
        self.token = uuid.uuid4().hex  # this process's announcements (which it ignores)
        self.announces = engine.dialect.name == "postgresql"
        event.listen(engine, "after_cursor_execute", self._seen)
        event.listen(engine, "commit", self._committed)
        event.listen(engine, "rollback", self._rolled_back)

    def bump(self) -> None:
        """Move the generation on by hand (a change the statements do not show)."""
        self.generation += 1

    def _seen(self, conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        first = statement.lstrip()[:9].upper()
        if first.startswith(_READS) or (first.startswith("WITH") and not _DML.search(statement)):
            return
        target = _TARGET.match(statement)
        if target is not None:
            schema, table = target.groups()
            if (schema or "").lower() == "temp" or table.lower() in QUIET_TABLES:
                return  # the search's own scratch tables, or the hot path's records
        # Once when written (other threads stop trusting what they cached) and once more at
        # commit (what a reader computed between the write and the commit is outdated too).
        conn.info["lessons_dirty"] = True
        self.generation += 1

    def _committed(self, conn: Any) -> None:
        if conn.info.pop("lessons_dirty", False):
            self.generation += 1
            if self.announces:  # inside the transaction, just before its COMMIT
                try:
                    # Which schema wrote rides along: deployments (or test runs) sharing one
                    # database in several schemas hear only their own writes.
                    conn.connection.driver_connection.execute(
                        "SELECT pg_notify(%s, current_schema() || ' ' || %s)",
                        (CHANNEL, self.token),
                    )
                except Exception:  # the commit that follows reports what went wrong
                    log.debug("could not announce a write", exc_info=True)

    def _rolled_back(self, conn: Any) -> None:
        if conn.invalidated:  # the connection was lost (its info with it): reading it would raise
            return
        conn.info.pop("lessons_dirty", None)


class WriteListener:
    """Hear other processes' content writes (PostgreSQL LISTEN) and move a WriteWatch on.

    One connection of its own, out of the pool, in a daemon thread. Reconnecting after the
    server went away moves the generation on too (what was announced meanwhile is lost).
    """

    def __init__(self, engine: Engine, watch: WriteWatch, *, wait: float = 1.0) -> None:
        self.engine, self.watch, self.wait = engine, watch, wait
        self.stopped = threading.Event()
        self.listening = threading.Event()  # set once LISTEN holds (cleared while reconnecting)
        self.heard = 0
        self._thread = threading.Thread(target=self._run, name="lessons-writes", daemon=True)

    def start(self) -> None:
        """Start listening."""
        self._thread.start()

    def stop(self) -> None:
        """Stop at the next wake-up (at most `wait` seconds); the thread is a daemon."""
        self.stopped.set()

    def _run(self) -> None:
        while not self.stopped.is_set():
            try:
                self._listen()
            except Exception:
                log.info("lost the write announcements; listening again", exc_info=True)
                self.stopped.wait(self.wait)

    def _listen(self) -> None:
        pooled = self.engine.raw_connection()
        conn: Any = pooled.driver_connection
        pooled.detach()  # a connection of its own: it never goes back to the pool
        try:
            conn.rollback()  # out of the transaction the pool's ping opened
            conn.autocommit = True
            schema = str(conn.execute("SELECT current_schema()").fetchone()[0])
            conn.execute(f"LISTEN {CHANNEL}")
            self.watch.bump()  # whatever was written while nobody listened
            self.listening.set()
            mine, own = f"{schema} ", f"{schema} {self.watch.token}"
            while not self.stopped.is_set():
                for note in conn.notifies(timeout=self.wait):
                    if note.payload.startswith(mine) and note.payload != own:
                        self.heard += 1
                        self.watch.bump()
        finally:
            self.listening.clear()
            pooled.close()
