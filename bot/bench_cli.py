"""`lessons eval` and `lessons bench`: retrieval quality, and the benchmarks of the checkout.

The benchmarks live in the repository's `bench/` package, beside `tests/`, not in the
installed distribution: these commands import it from the checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bot.settings import MAX_WORKERS, Settings
from knowledge import database
from knowledge.errors import DomainError
from knowledge.evaluation import corpus_records, evaluate, load_benchmark
from knowledge.search.answer import Viewer
from knowledge.storage import Store


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `eval` and `bench` to the `lessons` command."""
    ev = sub.add_parser("eval", help="measure retrieval quality").add_subparsers(required=True)
    beir = ev.add_parser("beir", help="nDCG@10 and recall@100 on a BEIR folder")
    beir.add_argument("dir", type=Path)
    beir.add_argument("--split", default="test")
    beir.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    beir.add_argument("--json", action="store_true")
    beir.set_defaults(func=_eval_beir)
    bench = sub.add_parser("bench", help="latency, memory and import benchmarks")
    bench.add_argument(
        "what",
        choices=[
            "latency",
            "import",
            "quality",
            "abstain",
            "all",
            "slack",
            "teams",
            "scheduler",
            "multilingual",
        ],
    )
    bench.add_argument("--copies", type=int, default=50, help="LLIS copies (default 50 ≈ 105k)")
    bench.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    bench.add_argument("--json", action="store_true")
    bench.add_argument(
        "--seconds", type=float, default=20.0, help="slack, teams: seconds per phase"
    )
    bench.add_argument("--concurrency", type=int, default=32, help="slack, teams: connections")
    bench.add_argument("--no-slack", action="store_true", help="teams: skip the Slack bot's phases")
    bench.add_argument(
        "--workers",
        type=workers,
        help="slack, teams: the bot as `lessons run --workers K`, K = 1 then N, on PostgreSQL",
    )
    bench.add_argument("--people", type=int, default=100_000, help="scheduler: people")
    bench.add_argument("--actions", type=int, default=1_000_000, help="scheduler: actions")
    bench.set_defaults(func=_bench)


def workers(text: str) -> int:
    """Read `--workers`: a number of processes from 1 to MAX_WORKERS."""
    if not text.isdigit() or not 1 <= int(text) <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be a number from 1 to {MAX_WORKERS}")
    return int(text)


def _eval_beir(args: argparse.Namespace, settings: Settings) -> int:
    benchmark = load_benchmark(args.dir, args.split)
    with temporary_store(args.backend, settings) as store:
        asyncio.run(store.import_records(corpus_records(args.dir), source=str(args.dir)))
        viewer = Viewer(None)

        async def search(question: str, depth: int) -> list[str]:
            answer = await store.ask(question, viewer=viewer, limit=depth)
            return [h.external_id.removeprefix("beir:") for h in answer.hits if h.external_id]

        result = asyncio.run(evaluate(benchmark, search))
    result_json = {**result, "backend": args.backend, "split": args.split}
    if args.json:
        print(json.dumps(result_json))
    else:
        print(
            f"{args.dir.name} {args.split} on {args.backend}: nDCG@10 {result['ndcg@10']:.4f}, "
            f"recall@100 {result['recall@100']:.4f} ({int(result['queries'])} queries)"
        )
    return 0


