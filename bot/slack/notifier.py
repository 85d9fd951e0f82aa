"""Sending to Slack: posts, ephemeral messages, DMs and home views, at a polite pace."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import inbox
from bot.slack import render
from handlers.chat import ConversationRef, Reply, UserRef

log = logging.getLogger(__name__)
PLATFORM = "slack"
METADATA_EVENT = "lessons_notification"  # message metadata of reminders (Reply.key)
FIND_DEPTH = 50  # how far back `find` looks in a DM


class Pacer:
    """Keeps posts to one channel at least `interval` seconds apart (Slack allows ~1/s).

    A burst for one channel waits its turn; other channels are not held up.
    """

    def __init__(
        self,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval = interval
        self.clock = clock
        self.sleep = sleep
        self._next: dict[str, float] = {}

    async def wait(self, channel: str) -> None:
        """Wait until this channel may be posted to again, and book the slot."""
        if self.interval <= 0:
            return
        now = self.clock()
        slot = max(now, self._next.get(channel, 0.0))
        self._next[channel] = slot + self.interval
        if len(self._next) > 10_000:  # forget channels idle for a while
            self._next = {c: t for c, t in self._next.items() if t > now}
        if slot > now:
            await self.sleep(slot - now)


class SlackNotifier:
    """The Slack side of `handlers.chat.Notifier`, plus the deliveries listeners need."""

    platform = PLATFORM

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        pace: float = 1.0,
        posted: Callable[[str, ConversationRef], Awaitable[None]] | None = None,
    ) -> None:
        self.client = client
        self.pacer = Pacer(pace)
        self._posted = posted
        self._dms: dict[str, str] = {}

    async def send(self, to: UserRef, reply: Reply) -> str | None:
        """Post a reply in the person's DM with the bot; return the message's ts."""
        channel = await self.dm(to.user_id)
        landed = await self.post(ConversationRef(PLATFORM, channel), reply)
        return landed.thread_id if landed is not None else None

    async def find(self, to: UserRef, key: str) -> str | None:
        """Return the ts of a recent message in the person's DM that carries `key` (metadata)."""
        channel = await self.dm(to.user_id)
        history = await self.client.conversations_history(
            channel=channel, limit=FIND_DEPTH, include_all_metadata=True
        )
        for message in history.get("messages") or []:
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == METADATA_EVENT and payload.get("key") == key:
                return str(message.get("ts") or "") or None
        return None

    async def find_in(self, channel: str, thread: str | None, key: str) -> str | None:
        """Return the ts of a recent message of a channel or thread carrying `key` (metadata).

        None when there is none, or when Slack will not say (then the post is made: better a
        message twice than none).
        """
        try:
            if thread:
                found = await self.client.conversations_replies(
                    channel=channel, ts=thread, limit=200, include_all_metadata=True
                )
            else:
                found = await self.client.conversations_history(
                    channel=channel, limit=FIND_DEPTH, include_all_metadata=True
                )
        except SlackApiError as exc:
            log.info(
                "Slack: could not look for %s in %s: %s", key, channel, exc.response.get("error")
            )
            return None
        for message in found.get("messages") or []:
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == METADATA_EVENT and payload.get("key") == key:
                return str(message.get("ts") or "") or None
        return None

    async def post(self, where: ConversationRef, reply: Reply) -> ConversationRef | None:
        """Post a reply in a channel (or its thread); return where it landed.

        Work on an inbox event (`bot.inbox`) gives each of its posts a key; when the event is
        handled again after a crash, a post already made is found by its key, not made twice.
        """
        handling = inbox.current()
        if handling is not None and not reply.key:
            reply = replace(reply, key=handling.next_key())
        blocks, text = render.message(reply)
        threaded = bool(where.thread_id) and not reply.anchor
        if handling is not None and handling.replay and reply.key:
            found = await self.find_in(
                where.channel_id, where.thread_id if threaded else None, reply.key
            )
            if found is not None:
                log.info("Slack: %s was posted before the crash; not posted again", reply.key)
                landed = ConversationRef(
                    PLATFORM,
                    where.channel_id,
                    where.thread_id if threaded else found,
                    where.channel_name,
                )
                if reply.anchor and self._posted is not None:
                    await self._posted(reply.anchor, landed)
                return landed
        await self.pacer.wait(where.channel_id)
        args: dict[str, Any] = {"channel": where.channel_id, "blocks": blocks, "text": text}
        if threaded:
            args["thread_ts"] = where.thread_id
        if reply.key:  # `find` recognises it by its metadata after an unknown outcome
            args["metadata"] = {"event_type": METADATA_EVENT, "event_payload": {"key": reply.key}}
        response = await self.client.chat_postMessage(**args)
        ts = str(response.get("ts", ""))
        channel = str(response.get("channel", where.channel_id))
        landed = ConversationRef(
            PLATFORM, channel, where.thread_id if "thread_ts" in args else ts, where.channel_name
        )
        if reply.anchor and self._posted is not None:
            await self._posted(reply.anchor, landed)
        return landed

    async def ephemeral(self, where: ConversationRef, to: UserRef, reply: Reply) -> None:
        """Show a reply to one person in a channel; in a DM or without a channel, DM them."""
        if not where.channel_id or where.channel_id.startswith("D"):
            await self.send(to, reply)
            return
        blocks, text = render.message(reply)
        args: dict[str, Any] = {
            "channel": where.channel_id,
            "user": to.user_id,
            "blocks": blocks,
            "text": text,
        }
        if where.thread_id:
            args["thread_ts"] = where.thread_id
        await self.client.chat_postEphemeral(**args)

    async def open_modal(self, trigger_id: str, reply: Reply, context: str) -> None:
        """Open a reply holding a form as a modal."""
        await self.client.views_open(
            trigger_id=trigger_id, view=render.modal(reply, private_metadata=context)
        )

    async def publish_home(self, user_id: str, reply: Reply) -> None:
        """Show a reply as the person's App Home."""
        await self.client.views_publish(user_id=user_id, view=render.home(reply))

    async def lookup(self, email: str) -> str | None:
        """Find a Slack user by email (users.lookupByEmail); None when Slack knows no one."""
        try:
            found = await self.client.users_lookupByEmail(email=email)
        except SlackApiError as exc:
            if exc.response.get("error") in ("users_not_found", "account_inactive"):
                return None
            raise
        user = found.get("user") or {}
        return str(user["id"]) if user.get("id") and not user.get("deleted") else None

    async def dm(self, user_id: str) -> str:
        """Return the DM channel with a person (opened once, then remembered)."""
        channel = self._dms.get(user_id)
        if channel is None:
            response = await self.client.conversations_open(users=user_id)
            channel = str((response.get("channel") or {}).get("id", ""))
            self._dms[user_id] = channel
        return channel
