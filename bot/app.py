"""Composition root: the aiohttp application with its routes, store and lifecycle."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot import reminders
from bot.inbox import Keeper
from bot.keys import STORE
from bot.local import auth, dashboard, routes
from bot.settings import Settings
from knowledge.inbox import KEEP_DONE, Inbox
from knowledge.storage import Store

log = logging.getLogger(__name__)
__all__ = ["STORE", "build_app"]


@web.middleware
async def unreadable_bodies(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Answer 400 to a body that cannot be read (say, gzip that is not gzip), not 500.

    aiohttp decodes a request's Content-Encoding as the handler reads the body and raises
    RequestPayloadError there: the client's mistake, wherever the handler reads.
    """
    try:
        return await handler(request)
    except web.RequestPayloadError:
        log.info("refused a body that cannot be read on %s", request.path)
        return web.json_response({"error": "the body cannot be read"}, status=400)


async def healthz(request: web.Request) -> web.Response:
    """Answer 200 when the database answers, 503 when it does not."""
    ok = await request.app[STORE].ping()
    return web.json_response(
        {"status": "ok" if ok else "database unavailable"}, status=200 if ok else 503
    )


def build_app(
    settings: Settings,
    *,
    store: Store | None = None,
    guard: auth.Guard | None = None,
    scheduler: bool = False,
) -> web.Application:
    """Build the aiohttp application (one server for every surface).

    With `scheduler`, reminders and digests tick inside it (`lessons run`; LESSONS_SCHEDULER=off
    turns them off).
    """
    app = web.Application(client_max_size=1024 * 1024, middlewares=[unreadable_bodies])
    app[STORE] = store or Store.open(settings.database_url, glossary_path=settings.glossary)
    app.router.add_get("/healthz", healthz)
    auth.install(app, guard or auth.Guard.for_bind(settings.host, token=settings.login_token))
    hub = routes.add_routes(app, app[STORE], settings.handlers)
    dashboard.add_routes(app)
    keeper = Keeper(Inbox(app[STORE].engine, clock=app[STORE].clock))
    if settings.slack_enabled:
        from bot.slack.routes import SlackSurface  # only loaded when Slack is configured

        SlackSurface(settings, app[STORE], keeper).add_routes(app)
    if settings.teams_enabled:
        from bot.teams.routes import TeamsSurface  # only loaded when Teams is configured

        TeamsSurface(settings, app[STORE], keeper).add_routes(app)
    if keeper.replays:
        _keep(app, keeper)
    if scheduler:
        reminders.install(app, settings, app[STORE], hub)
    app.on_cleanup.append(_close)
    return app


def _keep(app: web.Application, keeper: Keeper) -> None:
    """Recover and lease the inbox's events once the surfaces have started (see bot.inbox)."""

    async def start(app: web.Application) -> None:
        store = app[STORE]
        await keeper.inbox.forget(store.clock() - KEEP_DONE)
        # One process serves a SQLite file (bot.serve takes its lock): every row not done is
        # an orphan of a previous run. On PostgreSQL, rows wait for their lease to run out.
        await keeper.start(everything=store.backend == "sqlite")

    async def stop(app: web.Application) -> None:
        await keeper.stop()

    app.on_startup.append(start)
    app.on_shutdown.insert(0, stop)


async def _close(app: web.Application) -> None:
    app[STORE].close()