@contextmanager
def temporary_store(backend: str, settings: Settings) -> Iterator[Store]:
    """Yield a migrated, empty store that is deleted afterwards (a file or a schema)."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="lessons-") as folder:
            store = Store.open(f"sqlite:///{folder}/eval.db", glossary_path=settings.glossary)
            database.upgrade(store.engine)
            try:
                yield store
            finally:
                store.close()
        return
    url = database.normalise_url(settings.postgres_eval_url)
    schema = f"lessons_eval_{uuid.uuid4().hex[:8]}"
    admin = database.make_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    joiner = "&" if "?" in url else "?"
    store = Store.open(
        f"{url}{joiner}options=-csearch_path%3D{schema}", glossary_path=settings.glossary
    )
    try:
        database.upgrade(store.engine)
        yield store
    finally:
        store.close()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def _bench(args: argparse.Namespace, settings: Settings) -> int:
    if args.what in ("slack", "teams") and args.workers:
        return _bench_workers(args, settings)
    if args.what == "teams":
        return _bench_teams(args, settings)
    if args.what == "multilingual":
        multilingual = _checkout_module("bench.multilingual")
        found = multilingual.run(stores=lambda: temporary_store(args.backend, settings))
        print(multilingual.table(found), file=sys.stderr if args.json else sys.stdout)
        print(json.dumps(found, indent=None if args.json else 2))
        return 0
    if args.what == "scheduler":
        return _bench_scheduler(args, settings)
    if args.what == "slack":
        return _bench_slack(args, settings)
    search_bench = _checkout_module("bench.search")
    report = search_bench.run(
        args.what,
        copies=args.copies,
        backend=args.backend,
        stores=lambda b: temporary_store(b, settings),
    )
    if args.what == "abstain":
        abstain = search_bench.abstain_table(report["abstain"])
        print(abstain, file=sys.stderr if args.json else sys.stdout)
    print(json.dumps(report, indent=None if args.json else 2))
    return 0


def _bench_scheduler(args: argparse.Namespace, settings: Settings) -> int:
    scheduler_bench = _checkout_module("bench.scheduler")
    sink = _checkout_module("bench.slack_sink")
    report = scheduler_bench.run(
        backend=args.backend,
        stores=lambda b: temporary_store(b, settings),
        people=args.people,
        actions=args.actions,
        deliver=sink.deliver_through_sink,
    )
    print(json.dumps(report, indent=None if args.json else 2))
    return 0


def _bench_slack(args: argparse.Namespace, settings: Settings) -> int:
    slack_bench = _checkout_module("bench.slack")
    report = slack_bench.run(
        seconds=args.seconds,
        concurrency=args.concurrency,
        backend=args.backend,
        stores=lambda b: temporary_store(b, settings),
        glossary=settings.glossary,
    )
    print(slack_bench.table(report), file=sys.stderr if args.json else sys.stdout)
    print(json.dumps(report, indent=None if args.json else 2))
    return 0


def _bench_teams(args: argparse.Namespace, settings: Settings) -> int:
    teams_bench = _checkout_module("bench.teams")
    report = teams_bench.run(
        seconds=args.seconds,
        concurrency=args.concurrency,
        backend=args.backend,
        stores=lambda b: temporary_store(b, settings),
        glossary=settings.glossary,
        paths=tuple(p for p in teams_bench.PATHS if p != "slack_bot" or not args.no_slack),
    )
    print(teams_bench.table(report), file=sys.stderr if args.json else sys.stdout)
    print(json.dumps(report, indent=None if args.json else 2))
    return 0


def _bench_workers(args: argparse.Namespace, settings: Settings) -> int:
    workers_bench = _checkout_module("bench.workers")
    report = workers_bench.run(
        platform=args.what,
        workers=args.workers,
        stores=lambda b: temporary_store(b, settings),
        seconds=args.seconds,
        concurrency=args.concurrency,
    )
    print(workers_bench.table(report), file=sys.stderr if args.json else sys.stdout)
    print(json.dumps(report, indent=None if args.json else 2))
    return 0


def _checkout_module(name: str, roots: tuple[Path, ...] | None = None) -> Any:
    """Import a module of the repository's `bench/` package (it is not installed).

    The benchmarks live beside `tests/` in the checkout: with an editable install the checkout
    is found from this file; else the current directory is tried.
    """
    for root in roots or (Path(__file__).resolve().parents[1], Path.cwd()):
        if (root / "bench" / "__init__.py").exists():
            if str(root) not in sys.path:
                sys.path.insert(0, str(root))
            return importlib.import_module(name)
    raise DomainError(
        "This benchmark lives in the repository's bench/ folder, which is not installed: run "
        "it from a checkout of Lessons Bot (`pip install -e .` there, or cd into it)."
    )
