"""Sending to Teams outside a request: proactive posts and personal messages, within limits.

Everything goes through the SDK's adapter (`continue_conversation_with_claims`) from a stored
conversation reference (see `bot.teams.references`), with the connector client the SDK sets up
for that turn. A personal chat is opened with that connector's `create_conversation` (the
adapter's own `create_conversation` leaks its HTTP session when Teams refuses).

A person is reached in their personal chat with the bot; without one, the bot opens it from
their Teams id (seen in a channel or found by email in a team's roster). When Teams refuses to
open it (the app is not installed for them), `Unreachable` says so: the scheduler then lists
the person in the PBPO digest rather than retrying.

Teams' limits per conversation (7 a second, 60 in 30 s, 1,800 an hour) are kept by
`ConversationPace`; a 429 is retried after its Retry-After, twice, then raised as
`RateLimited` (which the scheduler reads through its `retry_after`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import ClientResponseError
from microsoft_agents.activity import (
    Activity,
    ActivityTypes,
    Attachment,
    ChannelAccount,
    Channels,
    ConversationAccount,
    ConversationParameters,
    ConversationReference,
    DeliveryModes,
)
from microsoft_agents.hosting.core import ChannelServiceAdapter, TurnContext
from microsoft_agents.hosting.core.app.proactive import Conversation
from microsoft_agents.hosting.core.connector import ConnectorClientBase

from bot.teams import render
from bot.teams.errors import Unreachable
from bot.teams.incoming import PLATFORM, base_id, conversation_id
from bot.teams.pace import ConversationPace
from bot.teams.references import References, Seen, reference_of
from handlers.chat import ConversationRef, Reply, UserRef

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRIES = 2
MAX_WAIT = 30.0  # a longer Retry-After goes back to the caller


class RateLimited(RuntimeError):
    """Teams still said 429 after our retries; `retry_after` is how long it asked us to wait."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"Teams rate limit: retry after {retry_after:g} s")
        self.retry_after = retry_after


