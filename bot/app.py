"""Composition root: the aiohttp application with its routes, store and lifecycle."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot import reminders
from bot.keys import STORE
from bot.local import auth, dashboard, routes
from bot.settings import Settings
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
    hub = routes.add_routes(app, app[STORE])
    dashboard.add_routes(app)
    if settings.slack_enabled:
        from bot.slack.routes import SlackSurface  # only loaded when Slack is configured

        SlackSurface(settings, app[STORE]).add_routes(app)
    if settings.teams_enabled:
        from bot.teams.routes import TeamsSurface  # only loaded when Teams is configured

        TeamsSurface(settings, app[STORE]).add_routes(app)
    if scheduler:
        reminders.install(app, settings, app[STORE], hub)
    app.on_cleanup.append(_close)
    return app


async def _close(app: web.Application) -> None:
    app[STORE].close()
