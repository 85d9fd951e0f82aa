"""Bulk writes for imports on PostgreSQL: COPY, with ids taken from the table's sequence first.

`INSERT … RETURNING id` of a thousand 3 KB lessons at a time spent most of its time building and
parsing the statement; COPY streams the rows instead. Rows need their ids back (lessons point at
products, actions at lessons), so the ids are drawn from the table's own sequence beforehand,
which is what the column's default would have done. It runs in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

from sqlalchemy import Connection, text


def copy_rows(conn: Connection, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """COPY rows (all with the same keys) into a table."""
    if rows:
        _copy(conn, table, list(rows[0]), ([_plain(row[k]) for k in rows[0]] for row in rows))


def copy_with_ids(conn: Connection, table: str, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """COPY rows into a table whose `id` comes from a sequence; return their ids, in order."""
    if not rows:
        return []
    ids = [
        int(i)
        for i in conn.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
            ),
            {"table": table, "n": len(rows)},
        ).scalars()
    ]
    keys = list(rows[0])
    _copy(
        conn,
        table,
        ["id", *keys],
        ([i, *(_plain(row[k]) for k in keys)] for i, row in zip(ids, rows, strict=True)),
    )
    return ids


def _copy(conn: Connection, table: str, columns: list[str], rows: Any) -> None:
    raw: Any = conn.connection.driver_connection
    names = ", ".join(f'"{c}"' for c in columns)
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)


def _plain(value: Any) -> Any:
    """Return what the column stores: an enum's value (the models keep values, not names)."""
    return value.value if isinstance(value, Enum) else value
