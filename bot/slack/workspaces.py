"""Acting for one workspace among many: which bot token each Slack Web API call goes out with.

With the app installed through OAuth, every workspace (or organisation, for an org-wide
install) has its own bot token. For each request Bolt finds it (its `authorize`) and our
middleware makes it the *acting* token, in a context variable that the listener tasks Bolt
starts inherit. `WorkspaceClient`, the client the notifier and the directory lookups share,
puts the acting token on every call that names none.

Outside a request (a reminder from the scheduler) nothing is acting yet: `WorkspaceNotifier`
then acts for the workspace the person or channel was last seen in, or for the only
installation, or for the installation whose directory knows the person (users.info); an email
lookup tries each installation until one knows the address.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar, Token
from typing import Any

from aiohttp import FormData
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.slack.client import SlackClient
from bot.slack.installations import Installations, Sightings, Workspace
from bot.slack.notifier import SlackNotifier
from handlers.chat import ConversationRef, Reply, UserRef

NOT_HERE = ("user_not_found", "user_not_visible")  # users.info: someone of another workspace
_ACTING: ContextVar[str | None] = ContextVar("slack_acting_token", default=None)


class NoWorkspaceError(RuntimeError):
    """A Slack call outside any request, for a person or channel of no known workspace.

    `unreachable` is the neutral mark the scheduler reads: no installation knows the person.
    """

    unreachable = True


def act_as(token: str | None) -> Token[str | None]:
    """Make a bot token the acting one from here on (in this task and tasks it starts)."""
    return _ACTING.set(token)


def stop_acting(previous: Token[str | None]) -> None:
    """Restore the acting token that `act_as` replaced."""
    _ACTING.reset(previous)


@contextmanager
def acting(token: str | None) -> Iterator[None]:
    """Act for a bot token inside the block."""
    previous = act_as(token)
    try:
        yield
    finally:
        stop_acting(previous)


def acting_token() -> str | None:
    """Return the bot token calls go out with now, if any."""
    return _ACTING.get()


class WorkspaceClient(SlackClient):
    """An AsyncWebClient with no token of its own: each call uses the acting workspace's.

    Calls that bring their own credentials (`token=` or the client id and secret of
    oauth.v2.access) go out as they are.
    """

    async def api_call(
        self,
        api_method: str,
        *,
        http_verb: str = "POST",
        files: dict[str, Any] | None = None,
        data: dict[str, Any] | FormData | None = None,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        headers: dict[str, Any] | None = None,
        auth: dict[str, Any] | None = None,
    ) -> AsyncSlackResponse:
        """Call a Web API method with the acting workspace's token (or the app's credentials)."""
        arguments = (data, params, json)
        headers = {**(headers or {}), **self._authorization(api_method, arguments, auth)}
        return await super().api_call(
            api_method,
            http_verb=http_verb,
            files=files,
            data=data,
            params=params,
            json=json,
            headers=headers,
        )

    def _authorization(
        self, api_method: str, arguments: tuple[Any, ...], auth: dict[str, Any] | None
    ) -> dict[str, str]:
        """Return the Authorization header a call needs (none when it brings a token)."""
        if auth is not None:
            # Not aiohttp.BasicAuth, which slack_sdk would build: deprecated in aiohttp 3.14.
            pair = f"{auth['client_id']}:{auth['client_secret']}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
        if self.token or any(isinstance(a, dict) and a.get("token") for a in arguments):
            return {}
        token = _ACTING.get()
        if token is None:
            raise NoWorkspaceError(
                f"{api_method}: no Slack workspace to act for (outside a request, for "
                "someone or somewhere the bot has not seen)."
            )
        return {"Authorization": f"Bearer {token}"}


class WorkspaceNotifier(SlackNotifier):
    """A SlackNotifier for many workspaces: outside a request it finds whom to act for."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        installations: Installations,
        sightings: Sightings,
        **options: Any,
    ) -> None:
        super().__init__(client, **options)
        self.installations = installations
        self.sightings = sightings

    async def send(self, to: UserRef, reply: Reply) -> str | None:
        """Post a reply in the person's DM, from the workspace they were last seen in."""
        async with self._acting_for(to.user_id):
            return await super().send(to, reply)

    async def find(self, to: UserRef, key: str) -> str | None:
        """Look for a reminder in the person's DM (see SlackNotifier.find)."""
        async with self._acting_for(to.user_id):
            return await super().find(to, key)

    async def post(self, where: ConversationRef, reply: Reply) -> ConversationRef | None:
        """Post a reply in a channel, from the workspace it was last seen in."""
        async with self._acting_for(where.channel_id):
            return await super().post(where, reply)

    async def ephemeral(self, where: ConversationRef, to: UserRef, reply: Reply) -> None:
        """Show a reply to one person in a channel (see SlackNotifier.ephemeral)."""
        async with self._acting_for(where.channel_id or to.user_id):
            await super().ephemeral(where, to, reply)

    async def publish_home(self, user_id: str, reply: Reply) -> None:
        """Show a reply as the person's App Home."""
        async with self._acting_for(user_id):
            await super().publish_home(user_id, reply)

    async def lookup(self, email: str) -> str | None:
        """Find a Slack user by email: in the acting workspace, else in each installation."""
        if _ACTING.get() is not None:
            return await super().lookup(email)
        for workspace in await self.installations.workspaces():
            token = await self.installations.token_for(workspace)
            if token is None:  # uninstalled meanwhile
                continue
            with acting(token):
                found = await super().lookup(email)
            if found:
                await self.sightings.saw(workspace, found)
                return found
        return None

    @asynccontextmanager
    async def _acting_for(self, slack_id: str) -> AsyncIterator[None]:
        """Act for the workspace of a person or channel, unless a request already acts."""
        if _ACTING.get() is not None:
            yield
            return
        with acting(await self._token_for(slack_id)):
            yield

    async def _token_for(self, slack_id: str) -> str:
        seen = await self.sightings.workspace_of(slack_id) if slack_id else None
        token = await self.installations.token_for(seen) if seen is not None else None
        if token is None:
            installed = await self.installations.workspaces()
            if len(installed) == 1:
                token = await self.installations.token_for(installed[0])
            elif slack_id.startswith(("U", "W")):
                token = await self._directory_token(slack_id, installed)
        if token is None:
            raise NoWorkspaceError(
                f"No Slack workspace to reach {slack_id or 'this conversation'} from: it was "
                "never seen in one, and the app is installed in several (or none)."
            )
        return token

    async def _directory_token(self, user_id: str, installed: list[Workspace]) -> str | None:
        """Return the token of the first installation whose directory knows a person."""
        for workspace in installed:
            token = await self.installations.token_for(workspace)
            if token is None:  # uninstalled meanwhile
                continue
            try:
                with acting(token):
                    await self.client.users_info(user=user_id)
            except SlackApiError as exc:
                if exc.response.get("error") in NOT_HERE:
                    continue  # not one of this workspace's people
                raise
            await self.sightings.saw(workspace, user_id)
            return token
        return None