class Card(dict[str, Any]):
    """A rendered Adaptive Card, which nothing changes once rendered.

    The SDK deep-copies every activity it sends (`TurnContext.send_activities`); copying the
    card was most of that (~0.2 ms a reply). A card shares itself instead.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> Card:
        return self


def message(reply: Reply) -> Activity:
    """Return a reply as a message activity holding one Adaptive Card."""
    card = Card(render.card(reply))
    return Activity(
        type=ActivityTypes.message,
        attachments=[Attachment(content_type=render.CONTENT_TYPE, content=card)],
        summary=card["fallbackText"][:200],
    )


class TeamsNotifier:
    """The Teams side of `handlers.chat.Notifier`."""

    platform = PLATFORM

    def __init__(
        self,
        adapter: ChannelServiceAdapter,
        references: References,
        *,
        app_id: str | None,
        pace: ConversationPace | None = None,
        posted: Callable[[str, ConversationRef], Awaitable[None]] | None = None,
        closing: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.adapter = adapter
        self.references = references
        self.app_id = app_id
        self.pace = pace or ConversationPace()
        self.posted = posted
        self._closing = closing

    async def aclose(self) -> None:
        """Close what the notifier holds open (the connector's and msal's HTTP sessions)."""
        if self._closing is not None:
            await self._closing()

    async def send(self, to: UserRef, reply: Reply) -> str | None:
        """Post a reply in the person's personal chat with the bot; return the message id."""
        conversation = await self.references.personal(to.user_id) or await self._open(to)
        activity_id = await self.deliver(conversation, message(reply))
        if reply.key:  # Teams keeps no history a bot can search: `find` reads this record
            await self.references.sent(reply.key, to.user_id, activity_id)
        return activity_id or None

    async def find(self, to: UserRef, key: str) -> str | None:
        """Return the id of a reminder Teams confirmed for this person, or None.

        A send that timed out but arrived anyway cannot be found: Teams offers bots no
        message history. Only a confirmed send whose outcome the scheduler did not record (a
        crash in between) is recognised.
        """
        return await self.references.sent_as(key, to.user_id)

    async def post(self, where: ConversationRef, reply: Reply) -> ConversationRef | None:
        """Post in a channel, its thread or a chat; return where it landed.

        An anchored reply (or one not in a thread) starts a new message at the top of the
        channel; its thread is then that message.
        """
        stored = await self.references.conversation(where.channel_id)
        if stored is None:
            raise LookupError(f"the bot has no reference for Teams conversation {where.channel_id}")
        threaded = bool(where.thread_id) and reply.in_thread and not reply.anchor
        target = conversation_id(where) if threaded else base_id(where.channel_id)
        activity_id = await self.deliver(reference_of(stored, target), message(reply))
        kind = stored.conversation_reference.conversation.conversation_type
        thread = where.thread_id if threaded else (activity_id if kind == "channel" else None)
        landed = ConversationRef(PLATFORM, base_id(where.channel_id), thread, where.channel_name)
        if reply.anchor and self.posted is not None:
            await self.posted(reply.anchor, landed)
        return landed

    async def lookup(self, email: str) -> str | None:
        """Find a person by email in the rosters of the teams the bot is in (their Entra id)."""
        if not email or "@" not in email:
            return None
        for team in await self.references.teams():
            team_id = base_id(team.conversation_reference.conversation.id)
            found = await self._member(team, team_id, email)
            if found is not None:
                return found
        return None

    # Delivery -----------------------------------------------------------------------------

    async def deliver(self, conversation: Conversation, activity: Activity) -> str:
        """Send one activity into a conversation, within Teams' limits; return its id."""
        target = conversation.conversation_reference.conversation.id
        for attempt in range(RETRIES + 1):
            await self.pace.wait(base_id(target))
            try:
                return await self.within(conversation, lambda c: _post(c, target, activity))
            except ClientResponseError as exc:
                if exc.status != 429:
                    raise
                after = _retry_after(exc)
                self.pace.hold(base_id(target), after)
                if attempt == RETRIES or after > MAX_WAIT:
                    raise RateLimited(after) from exc
                log.info("Teams: 429 in %s, retrying after %.1f s", base_id(target), after)
        raise AssertionError("unreachable")  # pragma: no cover

    async def within(
        self, conversation: Conversation, work: Callable[[TurnContext], Awaitable[T]]
    ) -> T:
        """Run work in a proactive turn of a stored conversation (its connector, its token)."""
        claims = Conversation.identity_from_claims(conversation.claims)
        continuation = conversation.conversation_reference.get_continuation_activity()
        box: dict[str, Any] = {}

        async def turn(context: TurnContext) -> None:
            try:
                box["result"] = await work(context)
            except Exception as exc:  # raised below, outside the SDK's pipeline
                box["error"] = exc

        await self.adapter.continue_conversation_with_claims(claims, continuation, turn)
        if "error" in box:
            raise box["error"]
        result: T = box["result"]
        return result

    async def _open(self, to: UserRef) -> Conversation:
        """Open a personal chat with someone seen on Teams; Unreachable when Teams refuses.

        The chat is created through the connector of a conversation the bot already has in
        the person's tenant (its bot account, service URL and claims).
        """
        seen = await self.references.user(to.user_id)
        home = await self.references.any_in(seen.tenant_id if seen else None)
        if seen is None or home is None:
            raise Unreachable(f"Teams user {to.user_id} has no personal chat with the bot")
        bot = home.conversation_reference.agent
        parameters = ConversationParameters.model_validate(
            {
                "isGroup": False,
                "bot": bot.model_dump(by_alias=True, exclude_none=True) if bot else None,
                "members": [{"id": seen.user_id}],
                "tenantId": seen.tenant_id,
                "channelData": {"tenant": {"id": seen.tenant_id}} if seen.tenant_id else None,
            }
        )

        async def create(context: TurnContext) -> str:
            made = await connector(context).conversations.create_conversation(parameters)
            return str(made.id or "")

        try:
            created = await self.within(home, create)
        except ClientResponseError as exc:
            if exc.status in (400, 403, 404):
                raise Unreachable(f"Teams refused a personal chat with {to.user_id}") from exc
            raise
        if not created:
            raise Unreachable(f"Teams opened no personal chat with {to.user_id}")
        reference = ConversationReference(
            conversation=ConversationAccount(
                id=created, conversation_type="personal", tenant_id=seen.tenant_id
            ),
            user=ChannelAccount(id=seen.user_id, aad_object_id=to.user_id),
            agent=bot,
            channel_id=home.conversation_reference.channel_id,
            service_url=seen.service_url or home.conversation_reference.service_url,
        )
        opened = Conversation(dict(home.claims), reference)
        await self.references.save(opened, kind="personal", team_id=None)
        return opened

    async def _member(self, team: Conversation, team_id: str, email: str) -> str | None:
        async def ask(context: TurnContext) -> Any:
            return await connector(context).conversations.get_conversation_member(team_id, email)

        try:
            member = await self.within(team, ask)
        except ClientResponseError as exc:
            if exc.status in (400, 403, 404):
                return None
            raise
        aad = getattr(member, "aad_object_id", None)
        if not aad or not member.id:
            return None
        reference = team.conversation_reference
        tenant = reference.conversation.tenant_id
        await self.references.saw(Seen(aad, member.id, tenant, reference.service_url or ""))
        return str(aad)


