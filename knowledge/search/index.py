"""The full-text index inside the database: FTS5 on SQLite, BM25 postings on PostgreSQL.

Both index the terms of `knowledge.search.analysis` (issue 22): each lesson analysed in its
own language, a question in its language and in English. SQLite's FTS5 stores the analysed
terms (its tokenizer only splits them on spaces); PostgreSQL's postings are counted from them.

Both backends rank with BM25 over five weighted fields (title, summary, lesson, recommendation,
tags) and share one query plan: the query's terms are taken rarest first until a budget of
postings is spent, so the work per question stays bounded however large the index grows. On a
small index every term fits in the budget and the ranking is exact BM25.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from sqlalchemy import Connection, Engine, bindparam, event, text
from sqlalchemy.sql.elements import BindParameter

from knowledge.search import analysis, postings

# Field weights (title, summary, lesson, recommendation, tags), tuned on SciFact train.
FIELD_WEIGHTS = (2.0, 1.0, 1.0, 1.0, 2.0)
POSTINGS_BUDGET = 20_000
MIN_TERMS = 1
# PostgreSQL reads at most this many postings of each of the MAX_TERMS rarest terms.
POSTINGS_PER_TERM = 1_000
MAX_TERMS = 12
MAX_OVERFETCH = 500
K1, B = 1.2, 0.75
# SQLite's FTS5 tokenizer for the analysed terms: they only need splitting on spaces, and are
# folded already (diacritics stay: "é" has become "e" where the analysis wants it to).
TOKENIZER = "unicode61 remove_diacritics 0"


@dataclass(frozen=True, slots=True)
class IndexDoc:
    """The searchable text of one lesson, by field."""

    lesson_id: int
    title: str
    summary: str
    lesson: str
    recommendation: str
    tags: str
    language: str = "en"  # tags (themes, mission, type) are analysed as English


@dataclass(frozen=True, slots=True)
class Term:
    """An index term of the query, the word it came from, and its document frequency."""

    term: str
    df: int
    word: str = ""
    expansion: bool = False  # from the glossary, not typed by the user

    @property
    def priority(self) -> tuple[bool, int]:
        """Order terms for the query plan: the user's own words first, rarest first."""
        return (self.expansion, self.df)


@dataclass(frozen=True, slots=True)
class Restriction:
    """Which lessons may rank: never the hidden ones; only the allowed ones, if that is set.

    `allowed_sql` selects lesson ids (`SELECT l.id …`) with `params`. Hidden lessons (restricted
    ones the viewer may not see) are few: FTS5 and browsing fetch that many more and drop them,
    which ranks exactly as filtering first would, without a per-row check inside the full-text
    scan (`overfetch`, `sql`, `bind`, `keep`). PostgreSQL excludes them inside each term's scan.
    """

    hidden: frozenset[int] = frozenset()
    allowed_sql: str | None = None
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def overfetch(self) -> int:
        """Return how many extra rows to fetch so that dropping hidden ones leaves enough."""
        return len(self.hidden) if len(self.hidden) <= MAX_OVERFETCH else 0

    def sql(self, id_column: str) -> str:
        """Return the SQL conditions (each starting with AND) on the lesson id column."""
        sql = ""
        if len(self.hidden) > MAX_OVERFETCH:
            sql += f" AND {id_column} NOT IN :hidden"
        if self.allowed_sql:
            sql += f" AND {id_column} IN ({self.allowed_sql})"
        return sql

    def bind(self, params: dict[str, Any]) -> dict[str, Any]:
        """Return params with the restriction's own parameters added."""
        extra = {"hidden": sorted(self.hidden)} if len(self.hidden) > MAX_OVERFETCH else {}
        return params | dict(self.params) | extra

    def keep(self, rows: Sequence[Any], limit: int) -> list[tuple[int, float]]:
        """Drop hidden lessons from ranked (id, score) rows and cut to the limit."""
        kept = [(int(r[0]), float(r[1])) for r in rows if int(r[0]) not in self.hidden]
        return kept[:limit]


def plan(terms: Sequence[Term], *, budget: int | None = None) -> list[Term]:
    """Return the terms to search, the user's words before glossary expansions, rarest first,
    while their postings fit in the budget (the first term always)."""
    budget = POSTINGS_BUDGET if budget is None else budget
    known = sorted((t for t in terms if t.df > 0), key=lambda t: t.priority)
    chosen: list[Term] = []
    spent = 0
    for term in known:
        if len(chosen) >= MIN_TERMS and spent + term.df > budget:
            break
        chosen.append(term)
        spent += term.df
    return chosen


