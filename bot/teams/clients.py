"""The HTTP clients of Teams turns: kept across turns, with their tokens, until the tokens expire.

For every turn the SDK's `RestChannelServiceClientFactory` asks the token provider for two
tokens (msal: a worker thread and a search of its token cache, each time) and builds two clients,
each with an aiohttp session of its own, so every reply opened a new TCP connection (and, against
Teams, a TLS handshake) and closed it when the turn ended. `Clients` is the same factory for
the bot's own traffic: it keeps each token until five minutes before it expires, and one client
(one keep-alive session) per service URL and token provider. Agentic requests and Copilot
Studio connectors go through the SDK's factory unchanged.

The clients' sessions are the factory's: a turn's `close()` leaves them open, and `close()` on
the factory closes them all (the bot's cleanup). A token provider that is not our `sdk.Msal`
(the anonymous one, in local development) is asked every time, as before.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientSession
from azure.core.credentials import AccessToken
from microsoft_agents.activity import RoleTypes
from microsoft_agents.hosting.core import RestChannelServiceClientFactory, TurnContext
from microsoft_agents.hosting.core.authorization import ClaimsIdentity
from microsoft_agents.hosting.core.connector import ConnectorClientBase
from microsoft_agents.hosting.core.connector.client import UserTokenClient
from microsoft_agents.hosting.core.connector.teams import TeamsConnectorClient

from bot.teams import sdk

REFRESH_BEFORE = 300.0  # seconds before expiry a token is fetched again
CLOSE_AFTER = 30.0  # a replaced client's session is closed once its last replies are done


class _SharedConnector(TeamsConnectorClient):
    """A connector client whose session outlives the turn (the factory closes it)."""

    async def close(self) -> None:
        """Keep the session open for the next turn."""


class _SharedUserTokens(UserTokenClient):
    """A user-token client whose session outlives the turn (the factory closes it)."""

    async def close(self) -> None:
        """Keep the session open for the next turn."""


@dataclass(slots=True)
class _Kept:
    token: str
    client: Any


class Clients(RestChannelServiceClientFactory):
    """The SDK's client factory, with clients and tokens kept across turns."""

    def __init__(self, connections: Any) -> None:
        super().__init__(connections)
        self._tokens: dict[tuple[int, str, tuple[str, ...]], AccessToken] = {}
        self._clients: dict[tuple[str, str, int], _Kept] = {}
        self._fetching: dict[tuple[int, str, tuple[str, ...]], asyncio.Lock] = {}
        self._replaced: set[ClientSession] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def create_connector_client(
        self,
        context: TurnContext | None,
        claims_identity: ClaimsIdentity,
        service_url: str,
        audience: str,
        scopes: list[str] | None = None,
        use_anonymous: bool = False,
    ) -> ConnectorClientBase:
        """Return the kept connector client of a service URL (a new one for a new token)."""
        if not service_url or not audience or _special(context):
            return await super().create_connector_client(
                context, claims_identity, service_url, audience, scopes, use_anonymous
            )
        provider = self._provider(claims_identity, service_url, use_anonymous)
        token = await self._token(provider, audience, scopes or claims_identity.get_token_scope())
        client: ConnectorClientBase = self._client(
            ("connector", service_url, id(provider)),
            token,
            lambda session: _SharedConnector(endpoint=service_url, token=token, session=session),
        )
        return client

    async def create_user_token_client(
        self, context: TurnContext, claims_identity: ClaimsIdentity, use_anonymous: bool = False
    ) -> UserTokenClient:
        """Return the kept user-token client (the SDK makes one every turn; we never use it)."""
        if use_anonymous or _special(context):
            return await super().create_user_token_client(context, claims_identity, use_anonymous)
        endpoint = self._token_service_endpoint
        provider = self._provider(claims_identity, endpoint, False)
        token = await self._token(
            provider, self._token_service_audience, claims_identity.get_token_scope()
        )
        if not token:
            raise ValueError("Failed to obtain token for user token client")
        app_id = claims_identity.get_app_id()
        client: UserTokenClient = self._client(
            (f"user-tokens:{app_id}", endpoint, id(provider)),
            token,
            lambda session: _SharedUserTokens(
                endpoint=endpoint, token=token, app_id=app_id, session=session
            ),
        )
        return client

    async def close(self) -> None:
        """Close every kept session (and those of replaced clients)."""
        sessions = {found.client.client for found in self._clients.values()} | self._replaced
        self._clients, self._replaced = {}, set()
        for session in sessions:
            await session.close()

    def _provider(self, claims: ClaimsIdentity, url: str, anonymous: bool) -> Any:
        if anonymous:
            return self._ANONYMOUS_TOKEN_PROVIDER
        return self._connection_manager.get_token_provider(claims, url)

    def _here(self) -> asyncio.AbstractEventLoop:
        """Return the running loop; sessions and locks belong to one (a CLI run, a test)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._clients, self._fetching = loop, {}, {}
        return loop

    async def _token(self, provider: Any, audience: str, scopes: list[str]) -> str:
        """Return a token of the provider, kept until REFRESH_BEFORE its expiry (msal's only)."""
        self._here()
        if not isinstance(provider, sdk.Msal):
            token: str = await provider.get_access_token(audience, scopes)
            return token
        key = (id(provider), audience, tuple(scopes))
        found = self._tokens.get(key)
        if found is None or found.expires_on - REFRESH_BEFORE < time.time():
            async with self._fetching.setdefault(key, asyncio.Lock()):  # one fetch at a time
                found = self._tokens.get(key)
                if found is None or found.expires_on - REFRESH_BEFORE < time.time():
                    found = await provider.access_token(audience, scopes)
                    self._tokens[key] = found
        return found.token

    def _client(self, key: tuple[str, str, int], token: str, make: Any) -> Any:
        """Return the client kept under key for this token, or make one (on a new session)."""
        loop = self._here()
        kept = self._clients.get(key)
        if kept is not None and kept.token == token:
            return kept.client
        if kept is not None:  # a new token: the old session finishes what it is sending
            old: ClientSession = kept.client.client
            self._replaced.add(old)
            loop.call_later(CLOSE_AFTER, self._close_later, loop, old)
        endpoint = key[1] if key[1].endswith("/") else key[1] + "/"
        client = make(ClientSession(base_url=endpoint))
        self._clients[key] = _Kept(token, client)
        return client

    def _close_later(self, loop: asyncio.AbstractEventLoop, session: ClientSession) -> None:
        if session in self._replaced:
            self._replaced.discard(session)
            closing = loop.create_task(session.close())
            _CLOSING.add(closing)
            closing.add_done_callback(_CLOSING.discard)


_CLOSING: set[asyncio.Task[None]] = set()  # closings under way (the loop keeps weak references)


def _special(context: TurnContext | None) -> bool:
    """Return True for turns the SDK's own factory must serve (agentic, Copilot Studio)."""
    if context is None:
        return True
    activity = context.activity
    recipient = activity.recipient
    return bool(activity.is_agentic_request()) or bool(
        recipient is not None and recipient.role == RoleTypes.connector_user
    )
