"""The little SQL that differs between SQLite and PostgreSQL, and the connection the scheduler uses.

Everything else is SQLAlchemy Core that runs the same on both.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    Date,
    DateTime,
    Engine,
    Integer,
    String,
    any_,
    bindparam,
    cast,
    column,
    event,
    func,
    literal,
    literal_column,
    select,
    table,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.dml import Insert
from sqlalchemy.types import NullType

from knowledge.database import make_engine
from knowledge.models import (
    OPEN_ACTIONS,
    PENDING_NOTIFICATIONS,
    Action,
    Notification,
    UtcDateTime,
)


class Db:
    """Transactions for the scheduler's work, run in worker threads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # SQLite has one writer at a time: taking turns here beats its busy-wait sleeps.
        self._turns = threading.RLock() if engine.dialect.name == "sqlite" else None

    @property
    def postgres(self) -> bool:
        """Return True on PostgreSQL (row locks with SKIP LOCKED), False on SQLite."""
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """Yield a connection in a transaction that commits on success."""
        if self._turns is None:
            with self.engine.begin() as connection:
                yield connection
            return
        with self._turns, self.engine.begin() as connection:
            yield connection

    async def run[**P, R](self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run blocking database work in a worker thread."""
        return await asyncio.to_thread(fn, *args, **kwargs)


class DryDb(Db):
    """One connection in one transaction that is rolled back at the end: a dry run.

    Each `begin()` is a savepoint inside it, so the run sees its own plans and keeps nothing.
    On SQLite the run gets an engine of its own that issues BEGIN itself: the driver's own
    transaction handling would commit at the first RELEASE SAVEPOINT.
    """

    def __init__(self, engine: Engine) -> None:
        if engine.dialect.name == "sqlite":
            engine = _sqlite_with_savepoints(engine)
        super().__init__(engine)
        self._connection = engine.connect()
        self._outer = self._connection.begin()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """Yield the one connection inside a savepoint."""
        with self._connection.begin_nested():
            yield self._connection

    def close(self) -> None:
        """Roll everything back."""
        self._outer.rollback()
        self._connection.close()
        if self.engine.dialect.name == "sqlite":
            self.engine.dispose()


def _sqlite_with_savepoints(engine: Engine) -> Engine:
    own = make_engine(engine.url.render_as_string(hide_password=False), poolclass=NullPool)

    @event.listens_for(own, "connect")
    def _no_driver_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(own, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN")

    return own


def pending() -> ColumnElement[bool]:
    """Return "the notification may still be delivered", with its statuses written out.

    Literal values, not parameters: only then can SQLite use the partial index on pending rows
    (it must prove the query's condition implies the index's).
    """
    statuses: list[Any] = [literal_column(f"'{s.value}'") for s in PENDING_NOTIFICATIONS]
    return Notification.status.in_(statuses)


def open_actions() -> ColumnElement[bool]:
    """Return "the action is open or in progress", with literal values like `pending()`: so
    SQLite can use the partial index `ix_actions_open_due`."""
    statuses: list[Any] = [literal_column(f"'{s.value}'") for s in OPEN_ACTIONS]
    return Action.status.in_(statuses)


def upsert(table: Any, postgres: bool) -> postgresql.Insert | sqlite.Insert:
    """Return this dialect's INSERT, which knows ON CONFLICT."""
    return postgresql.insert(table) if postgres else sqlite.insert(table)


def insert_ignoring(table: Any, postgres: bool) -> Insert:
    """Return INSERT … ON CONFLICT DO NOTHING for this dialect (idempotent plans)."""
    return upsert(table, postgres).on_conflict_do_nothing()


def one_of(col: Any, ids: Sequence[int], postgres: bool) -> Any:
    """Return `col IN ids` with the ids as one parameter (an array, or a JSON list on SQLite)."""
    if postgres:
        return col == any_(int_array(ids))
    listed = select(column("value", Integer)).select_from(
        func.json_each(bindparam(None, json.dumps(list(ids)), type_=String))
    )
    return col.in_(listed.scalar_subquery())


def int_array(ids: Sequence[int]) -> Any:
    """Return a PostgreSQL integer[] parameter, sent as its text ('{1,2,3}'): psycopg adapting a
    list of 4,000 ints took ~5 ms a statement, the text ~1 ms.

    The parameter has no type of its own (no `::VARCHAR`), so PostgreSQL reads it as an
    integer[] once. Typed as text, the cast was a per-row expression: with stale statistics
    (timers just seeded) a filter parsed 4,000 ids for every row it read, 40 s for one plan.
    """
    text = "{" + ",".join(str(int(i)) for i in ids) + "}"
    return cast(bindparam(None, text, type_=NullType()), ARRAY(Integer))


def one_of_dates(col: Any, days: Sequence[date], postgres: bool) -> Any:
    """Return `col IN days` with the days as one parameter (like `one_of`)."""
    if postgres:
        return col == any_(bindparam(None, list(days), type_=ARRAY(Date)))
    listed = select(column("value", String)).select_from(
        func.json_each(bindparam(None, json.dumps([d.isoformat() for d in days]), type_=String))
    )
    return col.in_(listed.scalar_subquery())


def person_times(due: dict[int, datetime], kind: str, postgres: bool) -> list[Any]:
    """Return SELECTs of (person_id, kind, time) rows, in person order: one on PostgreSQL (two
    array parameters), one per distinct time on SQLite (a JSON list of ids each)."""
    if not due:
        return []
    people = sorted(due)
    if postgres:
        times = "{" + ",".join(f'"{due[p].isoformat()}"' for p in people) + "}"
        pairs = func.unnest(
            int_array(people),
            cast(bindparam(None, times, type_=String), ARRAY(DateTime(timezone=True))),
        ).table_valued(column("person", Integer), column("at", DateTime(timezone=True)))
        pairs = pairs.render_derived()
        return [select(pairs.c.person, literal(kind, String), pairs.c.at).order_by(pairs.c.person)]
    by_time: dict[datetime, list[int]] = {}
    for person in people:
        by_time.setdefault(due[person], []).append(person)
    ids = column("value", Integer)
    return [
        select(ids, literal(kind, String), literal(at, UtcDateTime()))
        .select_from(func.json_each(bindparam(None, json.dumps(group), type_=String)))
        .order_by(ids)  # also ends the FROM clause, which SQLite's upsert needs
        for at, group in sorted(by_time.items())
    ]


def person_slots(conn: Connection, slots: dict[int, datetime]) -> Any:
    """Return a relation (person, at) of each person's slot, to join to their rows: a keyed
    temporary table (SQLite only; see `planner.plan_batch`)."""
    conn.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS scheduler_plan_slots "
        "(person INTEGER PRIMARY KEY, at TIMESTAMP NOT NULL)"
    )
    conn.exec_driver_sql("DELETE FROM scheduler_plan_slots")
    relation = table("scheduler_plan_slots", column("person", Integer), column("at", UtcDateTime()))
    if slots:
        conn.execute(
            relation.insert(), [{"person": p, "at": at} for p, at in sorted(slots.items())]
        )
    return relation