def for_channel(activity: Activity, channel_id: object) -> Activity:
    """Return the activity as the client of a channel can use it: on anything but Teams
    (Web Chat, the Emulator, the Agents Playground's webchat mode), cards' buttons are
    Action.Submit, since only Teams runs Action.Execute."""
    if not channel_id or str(channel_id).split(":")[0] == Channels.ms_teams:
        return activity
    if not activity.attachments:
        return activity
    attachments = [
        Attachment(content_type=a.content_type, content=render.submit_only(a.content))
        if a.content_type == render.CONTENT_TYPE and isinstance(a.content, dict)
        else a
        for a in activity.attachments
    ]
    return activity.model_copy(update={"attachments": attachments})


async def reply_in(context: TurnContext, activity: Activity) -> None:
    """Send a message as a reply to the turn's activity, through the turn's connector client.

    `TurnContext.send_activity` would deep-copy it, validate it and wrap it in three telemetry
    spans on the way to the same call: that was about a sixth of a Teams turn's CPU. Turns
    the connector cannot simply answer (ExpectReplies, no id or connector) still go that way.
    """
    incoming = context.activity
    activity = for_channel(activity, incoming.channel_id)
    client = context.services.get(ConnectorClientBase)  # type: ignore[type-abstract]
    if (
        client is None
        or not incoming.id
        or incoming.conversation is None
        or incoming.delivery_mode == DeliveryModes.expect_replies
    ):
        await context.send_activity(activity)
        return
    activity.apply_conversation_reference(incoming.get_conversation_reference())
    await client.conversations.reply_to_activity(incoming.conversation.id, incoming.id, activity)


async def _post(context: TurnContext, target: str, activity: Activity) -> str:
    """Send as a new message of the conversation (never as a reply to the continuation)."""
    reference = context.activity.get_conversation_reference()
    reference.activity_id = None  # a new message, not a reply to the continuation event
    outgoing = for_channel(activity, context.activity.channel_id).model_copy(deep=True)
    outgoing.apply_conversation_reference(reference)
    response = await connector(context).conversations.send_to_conversation(target, outgoing)
    return str(response.id or "")


def connector(context: TurnContext) -> ConnectorClientBase:
    """Return the connector client the SDK set up for a turn."""
    found = context.services.get(ConnectorClientBase)  # type: ignore[type-abstract]
    if found is None:
        raise RuntimeError("the SDK set up no connector client for this turn")
    return found


def _retry_after(exc: ClientResponseError) -> float:
    headers: Any = exc.headers or {}
    value = headers.get("Retry-After", "1")
    try:
        return max(0.0, min(float(value), 3600.0))
    except ValueError:
        return 1.0
