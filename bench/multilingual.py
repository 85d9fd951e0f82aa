"""`lessons bench multilingual`: search in five languages on XQuAD, against a bare FTS5 index.

XQuAD (../shared/data/xquad, CC BY-SA 4.0, evaluation only) holds the same 240 Wikipedia
paragraphs in English, Spanish, Arabic, Russian and Chinese, and questions written for them.
Only the dev questions (even-numbered articles) are used, as the data's README asks; all 240
paragraphs of a language are indexed. Each question is asked of:

- **bare FTS5**: SQLite FTS5 with its `unicode61` tokenizer and an OR of the question's words,
  as the data's README measured it (the baseline, in the same run);
- **analysed**: the terms of `knowledge.search.analysis` (a language per text, Snowball stems,
  Arabic normalisation, Chinese segmented by jieba's dictionary) in an FTS5 index, an OR of
  the question's terms, ranked by FTS5's BM25.

Same language: questions against paragraphs in their own language. Cross-language: Spanish,
Arabic, Russian and Chinese questions against the English paragraphs. MRR@10 and recall@5.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from knowledge.search import analysis
from knowledge.search.text import words

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


def _scores(index: Index, questions: Iterable[dict[str, Any]]) -> dict[str, float]:
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


def run(folder: Path | None = None) -> dict[str, Any]:
    """Measure both indexes for every language, the same language and across to English."""
    folder = folder or data_dir()
    if not folder.exists():
        raise FileNotFoundError(f"XQuAD is not at {folder} (see ../shared/data/README.md)")
    paragraphs = {lang: _jsonl(folder / f"paragraphs.{lang}.jsonl") for lang in LANGS}
    questions = {lang: _jsonl(folder / f"questions-dev.{lang}.jsonl") for lang in LANGS}
    report: dict[str, Any] = {"same_language": {}, "cross_language": {}}
    for lang in LANGS:
        report["same_language"][lang] = {
            "bare_fts5": _scores(Index(paragraphs[lang], bare_terms), questions[lang]),
            "analysed": _scores(Index(paragraphs[lang], analysed_terms), questions[lang]),
        }
    english_bare = Index(paragraphs["en"], bare_terms)
    english = Index(paragraphs["en"], analysed_terms)
    for lang in CROSS:
        report["cross_language"][lang] = {
            "bare_fts5": _scores(english_bare, questions[lang]),
            "analysed": _scores(english, questions[lang]),
        }
    return report


def table(report: dict[str, Any]) -> str:
    lines = [
        "| questions → paragraphs | bare FTS5 MRR@10 | analysed MRR@10 | bare R@5 | analysed R@5 |"
    ]
    lines.append("| --- | --- | --- | --- | --- |")
    for kind, label in (("same_language", "{0} → {0}"), ("cross_language", "{0} → en")):
        for lang, row in report[kind].items():
            bare, ours = row["bare_fts5"], row["analysed"]
            lines.append(
                f"| {label.format(lang)} | {bare['mrr@10']:.3f} | {ours['mrr@10']:.3f} "
                f"| {bare['recall@5']:.3f} | {ours['recall@5']:.3f} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    result = run()
    print(table(result))
    print(json.dumps(result, indent=2))