def day_points(conn: Connection, points: dict[date, tuple[int, bool]], postgres: bool) -> Any:
    """Return a relation (due, point, fresh): dates, the cadence point each reached, and
    whether that point is new since the last plan.

    PostgreSQL reads it from one JSON parameter; SQLite gets a keyed temporary table (a
    json_each virtual table would be scanned again for every action joined to it), its key
    typed DATE like `actions.due_date` so that the join can use it.
    """
    rows = [{"due": d.isoformat(), "point": p, "fresh": int(f)} for d, (p, f) in points.items()]
    if postgres:
        records = func.jsonb_to_recordset(
            cast(bindparam(None, json.dumps(rows), type_=String), JSONB)
        ).table_valued(column("due", Date), column("point", Integer), column("fresh", Integer))
        return records.render_derived(with_types=True)
    conn.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS scheduler_day_points "
        "(due DATE PRIMARY KEY, point INTEGER NOT NULL, fresh INTEGER NOT NULL)"
    )
    conn.exec_driver_sql("DELETE FROM scheduler_day_points")
    points_table = table("scheduler_day_points", column("due"), column("point"), column("fresh"))
    if rows:
        conn.execute(points_table.insert(), rows)
    return points_table


def days_between(later: date, earlier: Any, postgres: bool) -> ColumnElement[int]:
    """Return the whole days from a date column to a given day (negative when it is later)."""
    day = literal(later)
    if postgres:
        return day - earlier  # type: ignore[no-any-return]
    return cast(func.julianday(cast(day, String)) - func.julianday(earlier), Integer)


def least(a: Any, b: Any, postgres: bool) -> ColumnElement[Any]:
    """Return the smaller of two values (LEAST on PostgreSQL, scalar min() on SQLite)."""
    return func.least(a, b) if postgres else func.min(a, b)


def text_of(value: Any) -> ColumnElement[str]:
    """Return a value as text, for building keys and periods in SQL."""
    if isinstance(value, str | int):
        return literal(str(value), String)
    return cast(value, String)


def joined(*parts: Any) -> ColumnElement[str]:
    """Concatenate values as text."""
    texts = [text_of(p) for p in parts]
    result = texts[0]
    for part in texts[1:]:
        result = result + part
    return result
