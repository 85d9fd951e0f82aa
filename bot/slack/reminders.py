"""The Slack notifier the scheduler sends reminders with: it retries by itself only on 429.

slack_sdk's default retry on connection errors can post a reminder twice when the first POST
did arrive; the scheduler instead records an unknown outcome, and its next attempt looks for the
message (its metadata carries the delivery key) before posting again. Rate limits are still
retried here, honouring Retry-After; a 429 that outlasts the retries comes back to the
scheduler as a `RateLimited` error carrying Retry-After.

With the app installed in many workspaces (OAuth), each reminder goes out with the bot token of
the workspace its recipient belongs to (`WorkspaceReminderNotifier`, see `bot.slack.workspaces`).
"""

from __future__ import annotations

from aiohttp import ClientSession, ClientTimeout, TCPConnector
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.settings import Settings
from bot.slack.installations import Installations, Sightings
from bot.slack.notifier import SlackNotifier
from bot.slack.workspaces import WorkspaceClient, WorkspaceNotifier
from handlers.chat import Reply, UserRef
from knowledge.storage import Store

TIMEOUT = 10  # seconds for one Web API call; a timeout is an unknown outcome
CONNECTIONS = 32  # kept-alive connections to Slack
RETRIES = 2  # 429s retried by the client (each after Retry-After) before the scheduler backs off


class RateLimited(RuntimeError):
    """Slack still said 429 after our retries; `retry_after` is how long it asked us to wait."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"Slack rate limit: retry after {retry_after:g} s")
        self.retry_after = retry_after


class ReminderNotifier(SlackNotifier):
    """A SlackNotifier that reports rate limits with their Retry-After, on one HTTP session.

    slack_sdk opens (and closes) a new connection per call unless given a session: the session
    is opened on first use, in the running event loop, and closed by `aclose`.
    """

    async def send(self, to: UserRef, reply: Reply) -> str | None:
        """Post a reminder in the person's DM; raise RateLimited when Slack keeps saying 429."""
        self._session()
        try:
            return await super().send(to, reply)
        except SlackApiError as exc:
            if exc.response.status_code == 429:
                after = exc.response.headers.get("Retry-After", "1")
                raise RateLimited(float(after) if str(after).isdigit() else 1.0) from exc
            raise

    async def find(self, to: UserRef, key: str) -> str | None:
        """Look for a reminder by its delivery key (see SlackNotifier.find)."""
        self._session()
        return await super().find(to, key)

    async def lookup(self, email: str) -> str | None:
        """Find a Slack user by email (see SlackNotifier.lookup)."""
        self._session()
        return await super().lookup(email)

    async def aclose(self) -> None:
        """Close the HTTP session."""
        session = self.client.session
        if session is not None and not session.closed:
            await session.close()
        self.client.session = None

    def _session(self) -> None:
        if self.client.session is None or self.client.session.closed:
            self.client.session = ClientSession(
                timeout=ClientTimeout(total=self.client.timeout),
                connector=TCPConnector(limit=CONNECTIONS),
            )


class WorkspaceReminderNotifier(ReminderNotifier, WorkspaceNotifier):
    """A ReminderNotifier for many workspaces: each reminder acts for its recipient's workspace.

    The workspace is the one the person was last seen in, else the one whose directory knows
    them (users.info, then users.lookupByEmail), else the only installation. Someone no
    installation knows is unreachable on Slack, like a person without an account.
    """


def reminder_client(
    token: str | None, base_url: str, *, timeout: int = TIMEOUT, retries: int = RETRIES
) -> AsyncWebClient:
    """Return a Web API client that retries 429s (Retry-After) and nothing else.

    Without a token it is a `WorkspaceClient`: each call uses the acting workspace's token.
    """
    kind = AsyncWebClient if token else WorkspaceClient
    return kind(
        token=token,
        base_url=base_url,
        timeout=timeout,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=retries)],
    )


def reminder_notifier(
    settings: Settings,
    *,
    store: Store | None = None,
    timeout: int = TIMEOUT,
    retries: int = RETRIES,
) -> ReminderNotifier | None:
    """Return the scheduler's Slack notifier, or None when Slack is not configured.

    One workspace: its SLACK_BOT_TOKEN. Many (OAuth, SLACK_CLIENT_ID): the installations and
    sightings in the store's database, so each recipient is reached from their workspace.
    """
    if settings.slack_bot_token:
        client = reminder_client(
            settings.slack_bot_token, settings.slack_api_url, timeout=timeout, retries=retries
        )
        return ReminderNotifier(client, pace=settings.slack_pace_seconds)
    if not (settings.slack_oauth and settings.slack_client_id and store is not None):
        return None
    client = reminder_client(None, settings.slack_api_url, timeout=timeout, retries=retries)
    return WorkspaceReminderNotifier(
        client,
        installations=Installations(settings.slack_client_id, store.engine),
        sightings=Sightings(store.engine, clock=store.clock),
        pace=settings.slack_pace_seconds,
    )
