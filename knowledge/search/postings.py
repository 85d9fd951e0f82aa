"""PostgreSQL's postings, built once per import from term frequencies copied in, in the import's
transaction.

The terms come from `knowledge.search.analysis`, in Python, the same analysis as SQLite's
index (issue 22): each lesson in its own language (Snowball stems, Arabic normalisation,
Chinese segmentation, acronyms unstemmed), less the stop words PostgreSQL's configuration of
that language would drop. Each batch of an import copies its lessons' (term, weighted tf,
count) rows into a staging table (COPY), and at the end of the import (`flush`):

1. documents, postings and term frequencies are written in one statement each, with the
   average document length of the whole index (BM25's avgdl) known before the first posting;
2. when the import brings at least as many postings as the index held (a first import, a
   rebuild), the postings' two indexes are dropped before and built after: a sorted build is
   two to three times faster than inserting into them. The lock this takes makes searches of
   other processes wait until the import commits.

Staging tables are created and dropped inside the import's transaction: nobody else ever sees
them, and an import that fails leaves none behind. It stays all-or-nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, text

# (field, tsvector weight label); labels map to the BM25 field weights.
FIELDS = (("title", "A"), ("tags", "A"), ("summary", "B"), ("lesson", "C"), ("recommendation", "D"))
INDEXES = (
    "CREATE INDEX ix_search_postings_term_impact ON search_postings (term, impact DESC) "
    "INCLUDE (lesson_id)",
    "CREATE INDEX ix_search_postings_lesson ON search_postings (lesson_id)",
)
REBUILD_MIN_POSTINGS = 500_000  # below this, inserting into the indexes is cheap enough
_STAGE = "lessons.search_stage"  # the connection's staging table, in Connection.info


def stage(
    conn: Connection, docs: Sequence[tuple[int, int, Mapping[str, tuple[float, int]]]]
) -> None:
    """Copy lessons' lengths and term frequencies for `flush`: (lesson id, length in terms,
    {term: (weighted tf, count)})."""
    if not docs:
        return
    transaction = conn.get_transaction()
    kept = conn.info.get(_STAGE)
    if kept is not None and kept[0] is transaction:
        table, staged = kept[1], kept[2]
    else:  # the first batch of this transaction (one that rolled back took its table along)
        table, staged = f"search_stage_{uuid.uuid4().hex[:12]}", 0
        conn.execute(
            text(
                f"CREATE UNLOGGED TABLE {table}_tf (lesson_id integer, term text, tf real, "
                "n integer)"
            )
        )
        conn.execute(
            text(f"CREATE UNLOGGED TABLE {table}_docs (lesson_id integer, length integer)")
        )
    conn.info[_STAGE] = (transaction, table, staged + len(docs))
    raw: Any = conn.connection.driver_connection
    with raw.cursor() as cursor:
        with cursor.copy(f"COPY {table}_docs (lesson_id, length) FROM STDIN") as copy:
            for lesson_id, length, counts in docs:
                if counts:  # a lesson without terms has no postings, and no length either
                    copy.write_row((lesson_id, length))
        with cursor.copy(f"COPY {table}_tf (lesson_id, term, tf, n) FROM STDIN") as copy:
            for lesson_id, _length, counts in docs:
                for term, (tf, n) in counts.items():
                    copy.write_row((lesson_id, term, tf, n))


def flush(conn: Connection, *, k1: float, b: float) -> int:
    """Write the postings of every staged lesson; return how many lessons were indexed."""
    kept = conn.info.pop(_STAGE, None)
    if kept is None or kept[0] is not conn.get_transaction():
        return 0
    table, docs = kept[1], kept[2]
    try:
        return _flush(conn, table, docs, k1=k1, b=b)
    finally:
        conn.execute(text(f"DROP TABLE IF EXISTS {table}_tf, {table}_docs"))


def _flush(conn: Connection, table: str, docs: int, *, k1: float, b: float) -> int:
    if not docs:
        return 0
    tf = f"{table}_tf"
    conn.execute(text(f"ANALYZE {tf}"))  # the planner knows nothing of a table made just now
    conn.execute(
        text(
            f"INSERT INTO search_docs(lesson_id, length) SELECT lesson_id, length FROM {table}_docs"
        )
    )
    conn.execute(
        text(
            "INSERT INTO meta(key, value) VALUES ('search_docs', CAST(:n AS text)) ON CONFLICT "
            "(key) DO UPDATE SET value = CAST(CAST(meta.value AS integer) + :n AS text)"
        ),
        {"n": docs},
    )
    avgdl = conn.execute(text("SELECT avg(length) FROM search_docs")).scalar_one()
    new = int(conn.execute(text(f"SELECT count(*) FROM {tf}")).scalar_one())
    rebuild = new >= REBUILD_MIN_POSTINGS and new >= _postings(conn)
    if rebuild:
        conn.execute(text("DROP INDEX ix_search_postings_term_impact, ix_search_postings_lesson"))
    # Into the indexes, in term order the inserts walk them in order; with no indexes, any order.
    conn.execute(
        text(
            "INSERT INTO search_postings(term, lesson_id, impact) "
            "SELECT t.term, t.lesson_id, t.tf * (:k1 + 1) / "
            "(t.tf + :k1 * (1 - :b + :b * d.length / :avgdl)) "
            f"FROM {tf} t JOIN search_docs d USING (lesson_id)"
            + ("" if rebuild else " ORDER BY t.term")
        ),
        {"k1": k1, "b": b, "avgdl": float(avgdl or 1.0) or 1.0},
    )
    if rebuild:  # a sorted build, in parallel workers when PostgreSQL allows them
        conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
        conn.execute(text("SET LOCAL min_parallel_table_scan_size = 0"))
        for statement in INDEXES:
            conn.execute(text(statement))
        conn.execute(text("RESET min_parallel_table_scan_size"))
    conn.execute(
        text(
            f"INSERT INTO search_terms(term, df) SELECT term, count(*) FROM {tf} GROUP BY term "
            "ON CONFLICT (term) DO UPDATE SET df = search_terms.df + excluded.df"
        )
    )
    return docs


def _postings(conn: Connection) -> int:
    """Return about how many postings the index holds (the planner's estimate: no scan)."""
    found = conn.execute(
        text("SELECT reltuples FROM pg_class WHERE oid = to_regclass('search_postings')")
    ).scalar()
    return max(0, int(found or 0))
