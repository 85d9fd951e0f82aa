"""The Slack app on our own aiohttp server: `POST /slack/events` (HTTP) or Socket Mode.

Bolt's `AsyncApp` verifies signatures and routes payloads to `bot.slack.listeners`; it is
embedded with Bolt's own aiohttp adapter functions around `async_dispatch` (mounting Bolt's web
app as a sub-app 404s). Around it we add what AsyncApp leaves out: a start-up token check,
retry handlers for 429 and server errors, a 4xx (never a 500) for malformed bodies, and
de-duplication of Slack's redeliveries by `event_id`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.settings import Settings
from bot.slack.errors import SlackStartupError
from bot.slack.listeners import Listeners, People
from bot.slack.notifier import SlackNotifier
from handlers import router
from handlers.chat import ConversationRef
from knowledge.storage import Store

log = logging.getLogger(__name__)

PATH = "/slack/events"
MAX_BODY = 512 * 1024
KEEP_EVENTS = timedelta(days=2)


class SlackSurface:
    """Everything Slack: the Bolt app, its client and listeners, and the HTTP route."""

    def __init__(self, settings: Settings, store: Store) -> None:
        if not settings.slack_bot_token:
            raise SlackStartupError("SLACK_BOT_TOKEN is not set.")
        if not settings.slack_signing_secret and not settings.slack_app_token:
            raise SlackStartupError(
                "Slack needs SLACK_SIGNING_SECRET (HTTP mode, requests to /slack/events) or "
                "SLACK_APP_TOKEN (an xapp- token, for Socket Mode)."
            )
        if settings.slack_app_token and not settings.slack_app_token.startswith("xapp-"):
            raise SlackStartupError("SLACK_APP_TOKEN must be an app-level token (xapp-…).")
        self.settings = settings
        self.store = store
        self.client = AsyncWebClient(
            token=settings.slack_bot_token,
            base_url=settings.slack_api_url,
            timeout=10,
            # Connection errors are not retried for posts: the first one may have arrived.
            retry_handlers=[
                AsyncRateLimitErrorRetryHandler(max_retry_count=3),
                AsyncServerErrorRetryHandler(max_retry_count=2),
                AsyncConnectionErrorRetryHandler(max_retry_count=1),
            ],
        )
        self.app = AsyncApp(
            client=self.client,
            signing_secret=settings.slack_signing_secret or "socket-mode",
            request_verification_enabled=bool(settings.slack_signing_secret),
            raise_error_for_unhandled_request=False,
        )
        self.notifier = SlackNotifier(
            self.client, pace=settings.slack_pace_seconds, posted=self._posted
        )
        self.listeners = Listeners(store, self.notifier, People(store, self.client))
        self.app.middleware(self._dedupe)
        self.listeners.register(self.app)
        self.verifier = (
            SignatureVerifier(settings.slack_signing_secret)
            if settings.slack_signing_secret
            else None
        )
        self.socket: AsyncSocketModeHandler | None = None

    async def _posted(self, anchor: str, where: ConversationRef) -> None:
        await router.posted(anchor, where, router.Deps(store=self.store, notifier=self.notifier))

    # Start and stop ------------------------------------------------------------------------

    async def start(self, _app: web.Application | None = None) -> None:
        """Check the token with auth.test (fail fast), then connect Socket Mode if set."""
        try:
            identity = await self.client.auth_test()
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown error")
            raise SlackStartupError(
                f"Slack refused SLACK_BOT_TOKEN ({error}). Reinstall the app and copy its "
                "Bot User OAuth Token (xoxb-…)."
            ) from None
        except OSError as exc:
            raise SlackStartupError(
                f"Slack is not reachable at {self.settings.slack_api_url}: {exc}"
            ) from None
        self.listeners.bot_user_id = str(identity.get("user_id") or "") or None
        log.info("Slack: signed in as %s in %s", identity.get("user"), identity.get("team"))
        await self.store.forget_events(self.store.clock() - KEEP_EVENTS)
        if self.settings.slack_app_token:
            self.socket = AsyncSocketModeHandler(self.app, self.settings.slack_app_token)
            await self.socket.connect_async()  # type: ignore[no-untyped-call]
            log.info("Slack: connected in Socket Mode")

    async def stop(self, _app: web.Application | None = None) -> None:
        """Let listeners finish their work, then disconnect Socket Mode."""
        await self.listeners.drain()
        if self.socket is not None:
            await self.socket.close_async()  # type: ignore[no-untyped-call]

    # HTTP ----------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        """Serve Slack's requests at /slack/events and start/stop with the server."""
        app.router.add_post(PATH, self.handle)
        app.on_startup.append(self.start)
        app.on_shutdown.append(self.stop)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Verify, sanity-check and dispatch one request from Slack."""
        if self.verifier is None:
            raise web.HTTPNotFound(text="Slack runs in Socket Mode here.")
        if (request.content_length or 0) > MAX_BODY:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=0)
        body = await request.read()
        if len(body) > MAX_BODY:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=len(body))
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:  # Slack only sends UTF-8; the verifier would raise on this
            return web.json_response({"error": "the body is not UTF-8"}, status=400)
        if not self.verifier.is_valid_request(body, dict(request.headers)):
            return web.json_response({"error": "invalid signature"}, status=401)
        problem = _malformed(body, request.content_type)
        if problem:
            log.info("Slack: refused a malformed request: %s", problem)
            return web.json_response({"error": problem}, status=400)
        bolt_response = await self.app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    async def _dedupe(
        self, body: dict[str, Any], next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        """A middleware for both modes: an event seen before is acked and not run again."""
        event_id = body.get("event_id") if isinstance(body, dict) else None
        if event_id and not await self.store.first_time("slack", str(event_id)):
            log.info("Slack: skipped redelivered event %s", event_id)
            return BoltResponse(status=200, body="")
        return await next()


def _malformed(body: bytes, content_type: str) -> str | None:
    """Return why a correctly signed body cannot be a Slack request, or None when it can be."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "the body is not UTF-8"
    if content_type == "application/json" or text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return "the body is not JSON"
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            return "a JSON body must be an object with a type"
        if data["type"] == "event_callback" and not isinstance(data.get("event"), dict):
            return "an event_callback needs an event object"
        if data["type"] == "event_callback" and not isinstance(data["event"].get("type"), str):
            return "an event needs a type"
        return None
    form = parse_qs(text, keep_blank_values=True)
    if "payload" in form:
        try:
            payload = json.loads(form["payload"][0])
        except ValueError:
            return "the payload is not JSON"
        if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
            return "a payload must be an object with a type"
        return None
    if "command" in form:
        return None
    if "ssl_check" in form:
        return None
    return "neither an event, a command nor an interaction"
