"""Installing the app in many workspaces with Slack's OAuth flow (`SLACK_CLIENT_ID`).

`GET /slack/install` sends the installer to Slack's consent page with a one-time `state` (kept
in our database, and in a cookie that proves the same browser comes back). Slack then sends
them to `GET /slack/oauth_redirect` with a `code`, which Bolt trades for the workspace's bot
token (oauth.v2.access) and saves with `bot.slack.installations`. Every page the installer
sees is ours: short, plain and without internals.
"""

from __future__ import annotations

import html
import logging
import re

from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.oauth.async_callback_options import (
    AsyncCallbackOptions,
    AsyncFailureArgs,
    AsyncSuccessArgs,
)
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.response import BoltResponse

from bot.settings import Settings
from bot.slack.errors import SlackStartupError
from bot.slack.installations import Installations, OAuthStates

log = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
# The bot scopes of manifest.yaml (tests/bot/slack/test_slack_oauth.py keeps them equal).
SCOPES = (
    "app_mentions:read",
    "assistant:write",
    "channels:history",
    "channels:read",
    "chat:write",
    "commands",
    "groups:history",
    "groups:read",
    "im:history",
    "im:write",
    "links:read",
    "links:write",
    "users:read",
    "users:read.email",
)
STATE_SECONDS = 600
CLIENT_ID = re.compile(r"\d+\.\d+")  # Basic Information → App Credentials, e.g. 2141029472.69…

# Why an install failed (Bolt's reasons, and Slack's `error` when the installer cancels).
FAILURES = {
    "access_denied": "The installation was cancelled, so nothing was installed.",
    "invalid_browser": (
        "This installation was finished in another browser than the one it started in, or it "
        "took longer than ten minutes."
    ),
    "invalid_state": "This installation link has expired or was already used.",
    "missing_code": "Slack did not say whether the installation was approved.",
    "invalid_code": "Slack did not confirm the installation (its code expired or was used).",
    "storage_error": "The installation could not be saved. Please tell the bot's owner.",
    "slack_unreachable": "Slack could not be reached to finish the installation.",
}


def check(settings: Settings) -> None:
    """Refuse a half or contradictory OAuth configuration, naming the variable to fix."""
    if not (settings.slack_client_id and settings.slack_client_secret):
        missing = "SLACK_CLIENT_SECRET" if settings.slack_client_id else "SLACK_CLIENT_ID"
        raise SlackStartupError(
            f"{missing} is not set: OAuth (installs in many workspaces) needs both "
            "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (Basic Information → App Credentials)."
        )
    if not CLIENT_ID.fullmatch(settings.slack_client_id):
        raise SlackStartupError(
            "SLACK_CLIENT_ID must look like 2141029472.691202649728 (Basic Information → App "
            "Credentials → Client ID); was the client secret given instead?"
        )
    if settings.slack_bot_token:
        raise SlackStartupError(
            "Set either SLACK_BOT_TOKEN (one workspace) or SLACK_CLIENT_ID and "
            "SLACK_CLIENT_SECRET (installs in many workspaces through OAuth), not both."
        )
    if not settings.slack_signing_secret:
        raise SlackStartupError(
            "OAuth mode needs SLACK_SIGNING_SECRET (Basic Information → Signing Secret): "
            "Slack's requests to /slack/events are checked with it."
        )
    if settings.slack_app_token:
        raise SlackStartupError(
            "OAuth mode receives Slack's requests over HTTP at /slack/events: unset "
            "SLACK_APP_TOKEN (Socket Mode is for one workspace here)."
        )


def oauth_settings(
    settings: Settings, *, installations: Installations, states: OAuthStates
) -> AsyncOAuthSettings:
    """Return Bolt's OAuth settings: our scopes, paths, database stores and pages."""
    assert settings.slack_client_id and settings.slack_client_secret  # check() ran
    found = AsyncOAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret,
        scopes=list(SCOPES),
        user_scopes=[],
        redirect_uri=settings.slack_redirect_uri,
        install_path=INSTALL_PATH,
        install_page_rendering_enabled=False,  # straight to Slack's consent page
        redirect_uri_path=REDIRECT_PATH,
        callback_options=AsyncCallbackOptions(success=installed, failure=not_installed),
        installation_store=installations,
        state_store=states,
        state_expiration_seconds=STATE_SECONDS,
        logger=log,
    )
    found.authorize = authorize(settings, installations=installations)
    return found


def authorize(
    settings: Settings, *, installations: Installations
) -> AsyncInstallationStoreAuthorize:
    """Return how Bolt finds each request's bot token: in our installation store.

    The auth.test Bolt makes of a token it found is cached (per token), so an event costs a
    database read but no extra Slack call. An uninstalled workspace has no row, so it is
    refused before the cache is looked at; `forget_checked_tokens` empties the cache when
    tokens are revoked.
    """
    return AsyncInstallationStoreAuthorize(
        logger=log,
        installation_store=installations,
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret,
        cache_enabled=True,
    )


def forget_checked_tokens(found: AsyncOAuthSettings | None) -> None:
    """Empty the cache of tokens Bolt checked with auth.test (a revoked one must be rechecked)."""
    if found is not None and isinstance(found.authorize, AsyncInstallationStoreAuthorize):
        found.authorize.authorize_result_cache.clear()


async def installed(args: AsyncSuccessArgs) -> BoltResponse:
    """The page an installer sees once the app is installed."""
    found = args.installation
    where = found.team_name or found.enterprise_name or "your workspace"
    log.info(
        "Slack: installed in %s (team %s, enterprise %s, org-wide %s)",
        where,
        found.team_id,
        found.enterprise_id,
        found.is_enterprise_install,
    )
    body = (
        f"Lessons Bot is installed in <strong>{html.escape(where)}</strong>. Mention "
        "<strong>@Lessons Bot</strong> in a channel, send it a direct message, or type "
        "<code>/lessons help</code>. You can close this page."
    )
    return _page(args.settings, "Lessons Bot is installed", body, status=200)


async def not_installed(args: AsyncFailureArgs) -> BoltResponse:
    """The page an installer sees when the installation failed, with a way to start again."""
    log.warning("Slack: an installation failed (%s)", args.reason, exc_info=args.error)
    why = FAILURES.get(args.reason, "The installation did not complete.")
    again = html.escape(args.settings.install_path)
    body = f'{html.escape(why)} <a href="{again}">Start the installation again</a>.'
    return _page(args.settings, "Lessons Bot was not installed", body, args.suggested_status_code)


def _page(settings: AsyncOAuthSettings, title: str, body: str, status: int) -> BoltResponse:
    """A small HTML page that also deletes the state cookie (it served its purpose)."""
    text = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<style>body{font-family:system-ui,sans-serif;max-width:34rem;margin:4rem auto;"
        "padding:0 1rem;line-height:1.5}</style></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{body}</p></body></html>"
    )
    return BoltResponse(
        status=status,
        body=text,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Set-Cookie": [settings.state_utils.build_set_cookie_for_deletion()],
            "Cache-Control": "no-store",
            # The address holds the one-time code: no page should see it as a referrer.
            "Referrer-Policy": "no-referrer",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
            "X-Frame-Options": "DENY",
        },
    )
