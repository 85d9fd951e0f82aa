"""`lessons bench multilingual`: search in five languages on XQuAD, against a bare FTS5 index.

XQuAD (../shared/data/xquad, CC BY-SA 4.0, evaluation only) holds the same 240 Wikipedia
paragraphs in English, Spanish, Arabic, Russian and Chinese, and questions written for them.
Only the dev questions (even-numbered articles) are used, as the data's README asks; all 240
paragraphs of a language are indexed. Each question is asked of:

- **bare FTS5**: SQLite FTS5 with its `unicode61` tokenizer and an OR of the question's words,
  as the data's README measured it (the baseline, in the same run);
- **analysed**: the terms of `knowledge.search.analysis` (a language per text, Snowball stems,
  Arabic normalisation, Chinese segmented by jieba's dictionary) in an FTS5 index, an OR of
  the question's terms, ranked by FTS5's BM25;
- **product**: the product itself: each paragraph imported as a lesson (`Store.import_records`,
  its language detected at import) into a fresh store of the chosen backend, and each question
  asked as a person asks it (`Store.ask`: parsing, analysis in the question's language and in
  English, the multilingual glossary, typo correction, BM25 of that backend's index).

Same language: questions against paragraphs in their own language. Cross-language: Spanish,
Arabic, Russian and Chinese questions against the English paragraphs. MRR@10 and recall@5.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from knowledge import database
from knowledge.models import ProductType
from knowledge.records import LessonRecord, PersonRecord, ProductRecord
from knowledge.search import analysis
from knowledge.search.answer import Viewer
from knowledge.search.text import words
from knowledge.storage import Store

StoreMaker = Callable[[], AbstractContextManager[Store]]

LANGS = ("en", "es", "ar", "ru", "zh")
CROSS = ("es", "ar", "ru", "zh")


def data_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "xquad"


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


class Index:
    """One FTS5 index of paragraphs, with a way to turn text into index terms."""

    def __init__(self, paragraphs: list[dict[str, Any]], to_terms: Callable[[str], list[str]]):
        self.to_terms = to_terms
        self.db = sqlite3.connect(":memory:")
        self.db.execute("CREATE VIRTUAL TABLE p USING fts5(body, tokenize='unicode61')")
        self.db.executemany(
            "INSERT INTO p(rowid, body) VALUES (?, ?)",
            ((int(p["id"]) + 1, " ".join(to_terms(p["text"]))) for p in paragraphs),
        )

    def search(self, question: str, k: int = 10) -> list[int]:
        wanted = list(dict.fromkeys(t for t in self.to_terms(question) if t))
        if not wanted:
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in wanted)
        rows = self.db.execute(
            "SELECT rowid FROM p WHERE p MATCH ? ORDER BY bm25(p) LIMIT ?", (match, k)
        )
        return [int(r[0]) - 1 for r in rows]


class Product:
    """The product's own index: paragraphs imported as lessons, questions asked of the store."""

    def __init__(self, store: Store, paragraphs: list[dict[str, Any]]) -> None:
        self.store = store
        records: list[tuple[int, PersonRecord | ProductRecord]] = [
            (
                i,
                ProductRecord(
                    external_id=f"xquad:{p['id']}",
                    type=ProductType.PRACTICE_NOTE,
                    title="—",  # no words: the paragraph alone is searched, as in the others
                    date=date(2020, 1, 1),
                    lessons=(LessonRecord(lesson=p["text"]),),
                ),
            )
            for i, p in enumerate(paragraphs, 1)
        ]
        asyncio.run(store.import_records(records, source="xquad"))

    def search(self, question: str, k: int = 10) -> list[int]:
        answer = asyncio.run(self.store.ask(question, viewer=Viewer(None), limit=k))
        return [int((h.external_id or ":-1").split(":")[1]) for h in answer.hits]


def _scores(index: Index | Product, questions: Iterable[dict[str, Any]]) -> dict[str, float]:
    rr, hit5, n, started = 0.0, 0, 0, time.perf_counter()
    for q in questions:
        found = index.search(q["question"])
        n += 1
        if q["paragraph"] in found:
            rank = found.index(q["paragraph"]) + 1
            rr += 1.0 / rank
            hit5 += rank <= 5
    seconds = time.perf_counter() - started
    return {
        "mrr@10": round(rr / n, 3),
        "recall@5": round(hit5 / n, 3),
        "questions": n,
        "ms_per_question": round(1000 * seconds / n, 2),
    }


def bare_terms(text: str) -> list[str]:
    return words(text)


def analysed_terms(text: str) -> list[str]:
    """The terms of a text analysed in the language detected for it."""
    return analysis.terms(text, analysis.detect(text))


@contextmanager
def sqlite_store() -> Iterator[Store]:
    """Yield a migrated, empty SQLite store in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="lessons-xquad-") as folder:
        store = Store.open(f"sqlite:///{folder}/xquad.db")
        database.upgrade(store.engine)
        try:
            yield store
        finally:
            store.close()


def run(folder: Path | None = None, *, stores: StoreMaker = sqlite_store) -> dict[str, Any]:
    """Measure the three indexes for every language, the same language and across to English.

    `stores` makes each fresh store of the product (a temporary SQLite file by default;
    `lessons bench multilingual --backend postgres` passes a temporary PostgreSQL schema).
    """
    folder = folder or data_dir()
    if not folder.exists():
        raise FileNotFoundError(f"XQuAD is not at {folder} (see ../shared/data/README.md)")
    paragraphs = {lang: _jsonl(folder / f"paragraphs.{lang}.jsonl") for lang in LANGS}
    questions = {lang: _jsonl(folder / f"questions-dev.{lang}.jsonl") for lang in LANGS}
    report: dict[str, Any] = {"same_language": {}, "cross_language": {}}
    for lang in LANGS:
        with stores() as store:
            product = Product(store, paragraphs[lang])
            report["same_language"][lang] = {
                "bare_fts5": _scores(Index(paragraphs[lang], bare_terms), questions[lang]),
                "analysed": _scores(Index(paragraphs[lang], analysed_terms), questions[lang]),
                "product": _scores(product, questions[lang]),
            }
            if lang != "en":
                continue
            english_bare = Index(paragraphs["en"], bare_terms)
            english = Index(paragraphs["en"], analysed_terms)
            for cross in CROSS:
                report["cross_language"][cross] = {
                    "bare_fts5": _scores(english_bare, questions[cross]),
                    "analysed": _scores(english, questions[cross]),
                    "product": _scores(product, questions[cross]),
                }
    return report


def table(report: dict[str, Any]) -> str:
    systems = ("bare_fts5", "analysed", "product")
    lines = [
        "| questions → paragraphs | bare FTS5 MRR@10 | analysed MRR@10 | product MRR@10 "
        "| bare R@5 | analysed R@5 | product R@5 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for kind, label in (("same_language", "{0} → {0}"), ("cross_language", "{0} → en")):
        for lang, row in report[kind].items():
            mrr = " | ".join(f"{row[s]['mrr@10']:.3f}" for s in systems)
            recall = " | ".join(f"{row[s]['recall@5']:.3f}" for s in systems)
            lines.append(f"| {label.format(lang)} | {mrr} | {recall} |")
    return "\n".join(lines)


if __name__ == "__main__":
    result = run()
    print(table(result))
    print(json.dumps(result, indent=2))
