"""The `lessons` command: run the bot, chat, ask, import, upgrade, seed, evaluate, benchmark."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError

from bot import (
    action_cli,
    admin,
    audience_cli,
    logs,
    practices_cli,
    report_cli,
    validation_cli,
    votes_cli,
)
from bot.progress import progress_bar
from bot.settings import MAX_WORKERS, Settings
from bot.terminal.render import render
from handlers.chat import Button, ButtonPress, ConversationRef, Incoming, Message, UserRef
from handlers.router import Deps, dispatch
from knowledge import database
from knowledge.errors import DomainError, database_trouble
from knowledge.evaluation import corpus_records, evaluate, load_benchmark
from knowledge.importers import open_source
from knowledge.search.answer import Viewer
from knowledge.storage import Store

log = logging.getLogger("lessons")
DEMO = Path(__file__).resolve().parents[1] / "knowledge" / "demo" / "corpus.json"


def main(argv: list[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"lessons: {exc}", file=sys.stderr)
        return 2
    if not logging.getLogger().handlers:  # as basicConfig did: only when nothing logs yet
        logs.configure(settings)
    if settings.log_level != "DEBUG":
        logging.getLogger("alembic").setLevel(logging.WARNING)
        # The Agents SDK logs three or four INFO lines for every Teams turn ("Acquiring token",
        # "Replying to activity"): at INFO they would be most of the log, and of its cost.
        logging.getLogger("microsoft_agents").setLevel(logging.WARNING)
    try:
        result: int = args.func(args, settings)
        return result
    except DomainError as exc:
        print(f"lessons: {exc.message}", file=sys.stderr)
        return 2
    except OperationalError as exc:  # server down, folder missing, file locked: not a bug
        log.debug("database error", exc_info=True)
        print(f"lessons: the database is not available: {exc.orig}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`lessons ask … | head`)
        sys.stderr.close()
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lessons", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run the bot server (health check, chat surfaces)")
    run.add_argument("--host", help="address to bind (LESSONS_HOST, default 127.0.0.1)")
    run.add_argument("--port", type=int, help="port (LESSONS_PORT, default 3000)")
    run.add_argument(
        "--workers",
        type=_workers,
        help="processes serving the port (LESSONS_WORKERS, default 1; more needs PostgreSQL)",
    )
    run.set_defaults(func=_run)
    chat = sub.add_parser("chat", help="chat with the bot in this terminal")
    chat.add_argument("--as", dest="who", metavar="EMAIL", help="act as this person")
    chat.set_defaults(func=_chat)
    ask = sub.add_parser("ask", help="answer one question ('-' reads one per line from stdin)")
    ask.add_argument("question", nargs="+")
    ask.add_argument("--json", action="store_true", help="print JSON (one object per question)")
    ask.add_argument("--limit", type=_limit, default=5, help="lessons per answer (1-100)")
    ask.add_argument("--as", dest="who", metavar="EMAIL", help="ask as this person")
    ask.set_defaults(func=_ask)
    imp = sub.add_parser("import", help="import lessons from CSV, JSON/JSONL, Markdown or LLIS")
    imp.add_argument("file", type=Path)
    imp.add_argument(
        "--new-missions", action="store_true", help="allow missions the index does not know yet"
    )
    imp.add_argument(
        "--new-themes", action="store_true", help="allow themes the index does not know yet"
    )
    imp.set_defaults(func=_import)
    db = sub.add_parser("db", help="database maintenance").add_subparsers(required=True)
    db.add_parser("upgrade", help="create or upgrade the schema").set_defaults(func=_upgrade)
    seed = sub.add_parser("seed-demo", help="load the demo lessons, people and actions")
    seed.add_argument("--if-empty", action="store_true", help="only when there are no lessons")
    seed.set_defaults(func=_seed)
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
        type=_workers,
        help="slack, teams: the bot as `lessons run --workers K`, K = 1 then N, on PostgreSQL",
    )
    bench.add_argument("--people", type=int, default=100_000, help="scheduler: people")
    bench.add_argument("--actions", type=int, default=1_000_000, help="scheduler: actions")
    bench.set_defaults(func=_bench)
    _scheduler_parser(sub)
    _teams_parser(sub)
    admin.add_parsers(sub)
    report_cli.add_parsers(sub)
    practices_cli.add_parsers(sub)
    votes_cli.add_parsers(sub)
    validation_cli.add_parsers(sub)
    action_cli.add_parsers(sub)
    audience_cli.add_parsers(sub)
    return parser


def _workers(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be a number from 1 to {MAX_WORKERS}")
    return int(text)


def _limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise argparse.ArgumentTypeError("must be a number from 1 to 100")
    return int(text)


async def _known(store: Store, email: str | None) -> int | None:
    """Return the person `--as EMAIL` names, or stop: acting as a guest by a typo is no answer."""
    if not email:
        return None
    person = await store.person_for("local", email.strip().lower())
    if person is None:
        raise DomainError(
            f"--as: nobody with the email {email} is in the staff directory. Check the "
            "address, or leave --as out to act as a guest."
        )
    return person


def _teams_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    package = sub.add_parser("teams-package", help="build the Teams app package (manifest, icons)")
    package.add_argument("--out", type=Path, default=Path("lessons-bot.zip"))
    package.add_argument("--app-id", help="the bot's app id (default: …SETTINGS__CLIENTID)")
    package.add_argument(
        "--domain", required=True, help="the bot's public host name (e.g. lessons.un.example)"
    )
    package.add_argument(
        "--schemas", type=Path, help="folder of Microsoft's Teams manifest schemas"
    )
    package.set_defaults(func=_teams_package)


def _teams_package(args: argparse.Namespace, settings: Settings) -> int:
    from bot.teams import package  # imported here: only this command needs it

    app_id = args.app_id or settings.teams_client_id
    if not app_id:
        raise DomainError(
            "Give the bot's app id: --app-id, or CONNECTIONS__SERVICE_CONNECTION__SETTINGS__"
            "CLIENTID."
        )
    schemas = args.schemas or _shared() / "schemas" / "teams" / "app-manifest"
    if not (schemas / package.SCHEMA_FILE).exists():
        if args.schemas:
            raise DomainError(f"{schemas} holds no {package.SCHEMA_FILE}.")
        print(
            f"note: {package.SCHEMA_FILE} not found in {schemas}: the manifest is checked by "
            "Teams' rules only (--schemas DIR validates it against Microsoft's schema).",
            file=sys.stderr,
        )
        schemas = None
    try:
        out = package.write(args.out, app_id, domain=args.domain, schemas=schemas)
    except package.PackageError as exc:
        raise DomainError(str(exc)) from None
    checked = "validated against Microsoft's schema" if schemas else "checked"
    print(f"Wrote {out} (manifest {package.MANIFEST_VERSION}, {checked}; app {app_id}).")
    print("Upload it in Teams: Apps → Manage your apps → Upload an app, or in the admin centre.")
    return 0


def _shared() -> Path:
    found = os.environ.get("LESSONS_SHARED_DIR")
    return Path(found) if found else Path(__file__).resolve().parents[2] / "shared"


def _scheduler_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sched = sub.add_parser("scheduler", help="run only the scheduler (reminders and digests)")
    sched.set_defaults(func=_scheduler_forever)
    actions = sched.add_subparsers(metavar="ACTION")
    once = actions.add_parser("run-once", help="run every due job once and print what was sent")
    once.add_argument("--now", metavar="ISO-DATETIME", help="run as if it were this time (UTC)")
    once.add_argument(
        "--dry-run", action="store_true", help="print what would be sent; keep nothing"
    )
    once.set_defaults(func=_scheduler_once)


def _store(settings: Settings) -> Store:
    return Store.open(settings.database_url, glossary_path=settings.glossary)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from bot import serve  # imported here: only the server needs it

    settings = replace(
        settings,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers or settings.workers,
    )
    return serve.run(settings)


def _chat(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings)
    _require_schema(store)
    try:
        asyncio.run(_known(store, args.who))
    except DomainError:
        store.close()
        raise
    who = UserRef("local", (args.who or "").lower() or "guest")
    where = ConversationRef("local", "terminal", channel_name="terminal")
    print("Lessons Bot — ask me what we learned about something. 'help' for help, Ctrl-D to leave.")
    if not args.who:
        print(
            "You are a guest: your actions, validations and home need you to be someone. Start "
            "with `lessons chat --as you@un.example` (make chat AS=you@un.example)."
        )

    async def loop() -> None:
        buttons: dict[str, Button] = {}  # the last reply's [buttons]: typing a label presses it
        while True:
            try:
                line = await asyncio.to_thread(input, "you> ")
            except EOFError:
                return
            if line.strip():
                pressed = buttons.get(" ".join(line.split()).casefold().strip("[]"))
                event: Incoming = (
                    ButtonPress(who, where, pressed.action, pressed.value)
                    if pressed is not None
                    else Message(who, where, line)
                )
                reply = await dispatch(event, Deps(store=store))
                if reply is not None:
                    print(render(reply) + "\n")
                    found = [e for e in reply.elements if isinstance(e, Button) and not e.url]
                    buttons = {b.label.casefold(): b for b in reversed(found)}

    try:
        asyncio.run(loop())
    finally:
        store.close()
    return 0


def _ask(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings)
    _require_schema(store)
    questions: Iterator[str] = (
        (line.rstrip("\n") for line in sys.stdin)
        if args.question == ["-"]
        else iter([" ".join(args.question)])
    )

    async def answer_all() -> None:
        person = await _known(store, args.who)
        viewer = await store.viewer_for(person)
        for question in questions:
            if args.json:
                answer = await store.ask(question, viewer=viewer, limit=args.limit)
                print(
                    json.dumps(
                        {
                            "question": question,
                            "answered": answer.answered,
                            "results": [h.as_json() for h in answer.hits],
                        },
                        ensure_ascii=False,
                    ),
                    flush=True,
                )
            else:
                reply = await dispatch(
                    Message(
                        UserRef("local", args.who or "guest"),
                        ConversationRef("local", "cli"),
                        question,
                    ),
                    Deps(store=store),
                )
                if reply is not None:
                    print(render(reply))

    try:
        asyncio.run(answer_all())
    finally:
        store.close()
    return 0


# SQLite has one writer at a time: an import that waited out the busy timeout while the bot kept
# writing starts again (from the file) rather than fail.
IMPORT_TRIES = 3


def _import(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings)
    try:
        return _import_into(store, args)
    finally:
        store.close()  # a refused import too: no connection is left open


def _import_into(store: Store, args: argparse.Namespace) -> int:
    _require_schema(store)
    source = open_source(args.file)
    total = source.estimate()
    for attempt in range(1, IMPORT_TRIES + 1):
        try:
            stats = asyncio.run(
                store.import_records(
                    source.records(today=store.today()),
                    source=str(args.file),
                    progress=progress_bar(total, sys.stderr),
                    new_missions=args.new_missions,
                    new_themes=args.new_themes,
                )
            )
            break
        except OperationalError as exc:  # nothing was written: the import is all-or-nothing
            if attempt == IMPORT_TRIES or database_trouble(exc) != "busy":
                raise
            log.warning("the database was busy with other writers; import try %d", attempt + 1)
    print(
        f"Imported {args.file}: {stats.created} new and {stats.updated} updated products, "
        f"{stats.lessons} lessons, {stats.actions} actions, {stats.people} people "
        f"in {stats.seconds:.1f} s."
    )
    return 0


def _require_schema(store: Store) -> None:
    if not database.is_current(store.engine):
        raise DomainError("The database schema is not up to date: run `lessons db upgrade`.")


def _upgrade(_args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings)
    database.upgrade(store.engine)
    print(f"Database schema is up to date ({store.backend}).")
    return 0


def _seed(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings)
    _require_schema(store)
    if args.if_empty and store.engine and asyncio.run(store.counts()).products:
        print("The database already holds lessons; demo not loaded.")
        return 0
    records = open_source(DEMO).records(today=store.today())
    stats = asyncio.run(store.import_records(records, source="demo corpus"))
    print(
        f"Loaded the demo corpus: {stats.created + stats.updated} products, "
        f"{stats.lessons} lessons, {stats.actions} actions, {stats.people} people."
    )
    return 0


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
        from bot.slack.sink import deliver_through_sink  # only this benchmark needs them
        from scheduler import bench as scheduler_bench

        sched_report = scheduler_bench.run(
            backend=args.backend,
            stores=lambda b: temporary_store(b, settings),
            people=args.people,
            actions=args.actions,
            deliver=deliver_through_sink,
        )
        print(json.dumps(sched_report, indent=None if args.json else 2))
        return 0
    if args.what == "slack":
        from bot.slack import bench as slack_bench  # imported here: only this benchmark needs it

        slack_report = slack_bench.run(
            seconds=args.seconds,
            concurrency=args.concurrency,
            backend=args.backend,
            stores=lambda b: temporary_store(b, settings),
            glossary=settings.glossary,
        )
        print(slack_bench.table(slack_report), file=sys.stderr if args.json else sys.stdout)
        print(json.dumps(slack_report, indent=None if args.json else 2))
        return 0
    from knowledge import bench  # imported here: only benchmarks need it

    report = bench.run(
        args.what,
        copies=args.copies,
        backend=args.backend,
        stores=lambda b: temporary_store(b, settings),
    )
    if args.what == "abstain":
        print(bench.abstain_table(report["abstain"]), file=sys.stderr if args.json else sys.stdout)
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


def _scheduler_forever(_args: argparse.Namespace, settings: Settings) -> int:
    from bot import reminders  # imported here: only the scheduler commands need it
    from scheduler.runner import Runner

    store = _store(settings)
    _require_schema(store)
    try:
        database.WriterLock(settings.database_url, "lessons scheduler").acquire()
    except database.WriterTaken as exc:
        store.close()
        raise DomainError(str(exc)) from None
    runner = Runner(reminders.scheduler(settings, store))
    print(f"Lessons Bot scheduler is running (database: {store.backend}).", flush=True)
    print("Press Ctrl-C to stop.", flush=True)

    async def forever() -> None:
        runner.start()
        try:
            await asyncio.Event().wait()
        finally:
            await runner.stop()

    asyncio.run(forever())
    return 0


def _scheduler_once(args: argparse.Namespace, settings: Settings) -> int:
    from bot import reminders  # imported here: only the scheduler commands need it
    from scheduler.clock import RunningClock, system
    from scheduler.jobs import TickReport

    store = _store(settings)
    _require_schema(store)
    clock = RunningClock(_moment(args.now)) if args.now else system
    preview = reminders.PreviewNotifier() if args.dry_run else None
    scheduler = reminders.scheduler(
        settings, store, clock=clock, dry_run=args.dry_run, preview=preview
    )

    async def once() -> TickReport:
        try:
            return await scheduler.tick()
        finally:
            await scheduler.aclose()

    try:
        report = asyncio.run(once())
    finally:
        scheduler.close()
    for line in reminders.report_lines(report, preview=preview):
        print(line)
    return 0


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise DomainError(
            f"--now must be an ISO date and time, like 2026-11-25T09:00Z, not '{text}'"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
