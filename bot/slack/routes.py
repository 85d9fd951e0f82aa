"""The Slack app on our own aiohttp server: `POST /slack/events` (HTTP) or Socket Mode.

Bolt's `AsyncApp` verifies signatures and routes payloads to `bot.slack.listeners`; it is
embedded with Bolt's own aiohttp adapter functions around `async_dispatch` (mounting Bolt's web
app as a sub-app 404s). Around it we add what AsyncApp leaves out: a start-up token check,
retry handlers for 429 and server errors, a 4xx (never a 500) for malformed bodies, and the
inbox (`bot.inbox`): every request, and every Socket Mode envelope (`bot.slack.socket`), is kept
before its ack, so a redelivery is skipped and an acknowledged event outlives a kill.

Two ways to run: one workspace with `SLACK_BOT_TOKEN` (the default), or installs in many
workspaces through OAuth (`SLACK_CLIENT_ID`, `SLACK_CLIENT_SECRET`; see `bot.slack.oauth`),
where `GET /slack/install` and `GET /slack/oauth_redirect` join `/slack/events` and each
request acts with its own workspace's token (`bot.slack.workspaces`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import aiohttp
from aiohttp import ClientError, web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.listener.async_builtins import AsyncTokenRevocationListeners
from slack_bolt.oauth.async_callback_options import AsyncFailureArgs
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import build_normalized_headers, extract_content_type
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier

from bot import inbox
from bot.inbox import Handling, Keeper
from bot.settings import Settings
from bot.slack import oauth, shapes
from bot.slack.client import SlackClient
from bot.slack.errors import SlackStartupError
from bot.slack.installations import Installations, OAuthStates, Sightings, Workspace
from bot.slack.listeners import Listeners, People
from bot.slack.notifier import SlackNotifier
from bot.slack.socket import InboxSocketModeHandler, replay_request
from bot.slack.workspaces import WorkspaceClient, WorkspaceNotifier, act_as, stop_acting
from handlers import router
from handlers.chat import ConversationRef
from knowledge.inbox import Entry
from knowledge.storage import Store

log = logging.getLogger(__name__)

PATH = "/slack/events"
PLATFORM = "slack"
START_WAITS = 20  # loop turns a listener's task gets to start (it starts on the first)
MAX_BODY = 512 * 1024
KEEP_EVENTS = timedelta(days=2)


class SlackSurface:
    """Everything Slack: the Bolt app, its client and listeners, and the HTTP routes."""

    def __init__(self, settings: Settings, store: Store, keeper: Keeper | None = None) -> None:
        if settings.slack_oauth:
            oauth.check(settings)
        else:
            _check_single(settings)
        self.settings = settings
        self.store = store
        self.installations: Installations | None = None
        self.sightings: Sightings | None = None
        self.oauth_settings: AsyncOAuthSettings | None = None
        self.revocations: AsyncTokenRevocationListeners | None = None
        self.client = (WorkspaceClient if settings.slack_oauth else SlackClient)(
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
        self.app, self.notifier = self._many() if settings.slack_oauth else self._single()
        self.listeners = Listeners(store, self.notifier, People(store, self.client))
        self.app.middleware(self._dedupe)
        if settings.slack_oauth:
            self.app.middleware(self._act)
        self.app.event("app_uninstalled")(self._uninstalled)
        self.app.event("tokens_revoked")(self._revoked)
        self.listeners.register(self.app)
        self.verifier = (
            SignatureVerifier(settings.slack_signing_secret)
            if settings.slack_signing_secret
            else None
        )
        self.socket: InboxSocketModeHandler | None = None
        self.keeper = keeper
        if keeper is not None:
            keeper.register(PLATFORM, self.replay)

    def _single(self) -> tuple[AsyncApp, SlackNotifier]:
        """The app and notifier for one workspace and its SLACK_BOT_TOKEN."""
        app = AsyncApp(
            client=self.client,
            signing_secret=self.settings.slack_signing_secret or "socket-mode",
            request_verification_enabled=bool(self.settings.slack_signing_secret),
            raise_error_for_unhandled_request=False,
        )
        notifier = SlackNotifier(
            self.client, pace=self.settings.slack_pace_seconds, posted=self._posted
        )
        return app, notifier

    def _many(self) -> tuple[AsyncApp, SlackNotifier]:
        """The app and notifier for the workspaces that installed the app through OAuth."""
        assert self.settings.slack_client_id and self.settings.slack_signing_secret
        engine = self.store.engine
        self.installations = Installations(self.settings.slack_client_id, engine)
        self.sightings = Sightings(engine, clock=self.store.clock)
        self.revocations = AsyncTokenRevocationListeners(self.installations)
        states = OAuthStates(engine, expiration_seconds=oauth.STATE_SECONDS)
        self.oauth_settings = oauth.oauth_settings(
            self.settings, installations=self.installations, states=states
        )
        app = AsyncApp(
            client=self.client,
            signing_secret=self.settings.slack_signing_secret,
            raise_error_for_unhandled_request=False,
            oauth_settings=self.oauth_settings,
        )
        notifier = WorkspaceNotifier(
            self.client,
            installations=self.installations,
            sightings=self.sightings,
            pace=self.settings.slack_pace_seconds,
            posted=self._posted,
        )
        return app, notifier

    async def _posted(self, anchor: str, where: ConversationRef) -> None:
        await router.posted(anchor, where, router.Deps(store=self.store, notifier=self.notifier))

    # Start and stop ------------------------------------------------------------------------

    async def start(self, _app: web.Application | None = None) -> None:
        """Check the token (one workspace) or the installations (OAuth), then connect."""
        if self.client.session is None:
            # One connection pool for every Web API call: without it slack_sdk opens a new
            # session (and TCP + TLS connection) per call.
            self.client.session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.client.timeout)
            )
        try:
            if self.installations is not None:
                await self._check_installations(self.installations)
            else:
                await self._check_token()
        except BaseException:
            await self._close_session()  # the bot stops here: `stop` will not run
            raise
        await self.store.forget_events(self.store.clock() - KEEP_EVENTS)
        if self.settings.slack_app_token:
            self.socket = InboxSocketModeHandler(
                self.app, self.settings.slack_app_token, keeper=self.keeper, dispatch=self._dispatch
            )
            await self.socket.connect_async()  # type: ignore[no-untyped-call]
            log.info("Slack: connected in Socket Mode")

    async def _check_token(self) -> None:
        """Check SLACK_BOT_TOKEN with auth.test: a refused token stops the bot at once."""
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

    async def _check_installations(self, installations: Installations) -> None:
        """Check that the installations can be read (each token is checked as it is used)."""
        try:
            installed = await installations.workspaces()
        except Exception as exc:  # a missing table, an unreachable database…
            raise SlackStartupError(
                "Slack installations cannot be read from the database "
                f"({type(exc).__name__}): run `lessons db upgrade`."
            ) from None
        log.info(
            "Slack: OAuth mode, installed in %d workspace(s); install at %s",
            len(installed),
            oauth.INSTALL_PATH,
        )

    async def stop(self, _app: web.Application | None = None) -> None:
        """Let listeners finish their work, then disconnect Socket Mode."""
        await self.listeners.drain()
        if self.socket is not None:
            await self.socket.close_async()  # type: ignore[no-untyped-call]
        await self._close_session()

    async def _close_session(self) -> None:
        if self.client.session is not None:
            await self.client.session.close()
            self.client.session = None

    # HTTP ----------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        """Serve Slack's requests at /slack/events (and the OAuth pages); start/stop with it."""
        app.router.add_post(PATH, self.handle)
        if self.installations is not None:
            app.router.add_get(oauth.INSTALL_PATH, self.install, allow_head=False)
            app.router.add_get(oauth.REDIRECT_PATH, self.oauth_redirect, allow_head=False)
        app.on_startup.append(self.start)
        app.on_shutdown.append(self.stop)

    async def install(self, request: web.Request) -> web.StreamResponse:
        """Start an installation: off to Slack's consent page, with a fresh state."""
        flow = self.app.oauth_flow
        assert flow is not None  # the route exists in OAuth mode only
        response = await flow.handle_installation(_page_request(request))
        return await to_aiohttp_response(response)

    async def oauth_redirect(self, request: web.Request) -> web.StreamResponse:
        """Finish an installation: check the state, trade the code for a token, save it."""
        flow = self.app.oauth_flow
        assert flow is not None
        bolt_request = _page_request(request)
        try:
            response = await flow.handle_callback(bolt_request)
        except (OSError, TimeoutError, ClientError) as exc:  # Bolt only expects API errors
            failure = AsyncFailureArgs(
                request=bolt_request,
                reason="slack_unreachable",
                error=exc,
                suggested_status_code=502,
                settings=flow.settings,
                default=flow.default_callback_options,
            )
            response = await oauth.not_installed(failure)
        return await to_aiohttp_response(response)

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
            text = body.decode("utf-8")  # whatever the charset says: Slack only sends UTF-8
        except UnicodeDecodeError:  # the verifier would raise on this
            return web.json_response({"error": "the body is not UTF-8"}, status=400)
        if shapes.unsigned(request.headers) or not self.verifier.is_valid_request(
            body, dict(request.headers)
        ):
            return web.json_response({"error": "invalid signature"}, status=401)
        bolt_request = _bolt_request(request, text)
        if isinstance(bolt_request, str):
            log.info("Slack: refused a malformed request: %s", bolt_request)
            return web.json_response({"error": bolt_request}, status=400)
        key = self.keeper and shapes.inbox_key(text, bolt_request.content_type)
        if not key or self.keeper is None:
            return await to_aiohttp_response(await self._dispatch(bolt_request, None))
        meta = {
            "content_type": request.headers.get("Content-Type", ""),
            "query": request.query_string,
        }
        try:  # kept before the ack: what Slack hears "got it" for is never lost
            receipt = await self.keeper.inbox.receive(PLATFORM, key, text, meta)
        except Exception:
            log.warning("Slack: could not record %s; Slack will send it again", key, exc_info=True)
            return web.json_response({"error": "busy, send again"}, status=503)
        if receipt.entry is None:
            log.info("Slack: skipped redelivered %s (%s)", key, receipt.state)
            return web.Response(status=200)
        handling = self.keeper.begin(receipt.entry)
        return await to_aiohttp_response(await self._dispatch(bolt_request, handling))

    async def _dispatch(
        self, bolt_request: AsyncBoltRequest, handling: Handling | None
    ) -> BoltResponse:
        """Hand a request to Bolt; its listeners finish the inbox row (else it is done here)."""
        # Requests on one connection share a task: no workspace acts before this one's does.
        previous = act_as(None)
        kept = inbox.CURRENT.set(handling)
        try:
            response = await self.app.async_dispatch(bolt_request)
        finally:
            inbox.CURRENT.reset(kept)
            stop_acting(previous)
        if handling is not None:
            # Bolt acks events before their listener's task first runs: let it start.
            for _ in range(START_WAITS):
                if handling.started:
                    break
                await asyncio.sleep(0)
            if not handling.started:  # no listener of ours took it: nothing more to do
                await handling.finish()
        return response

    async def replay(self, entry: Entry) -> None:
        """Handle again an event a killed process had acknowledged but not finished."""
        assert self.keeper is not None
        socket_request = replay_request(entry)
        if socket_request is not None:  # kept from Socket Mode: no signature to check
            await self._dispatch(socket_request, self.keeper.begin(entry))
            return
        headers: dict[str, str | Sequence[str]] = {
            "Content-Type": str(entry.meta.get("content_type") or "application/json")
        }
        if self.settings.slack_signing_secret:  # signed afresh: Bolt checks the signature's age
            timestamp = str(int(time.time()))
            signer = SignatureVerifier(self.settings.slack_signing_secret)
            headers["X-Slack-Request-Timestamp"] = timestamp
            headers["X-Slack-Signature"] = str(
                signer.generate_signature(timestamp=timestamp, body=entry.body)
            )
        request = AsyncBoltRequest(
            body=entry.body, query=str(entry.meta.get("query") or ""), headers=headers
        )
        await self._dispatch(request, self.keeper.begin(entry))

    async def _dedupe(
        self, body: dict[str, Any], next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        """A middleware for both modes: an event seen before is acked and not run again."""
        if inbox.current() is not None:
            return await next()  # the inbox recognised redeliveries already
        event_id = body.get("event_id") if isinstance(body, dict) else None
        if event_id and not await self.store.first_time("slack", str(event_id)):
            log.info("Slack: skipped redelivered event %s", event_id)
            return BoltResponse(status=200, body="")
        return await next()

    async def _act(
        self, context: AsyncBoltContext, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        """An OAuth middleware: act with this request's workspace token, note who was where.

        Bolt runs listeners in tasks started after the middleware, which inherit the token.
        """
        if context.bot_token and self.sightings is not None:
            act_as(context.bot_token)
            workspace = Workspace.of(
                context.enterprise_id, context.team_id, context.is_enterprise_install
            )
            await self.sightings.saw(workspace, context.user_id, context.channel_id)
        return await next()

    async def _uninstalled(self, context: AsyncBoltContext) -> None:
        """The app was uninstalled from a workspace (or organisation): forget its tokens."""
        log.warning(
            "Slack: the app was uninstalled (team %s, enterprise %s)",
            context.team_id,
            context.enterprise_id,
        )
        if self.revocations is None:
            log.warning("Slack: SLACK_BOT_TOKEN no longer works; reinstall the app")
            return
        await self.revocations.handle_app_uninstalled_events(context)
        oauth.forget_checked_tokens(self.oauth_settings)

    async def _revoked(self, event: dict[str, Any], context: AsyncBoltContext) -> None:
        """Some of the app's tokens were revoked: forget them."""
        log.warning("Slack: tokens revoked (team %s): %s", context.team_id, event.get("tokens"))
        if self.revocations is None:
            return
        await self.revocations.handle_tokens_revoked_events(event, context)
        oauth.forget_checked_tokens(self.oauth_settings)


def _check_single(settings: Settings) -> None:
    """Refuse a one-workspace configuration that cannot work, naming what is missing."""
    if not settings.slack_bot_token:
        raise SlackStartupError("SLACK_BOT_TOKEN is not set.")
    if not settings.slack_signing_secret and not settings.slack_app_token:
        raise SlackStartupError(
            "Slack needs SLACK_SIGNING_SECRET (HTTP mode, requests to /slack/events) or "
            "SLACK_APP_TOKEN (an xapp- token, for Socket Mode)."
        )
    if settings.slack_app_token and not settings.slack_app_token.startswith("xapp-"):
        raise SlackStartupError("SLACK_APP_TOKEN must be an app-level token (xapp-…).")


def _bolt_request(request: web.Request, text: str) -> AsyncBoltRequest | str:
    """Return the request as Bolt reads it, or why Bolt cannot read it (see bot.slack.shapes).

    The body is the UTF-8 text that was verified, whatever the Content-Type's charset says
    (Bolt's adapter would decode it with that charset, and fail on an unknown one). Its media
    type is read with Bolt's own functions, so the checks parse the body as Bolt will.
    """
    headers = _headers(request)
    problem = shapes.malformed(text, extract_content_type(build_normalized_headers(headers)))
    if problem:
        return problem
    return AsyncBoltRequest(body=text, query=request.query_string, headers=headers)


def _page_request(request: web.Request) -> AsyncBoltRequest:
    """Return a GET of the OAuth pages as Bolt reads it: its query and cookies (a body is moot)."""
    return AsyncBoltRequest(body="", query=request.query_string, headers=_headers(request))


def _headers(request: web.Request) -> dict[str, str | Sequence[str]]:
    """Return the headers as Bolt reads them: of a repeated header, the last one."""
    return dict(request.headers.items())
