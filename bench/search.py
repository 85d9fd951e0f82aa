"""Benchmarks of the ask path, the import and retrieval quality (`lessons bench`)."""

from __future__ import annotations

import asyncio
import os
import random
import re
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any

from knowledge.evaluation import corpus_records, evaluate, load_benchmark
from knowledge.importers import open_source
from knowledge.loader import index_doc
from knowledge.records import PersonRecord, ProductRecord
from knowledge.search import index as search_index
from knowledge.search.answer import Viewer
from knowledge.search.text import content_words
from knowledge.storage import Store

StoreFactory = Callable[[str], AbstractContextManager[Store]]
SHARED = Path(os.environ.get("LESSONS_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))
LLIS = SHARED / "data" / "llis" / "llis_2021-12-10.jsonl"
SCIFACT = SHARED / "data" / "scifact"
FRAMES = ("what did we learn about {}?", "any lessons on {}", "{}", "lessons learned about {}")
QUESTIONS = 200


def run(what: str, *, copies: int, backend: str, stores: StoreFactory) -> dict[str, Any]:
    """Run the named benchmark(s) on one backend and return the figures."""
    report: dict[str, Any] = {"backend": backend, "copies": copies}
    if what == "abstain":
        report["abstain"] = abstain(backend=backend, stores=stores)
        return report
    if what in ("quality", "all"):
        report["quality"] = quality(backend=backend, stores=stores)
    if what in ("latency", "import", "all"):
        with stores(backend) as store:
            report["import"] = bench_import(store, copies=copies)
            if what != "import":
                report["latency"] = latency(store, copies=copies)
    report["rss_mb"] = rss_mb()
    return report


def llis_records(copies: int) -> Iterator[tuple[int, PersonRecord | ProductRecord]]:
    """Yield the LLIS file `copies` times, each copy with its lesson ids shifted by 100,000."""
    source = open_source(LLIS)
    for copy in range(copies):
        for row, record in source.records(today=time_today()):
            if isinstance(record, ProductRecord) and copy:
                lesson_id = int(record.external_id.removeprefix("llis:"))
                record = replace(record, external_id=f"llis:{lesson_id + copy * 100_000}")
            yield row, record


def time_today() -> Any:
    """Return today's date (benchmarks do not depend on it)."""
    from datetime import UTC, datetime

    return datetime.now(UTC).date()


def bench_import(store: Store, *, copies: int) -> dict[str, Any]:
    """Import the LLIS file `copies` times and return throughput and peak memory."""
    started = time.perf_counter()
    stats = asyncio.run(store.import_records(llis_records(copies), source="bench"))
    seconds = time.perf_counter() - started
    return {
        "lessons": stats.lessons,
        "seconds": round(seconds, 1),
        "lessons_per_s": round(stats.lessons / seconds),
        "peak_rss_mb": peak_rss_mb(),
    }


def questions(n: int = QUESTIONS, seed: int = 7) -> list[str]:
    """Return realistic questions built from LLIS titles and topics, the same every run."""
    rng = random.Random(seed)
    titles = [
        r.title
        for _, r in open_source(LLIS).records(today=time_today())
        if isinstance(r, ProductRecord)
    ]
    picked = rng.sample(titles, n)
    return [
        FRAMES[i % len(FRAMES)].format(re.sub(r"\s+", " ", t).strip().lower())
        for i, t in enumerate(picked)
    ]


def latency(store: Store, *, copies: int) -> dict[str, Any]:
    """Time the ask path (parse + search + result objects) next to a bare FTS5 index."""
    qs = questions()
    viewer = Viewer(None)

    async def timed() -> list[float]:
        for q in qs[:20]:
            await store.ask(q, viewer=viewer, limit=5)
        out = []
        for q in qs:
            t = time.perf_counter()
            await store.ask(q, viewer=viewer, limit=5)
            out.append((time.perf_counter() - t) * 1000)
        return out

    ours = _summary(asyncio.run(timed()))
    return {
        "ask_ms": ours,
        "bare_fts5_ms": bare_fts5(qs, copies=copies),
        "agreement_at_5": agreement(store, qs[:50]),
        "questions": len(qs),
    }


def agreement(store: Store, qs: list[str]) -> float:
    """Return the share of the exhaustive top-5 (by original LLIS lesson) the budget keeps."""
    viewer = Viewer(None)

    def originals(limit_budget: int) -> list[set[str]]:
        old = search_index.POSTINGS_BUDGET, search_index.POSTINGS_PER_TERM
        search_index.POSTINGS_BUDGET = search_index.POSTINGS_PER_TERM = limit_budget
        try:
            return [
                {
                    _original(h.external_id)
                    for h in asyncio.run(store.ask(q, viewer=viewer, limit=5)).hits
                }
                for q in qs
            ]
        finally:
            search_index.POSTINGS_BUDGET, search_index.POSTINGS_PER_TERM = old

    budgeted, exhaustive = originals(search_index.POSTINGS_BUDGET), originals(10**12)
    shares = [len(a & b) / len(b) for a, b in zip(budgeted, exhaustive, strict=True) if b]
    return round(statistics.mean(shares), 3) if shares else 1.0


def _original(external_id: str | None) -> str:
    return str(int((external_id or "llis:0").removeprefix("llis:")) % 100_000)


def bare_fts5(qs: list[str], *, copies: int) -> dict[str, float]:
    """Time the same questions on a plain FTS5 table of the same text (OR of words, bm25)."""
    with tempfile.TemporaryDirectory(prefix="lessons-bare-") as folder:
        db = sqlite3.connect(Path(folder) / "bare.db")
        db.execute(
            "CREATE VIRTUAL TABLE f USING fts5(title, summary, lesson, recommendation, "
            "tags, tokenize='porter unicode61 remove_diacritics 2')"
        )
        rowid = 0
        for _, record in llis_records(copies):
            if isinstance(record, ProductRecord):
                for lesson in record.lessons:
                    rowid += 1
                    d = index_doc(rowid, record, lesson)
                    db.execute(
                        "INSERT INTO f(rowid, title, summary, lesson, recommendation, tags)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        (rowid, d.title, d.summary, d.lesson, d.recommendation, d.tags),
                    )
        db.commit()
        out = []
        for q in qs:
            match = " OR ".join(f'"{w}"' for w in content_words(q))
            t = time.perf_counter()
            if match:
                db.execute(
                    "SELECT rowid FROM f WHERE f MATCH ? ORDER BY bm25(f, 2, 1, 1, 1, 2) LIMIT 5",
                    (match,),
                ).fetchall()
            out.append((time.perf_counter() - t) * 1000)
        db.close()
    return _summary(out)


def quality(*, backend: str, stores: StoreFactory) -> dict[str, Any]:
    """Measure nDCG@10 and recall@100 on SciFact test (and train) with the default settings."""
    result: dict[str, Any] = {}
    with stores(backend) as store:
        asyncio.run(store.import_records(corpus_records(SCIFACT), source="scifact"))
        viewer = Viewer(None)

        async def search(question: str, depth: int) -> list[str]:
            answer = await store.ask(question, viewer=viewer, limit=depth)
            return [(h.external_id or "").removeprefix("beir:") for h in answer.hits]

        for split in ("train", "test"):
            result[split] = asyncio.run(evaluate(load_benchmark(SCIFACT, split), search))
    return result


def _summary(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 2)

    return {
        "mean": round(statistics.mean(ms), 2),
        "p50": pct(0.5),
        "p95": pct(0.95),
        "p99": pct(0.99),
    }


def _status(key: str) -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(key):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def rss_mb() -> float:
    """Return this process's resident memory in MB (Linux)."""
    return _status("VmRSS:")


def peak_rss_mb() -> float:
    """Return this process's peak resident memory in MB (Linux)."""
    return _status("VmHWM:")


# Abstention: does an answer know whether it found something good? -------------------------

ABSTAIN_SETS = Path(__file__).resolve().parents[1] / "bench" / "abstain"
DEMO = Path(__file__).resolve().parents[1] / "knowledge" / "demo" / "corpus.json"
# (corpus, set, in scope?): the demo's own questions and LLIS titles reworded should be answered;
# peace-operations questions against LLIS and rocket engines against the demo should not.
ABSTAIN_CASES = (
    ("demo", "demo_in", True),
    ("demo", "demo_out", False),
    ("llis", "llis_in", True),
    ("llis", "llis_out", False),
)
THRESHOLDS = tuple(round(0.3 + 0.05 * i, 2) for i in range(13))


def abstain_questions(name: str) -> list[str]:
    """Return the questions of one abstention set (bench/abstain/NAME.txt, in the checkout)."""
    path = ABSTAIN_SETS / f"{name}.txt"
    if not path.exists():
        raise SystemExit(
            f"The abstention sets live in the repository's bench/abstain/ folder ({path} is "
            "missing): run `lessons bench abstain` from a checkout (pip install -e .)."
        )
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def abstain(*, backend: str, stores: StoreFactory) -> dict[str, Any]:
    """Ask every question of the four sets; report how often each was abstained on.

    Every question's coverage (the judge's score) is kept, so the threshold can be calibrated:
    `sweep` gives the abstention rates at other thresholds, and `halves` the rates of the odd
    lines (calibration) and even lines (held out) at the threshold in use.
    """
    from knowledge.search.answer import ANSWERED_COVERAGE

    result: dict[str, Any] = {"threshold": ANSWERED_COVERAGE, "sets": {}}
    for corpus in ("demo", "llis"):
        with stores(backend) as store:
            source = open_source(DEMO if corpus == "demo" else LLIS)
            asyncio.run(store.import_records(source.records(today=time_today()), source=corpus))
            for name, scope in ((n, s) for c, n, s in ABSTAIN_CASES if c == corpus):
                qs = abstain_questions(name)

                async def ask_all(qs: list[str] = qs, store: Store = store) -> list[Any]:
                    # Asked by someone who may see every lesson, restricted ones too.
                    viewer = Viewer(None, store._audience_principals())
                    return [await store.ask(q, viewer=viewer, limit=5) for q in qs]

                answers = asyncio.run(ask_all())
                coverage = [a.coverage or 0.0 for a in answers]
                answered = [a.answered for a in answers]
                abstained = sum(not a for a in answered)
                result["sets"][name] = {
                    "corpus": corpus,
                    "in_scope": scope,
                    "questions": len(qs),
                    "abstained": abstained,
                    "abstained_pct": round(100 * abstained / len(qs), 1),
                    "halves_abstained_pct": [
                        round(100 * sum(not a for a in answered[h::2]) / len(answered[h::2]), 1)
                        for h in (0, 1)
                    ],
                    "sweep_abstained_pct": {
                        str(t): round(100 * sum(c < t for c in coverage) / len(qs), 1)
                        for t in THRESHOLDS
                    },
                    "coverage": [round(c, 3) for c in coverage],
                    "wrong": [
                        {"question": q, "coverage": c}
                        for q, c, a in zip(qs, coverage, answered, strict=True)
                        if a != scope
                    ],
                }
    return result


def abstain_table(report: dict[str, Any]) -> str:
    """Return the abstention figures as a small table (and the threshold sweep)."""
    lines = [
        f"threshold {report['threshold']}",
        "set        corpus  scope  questions  abstained  (odd / even lines)",
    ]
    for name, s in report["sets"].items():
        odd, even = s["halves_abstained_pct"]
        lines.append(
            f"{name:<10} {s['corpus']:<7} {'in' if s['in_scope'] else 'out':<6} "
            f"{s['questions']:>9}  {s['abstained_pct']:>8}%  ({odd}% / {even}%)"
        )
    lines.append("sweep: abstained % by threshold")
    lines.append("thr   " + "  ".join(f"{n:>8}" for n in report["sets"]))
    for t in THRESHOLDS:
        row = [report["sets"][n]["sweep_abstained_pct"][str(t)] for n in report["sets"]]
        lines.append(f"{t:<5} " + "  ".join(f"{v:>8}" for v in row))
    return "\n".join(lines)
