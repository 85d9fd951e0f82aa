"""The local web chat's history: channels, threads, direct messages and private notes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select

from knowledge.errors import NotFound
from knowledge.models import ChatMessage
from knowledge.storage import Store

MAX_TEXT = 40_000


@dataclass(frozen=True, slots=True)
class Posted:
    """One message of the local chat as stored."""

    id: int
    channel: str
    thread_id: int | None
    author_id: int | None
    visible_to: int | None
    text: str
    body: dict[str, Any]
    created_at: datetime
    replies: int = 0


class ChatLog:
    """Reads and writes the local chat's messages."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def add(
        self,
        channel: str,
        *,
        thread_id: int | None,
        author_id: int | None,
        text: str,
        body: dict[str, Any],
        visible_to: int | None = None,
    ) -> Posted:
        """Store a message and return it."""
        return await asyncio.to_thread(
            self._add, channel, thread_id, author_id, text, body, visible_to
        )

    def _add(
        self,
        channel: str,
        thread_id: int | None,
        author_id: int | None,
        text: str,
        body: dict[str, Any],
        visible_to: int | None,
    ) -> Posted:
        now = self.store.clock()
        with self.store.session() as s:
            if thread_id is not None:
                root = s.get(ChatMessage, thread_id)
                if root is None or root.channel != channel:
                    raise NotFound("That thread no longer exists.")
                thread_id = root.thread_id or root.id  # a reply to a reply joins the thread
            row = ChatMessage(
                channel=channel,
                thread_id=thread_id,
                author_id=author_id,
                visible_to=visible_to,
                text=text[:MAX_TEXT],
                body=body,
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            s.flush()
            return _posted(row)

    async def get(self, message_id: int) -> Posted:
        """Return one message."""
        return await asyncio.to_thread(self._get, message_id)

    def _get(self, message_id: int) -> Posted:
        with self.store.session() as s:
            row = s.get(ChatMessage, message_id)
            if row is None:
                raise NotFound("That message no longer exists.")
            return _posted(row)

    async def history(
        self, channel: str, *, thread_id: int | None, viewer_id: int | None, limit: int = 200
    ) -> list[Posted]:
        """Return the last messages of a channel (roots only) or of one thread, oldest first."""
        return await asyncio.to_thread(self._history, channel, thread_id, viewer_id, limit)

    def _history(
        self, channel: str, thread_id: int | None, viewer_id: int | None, limit: int
    ) -> list[Posted]:
        with self.store.session() as s:
            visible = or_(ChatMessage.visible_to.is_(None), ChatMessage.visible_to == viewer_id)
            if thread_id is None:
                where = [ChatMessage.channel == channel, ChatMessage.thread_id.is_(None)]
            else:
                where = [
                    ChatMessage.channel == channel,
                    or_(ChatMessage.id == thread_id, ChatMessage.thread_id == thread_id),
                ]
            rows = s.scalars(
                select(ChatMessage)
                .where(*where, visible)
                .order_by(ChatMessage.id.desc())
                .limit(limit)
            ).all()
            ids = [r.id for r in rows]
            counts: dict[int, int] = {}
            if thread_id is None and ids:
                counts = {
                    root: n
                    for root, n in s.execute(
                        select(ChatMessage.thread_id, func.count())
                        .where(ChatMessage.thread_id.in_(ids), visible)
                        .group_by(ChatMessage.thread_id)
                    ).all()
                    if root is not None
                }
            return [_posted(r, counts.get(r.id, 0)) for r in reversed(rows)]

    async def update(self, message_id: int, *, text: str, body: dict[str, Any]) -> Posted:
        """Change a message's text and body."""
        return await asyncio.to_thread(self._update, message_id, text, body)

    def _update(self, message_id: int, text: str, body: dict[str, Any]) -> Posted:
        with self.store.session() as s:
            row = s.get(ChatMessage, message_id)
            if row is None:
                raise NotFound("That message no longer exists.")
            row.text, row.body, row.updated_at = text[:MAX_TEXT], body, self.store.clock()
            s.flush()
            return _posted(row)

    async def delete(self, message_id: int) -> Posted | None:
        """Delete a message; a thread's first message becomes a placeholder, as on Slack.

        Return the placeholder, or None when the message is gone.
        """
        return await asyncio.to_thread(self._delete, message_id)

    def _delete(self, message_id: int) -> Posted | None:
        with self.store.session() as s:
            row = s.get(ChatMessage, message_id)
            if row is None:
                return None
            has_replies = s.scalar(select(func.count()).where(ChatMessage.thread_id == message_id))
            if not has_replies:
                s.delete(row)
                return None
            row.text, row.body, row.updated_at = "", {"deleted": True}, self.store.clock()
            s.flush()
            return _posted(row)


def _posted(row: ChatMessage, replies: int = 0) -> Posted:
    return Posted(
        id=row.id,
        channel=row.channel,
        thread_id=row.thread_id,
        author_id=row.author_id,
        visible_to=row.visible_to,
        text=row.text,
        body=dict(row.body),
        created_at=row.created_at,
        replies=replies,
    )
