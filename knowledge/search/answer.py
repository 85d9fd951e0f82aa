"""Answer a question from the index: parse, correct, expand, retrieve, then build results."""

from __future__ import annotations

import functools
import math
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from rapidfuzz.distance import DamerauLevenshtein
from sqlalchemy import Connection, bindparam, select, text

from knowledge.evidence import Evidence, levels
from knowledge.models import LessonStatus, Meta, ProductType, SearchRanking, SearchWord
from knowledge.search import analysis
from knowledge.search.glossary import Glossary
from knowledge.search.index import Restriction, SearchIndex, Term
from knowledge.search.query import Query, parse
from knowledge.search.spelling import Vocabulary
from knowledge.search.text import clip, fold, sentences
from knowledge.search.votes import effects, kind_of

TAKEAWAY_CHARS = 240
# Lessons a manager or PBPO validated (and those applied since) rank a little higher: someone
# accountable vouched for them. The boost multiplies BM25 scores by 5%, so it only reorders
# near-ties (10% already put a QIPs note above the elections report for "elections" in the demo);
# on SciFact, whose lessons all share one status, nDCG@10 is unchanged (docs/benchmarks.md).
STATUS_BOOST = {LessonStatus.VALIDATED: 1.05, LessonStatus.APPLIED: 1.05}
# A PBPO's curation (`knowledge.curation`): boosted lessons outrank close matches, down-ranked
# ones fall below them; hidden ones are out of answers (`_HIDDEN_SQL`). Few lessons are curated.
CURATION_BOOST = {SearchRanking.BOOST: 1.5, SearchRanking.DOWN: 0.5}
# A lesson in another language than the question's ranks lower: mostly found through the
# glossary's concepts, its rare words outweigh a same-language lesson's common ones ("quick
# impact projects" put the Spanish note on QIPs above the English ones at 20.0 to 16.5, and
# "demining" the Arabic note at 26.9 to 14.8); the reader may not read it either. Questions and
# lessons of one language (SciFact, XQuAD in each language or across) are all ranked alike.
OTHER_LANGUAGE = 0.5
# An answer is "answered" when one of its first JUDGED lessons holds at least this share of the
# question's words, weighed by idf (calibrated on the abstention sets: docs/benchmarks.md).
ANSWERED_COVERAGE = 0.65
JUDGED = 3
COVERAGE_POWER = 1.0  # words weigh idf ** COVERAGE_POWER
CORRECTION_CREDIT = 0.5


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is asking: a person (if known) and the principals that open restricted lessons."""

    person_id: int | None
    principals: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Hit:
    """One lesson in an answer, with what a reader needs to judge and follow it up."""

    lesson_id: int
    product_id: int
    external_id: str | None
    title: str
    score: float
    takeaway: str
    product_type: ProductType
    mission: str | None
    date: date | None
    authors: tuple[str, ...]
    status: LessonStatus
    source_url: str | None
    themes: tuple[str, ...]
    evidence: Evidence | None = None
    language: str = "en"  # ISO 639-1 code of the lesson's language

    def as_json(self) -> dict[str, Any]:
        """Return the hit as plain JSON values."""
        return {
            "id": self.lesson_id,
            "product_id": self.product_id,
            "external_id": self.external_id,
            "title": self.title,
            "score": round(self.score, 4),
            "takeaway": self.takeaway,
            "type": self.product_type.value,
            "mission": self.mission,
            "date": self.date.isoformat() if self.date else None,
            "authors": list(self.authors),
            "status": self.status.value,
            "link": self.source_url,
            "themes": list(self.themes),
            "evidence": self.evidence.level.value if self.evidence else None,
            "language": self.language,
        }


@dataclass(frozen=True, slots=True)
class Answer:
    """Results for a question, and help when there are none."""

    query: Query
    hits: tuple[Hit, ...]
    corrections: dict[str, str] = field(default_factory=dict)
    expansions: tuple[str, ...] = ()
    related_themes: tuple[str, ...] = ()
    contacts: tuple[str, ...] = ()
    # Whether something good was found (see `judge`): the best hit covers enough of the
    # question's words, weighed by how rare they are. False: the hits are only the nearest.
    answered: bool = True
    coverage: float | None = None

    @property
    def did_you_mean(self) -> str | None:
        """Return the question with its misspellings corrected, when any were."""
        if not self.corrections:
            return None
        return " ".join(self.corrections.get(t, t) for t in self.query.terms)


class Searcher:
    """Answer questions; caches the vocabulary and missions until the index changes."""

    def __init__(self, *, index: SearchIndex, glossary: Glossary) -> None:
        self.index, self.glossary = index, glossary
        self._lock = threading.Lock()
        self._version: str | None = None
        self._loaded = False
        self._vocabulary: Vocabulary | None = None
        self._missions: tuple[str, ...] = ()
        self._themes: tuple[str, ...] = ()
        self._docs = 0

    def forget(self) -> None:
        """Drop cached vocabulary and missions (after this process changed the index)."""
        with self._lock:
            self._version, self._vocabulary, self._loaded = None, None, False

    def answer(
        self,
        conn: Connection,
        question: str,
        *,
        viewer: Viewer,
        today: date,
        limit: int,
        now: datetime | None = None,
    ) -> Answer:
        """Return the best lessons for a question that this viewer may see.

        `now` (the store's clock) lets askers' votes move lessons (`knowledge.search.votes`);
        without it they do not.
        """
        self._refresh(conn)
        limit = max(1, min(limit, 100))
        query = parse(question, today=today, missions=self._missions, themes=self._themes)
        hidden = _hidden(conn, viewer, query.statuses)
        answer = self._search(conn, question, query, hidden, limit, now=now)
        if answer.hits:
            return answer
        loose = parse(
            question, today=today, missions=self._missions, themes=self._themes, phrases=False
        )
        if loose.terms and loose != replace(query, relaxed=True):
            # "in 2010", "only AARs", "in MINUSCA" found nothing: drop them (the reply says so).
            # Words such as "2010" that were a filter do not count against the answer.
            relaxed = self._search(
                conn, question, loose, hidden, limit, subject=query.terms, now=now
            )
            if relaxed.hits:
                return relaxed
        return _with_help(conn, answer, viewer)

    def _search(
        self,
        conn: Connection,
        question: str,
        query: Query,
        hidden: frozenset[int],
        limit: int,
        subject: tuple[str, ...] | None = None,
        now: datetime | None = None,
    ) -> Answer:
        """Search; `subject` names the words the answer must cover (default: the query's)."""
        restriction = _restriction(query, hidden)
        if not query.terms:
            return _filters_only(conn, query, restriction, limit)
        # The question's words in its own language and in English (issue 22); the glossary's
        # words each in the language it gives them in.
        languages = tuple(dict.fromkeys((query.language, "en")))
        concepts = self.glossary.concepts(list(query.terms), question, query.language)
        expansions = list(concepts)
        typed = analysis.acronyms(question)
        found = _stems_first(
            self.index.terms(conn, _analysed(query.terms, languages, concepts)), typed
        )
        corrections = self._corrections(conn, {t: found[t] for t in query.terms})
        if corrections:
            fixed = [corrections.get(t, t) for t in query.terms]
            more = {
                w: language
                for w, language in self.glossary.concepts(fixed, question, query.language).items()
                if w not in found
            }
            found.update(
                _stems_first(
                    self.index.terms(conn, _analysed(corrections.values(), languages, more)), typed
                )
            )
            expansions += list(more)
        extra = set(expansions) - set(query.terms) - set(corrections.values())
        unique: dict[str, Term] = {}
        for word, terms in found.items():
            for t in terms:
                # A term the user typed stays theirs, even when the glossary adds it too.
                known = unique.get(t.term)
                if known is None or (known.expansion and word not in extra):
                    unique[t.term] = replace(t, expansion=word in extra)
        candidates = self.index.rank(conn, list(unique.values()), restriction, limit * 3)
        kind = _kind(query, found, corrections) if now else ""
        ranked = _one_per_product(conn, candidates, limit, kind, now, language=query.language)
        words = subject if subject is not None else query.terms
        needs = self._needs(words, question, query.language, corrections, found)
        coverage = self._coverage(conn, [lid for lid, _ in ranked[:JUDGED]], needs, found)
        best = max(coverage.values(), default=0.0)
        return Answer(
            query,
            _hits(conn, ranked, _weights(unique.values())),
            corrections=corrections,
            expansions=tuple(expansions),
            answered=bool(ranked) and best >= ANSWERED_COVERAGE,
            coverage=round(best, 4),
        )

    def _needs(
        self,
        words: tuple[str, ...],
        question: str,
        language: str,
        corrections: dict[str, str],
        found: dict[str, list[Term]],
    ) -> dict[str, list[tuple[set[str], float]]]:
        """Return, for each word, the sets of terms that cover it and the credit each gives."""
        needs: dict[str, list[tuple[set[str], float]]] = {}
        for word in words:
            # A word is covered by its own stems or its glossary expansions'; by its correction's
            # fully for one slip of the keyboard ("electoin"), half for a guess further off
            # ("electoral" → "electrical").
            ways = [(word, 1.0)]
            if word in corrections:
                fix = corrections[word]
                slip = DamerauLevenshtein.distance(word, fix) <= 1
                ways.append((fix, 1.0 if slip else CORRECTION_CREDIT))
            needs[word] = [
                (
                    {
                        t.term
                        for w in (said, *self.glossary.expand([said], question, language))
                        for t in found.get(w, ())
                    },
                    credit,
                )
                for said, credit in ways
            ]
        return needs

    def _coverage(
        self,
        conn: Connection,
        lesson_ids: list[int],
        needs: dict[str, list[tuple[set[str], float]]],
        found: dict[str, list[Term]],
    ) -> dict[int, float]:
        """Return, for each lesson, the share of the question's words it holds, weighed by idf.

        A word the index does not know at all weighs most (it is rarer than any known one): a
        question about cholera against lessons that never say it is not answered by "camps".
        """
        n = max(self._docs, 1)
        weight: dict[str, float] = {}
        for word in needs:
            dfs = [t.df for t in found.get(word, ())]
            df = min(dfs) if dfs else 0
            weight[word] = math.log(1 + (n - df + 0.5) / (df + 0.5)) ** COVERAGE_POWER
        total = sum(weight.values())
        if not lesson_ids or total <= 0:
            return {i: 1.0 for i in lesson_ids} if not needs else {i: 0.0 for i in lesson_ids}
        wanted = sorted({t for ways in needs.values() for terms, _ in ways for t in terms})
        held = self.index.matched(conn, lesson_ids, wanted)

        def credit(word: str, lesson_id: int) -> float:
            has = held.get(lesson_id, set())
            return max((c for terms, c in needs[word] if terms & has), default=0.0)

        return {
            lid: sum(w * credit(word, lid) for word, w in weight.items()) / total
            for lid in lesson_ids
        }

    def kind(self, conn: Connection, question: str, *, today: date) -> str:
        """Return the kind of question a question is, as votes on its answer count
        (`knowledge.search.votes`): the index terms of its own words, corrected."""
        self._refresh(conn)
        query = parse(question, today=today, missions=self._missions, themes=self._themes)
        if not query.terms:
            return ""
        # As `_search` reads the words (its own language and English, stems first), so a
        # vote's kind and a question's kind agree.
        languages = tuple(dict.fromkeys((query.language, "en")))
        typed = analysis.acronyms(question)
        found = _stems_first(self.index.terms(conn, _analysed(query.terms, languages, {})), typed)
        corrections = self._corrections(conn, {t: found[t] for t in query.terms})
        if corrections:
            analysed = _analysed(corrections.values(), languages, {})
            found.update(_stems_first(self.index.terms(conn, analysed), typed))
        return _kind(query, found, corrections)

    def parser(self, conn: Connection, *, today: date) -> Callable[[str], Query]:
        """Return a question parser that knows the index's missions and themes."""
        self._refresh(conn)
        return functools.partial(parse, today=today, missions=self._missions, themes=self._themes)

    def _refresh(self, conn: Connection) -> None:
        version = conn.execute(
            select(Meta.value).where(Meta.key == "index_version")
        ).scalar_one_or_none()
        with self._lock:
            if self._loaded and version == self._version:
                return
        missions = tuple(
            m
            for (m,) in conn.execute(
                text("SELECT DISTINCT mission FROM products WHERE mission IS NOT NULL")
            )
        )
        themes = tuple(
            t for (t,) in conn.execute(text("SELECT DISTINCT theme FROM product_themes"))
        )
        docs = int(conn.execute(text("SELECT count(*) FROM lessons")).scalar_one())
        with self._lock:
            self._version, self._vocabulary, self._missions = version, None, missions
            self._themes, self._loaded, self._docs = themes, True, docs

    def _vocab(self, conn: Connection) -> Vocabulary:
        with self._lock:
            if self._vocabulary is not None:
                return self._vocabulary
        vocabulary = Vocabulary(conn.execute(select(SearchWord.word, SearchWord.df)))
        with self._lock:
            self._vocabulary = vocabulary
        return vocabulary

    def _corrections(self, conn: Connection, found: dict[str, list[Term]]) -> dict[str, str]:
        # Chinese words are not corrected: one character off is another word, not a typo.
        unknown = [
            w
            for w, terms in found.items()
            if terms and all(t.df == 0 for t in terms) and not _HAN.search(w)
        ]
        if not unknown:
            return {}
        vocabulary = self._vocab(conn)
        fixes = {w: vocabulary.correct(w) for w in unknown}
        return {w: fix for w, fix in fixes.items() if fix}


_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def _analysed(
    words: Iterable[str], languages: tuple[str, ...], concepts: dict[str, str]
) -> dict[str, list[str]]:
    """Return the index terms each word may be: a question's words in the question's languages,
    the glossary's words in their own."""
    found = {w: analysis.forms(w, languages) for w in words}
    found.update((w, analysis.forms(w, (language,))) for w, language in concepts.items())
    return found


def _stems_first(found: dict[str, list[Term]], typed: frozenset[str]) -> dict[str, list[Term]]:
    """Keep a word's unstemmed form only when it was typed as an acronym (DDR) or none of its
    stems is in the index ("unmas", indexed as the acronym UNMAS, stems to "unma"): an extra
    form of a known word would count it twice (SciFact nDCG@10 0.688 → 0.683 on PostgreSQL)."""
    kept = {}
    for word, terms in found.items():
        if word in typed:
            kept[word] = terms
            continue
        raw = set(analysis.unstemmed(word))
        stems = [t for t in terms if t.term not in raw]
        kept[word] = stems if any(t.df > 0 for t in stems) else terms
    return kept


# Driven from the (small) audience table: a plan that starts from lessons scans all of them
# once SQLite has statistics (260 ms at 105k lessons, against 0.2 ms this way). Withdrawn
# lessons (few, found by ix_lessons_status) are hidden from everyone.
_HIDDEN_SQL = text(
    "SELECT l.id FROM lessons l WHERE l.product_id IN (SELECT a.product_id FROM "
    "product_audience a GROUP BY a.product_id "
    "HAVING max(CASE WHEN a.principal IN :principals THEN 1 ELSE 0 END) = 0) "
    "UNION SELECT l.id FROM lessons l WHERE l.status IN :unasked "
    "UNION SELECT c.lesson_id FROM lesson_curation c WHERE c.ranking = 'hidden'"
).bindparams(bindparam("principals", expanding=True), bindparam("unasked", expanding=True))
# Lessons that left the path to being learned: in no answer unless the question asks for them
# (`status:rejected`, `status:withdrawn`).
SET_ASIDE = (LessonStatus.REJECTED, LessonStatus.WITHDRAWN)


def _hidden(
    conn: Connection, viewer: Viewer, statuses: frozenset[LessonStatus] = frozenset()
) -> frozenset[int]:
    """Return the lessons this viewer may not see: restricted and hidden ones, and rejected and
    withdrawn ones unless `statuses` asks for them."""
    principals = sorted(viewer.principals) or ["-"]
    unasked = [s.value for s in SET_ASIDE if s not in statuses] or ["-"]
    rows = conn.execute(_HIDDEN_SQL, {"principals": principals, "unasked": unasked})
    return frozenset(int(i) for (i,) in rows)


def _restriction(query: Query, hidden: frozenset[int]) -> Restriction:
    params: list[tuple[str, Any]] = []
    conditions = []
    for name, values, column in (
        ("types", query.types, "p.type"),
        ("missions", query.missions, "p.mission"),
        ("statuses", query.statuses, "l.status"),
        ("languages", query.languages, "l.language"),
    ):
        if values:
            conditions.append(f"{column} IN :{name}")
            params.append((name, sorted(str(v) for v in values)))
    if query.themes:
        conditions.append(
            "EXISTS (SELECT 1 FROM product_themes t WHERE t.product_id = p.id "
            "AND t.theme IN :themes)"
        )
        params.append(("themes", sorted(query.themes)))
    for name, value, op in (("since", query.since, ">="), ("until", query.until, "<=")):
        if value:
            conditions.append(f"p.date {op} :{name}")
            # ISO text, not a date: sqlite3's default date adapter is deprecated (Python 3.12)
            # and SQLite stores dates as ISO text; PostgreSQL casts the untyped literal.
            params.append((name, value.isoformat()))
    allowed = None
    if conditions:
        allowed = (
            "SELECT l.id FROM lessons l JOIN products p ON p.id = l.product_id WHERE "
            + " AND ".join(conditions)
        )
    return Restriction(hidden=hidden, allowed_sql=allowed, params=tuple(params))


def _kind(query: Query, found: dict[str, list[Term]], corrections: dict[str, str]) -> str:
    """Return the kind of question: the index terms of the asker's own words, corrected."""
    return kind_of(
        t.term
        for word in query.terms
        for t in (found.get(corrections.get(word, word)) or found.get(word) or [])
    )


def _one_per_product(
    conn: Connection,
    ranked: list[tuple[int, float]],
    limit: int,
    kind: str = "",
    now: datetime | None = None,
    language: str | None = None,
) -> list[tuple[int, float]]:
    """Keep the best lesson of each product, so one study does not fill the answer.

    Validated and applied lessons are boosted first (STATUS_BOOST), curated ones
    (CURATION_BOOST) and those askers' votes move for this `kind` of question, by the clock's
    `now` (factors in [0.8, 1.2], `knowledge.search.votes`); lessons in another language than
    the question's (`language`) are weighed down (OTHER_LANGUAGE); equal weights keep their
    order.
    """
    if not ranked:
        return []
    rows = conn.execute(_LESSONS_SQL, {"ids": [lid for lid, _ in ranked]}).all()
    product_of: dict[int, int] = {int(r[0]): int(r[1]) for r in rows}
    boost = {
        int(r[0]): STATUS_BOOST.get(LessonStatus(r[2]), 1.0)
        * (OTHER_LANGUAGE if language and r[4] != language else 1.0)
        for r in rows
    }
    for lesson_id, ranking in conn.execute(_CURATED_SQL, {"ids": list(boost)}):
        boost[int(lesson_id)] *= CURATION_BOOST.get(SearchRanking(ranking), 1.0)
    voted = [int(r[0]) for r in rows if r[3]]
    if voted and kind and now is not None:
        for lesson_id, moved in effects(conn, voted, kind, now).items():
            boost[lesson_id] *= moved
    if any(b != 1.0 for b in boost.values()):
        boosted = [(lid, score * boost.get(lid, 1.0)) for lid, score in ranked]
        ranked = sorted(boosted, key=lambda pair: -pair[1])
    seen: set[int] = set()
    kept = []
    for lesson_id, score in ranked:
        product = product_of.get(lesson_id)
        if product is not None and product not in seen:
            seen.add(product)
            kept.append((lesson_id, score))
    return kept[:limit]


# Which lessons have analysed votes rides along (one probe of ix_feedback_lesson each): the
# votes themselves are read only when some candidate has any.
_LESSONS_SQL = text(
    "SELECT l.id, l.product_id, l.status, EXISTS (SELECT 1 FROM feedback f "
    "WHERE f.lesson_id = l.id AND f.kind <> ''), l.language FROM lessons l WHERE l.id IN :ids"
).bindparams(bindparam("ids", expanding=True))
_CURATED_SQL = text(
    "SELECT lesson_id, ranking FROM lesson_curation WHERE lesson_id IN :ids "
    "AND ranking IN ('boost', 'down')"
).bindparams(bindparam("ids", expanding=True))


def _filters_only(conn: Connection, query: Query, restriction: Restriction, limit: int) -> Answer:
    """Answer a question of filters only ("AARs in UNMISS") by whatever they keep."""
    browsed = _browse(conn, restriction, limit * 3) if query.has_filters else []
    ranked = _one_per_product(conn, browsed, limit)
    return Answer(
        query,
        _hits(conn, ranked, {}),
        answered=bool(ranked),
        coverage=1.0 if ranked else 0.0,
    )


def _browse(conn: Connection, restriction: Restriction, limit: int) -> list[tuple[int, float]]:
    sql = (
        "SELECT l.id FROM lessons l JOIN products p ON p.id = l.product_id WHERE 1=1"
        + restriction.sql("l.id")
        + " ORDER BY p.date DESC, l.id DESC LIMIT :limit"
    )
    params = restriction.bind({"limit": limit + restriction.overfetch})
    statement = text(sql).bindparams(
        *(bindparam(k, expanding=True) for k, v in params.items() if isinstance(v, list))
    )
    rows = [(int(r[0]), 0.0) for r in conn.execute(statement, params)]
    return restriction.keep(rows, limit)


_HIT_SQL = text(
    "SELECT l.id, p.id, p.external_id, p.title, l.title, p.type, p.mission, p.date, l.status, "
    "p.source_url, l.lesson, l.recommendation, l.observation, p.summary, l.language "
    "FROM lessons l JOIN products p ON p.id = l.product_id WHERE l.id IN :ids"
).bindparams(bindparam("ids", expanding=True))


def _weights(terms: Iterable[Term]) -> dict[str, float]:
    """Weigh index terms for takeaways: rare ones more, glossary expansions less."""
    return {t.term: (0.3 if t.expansion else 1.0) / math.log(t.df + 2) for t in terms}


def _hits(
    conn: Connection, ranked: list[tuple[int, float]], weights: dict[str, float]
) -> tuple[Hit, ...]:
    if not ranked:
        return ()
    ids = [lid for lid, _ in ranked]
    rows = {r[0]: r for r in conn.execute(_HIT_SQL, {"ids": ids})}
    authors: dict[int, list[str]] = {}
    themes: dict[int, list[str]] = {}
    product_ids = list({r[1] for r in rows.values()})
    for pid, name in conn.execute(
        text(
            "SELECT a.product_id, pe.name FROM product_authors a JOIN people pe "
            "ON pe.id = a.person_id WHERE a.product_id IN :ids ORDER BY a.position"
        ).bindparams(bindparam("ids", expanding=True)),
        {"ids": product_ids},
    ):
        authors.setdefault(pid, []).append(name)
    for pid, theme in conn.execute(
        text(
            "SELECT product_id, theme FROM product_themes WHERE product_id IN :ids ORDER BY theme"
        ).bindparams(bindparam("ids", expanding=True)),
        {"ids": product_ids},
    ):
        themes.setdefault(pid, []).append(theme)
    evidence = levels(conn, ids)
    hits = []
    for lesson_id, score in ranked:
        r = rows.get(lesson_id)
        if r is None:
            continue
        title = r[3] if not r[4] else f"{r[3]} — {r[4]}"
        hits.append(
            Hit(
                lesson_id=lesson_id,
                product_id=r[1],
                external_id=r[2],
                title=title,
                score=score,
                takeaway=takeaway((r[10], r[11], r[12], r[13]), weights)
                or clip(title, TAKEAWAY_CHARS),
                product_type=ProductType(r[5]),
                mission=r[6],
                date=_as_date(r[7]),
                authors=tuple(authors.get(r[1], ())),
                status=LessonStatus(r[8]),
                source_url=r[9],
                themes=tuple(themes.get(r[1], ())),
                evidence=evidence.get(lesson_id),
                language=r[14],
            )
        )
    return tuple(hits)


def lesson_hits(conn: Connection, lesson_ids: Iterable[int]) -> tuple[Hit, ...]:
    """Return lessons as hits (as an answer shows them), in the order given, without a search.

    The caller decides who may see them (`knowledge.access`).
    """
    return _hits(conn, [(int(i), 0.0) for i in lesson_ids], {})


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def takeaway(fields: tuple[str, ...], weights: dict[str, float]) -> str:
    """Return the sentence that best matches the weighted terms, preferring the lesson itself."""
    pattern = _term_pattern(tuple(sorted(weights, key=len, reverse=True)))
    best, best_score = "", 0.0
    for rank, text_ in enumerate(fields):
        for sentence in sentences(text_ or "")[:40]:
            found = set(pattern.findall(fold(sentence))) if pattern else set()
            score = sum(weights[t] for t in found) * (1 - 0.1 * rank)
            if score > best_score:
                best, best_score = sentence, score
    if not best:
        first = next((f for f in fields if f and f.strip()), "")
        best = next(iter(sentences(first)), "")
    return clip(best, TAKEAWAY_CHARS)


@functools.lru_cache(maxsize=256)
def _term_pattern(terms: tuple[str, ...]) -> re.Pattern[str] | None:
    """Match index terms at the start of words (stems are mostly prefixes of their words)."""
    if not terms:
        return None
    return re.compile(r"\b(" + "|".join(re.escape(t) for t in terms) + ")")


def _with_help(conn: Connection, answer: Answer, viewer: Viewer) -> Answer:
    themes = tuple(
        t
        for (t,) in conn.execute(
            text(
                "SELECT theme FROM product_themes WHERE product_id NOT IN "
                "(SELECT product_id FROM product_audience) "
                "GROUP BY theme ORDER BY count(*) DESC, theme LIMIT 6"
            )
        )
    )
    mission = next(iter(answer.query.missions), None)
    contacts = tuple(
        f"{name} <{email}>"
        for name, email in conn.execute(
            text(
                "SELECT pe.name, pe.email FROM people pe "
                "JOIN person_roles r ON r.person_id = pe.id "
                "WHERE r.role = 'pbpo' AND pe.email IS NOT NULL "
                "ORDER BY CASE WHEN pe.mission = :mission THEN 0 ELSE 1 END, pe.name LIMIT 3"
            ),
            {"mission": mission or ""},
        )
    )
    return Answer(
        answer.query,
        (),
        corrections=answer.corrections,
        expansions=answer.expansions,
        related_themes=themes,
        contacts=contacts,
        answered=False,
        coverage=0.0,
    )
