"""`lessons run`: the bot's server, in one process or in several workers behind one port."""

from __future__ import annotations

import sys

from aiohttp import web

from bot import workers
from bot.app import build_app
from bot.local.auth import Guard
from bot.settings import Settings
from bot.slack.errors import SlackStartupError
from bot.teams.errors import TeamsStartupError
from knowledge import database
from knowledge.errors import DomainError
from knowledge.storage import Store

SQLITE_WORKERS = (
    "More than one worker needs PostgreSQL (LESSONS_DATABASE_URL=postgresql://…): SQLite lets "
    "one process write at a time, and one worker's caches would not hear another's writes. "
    "On SQLite, run one worker (the default)."
)


def run(settings: Settings) -> int:
    """Serve until stopped; return the exit status."""
    store = Store.open(settings.database_url, glossary_path=settings.glossary)
    if not database.is_current(store.engine):
        raise DomainError("The database schema is not up to date: run `lessons db upgrade`.")
    if settings.workers > 1 and store.backend != "postgresql":
        raise DomainError(SQLITE_WORKERS)
    writer = database.WriterLock(settings.database_url, "lessons run")
    try:
        writer.acquire()  # held until the process ends
    except database.WriterTaken as exc:
        store.close()
        raise DomainError(str(exc)) from None
    guard = Guard.for_bind(settings.host, token=settings.login_token)
    if settings.workers > 1:
        store.close()  # each worker opens its own; the master holds no connection
        return _many(settings, guard)
    try:
        app = build_app(settings, store=store, guard=guard, scheduler=True)
    except (SlackStartupError, TeamsStartupError) as exc:
        print(f"lessons: {exc}", file=sys.stderr)
        return 2
    store.listen()
    _banner(settings, store.backend, guard)
    try:
        web.run_app(app, host=settings.host, port=settings.port, print=None)
    except (SlackStartupError, TeamsStartupError) as exc:
        print(f"lessons: {exc}", file=sys.stderr)
        return 2
    return 0


def _many(settings: Settings, guard: Guard) -> int:
    try:
        sockets = workers.listening_sockets(settings.host, settings.port, settings.workers)
    except workers.WorkersError as exc:
        raise DomainError(str(exc)) from None

    def build(index: int) -> web.Application:
        store = Store.open(settings.database_url, glossary_path=settings.glossary)
        store.listen()  # every worker hears the others' writes
        return build_app(settings, store=store, guard=guard, scheduler=index == 0)

    _banner(settings, "postgresql", guard)
    return workers.Master(sockets, build).run()


def _banner(settings: Settings, backend: str, guard: Guard) -> None:
    shown = "localhost" if settings.host in ("127.0.0.1", "::1") else settings.host
    many = f", {settings.workers} workers" if settings.workers > 1 else ""
    lines = [
        f"Lessons Bot is running (database: {backend}{many}).",
        f"  Chat:      http://{shown}:{settings.port}/",
        f"  Dashboard: http://{shown}:{settings.port}/dashboard",
    ]
    if guard.token:
        lines.append(f"  Reachable from other machines: sign in with the login token {guard.token}")
    if settings.slack_enabled:
        mode = "Socket Mode" if settings.slack_app_token else "HTTP at /slack/events"
        if settings.slack_oauth:
            mode += ", OAuth installs at <public address>/slack/install"
        lines.append(f"  Slack:     {mode}")
    if settings.teams_enabled:
        lines.append("  Teams:     HTTP at /api/messages (Microsoft 365 Agents SDK)")
    lines.append("Press Ctrl-C to stop.")
    print("\n".join(lines), flush=True)
