"""PostgreSQL's postings, built once per import from text copied in, in the import's transaction.

An import used to tokenize and write the postings of each batch of 1,000 lessons as it came:
~160 postings a lesson, each inserted into two indexes, and `to_tsvector` over five fields in
one backend. Now each batch only copies its lessons' text into a staging table (COPY), and at
the end of the import (`flush`):

1. the term frequencies of every staged lesson are computed by one `CREATE TABLE AS`, which
   PostgreSQL may run in parallel workers (tokenizing is most of an import's time);
2. documents, postings and term frequencies are written in one statement each, with the
   average document length of the whole index (BM25's avgdl) known before the first posting;
3. when the import brings at least as many postings as the index held (a first import, a
   rebuild), the postings' two indexes are dropped before and built after: a sorted build is
   two to three times faster than inserting into them. The lock this takes makes searches of
   other processes wait until the import commits.

Staging tables are created and dropped inside the import's transaction: nobody else ever sees
them, and an import that fails leaves none behind. It stays all-or-nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
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
PARALLEL_MIN_DOCS = 2_000  # below this, parallel workers cost more than they save
_PARALLEL = ("parallel_setup_cost", "parallel_tuple_cost", "min_parallel_table_scan_size")
_STAGE = "lessons.search_stage"  # the connection's staging table, in Connection.info
_COLUMNS = ("lesson_id", "title", "summary", "lesson", "recommendation", "tags")


def stage(conn: Connection, rows: Sequence[tuple[int, str, str, str, str, str]]) -> None:
    """Copy lessons' text (id, title, summary, lesson, recommendation, tags) for `flush`."""
    if not rows:
        return
    transaction = conn.get_transaction()
    kept = conn.info.get(_STAGE)
    if kept is not None and kept[0] is transaction:
        table = kept[1]
    else:  # the first batch of this transaction (one that rolled back took its table along)
        table = f"search_stage_{uuid.uuid4().hex[:12]}"
        conn.execute(
            text(
                f"CREATE UNLOGGED TABLE {table} (lesson_id integer, title text, summary text, "
                "lesson text, recommendation text, tags text)"
            )
        )
        conn.info[_STAGE] = (transaction, table)
    raw: Any = conn.connection.driver_connection
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY {table} ({', '.join(_COLUMNS)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def flush(conn: Connection, *, weights: dict[str, float], k1: float, b: float) -> int:
    """Write the postings of every staged lesson; return how many lessons were indexed."""
    kept = conn.info.pop(_STAGE, None)
    if kept is None or kept[0] is not conn.get_transaction():
        return 0
    table = kept[1]
    try:
        return _flush(conn, table, weights=weights, k1=k1, b=b)
    finally:
        conn.execute(text(f"DROP TABLE IF EXISTS {table}_tf"))
        conn.execute(text(f"DROP TABLE IF EXISTS {table}"))


def _flush(conn: Connection, table: str, *, weights: dict[str, float], k1: float, b: float) -> int:
    docs = int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    if not docs:
        return 0
    _term_frequencies(conn, table, weights, parallel=docs >= PARALLEL_MIN_DOCS)
    tf = f"{table}_tf"
    conn.execute(
        text(
            f"INSERT INTO search_docs(lesson_id, length) SELECT lesson_id, sum(n) FROM {tf} "
            "GROUP BY lesson_id"
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


def _term_frequencies(
    conn: Connection, table: str, weights: dict[str, float], *, parallel: bool
) -> None:
    """Tokenize the staged text into (lesson, term, weighted tf, positions): the slow part.

    Fields of equal weight are tokenized as one text (joined by newlines, so no two words
    merge): the same lexemes and counts, with fewer calls and vectors to concatenate.
    """
    if parallel:  # the planner would not use workers for a table it has no statistics of
        for setting in _PARALLEL:
            conn.execute(text(f"SET LOCAL {setting} = 0"))
    vector, labels = _vector(weights)
    weight = " ".join(f"WHEN '{label}' THEN {w}" for label, w in labels.items())
    # One pass over the vectors gives each lexeme's weighted tf and its number of positions.
    conn.execute(
        text(
            f"CREATE UNLOGGED TABLE {table}_tf AS SELECT v.lesson_id, u.lexeme AS term, x.tf, "
            f"coalesce(array_length(u.positions, 1), 1) AS n FROM (SELECT s.lesson_id, {vector} "
            f"AS tsv FROM {table} s) v, unnest(v.tsv) u, LATERAL (SELECT sum(CASE w {weight} "
            "ELSE 1 END) AS tf FROM unnest(u.weights) w) x"
        )
    )
    if parallel:
        for setting in _PARALLEL:
            conn.execute(text(f"RESET {setting}"))


def _vector(weights: dict[str, float]) -> tuple[str, dict[str, str]]:
    """Return the SQL of a lesson's weighted tsvector, and each weight label's weight."""
    by_weight: dict[float, list[str]] = {}
    for name, label in FIELDS:
        by_weight.setdefault(weights[label], []).append(f"s.{name}")
    parts, labels = [], {}
    for label, (weight, names) in zip("ABCD", by_weight.items(), strict=False):
        joined = f"concat_ws(chr(10), {', '.join(names)})"
        parts.append(f"setweight(to_tsvector('english', {joined}), '{label}')")
        labels[label] = str(weight)
    return " || ".join(parts), labels


def _postings(conn: Connection) -> int:
    """Return about how many postings the index holds (the planner's estimate: no scan)."""
    found = conn.execute(
        text("SELECT reltuples FROM pg_class WHERE oid = to_regclass('search_postings')")
    ).scalar()
    return max(0, int(found or 0))
