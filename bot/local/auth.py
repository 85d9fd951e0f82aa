"""Who may use the local chat and dashboard, and protection against cross-site requests.

- Bound to a loopback address (the default), the page is open to this machine's user.
- Bound anywhere else, a login token printed at start-up (or `LESSONS_LOGIN_TOKEN`) is needed
  once per browser; the browser then holds an HttpOnly, SameSite=Strict session cookie.
- Always: a WebSocket or a form POST must come from the page's own origin, and the Host header
  must be this server (a DNS-rebinding page on another name is refused).

Platform webhooks (`/slack/events`, `/api/messages`) and `/healthz` carry their own
authentication and are not touched here.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html import escape
from urllib.parse import urlsplit

from aiohttp import web

COOKIE = "lessons_session"
FORM = "application/x-www-form-urlencoded"
OPEN_PATHS = ("/healthz", "/slack/", "/api/messages", "/login", "/static/", "/favicon.ico")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Guard:
    """The login token (None when bound to loopback) and the names this server answers to."""

    token: str | None
    hosts: frozenset[str]

    @classmethod
    def for_bind(cls, host: str, *, token: str | None = None) -> Guard:
        """Return the guard for a bind address: a token is needed off loopback."""
        names = {host.strip("[]").lower(), "localhost", "127.0.0.1", "::1"}
        needs_token = not is_loopback(host)
        if needs_token and not token:
            token = secrets.token_urlsafe(24)
        return cls(token=token if needs_token else None, hosts=frozenset(names))

    def knows(self, request: web.Request) -> bool:
        """Return True when the Host header names this server (any port)."""
        return _hostname(request.host) in self.hosts

    def session_value(self) -> str:
        """Return the cookie value that proves the token was given (never the token itself)."""
        assert self.token is not None
        return hmac.new(self.token.encode(), b"lessons-session", hashlib.sha256).hexdigest()

    def signed_in(self, request: web.Request) -> bool:
        """Return True when no token is needed or the browser holds a valid session."""
        if self.token is None:
            return True
        cookie = request.cookies.get(COOKIE, "")
        # compare_digest refuses non-ASCII text; such a cookie is not ours anyway.
        return cookie.isascii() and hmac.compare_digest(cookie, self.session_value())


def is_loopback(host: str) -> bool:
    """Return True for 127.0.0.0/8, ::1 and localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


GUARD: web.AppKey[Guard] = web.AppKey("guard", Guard)


def install(app: web.Application, guard: Guard) -> None:
    """Add the login page and the middleware that enforces the guard."""
    app[GUARD] = guard
    app.middlewares.append(_middleware)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)


@web.middleware
async def _middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    guard = request.app[GUARD]
    path = request.path
    if path.startswith(("/slack/", "/api/messages")) or path == "/healthz":
        return await handler(request)
    if guard.token is None and not guard.knows(request):
        # A page on another name resolving to 127.0.0.1 (DNS rebinding) must not reach us.
        raise web.HTTPMisdirectedRequest(text="This server only answers to its own address.")
    if _needs_same_origin(request) and not same_origin(request):
        raise web.HTTPForbidden(text="Cross-site requests are refused.")
    if not path.startswith(OPEN_PATHS) and not guard.signed_in(request):
        if request.method == "GET" and path != "/ws":
            raise web.HTTPFound("/login")
        raise web.HTTPUnauthorized(text="Sign in first: open /login.")
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if response.content_type == "text/html":
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'",
        )
    return response


def _needs_same_origin(request: web.Request) -> bool:
    upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
    return upgrade or request.method not in ("GET", "HEAD", "OPTIONS")


def same_origin(request: web.Request) -> bool:
    """Return True when the request's Origin (or Referer) is this server."""
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin:
        return False
    try:
        return urlsplit(origin).netloc == request.host
    except ValueError:  # "http://[": not a URL, so not this server
        return False


def _hostname(host: str) -> str:
    """Return the name in a Host header ("" when it is not one, such as "[")."""
    try:
        return urlsplit("//" + host).hostname or ""
    except ValueError:
        return ""


async def login_page(request: web.Request) -> web.Response:
    """The sign-in form (only needed when the server is bound off loopback)."""
    guard = request.app[GUARD]
    if guard.signed_in(request):
        raise web.HTTPFound("/")
    return web.Response(text=_login_html(), content_type="text/html")


async def login(request: web.Request) -> web.Response:
    """Check the token and set the session cookie."""
    guard = request.app[GUARD]
    try:
        if request.content_type != FORM:  # the page's form; a multipart body is not parsed
            raise ValueError(request.content_type)
        form = await request.post()
    except (ValueError, LookupError):  # not the sign-in form, not UTF-8, an unknown charset
        return web.Response(
            status=400,
            text=_login_html("That sign-in was garbled. Paste the token and try again."),
            content_type="text/html",
        )
    given = str(form.get("token", ""))[:200].strip()
    if guard.token is None:
        raise web.HTTPFound("/")
    if not hmac.compare_digest(given.encode(), guard.token.encode()):
        return web.Response(
            status=401,
            text=_login_html("That token is not right. Copy it from the bot's start-up output."),
            content_type="text/html",
        )
    response = web.HTTPFound("/")
    response.set_cookie(
        COOKIE,
        guard.session_value(),
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        max_age=30 * 24 * 3600,
    )
    raise response


def _login_html(error: str = "") -> str:
    message = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · Lessons Bot</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/chat.css"></head>
<body class="login"><main class="login-box">
<h1>Lessons Bot</h1>
<p>This chat is reachable from other machines, so it asks for the login token that the bot
printed when it started (or <code>LESSONS_LOGIN_TOKEN</code>).</p>{message}
<form method="post" action="/login"><label>Login token
<input name="token" type="password" autocomplete="current-password" required autofocus></label>
<button type="submit" class="btn">Sign in</button></form></main></body></html>"""
