"""Retrieval quality on a BEIR-format folder: nDCG@10 and recall@100."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from knowledge.errors import DomainError
from knowledge.models import ProductType
from knowledge.records import LessonRecord, ProductRecord

Search = Callable[[str, int], Awaitable[list[str]]]


@dataclass(frozen=True, slots=True)
class Benchmark:
    """Queries and relevance judgements of one split."""

    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def corpus_records(folder: Path) -> Iterator[tuple[int, ProductRecord]]:
    """Yield the corpus documents as products (external id `beir:<_id>`), one lesson each."""
    path = _need(folder / "corpus.jsonl")
    with path.open(encoding="utf-8") as lines:
        for row, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            doc = json.loads(line)
            title = " ".join(str(doc.get("title") or "").split())[:500]
            yield (
                row,
                ProductRecord(
                    external_id=f"beir:{doc['_id']}",
                    type=ProductType.PRACTICE_NOTE,
                    title=title or str(doc["_id"]),
                    lessons=(LessonRecord(lesson=str(doc.get("text") or title or "-")),),
                ),
            )


def load_benchmark(folder: Path, split: str) -> Benchmark:
    """Read the queries that have judgements in the split, and the judgements."""
    qrels: dict[str, dict[str, int]] = {}
    with _need(folder / "qrels" / f"{split}.tsv").open(encoding="utf-8") as f:
        for record in csv.DictReader(f, delimiter="\t"):
            score = int(record["score"])
            if score > 0:
                qrels.setdefault(record["query-id"], {})[record["corpus-id"]] = score
    queries: dict[str, str] = {}
    with _need(folder / "queries.jsonl").open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                q = json.loads(line)
                if q["_id"] in qrels:
                    queries[q["_id"]] = q["text"]
    return Benchmark(queries=queries, qrels=qrels)


async def evaluate(benchmark: Benchmark, search: Search) -> dict[str, float]:
    """Run every query and return mean nDCG@10, recall@100 and the query count."""
    ndcg = recall = 0.0
    for qid, question in benchmark.queries.items():
        ranked = await search(question, 100)
        relevant = benchmark.qrels[qid]
        ndcg += ndcg_at(ranked, relevant, 10)
        recall += len(set(ranked[:100]) & relevant.keys()) / len(relevant)
    n = max(1, len(benchmark.queries))
    return {
        "ndcg@10": round(ndcg / n, 4),
        "recall@100": round(recall / n, 4),
        "queries": float(len(benchmark.queries)),
    }


def ndcg_at(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    """Return nDCG@k of a ranking against graded judgements."""
    dcg = sum(relevant.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def _need(path: Path) -> Path:
    if not path.is_file():
        raise DomainError(
            f"{path} is missing: a BEIR folder has corpus.jsonl, queries.jsonl "
            "and qrels/<split>.tsv"
        )
    return path
