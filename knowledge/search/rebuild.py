"""Rebuild the search index of every lesson from the lessons themselves (migration 0071).

The index holds analysed terms (`knowledge.search.analysis`, issue 22) since 0071: an index
built before, from the raw text (FTS5's porter tokenizer, PostgreSQL's english parser), is
rebuilt once, each lesson analysed in its language.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Connection, text

from knowledge.models import ProductType
from knowledge.search.index import TOKENIZER, IndexDoc, PostgresIndex, SqliteIndex

_BATCH = 2000


def docs(conn: Connection) -> Iterator[list[IndexDoc]]:
    """Yield every lesson's searchable fields, as an import indexes them, in batches."""
    themes: dict[int, list[str]] = {}
    for product_id, theme in conn.execute(
        text("SELECT product_id, theme FROM product_themes ORDER BY product_id, theme")
    ):
        themes.setdefault(int(product_id), []).append(str(theme))
    last = 0
    while True:
        rows = conn.execute(
            text(
                "SELECT l.id, p.id, p.title, l.title, p.summary, l.observation, l.lesson, "
                "l.recommendation, p.mission, p.type, l.language FROM lessons l "
                "JOIN products p ON p.id = l.product_id WHERE l.id > :last ORDER BY l.id "
                "LIMIT :n"
            ),
            {"last": last, "n": _BATCH},
        ).all()
        if not rows:
            return
        batch = []
        for lid, pid, title, own, summary, observation, lesson, recommendation, *rest in rows:
            mission, kind, language = rest
            tags = " ".join(
                (
                    *(t.replace("-", " ") for t in themes.get(int(pid), [])),
                    mission or "",
                    ProductType(kind).label,
                )
            )
            batch.append(
                IndexDoc(
                    lesson_id=int(lid),
                    title=title if not own else f"{title} — {own}",
                    summary=summary or "",
                    lesson=f"{observation or ''}\n{lesson or ''}".strip(),
                    recommendation=recommendation or "",
                    tags=tags,
                    language=language or "en",
                )
            )
        yield batch
        last = int(rows[-1][0])


def rebuild(conn: Connection, *, tokenizer: str = TOKENIZER) -> None:
    """Drop the index and index every lesson again, in the caller's transaction."""
    if conn.dialect.name == "sqlite":
        conn.execute(text("DROP TABLE IF EXISTS lesson_fts"))
        conn.execute(text(fts5_table(tokenizer)))
        sqlite = SqliteIndex()
        for batch in docs(conn):
            sqlite.add(conn, batch)
        sqlite.refresh(conn)
        return
    for table in ("search_postings", "search_docs", "search_terms"):
        conn.execute(text(f"DELETE FROM {table}"))
    conn.execute(text("DELETE FROM meta WHERE key = 'search_docs'"))
    postgres = PostgresIndex()
    for batch in docs(conn):
        postgres.add(conn, batch)
    postgres.refresh(conn)


def fts5_table(tokenizer: str) -> str:
    """Return the statement that creates SQLite's index with this tokenizer."""
    return (
        "CREATE VIRTUAL TABLE lesson_fts USING fts5(title, summary, lesson, recommendation, "
        f"tags, tokenize='{tokenizer}')"
    )