class SearchIndex(Protocol):
    """What the store needs of a full-text backend."""

    def add(self, conn: Connection, docs: Sequence[IndexDoc]) -> None:
        """Index these lessons (which must not be indexed yet)."""

    def remove(self, conn: Connection, lesson_ids: Sequence[int]) -> None:
        """Drop these lessons from the index."""

    def refresh(self, conn: Connection) -> None:
        """Recompute the term statistics after bulk changes."""

    def maintain(self, engine: Engine) -> None:
        """Tidy the index after a bulk import has committed."""

    def terms(
        self, conn: Connection, analysed: Mapping[str, Sequence[str]]
    ) -> dict[str, list[Term]]:
        """Return each word's index terms (`analysed`: word → terms) with their frequencies."""

    def rank(
        self, conn: Connection, terms: Sequence[Term], restriction: Restriction, limit: int
    ) -> list[tuple[int, float]]:
        """Return (lesson id, score) of the best lessons for these terms, best first."""

    def matched(
        self, conn: Connection, lesson_ids: Sequence[int], terms: Sequence[str]
    ) -> dict[int, set[str]]:
        """Return which of these index terms each of these (few) lessons holds."""


class SqliteIndex:
    """FTS5 over analysed terms; ranking by FTS5's own bm25() with field weights."""

    _TOKENIZER_TABLES = (
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_words USING fts5("
        f"word, tokenize='{TOKENIZER}')",
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_words_v "
        "USING fts5vocab(temp, query_words, instance)",
    )

    def __init__(self, engine: Engine | None = None) -> None:
        # Every connection gets two temporary tables that run FTS5's tokenizer on stored terms.
        if engine is not None:
            event.listen(engine, "connect", self._prepare)

    def maintain(self, engine: Engine) -> None:
        """Let SQLite refresh its planner statistics after a bulk import."""
        with engine.connect() as conn:
            conn.execute(text("PRAGMA optimize"))

    @classmethod
    def _prepare(cls, dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for statement in cls._TOKENIZER_TABLES:
            cursor.execute(statement)
        cursor.close()

    def add(self, conn: Connection, docs: Sequence[IndexDoc]) -> None:
        """Insert the documents' analysed terms into the FTS5 table."""
        if docs:
            conn.execute(
                text(
                    "INSERT INTO lesson_fts(rowid, title, summary, lesson, recommendation, tags) "
                    "VALUES (:lesson_id, :title, :summary, :lesson, :recommendation, :tags)"
                ),
                [_analysed_params(d) for d in docs],
            )

    def remove(self, conn: Connection, lesson_ids: Sequence[int]) -> None:
        """Delete the documents from the FTS5 table."""
        for chunk in _chunks(lesson_ids):
            conn.execute(
                text("DELETE FROM lesson_fts WHERE rowid IN :ids").bindparams(
                    bindparam("ids", expanding=True)
                ),
                {"ids": chunk},
            )

    def refresh(self, conn: Connection) -> None:
        """Copy document frequencies from FTS5's vocabulary into search_terms."""
        conn.execute(
            text(
                "CREATE VIRTUAL TABLE IF NOT EXISTS temp.lesson_fts_rows "
                "USING fts5vocab(main, lesson_fts, row)"
            )
        )
        conn.execute(text("DELETE FROM search_terms"))
        conn.execute(
            text("INSERT INTO search_terms(term, df) SELECT term, doc FROM temp.lesson_fts_rows")
        )

    def terms(
        self, conn: Connection, analysed: Mapping[str, Sequence[str]]
    ) -> dict[str, list[Term]]:
        """Look up the frequencies of the words' analysed terms."""
        return lookup(conn, analysed)

    def rank(
        self, conn: Connection, terms: Sequence[Term], restriction: Restriction, limit: int
    ) -> list[tuple[int, float]]:
        """Rank with bm25(); the rowid filters use +rowid so FTS5 does not probe row by row."""
        terms = plan(terms)
        if not terms:
            return []
        # Terms are letters and digits (analysis splits on anything else): quoted, no syntax.
        match = " OR ".join('"' + t.term.replace('"', '""') + '"' for t in terms)
        weights = ", ".join(str(w) for w in FIELD_WEIGHTS)
        sql = (
            f"SELECT rowid, -bm25(lesson_fts, {weights}) AS score FROM lesson_fts "
            f"WHERE lesson_fts MATCH :match{restriction.sql('+rowid')} "
            "ORDER BY bm25(lesson_fts, " + weights + ") LIMIT :limit"
        )
        params = restriction.bind({"match": match, "limit": limit + restriction.overfetch})
        return restriction.keep(conn.execute(_expand(sql, params), params).all(), limit)

    def matched(
        self, conn: Connection, lesson_ids: Sequence[int], terms: Sequence[str]
    ) -> dict[int, set[str]]:
        """Run the lessons' stored terms through the index's tokenizer (a few KB: well under a
        millisecond) and keep the wanted terms."""
        found: dict[int, set[str]] = {i: set() for i in lesson_ids}
        if not lesson_ids or not terms:
            return found
        rows = conn.execute(
            text(
                "SELECT rowid, title, summary, lesson, recommendation, tags FROM lesson_fts "
                "WHERE rowid IN :ids"
            ).bindparams(bindparam("ids", expanding=True)),
            {"ids": list(lesson_ids)},
        ).all()
        conn.execute(text("DELETE FROM temp.query_words"))
        conn.execute(
            text("INSERT INTO temp.query_words(rowid, word) VALUES (:i, :w)"),
            [{"i": r[0], "w": " \n ".join(f or "" for f in r[1:])} for r in rows],
        )
        for doc, term in conn.execute(
            text(
                "SELECT DISTINCT doc, term FROM temp.query_words_v WHERE term IN :terms"
            ).bindparams(bindparam("terms", expanding=True)),
            {"terms": sorted(set(terms))},
        ):
            found.setdefault(int(doc), set()).add(str(term))
        return found


class PostgresIndex:
    """BM25 of our own over a postings table of analysed terms."""

    _FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("title", "A"),
        ("tags", "A"),
        ("summary", "B"),
        ("lesson", "C"),
        ("recommendation", "D"),
    )
    _WEIGHT_OF: ClassVar[dict[str, float]] = {
        "A": FIELD_WEIGHTS[0],
        "B": FIELD_WEIGHTS[1],
        "C": FIELD_WEIGHTS[2],
        "D": FIELD_WEIGHTS[3],
    }

    def add(self, conn: Connection, docs: Sequence[IndexDoc]) -> None:
        """Stage documents in the transaction; `refresh` writes their postings, all at once."""
        postings.stage(conn, [(d.lesson_id, *self._counts(d)) for d in docs])

    @classmethod
    def _counts(cls, doc: IndexDoc) -> tuple[int, dict[str, tuple[float, int]]]:
        """Return the document's length in terms, and each term's weighted frequency (field
        weights summed) and count. Stop words count in the length (as FTS5 counts them) but
        get no postings: no question searches them, and they would be a third of the table."""
        counts: dict[str, tuple[float, int]] = {}
        length = 0
        for name, label in cls._FIELDS:
            language = "en" if name == "tags" else doc.language
            weight = cls._WEIGHT_OF[label]
            stop = analysis.index_stop_words(language)
            for word, term in analysis.pairs(getattr(doc, name), language):
                length += 1
                if word in stop:
                    continue
                tf, n = counts.get(term, (0.0, 0))
                counts[term] = (tf + weight, n + 1)
        return length, counts

    def remove(self, conn: Connection, lesson_ids: Sequence[int]) -> None:
        """Delete the lessons' postings and lower the frequencies of their terms."""
        for chunk in _chunks(lesson_ids):
            ids = {"ids": chunk}
            expanding: BindParameter[Any] = bindparam("ids", expanding=True)
            conn.execute(
                text(
                    "UPDATE search_terms t SET df = t.df - c.n FROM (SELECT term, count(*) AS n "
                    "FROM search_postings WHERE lesson_id IN :ids GROUP BY term) c "
                    "WHERE t.term = c.term"
                ).bindparams(expanding),
                ids,
            )
            conn.execute(
                text("DELETE FROM search_postings WHERE lesson_id IN :ids").bindparams(expanding),
                ids,
            )
            gone = conn.execute(
                text("DELETE FROM search_docs WHERE lesson_id IN :ids").bindparams(expanding), ids
            ).rowcount
            _count_docs(conn, -gone)

    def refresh(self, conn: Connection) -> None:
        """Index what was staged; drop terms no lesson uses any more (their df is exact)."""
        postings.flush(conn, k1=K1, b=B)
        conn.execute(text("DELETE FROM search_terms WHERE df <= 0"))

    def maintain(self, engine: Engine) -> None:
        """Vacuum and analyze the index after a bulk import (outside its transaction).

        Fresh statistics keep the planner on the postings index, and a set visibility map lets
        it read each term's best postings from the index alone: 21 → 9 ms at 105k lessons.
        """
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(text("VACUUM (ANALYZE) search_postings, search_docs, search_terms"))
            conn.execute(text("ANALYZE lessons, products"))

    def terms(
        self, conn: Connection, analysed: Mapping[str, Sequence[str]]
    ) -> dict[str, list[Term]]:
        """Look up the frequencies of the words' analysed terms."""
        return lookup(conn, analysed)

    def rank(
        self, conn: Connection, terms: Sequence[Term], restriction: Restriction, limit: int
    ) -> list[tuple[int, float]]:
        """Sum BM25 impacts times idf over the best postings of each of the rarest terms.

        Postings are read in impact order, at most POSTINGS_PER_TERM of each term: a rare term
        contributes all its lessons, a common one only the lessons where it weighs most.
        """
        chosen = sorted((t for t in terms if t.df > 0), key=lambda t: t.priority)[:MAX_TERMS]
        if not chosen:
            return []
        # The document count is kept in meta: count(*) would scan the table on every question.
        found = conn.execute(text("SELECT value FROM meta WHERE key = 'search_docs'")).scalar()
        n = int(found or 0)
        params: dict[str, Any] = {
            "limit": limit,
            "k": POSTINGS_PER_TERM,
            "hidden_ids": sorted(restriction.hidden),
            **dict(restriction.params),
        }
        where = (
            " AND lesson_id <> ALL(CAST(:hidden_ids AS integer[]))" if restriction.hidden else ""
        )
        if restriction.allowed_sql:
            where += f" AND lesson_id IN ({restriction.allowed_sql})"
        branches = []
        for i, term in enumerate(chosen):
            params[f"t{i}"] = term.term
            params[f"i{i}"] = math.log(1 + (n - term.df + 0.5) / (term.df + 0.5))
            branches.append(
                f"(SELECT lesson_id, impact * :i{i} AS s FROM search_postings "
                f"WHERE term = :t{i}{where} ORDER BY impact DESC LIMIT :k)"
            )
        sql = (
            f"SELECT lesson_id, sum(s) AS score FROM ({' UNION ALL '.join(branches)}) x "
            "GROUP BY lesson_id ORDER BY score DESC, lesson_id LIMIT :limit"
        )
        rows = conn.execute(_expand(sql, params), params).all()
        return [(int(r[0]), float(r[1])) for r in rows]

    def matched(
        self, conn: Connection, lesson_ids: Sequence[int], terms: Sequence[str]
    ) -> dict[int, set[str]]:
        """Read the lessons' postings of these terms (by the postings' lesson index)."""
        found: dict[int, set[str]] = {i: set() for i in lesson_ids}
        if not lesson_ids or not terms:
            return found
        for lesson_id, term in conn.execute(
            text(
                "SELECT lesson_id, term FROM search_postings "
                "WHERE lesson_id = ANY(CAST(:ids AS integer[])) "
                "AND term = ANY(CAST(:terms AS text[]))"
            ),
            {"ids": list(lesson_ids), "terms": sorted(set(terms))},
        ):
            found.setdefault(int(lesson_id), set()).add(str(term))
        return found


def _count_docs(conn: Connection, change: int) -> None:
    """Add change to the number of indexed documents kept in meta."""
    conn.execute(
        text(
            "INSERT INTO meta(key, value) VALUES ('search_docs', CAST(:n AS text)) "
            "ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(meta.value AS integer) + :n AS text)"
        ),
        {"n": change},
    )


def lookup(conn: Connection, analysed: Mapping[str, Sequence[str]]) -> dict[str, list[Term]]:
    """Return each word's terms with their document frequencies (0: not in the index)."""
    wanted = sorted({t for terms in analysed.values() for t in terms})
    df: dict[str, int] = {}
    for i in range(0, len(wanted), 500):
        rows = conn.execute(
            text("SELECT term, df FROM search_terms WHERE term IN :terms").bindparams(
                bindparam("terms", expanding=True)
            ),
            {"terms": wanted[i : i + 500]},
        )
        df.update((str(term), int(n)) for term, n in rows)
    return {
        word: [Term(t, df.get(t, 0), word) for t in dict.fromkeys(terms)]
        for word, terms in analysed.items()
    }


def _analysed_params(doc: IndexDoc) -> dict[str, Any]:
    """Return the FTS5 row of a document: each field's terms in the document's language."""
    return {
        "lesson_id": doc.lesson_id,
        "title": analysis.index_text(doc.title, doc.language),
        "summary": analysis.index_text(doc.summary, doc.language),
        "lesson": analysis.index_text(doc.lesson, doc.language),
        "recommendation": analysis.index_text(doc.recommendation, doc.language),
        "tags": analysis.index_text(doc.tags, "en"),
    }


def _expand(sql: str, params: dict[str, Any]) -> Any:
    """Return text(sql) with list-valued parameters bound as expanding IN lists."""
    statement = text(sql)
    for name, value in params.items():
        if isinstance(value, list | tuple) and f":{name}" in sql and name != "hidden_ids":
            statement = statement.bindparams(bindparam(name, expanding=True))
    return statement


def _chunks(ids: Sequence[int], size: int = 5000) -> list[list[int]]:
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]
